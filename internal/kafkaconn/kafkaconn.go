// Package kafkaconn is the one Kafka connection setting of a logmesh process:
// the seed brokers, the client id, TLS (a CA, a client certificate and key)
// and SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512). A process resolves its
// Config once into a Conn, and every Kafka client it creates — processors,
// views, admin clients, the registry's own — starts from Conn.Opts, so a
// cluster that needs TLS and SCRAM needs it configured in one place.
package kafkaconn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/logmesh/logmesh/events"
)

// SASL mechanisms accepted by Config.SASLMechanism.
const (
	MechanismPlain       = "PLAIN"
	MechanismSCRAMSHA256 = "SCRAM-SHA-256"
	MechanismSCRAMSHA512 = "SCRAM-SHA-512"
)

// ErrConfig marks a connection setting that cannot work (a missing broker,
// an unknown mechanism, an unreadable certificate).
var ErrConfig = errors.New("kafkaconn: bad connection setting")

// Config is how to reach a Kafka cluster. The zero value of each field means
// its default. Config is plain data, safe to copy.
type Config struct {
	// Brokers are the seed brokers, host:port. Required.
	Brokers []string
	// ClientID is the client id every client reports to the brokers.
	// Default "logmesh".
	ClientID string
	// TLS turns TLS on. It is implied by any of the TLS* files below.
	TLS bool
	// TLSCA is a PEM file of CA certificates to trust instead of the
	// system's.
	TLSCA string
	// TLSCert and TLSKey are a PEM client certificate and its key, for
	// mutual TLS. Both or neither.
	TLSCert, TLSKey string
	// TLSServerName overrides the name checked in the brokers'
	// certificates. Default: the host of each broker address.
	TLSServerName string
	// SASLMechanism is "", MechanismPlain, MechanismSCRAMSHA256 or
	// MechanismSCRAMSHA512 (case-insensitive). "" means no SASL.
	SASLMechanism string
	// SASLUser and SASLPassword are the SASL credentials.
	SASLUser, SASLPassword string
}

// Conn is a resolved Config. It is immutable and safe for concurrent use;
// it holds no connection itself (each client made from it does).
type Conn struct {
	brokers   []string
	opts      []kgo.Opt
	mechanism string
	user      string
	hooks     func() []kgo.Hook
}

// New validates cfg, loads its certificates and returns the Conn. It does
// not connect; Ping does.
func New(cfg Config) (Conn, error) {
	if len(cfg.Brokers) == 0 {
		return Conn{}, fmt.Errorf("%w: no brokers", ErrConfig)
	}
	for _, b := range cfg.Brokers {
		if strings.TrimSpace(b) == "" || strings.Contains(b, "://") {
			return Conn{}, fmt.Errorf("%w: broker %q: want host:port", ErrConfig, b)
		}
	}
	id := cfg.ClientID
	if id == "" {
		id = "logmesh"
	}
	c := Conn{brokers: append([]string(nil), cfg.Brokers...)}
	c.opts = []kgo.Opt{kgo.SeedBrokers(c.brokers...), kgo.ClientID(id)}
	if cfg.TLS || cfg.TLSCA != "" || cfg.TLSCert != "" || cfg.TLSKey != "" || cfg.TLSServerName != "" {
		tc, err := tlsConfig(cfg)
		if err != nil {
			return Conn{}, err
		}
		c.opts = append(c.opts, kgo.DialTLSConfig(tc))
	}
	if cfg.SASLMechanism != "" {
		m, err := mechanism(cfg)
		if err != nil {
			return Conn{}, err
		}
		c.mechanism, c.user = strings.ToUpper(cfg.SASLMechanism), cfg.SASLUser
		c.opts = append(c.opts, kgo.SASL(marked{m}))
	}
	return c, nil
}

// saslError is an error of the client side of a SASL exchange (franz-go's
// mechanisms return them as plain text), marked for isAuthErr.
type saslError struct{ err error }

func (e *saslError) Error() string { return e.err.Error() }
func (e *saslError) Unwrap() error { return e.err }

// marked is a SASL mechanism whose errors are *saslError.
type marked struct{ sasl.Mechanism }

func (m marked) Authenticate(ctx context.Context, host string) (sasl.Session, []byte, error) {
	s, b, err := m.Mechanism.Authenticate(ctx, host)
	if err != nil {
		return nil, nil, &saslError{err}
	}
	return markedSession{s}, b, nil
}

