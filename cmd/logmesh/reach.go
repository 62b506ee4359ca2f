package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logmesh/logmesh/internal/kafkaconn"
)

// unreachableError says on one line that a command could not use Kafka
// or the registry: the address, what for, what happened in a few words,
// and what to do next. It unwraps to the client's error, which -v adds to
// the line.
type unreachableError struct {
	service   string // "Kafka", "the schema registry"
	addr      string
	defaulted bool   // addr is the default, not chosen
	purpose   string // "to read the definitions"
	reason    string
	next      string
	alt       string // another way, if any: "--landing DIR"
	verbose   bool
	err       error
}

func (e *unreachableError) Error() string {
	reason := e.reason
	if e.defaulted {
		reason = "the default; " + reason
	}
	msg := fmt.Sprintf("cannot reach %s at %s (%s)", e.service, e.addr, reason)
	if e.purpose != "" {
		msg += " " + e.purpose
	}
	msg += ": " + e.next
	if e.alt != "" {
		msg += " (or pass " + e.alt + ")"
	}
	if e.verbose && e.err != nil {
		msg += " [" + e.err.Error() + "]"
	}
	return msg
}

func (e *unreachableError) Unwrap() error { return e.err }

// reach returns the connection of the global flags once a broker has
// answered (within 5s); if none does, an *unreachableError that says why
// and what to do, for purpose ("to read the definitions"). Commands that
// read the log call it rather than conn, so that no Kafka is one line,
// not a client's retries.
func (g global) reach(ctx context.Context, purpose string) (kafkaconn.Conn, error) {
	conn, err := g.conn()
	if err != nil {
		return kafkaconn.Conn{}, err
	}
	if err := reachKafka(ctx, g, conn, 0, purpose, ""); err != nil {
		return kafkaconn.Conn{}, err
	}
	return conn, nil
}

// unreachableRegistry returns err, or an *unreachableError naming the
// registry if err is the registry client's failure to reach it (while ctx
// is live).
func (g global) unreachableRegistry(ctx context.Context, err error, purpose, alt string) error {
	var ue *url.Error
	if !errors.As(err, &ue) || ctx.Err() != nil {
		return err
	}
	reason, _ := whyUnreachable(ue.Err, 5*time.Second, "") // sr's HTTP timeout
	if reason == "" {
		reason = "-v says what happened"
	}
	return &unreachableError{service: "the schema registry", addr: g.registry, purpose: purpose, reason: reason,
		next: nextRegistry, alt: alt, verbose: g.verbose, err: err}
}

// reachKafka checks that a broker of conn answers within timeout (default
// 5s); if none does, it returns an *unreachableError that says why in a
// few words, for purpose, with alt as another way if there is one.
func reachKafka(ctx context.Context, g global, conn kafkaconn.Conn, timeout time.Duration, purpose, alt string) error {
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	var last lastBrokerError
	cl, err := conn.Client(kgo.RequestRetries(0), kgo.RetryTimeout(timeout), kgo.WithHooks(&last))
	if err != nil {
		return err
	}
	defer cl.Close()
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err = cl.Ping(pctx)
	if err == nil || ctx.Err() != nil {
		return err
	}
	if cause := last.get(); cause != nil && pctx.Err() != nil {
		err = cause // the deadline ended retries of this
	}
	reason, next := whyUnreachable(err, timeout, g.kafka.SASLUser)
	if reason == "" {
		reason = "it does not answer as a Kafka broker; -v says what it answered"
	}
	return &unreachableError{service: "Kafka", addr: strings.Join(conn.Brokers(), ","), defaulted: !g.brokersSet,
		purpose: purpose, reason: reason, next: next, alt: alt, verbose: g.verbose, err: err}
}

// Next steps of an unreachableError.
const (
	nextStart    = "start `logmesh dev`, or pass --brokers HOST:PORT"
	nextRegistry = "start `logmesh dev`, or pass --registry URL"
	nextTLS      = "check --tls, --tls-ca and --tls-server-name"
	nextCatalog  = "start `logmesh dev` (its catalog listens on 127.0.0.1:8080), or pass --catalog URL"
	nextSASL     = "check --sasl-mechanism, --sasl-user and $LOGMESH_SASL_PASSWORD"
)

// whyUnreachable says in a few words why err kept a client from a server,
// and what to do next; reason is "" if err is of no kind it knows.
func whyUnreachable(err error, timeout time.Duration, saslUser string) (reason, next string) {
	var (
		dns     *net.DNSError
		ne      net.Error
		op      *net.OpError
		header  tls.RecordHeaderError
		unknown x509.UnknownAuthorityError
		invalid x509.CertificateInvalidError
		host    x509.HostnameError
	)
	switch {
	case errors.As(err, &dns):
		return fmt.Sprintf("unknown host %q", dns.Name), nextStart
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused", nextStart
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "no route to the host", nextStart
	case errors.Is(err, kerr.SaslAuthenticationFailed), errors.Is(err, kerr.IllegalSaslState),
		errors.Is(err, kerr.UnsupportedSaslMechanism):
		return fmt.Sprintf("SASL authentication as %q failed", saslUser), nextSASL
	case errors.As(err, &header):
		return "the broker does not speak TLS", nextTLS
	case errors.As(err, &unknown), errors.As(err, &invalid), errors.As(err, &host):
		return "its TLS certificate is not trusted", nextTLS
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return fmt.Sprintf("no answer within %s", timeout), nextStart
	case errors.As(err, &op) && op.Op == "dial":
		return "cannot connect", nextStart
	}
	return "", nextStart
}

// lastBrokerError is a kgo hook that keeps the last error of a connection
// to a broker, which a ping that runs out of time hides behind its
// deadline. It is safe for concurrent use.
type lastBrokerError struct {
	mu  sync.Mutex
	err error
}

var (
	_ kgo.HookBrokerConnect = (*lastBrokerError)(nil)
	_ kgo.HookBrokerRead    = (*lastBrokerError)(nil)
)

func (l *lastBrokerError) OnBrokerConnect(_ kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	l.set(err)
}

func (l *lastBrokerError) OnBrokerRead(_ kgo.BrokerMetadata, _ int16, _ int, _, _ time.Duration, err error) {
	l.set(err)
}

func (l *lastBrokerError) set(err error) {
	if err == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.err = err
}

func (l *lastBrokerError) get() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}
