package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
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
	"github.com/logmesh/logmesh/platform"
	"github.com/logmesh/logmesh/processors/ingest"
)

// landDoc is the help text of land.
const landDoc = `Copy files into the landing area, where the watcher lands them (FileLanded).
A FILE lands under PREFIX + its base name; the files of a DIR, walked
recursively, under PREFIX + their path relative to DIR ("/" separators;
hidden and temporary names are left out). Every path and key is checked
before anything is copied. Without --landing, the landing area is the
platform's, as the log records it (Kafka at --brokers). Progress goes to
stderr on a terminal; the summary line to stdout.`

// landFlags registers the flags of the command that copies files, and the files of folders, into the landing area.
func landFlags(fs *flag.FlagSet) runFunc {
	key := fs.String("key", "", "the landing key of the one FILE given (default: see --prefix)")
	prefix := fs.String("prefix", "", `put before every key, as given: end it with "/" for a folder, as in lab/ (default: none)`)
	landing := fs.String("landing", "", "the landing area: DIR or s3://bucket/prefix (default: the platform's, from the log)")
	timeout := fs.Duration("connect-timeout", 5*time.Second, "how long to wait for Kafka when reading the platform's landing area from the log")
	s3 := addS3Flags(fs)
	return func(ctx context.Context, g global, in *cmdInput) error {
		paths, stdout, stderr := in.args, in.stdout, in.stderr
		if *key != "" && *prefix != "" {
			return usageError("land: --key names one file, --prefix goes before many: give one of them")
		}
		// Every path, before Kafka or the landing area.
		plan, skipped, err := ingest.Plan(paths, ingest.KeyOptions{Key: *key, Prefix: *prefix})
		if err != nil {
			return err
		}
		for _, s := range skipped {
			fmt.Fprintf(stderr, "left out %s: %s\n", s.Path, s.Reason)
		}
		loc, err := landingLocation(ctx, g, *landing, *timeout, s3)
		if err != nil {
			return err
		}
		src, err := openLanding(ctx, loc, s3)
		if err != nil {
			return err
		}
		if ls, ok := src.(*ingest.LocalSource); ok {
			loc = ls.Dir()
		}
		var meter *landMeter
		var progress func(ingest.Progress)
		if isTerminal(stderr) {
			meter = newLandMeter(stderr, time.Now)
			progress = meter.update
		}
		keys, err := ingest.Copy(ctx, src, plan, progress)
		if meter != nil {
			meter.finish()
		}
		if err != nil {
			return fmt.Errorf("%w (the %d of %d files copied before it stay landed)", err, len(keys), len(plan))
		}
		fmt.Fprintln(stdout, landSummary(plan, loc, *prefix))
		return nil
	}
}

// landSummary is the line land prints when done: "landed N files (B
// bytes) under LOCATION/PREFIX", or "landed 1 file (B bytes) as
// LOCATION/KEY".
func landSummary(plan []ingest.Landing, location, prefix string) string {
	var bytes int64
	for _, l := range plan {
		bytes += l.Size
	}
	base := strings.TrimSuffix(location, "/") + "/"
	if len(plan) == 1 {
		return fmt.Sprintf("landed 1 file (%d bytes) as %s%s", bytes, base, plan[0].Key)
	}
	return fmt.Sprintf("landed %d files (%d bytes) under %s%s", len(plan), bytes, base, prefix)
}

// openLanding opens a landing area: an existing local directory or
// s3://bucket/prefix.
func openLanding(ctx context.Context, location string, s3 *s3Flags) (ingest.Source, error) {
	if !strings.HasPrefix(location, "s3://") {
		return ingest.NewLocalSource(location)
	}
	cfg, err := s3.config()
	if err != nil {
		return nil, err
	}
	return platform.OpenLanding(ctx, location, cfg)
}