type markedSession struct{ sasl.Session }

func (s markedSession) Challenge(resp []byte) (bool, []byte, error) {
	done, b, err := s.Session.Challenge(resp)
	if err != nil {
		err = &saslError{err}
	}
	return done, b, err
}

// MustNew is New for tests and fixed settings; it panics on a bad Config.
func MustNew(cfg Config) Conn {
	c, err := New(cfg)
	if err != nil {
		panic(err)
	}
	return c
}

// Plain returns the Conn of brokers with no TLS and no SASL.
func Plain(brokers ...string) Conn { return MustNew(Config{Brokers: brokers}) }

func tlsConfig(cfg Config) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cfg.TLSServerName}
	if cfg.TLSCA != "" {
		pem, err := os.ReadFile(cfg.TLSCA)
		if err != nil {
			return nil, fmt.Errorf("%w: TLS CA: %w", ErrConfig, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: TLS CA %s: no PEM certificate in it", ErrConfig, cfg.TLSCA)
		}
		tc.RootCAs = pool
	}
	switch {
	case cfg.TLSCert != "" && cfg.TLSKey != "":
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("%w: TLS client certificate: %w", ErrConfig, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	case cfg.TLSCert != "" || cfg.TLSKey != "":
		return nil, fmt.Errorf("%w: TLS client certificate and key go together; got only one", ErrConfig)
	}
	return tc, nil
}

func mechanism(cfg Config) (sasl.Mechanism, error) {
	if cfg.SASLUser == "" {
		return nil, fmt.Errorf("%w: SASL %s needs a user", ErrConfig, cfg.SASLMechanism)
	}
	switch strings.ToUpper(cfg.SASLMechanism) {
	case MechanismPlain:
		return plain.Auth{User: cfg.SASLUser, Pass: cfg.SASLPassword}.AsMechanism(), nil
	case MechanismSCRAMSHA256:
		return scram.Auth{User: cfg.SASLUser, Pass: cfg.SASLPassword}.AsSha256Mechanism(), nil
	case MechanismSCRAMSHA512:
		return scram.Auth{User: cfg.SASLUser, Pass: cfg.SASLPassword}.AsSha512Mechanism(), nil
	}
	return nil, fmt.Errorf("%w: SASL mechanism %q: want %s, %s or %s", ErrConfig, cfg.SASLMechanism,
		MechanismPlain, MechanismSCRAMSHA256, MechanismSCRAMSHA512)
}

// FromClient returns the connection settings of an existing client: its
// seed brokers, TLS, dialer and SASL (not its client id, groups or
// transactions), for a library handed a client that must open clients of
// its own with the same connection.
func FromClient(cl *kgo.Client) Conn {
	var c Conn
	if seeds, ok := cl.OptValue(kgo.SeedBrokers).([]string); ok && len(seeds) > 0 {
		c.brokers = append([]string(nil), seeds...)
		c.opts = append(c.opts, kgo.SeedBrokers(seeds...))
	}
	if id, ok := cl.OptValue(kgo.ClientID).(string); ok && id != "" {
		c.opts = append(c.opts, kgo.ClientID(id))
	}
	if t, ok := cl.OptValue(kgo.DialTLSConfig).(*tls.Config); ok && t != nil {
		c.opts = append(c.opts, kgo.DialTLSConfig(t))
	}
	if d, ok := cl.OptValue(kgo.Dialer).(func(context.Context, string, string) (net.Conn, error)); ok && d != nil {
		c.opts = append(c.opts, kgo.Dialer(d))
	}
	if m, ok := cl.OptValue(kgo.SASL).([]sasl.Mechanism); ok && len(m) > 0 {
		c.opts = append(c.opts, kgo.SASL(m...))
		c.mechanism = m[0].Name()
	}
	return c
}

// Brokers returns the seed brokers.
func (c Conn) Brokers() []string { return append([]string(nil), c.brokers...) }

// Opts returns the client options of the connection (seed brokers, client
// id, TLS, SASL), to which a client adds its own. The slice is the caller's.
func (c Conn) Opts(extra ...kgo.Opt) []kgo.Opt {
	out := append(make([]kgo.Opt, 0, len(c.opts)+len(extra)+1), c.opts...)
	if c.hooks != nil {
		if hs := c.hooks(); len(hs) > 0 {
			out = append(out, kgo.WithHooks(hs...))
		}
	}
	return append(out, extra...)
}

// WithHooks returns a copy of c whose Opts add the hooks hooks returns,
// called once for each client (the process's metrics: each client gets
// its own kprom plugin). hooks must be safe for concurrent use.
func (c Conn) WithHooks(hooks func() []kgo.Hook) Conn {
	c.hooks = hooks
	return c
}

// Client returns a new client with the connection's options and extra. The
// caller closes it.
func (c Conn) Client(extra ...kgo.Opt) (*kgo.Client, error) {
	if len(c.brokers) == 0 {
		return nil, fmt.Errorf("%w: zero Conn (use kafkaconn.New)", ErrConfig)
	}
	cl, err := kgo.NewClient(c.Opts(extra...)...)
	if err != nil {
		return nil, fmt.Errorf("kafkaconn: client: %w", err)
	}
	return cl, nil
}

// Ping connects to the cluster once and returns an error naming what failed:
// the brokers, TLS, or the SASL mechanism and user. It gives up after
// timeout (default 15s), so a process with a wrong password fails fast
// instead of retrying forever.
func (c Conn) Ping(ctx context.Context, timeout time.Duration) error {
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	cl, err := c.Client(kgo.RequestRetries(0), kgo.RetryTimeout(timeout))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err = cl.Ping(ctx)
	if err == nil {
		return nil
	}
	switch {
	case c.mechanism != "" && isAuthErr(err):
		return fmt.Errorf("kafkaconn: SASL %s authentication as %q failed at %s: %w",
			c.mechanism, c.user, strings.Join(c.brokers, ","), err)
	case c.mechanism != "":
		// Some brokers answer a failed authentication by closing the
		// connection; say what was tried.
		return fmt.Errorf("kafkaconn: cannot connect to Kafka at %s as %q with SASL %s "+
			"(a wrong user or password, or a mechanism the brokers do not enable?): %w",
			strings.Join(c.brokers, ","), c.user, c.mechanism, err)
	}
	return fmt.Errorf("kafkaconn: cannot reach Kafka at %s: %w", strings.Join(c.brokers, ","), err)
}

// isAuthErr reports whether err is a failed SASL authentication: the
// brokers' answer, or an error of the exchange on the client's side.
func isAuthErr(err error) bool {
	var se *saslError
	return errors.Is(err, kerr.SaslAuthenticationFailed) || errors.Is(err, kerr.IllegalSaslState) ||
		errors.Is(err, kerr.UnsupportedSaslMechanism) || errors.As(err, &se)
}

// EnsureTopics creates the topics of specs that do not exist yet, with the
// cluster's default replication factor, and waits until every topic of
// specs has a leader for each partition (a real broker answers CreateTopics
// before its metadata says so; a processor started at once would see
// UNKNOWN_TOPIC_OR_PARTITION). Existing topics are left as they are.
func (c Conn) EnsureTopics(ctx context.Context, specs ...events.TopicSpec) error {
	cl, err := c.Client()
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	names := make([]string, 0, len(specs))
	for _, s := range specs {
		names = append(names, s.Name)
		resp, err := adm.CreateTopic(ctx, s.Partitions, -1, s.Configs, s.Name)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("kafkaconn: create topic %s: %w", s.Name, err)
		}
	}
	if len(names) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		missing, err := unready(ctx, cl, names)
		if err == nil && len(missing) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kafkaconn: topics created but not ready (%v): %w", missing, errors.Join(err, ctx.Err()))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// unready returns the topics of names whose metadata (uncached) is missing
// or lacks a leader for some partition.
func unready(ctx context.Context, cl *kgo.Client, names []string) ([]string, error) {
	req := kmsg.NewPtrMetadataRequest()
	for _, n := range names {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(n)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return names, err
	}
	ready := map[string]bool{}
	for _, t := range resp.Topics {
		if t.Topic == nil || t.ErrorCode != 0 || len(t.Partitions) == 0 {
			continue
		}
		ok := true
		for _, p := range t.Partitions {
			ok = ok && p.ErrorCode == 0 && p.Leader >= 0
		}
		ready[*t.Topic] = ok
	}
	var missing []string
	for _, n := range names {
		if !ready[n] {
			missing = append(missing, n)
		}
	}
	return missing, nil
}
