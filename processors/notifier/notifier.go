// Package notifier delivers every incident on the log to the people who
// handle them: it consumes IncidentOpened from every domain's events topic
// in a consumer group, logs each one at ERROR and hands it to its sinks (a
// webhook, say), retrying a failing sink with backoff until it accepts.
//
// # At least once
//
// The notifier is a processors/host Host with an effectful fold: the
// delivered incident ids are its state, and the host commits them with the
// consumed offsets only after the sinks accepted the batch's incidents. A
// notifier killed mid-batch therefore delivers the batch's incidents again
// on restart, and never loses one; a sink that is down for a while holds
// the partition (logging every failed attempt at WARN) until it is back.
// Receivers drop duplicates by the incident id, which the webhook sends as
// the Idempotency-Key header; an incident id seen twice on the log (a
// retried derivation) is delivered once.
package notifier

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/retry"
	"github.com/logmesh/logmesh/processors/host"
	"github.com/logmesh/logmesh/processors/proc"
	"github.com/logmesh/logmesh/projections"
	"github.com/logmesh/logmesh/state"
)

// DefaultGroup is the notifier's consumer group unless Group says otherwise.
const DefaultGroup = "logmesh.notifier"

// Sink receives incidents. Deliver must be idempotent by incident id: it is
// called at least once per incident, and again after a failure or a crash.
type Sink interface {
	Deliver(ctx context.Context, inc *events.IncidentOpened) error
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(ctx context.Context, inc *events.IncidentOpened) error

// Deliver calls f.
func (f SinkFunc) Deliver(ctx context.Context, inc *events.IncidentOpened) error { return f(ctx, inc) }

type config struct {
	proc.Config
	sinks      []Sink
	backoff    time.Duration
	maxBackoff time.Duration
	hostOpts   []host.Option
}

// Option configures a Notifier.
type Option func(*config)

// WithSink adds a sink. Without one, incidents are only logged.
func WithSink(s Sink) Option { return func(c *config) { c.sinks = append(c.sinks, s) } }

// Backoff sets the wait after a sink's first failure, doubled after each
// further one up to max. Defaults 1s and 1m.
func Backoff(first, max time.Duration) Option {
	return func(c *config) { c.backoff, c.maxBackoff = first, max }
}

// HostOpts adds options to the notifier's host (host.Sync, say).
func HostOpts(opts ...host.Option) Option {
	return func(c *config) { c.hostOpts = append(c.hostOpts, opts...) }
}

// Notifier delivers incidents. Create it with New, run it with Run, stop it
// by cancelling Run's context or with Close. Single-use; the store stays
// the caller's.
type Notifier struct {
	h *host.Host
}

// New returns a notifier over pc.Conn, consuming in pc.Group (default
// DefaultGroup), whose delivered-incident state lives in store; pc.Clock is
// not used.
func New(pc proc.Config, store *state.Store, codec *events.Codec, opts ...Option) (*Notifier, error) {
	cfg := config{Config: pc.WithDefaults(DefaultGroup), backoff: time.Second, maxBackoff: time.Minute}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.backoff <= 0 || cfg.maxBackoff < cfg.backoff {
		return nil, fmt.Errorf("notifier: backoff %v up to %v", cfg.backoff, cfg.maxBackoff)
	}
	d := &delivery{cfg: cfg, log: cfg.Logger.With("processor", "notifier")}
	// Small batches: a crash redelivers at most one batch's incidents.
	h, err := host.New(d, store, codec, cfg.Conn, cfg.Group, d.Topics(cfg.Topics),
		append([]host.Option{host.Logger(cfg.Logger), host.ClientOpts(cfg.ClientOpts...), host.MaxPollRecords(100), host.WithMetrics(cfg.Metrics)}, cfg.hostOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("notifier: %w", err)
	}
	return &Notifier{h: h}, nil
}

// Run delivers until ctx ends or Close is called, and returns nil then.
func (n *Notifier) Run(ctx context.Context) error { return n.h.Run(ctx) }

// Close stops Run. It is idempotent.
func (n *Notifier) Close() error { return n.h.Close() }

// delivery is the notifier's fold: an incident not yet delivered is
// delivered, then remembered.
type delivery struct {
	cfg config
	log *slog.Logger
}

var _ host.Effectful = (*delivery)(nil)

const prefixDelivered = "d/" // d/<incident id> → occurred-at, RFC 3339

func (*delivery) Name() string { return "notifier" }

// Topics returns every domain's events topic: incidents are raised on the
// bus of the domain they concern.
func (*delivery) Topics(t events.Topics) events.TopicSet { return t.AllDomains() }

// Handles implements projections.Selective: only IncidentOpened.
func (*delivery) Handles(name string) bool { return name == events.NameIncidentOpened }

// Apply is the pure fold, without the effect: it records an incident as
// delivered, as the live notifier's state has it once the sinks accepted it.
// Views and replays fold with it; the live host calls ApplyContext.
func (d *delivery) Apply(s projections.Store, ev events.Event) error {
	inc, ok := ev.(*events.IncidentOpened)
	if !ok {
		return nil
	}
	if inc.IncidentID == "" {
		return fmt.Errorf("notifier: IncidentOpened %s has no incident id: %w", inc.Envelope.EventID, projections.ErrInvariant)
	}
	return s.Set([]byte(prefixDelivered+inc.IncidentID), []byte(inc.Envelope.OccurredAt.UTC().Format(time.RFC3339Nano)))
}

// ApplyContext delivers an IncidentOpened to every sink, retrying until
// each accepts or ctx ends.
func (d *delivery) ApplyContext(ctx context.Context, s projections.Store, ev events.Event) error {
	inc, ok := ev.(*events.IncidentOpened)
	if !ok {
		return nil
	}
	if inc.IncidentID == "" {
		return fmt.Errorf("notifier: IncidentOpened %s has no incident id: %w", inc.Envelope.EventID, projections.ErrInvariant)
	}
	key := []byte(prefixDelivered + inc.IncidentID)
	if _, done, err := s.Get(key); err != nil || done {
		return err
	}
	log := d.log.With("incident", inc.IncidentID, "severity", inc.Severity, "subject", inc.Subject)
	log.Error("incident", "summary", inc.Summary, "domain", inc.Envelope.Domain, "kind", inc.SubjectKind)
	for _, sink := range d.cfg.sinks {
		if err := d.deliver(ctx, log, sink, inc); err != nil {
			return err
		}
	}
	return s.Set(key, []byte(inc.Envelope.OccurredAt.UTC().Format(time.RFC3339Nano)))
}

// deliver retries sink with backoff until it accepts inc or ctx ends.
func (d *delivery) deliver(ctx context.Context, log *slog.Logger, sink Sink, inc *events.IncidentOpened) error {
	return retry.Do(ctx, d.cfg.backoff, d.cfg.maxBackoff, log, "incident delivery", func(ctx context.Context) error {
		return sink.Deliver(ctx, inc)
	})
}

// Webhook returns a Sink that POSTs each incident as JSON (the event as
// `logmesh tail --json` prints it) to url, with the incident id in the
// Idempotency-Key and X-Logmesh-Incident-Id headers. A non-2xx answer is an
// error. client nil means a client with a 10-second timeout.
func Webhook(url string, client *http.Client) Sink {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	return webhook{url: url, client: client}
}

type webhook struct {
	url    string
	client *http.Client
}

// ErrRefused wraps a webhook's non-2xx answer.
var ErrRefused = errors.New("notifier: webhook refused the incident")

func (w webhook) Deliver(ctx context.Context, inc *events.IncidentOpened) error {
	body, err := events.JSON(inc)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("notifier: webhook: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", inc.IncidentID)
	req.Header.Set("X-Logmesh-Incident-Id", inc.IncidentID)
	resp, err := w.client.Do(req)
	if err != nil {
		return fmt.Errorf("notifier: webhook %s: %w", w.url, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%w: %s answered %s", ErrRefused, w.url, resp.Status)
	}
	return nil
}