// landingLocation returns the landing area: flagValue if it is set, else
// the platform's as the log records it, once Kafka has answered within
// timeout.
func landingLocation(ctx context.Context, g global, flagValue string, timeout time.Duration, s3 *s3Flags) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	conn, err := g.conn()
	if err != nil {
		return "", err
	}
	if err := reachKafka(ctx, g, conn, timeout); err != nil {
		return "", err
	}
	loc, err := g.located(ctx, "landing", "", "./.logmesh/landing", s3)
	var ue *url.Error
	if errors.As(err, &ue) && ctx.Err() == nil {
		// The registry, which decodes the log's records.
		reason, _ := whyUnreachable(ue.Err, 5*time.Second, "") // sr's HTTP timeout
		if reason == "" {
			reason = "-v says what happened"
		}
		return "", &unreachableError{service: "the schema registry", addr: g.registry, reason: reason,
			next: nextRegistry, verbose: g.verbose, err: err}
	}
	return loc, err
}

// unreachableError says on one line that land could not use Kafka or the
// registry to read the platform's landing area: the address, what happened
// in a few words, and what to do next. It unwraps to the client's error,
// which -v adds to the line.
type unreachableError struct {
	service   string // "Kafka", "the schema registry"
	addr      string
	defaulted bool // addr is the default, not chosen
	reason    string
	next      string
	verbose   bool
	err       error
}

func (e *unreachableError) Error() string {
	reason := e.reason
	if e.defaulted {
		reason = "the default; " + reason
	}
	msg := fmt.Sprintf("cannot reach %s at %s (%s) to read the platform's landing area: %s", e.service, e.addr, reason, e.next)
	if e.verbose && e.err != nil {
		msg += " [" + e.err.Error() + "]"
	}
	return msg
}

func (e *unreachableError) Unwrap() error { return e.err }

// reachKafka checks that a broker of conn answers within timeout (default
// 5s); if none does, it returns an *unreachableError that says why in a
// few words.
func reachKafka(ctx context.Context, g global, conn kafkaconn.Conn, timeout time.Duration) error {
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
		reason: reason, next: next, verbose: g.verbose, err: err}
}

// Next steps of an unreachableError.
const (
	nextStart    = "start `logmesh dev`, or pass --brokers HOST:PORT (or --landing DIR)"
	nextRegistry = "start `logmesh dev`, or pass --registry URL (or --landing DIR)"
	nextTLS      = "check --tls, --tls-ca and --tls-server-name (or pass --landing DIR)"
	nextSASL     = "check --sasl-mechanism, --sasl-user and $LOGMESH_SASL_PASSWORD (or pass --landing DIR)"
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

// landMeter shows Copy's progress on one line of a terminal: files done of
// the total, bytes, rate and ETA, at most five times a second and when the
// last file is done. It is not safe for concurrent use.
type landMeter struct {
	w           io.Writer
	now         func() time.Time
	start, last time.Time
	shown       bool
}

func newLandMeter(w io.Writer, now func() time.Time) *landMeter {
	return &landMeter{w: w, now: now, start: now()}
}

// update is an ingest.Copy progress function.
func (m *landMeter) update(p ingest.Progress) {
	t := m.now()
	if p.Files < p.TotalFiles && m.shown && t.Sub(m.last) < 200*time.Millisecond {
		return
	}
	m.last, m.shown = t, true
	el := max(t.Sub(m.start).Seconds(), 1e-3)
	rate := float64(p.Bytes) / el
	eta := "0s"
	if p.Files < p.TotalFiles {
		eta = "?"
		if p.Bytes > 0 {
			eta = time.Duration(float64(p.TotalBytes-p.Bytes) / rate * float64(time.Second)).Round(time.Second).String()
		}
	}
	fmt.Fprintf(m.w, "\rlanding: %d/%d files, %s of %s, %s/s, %.0f files/s, ETA %s   ",
		p.Files, p.TotalFiles, humanBytes(p.Bytes), humanBytes(p.TotalBytes), humanBytes(int64(rate)), float64(p.Files)/el, eta)
}

// finish ends the progress line.
func (m *landMeter) finish() {
	if m.shown {
		fmt.Fprintln(m.w)
	}
}

// humanBytes renders n bytes as "512 B", "3.1 KiB", "5.2 MiB".
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
