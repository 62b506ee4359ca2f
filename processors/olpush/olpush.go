// Package olpush pushes the mesh's lineage to an OpenLineage HTTP receiver
// (Marquez, DataHub, OpenMetadata, ...): every product job attempt's
// JobStarted and JobFinished, read from every domain's bus in a consumer
// group, becomes OpenLineage RunEvents (internal/openlineage) POSTed as
// JSON, START when the attempt starts and COMPLETE or FAIL when it ends.
//
// At least once, like the notifier: the store holds each attempt's
// JobStarted (the end's event needs it) and what was sent, and the host
// commits it with the offsets only after the receiver accepted; a failing
// receiver is retried with backoff and holds the partition meanwhile.
// Receivers key RunEvents by runId and eventType, so a repeat after a
// crash is harmless.
package olpush

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/openlineage"
	"github.com/logmesh/logmesh/internal/retry"
	"github.com/logmesh/logmesh/processors/host"
	"github.com/logmesh/logmesh/processors/proc"
	"github.com/logmesh/logmesh/projections"
	"github.com/logmesh/logmesh/state"
)

// DefaultGroup is the pusher's consumer group unless Group says otherwise.
const DefaultGroup = "logmesh.olpush"

type config struct {
	proc.Config
	ns         openlineage.Namespaces
	client     *http.Client
	backoff    time.Duration
	maxBackoff time.Duration
	hostOpts   []host.Option
}

// Option configures a Pusher.
type Option func(*config)

// Namespaces sets the OpenLineage namespaces; default job "logmesh",
// tables "iceberg://logmesh", landing "landing".
func Namespaces(ns openlineage.Namespaces) Option { return func(c *config) { c.ns = ns } }

// Backoff sets the first and the longest wait between attempts.
func Backoff(first, max time.Duration) Option {
	return func(c *config) { c.backoff, c.maxBackoff = first, max }
}

// HostOpts adds options to the host (host.Sync, say).
func HostOpts(opts ...host.Option) Option {
	return func(c *config) { c.hostOpts = append(c.hostOpts, opts...) }
}

// Pusher pushes lineage. Create it with New, run it with Run.
type Pusher struct {
	h *host.Host
}

// New returns a pusher POSTing to url (an OpenLineage receiver's lineage
// endpoint, such as Marquez's http://HOST:5000/api/v1/lineage), with its
// state in store, over pc.Conn and consuming in pc.Group (default
// DefaultGroup); pc.Clock is not used.
func New(pc proc.Config, url string, store *state.Store, codec *events.Codec, opts ...Option) (*Pusher, error) {
	cfg := config{Config: pc.WithDefaults(DefaultGroup), backoff: time.Second, maxBackoff: time.Minute, client: &http.Client{Timeout: 10 * time.Second},
		ns: openlineage.Namespaces{Job: "logmesh", Tables: "iceberg://logmesh", Landing: "landing"}}
	for _, o := range opts {
		o(&cfg)
	}
	if url == "" {
		return nil, fmt.Errorf("olpush: no receiver URL")
	}
	p := &push{cfg: cfg, url: url, log: cfg.Logger.With("processor", "olpush")}
	h, err := host.New(p, store, codec, cfg.Conn, cfg.Group, p.Topics(cfg.Topics),
		append([]host.Option{host.Logger(cfg.Logger), host.ClientOpts(cfg.ClientOpts...), host.MaxPollRecords(100), host.WithMetrics(cfg.Metrics)}, cfg.hostOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("olpush: %w", err)
	}
	return &Pusher{h: h}, nil
}

// Run pushes until ctx ends or Close is called; it returns nil then.
func (p *Pusher) Run(ctx context.Context) error { return p.h.Run(ctx) }

// Close stops Run.
func (p *Pusher) Close() error { return p.h.Close() }

// push is the fold: an attempt's start is kept (for its end's event) and
// sent; its end is sent.
type push struct {
	cfg config
	url string
	log *slog.Logger
}

var _ host.Effectful = (*push)(nil)

const (
	prefixStarted = "s/" // s/<job id>/<attempt> → JobStarted JSON
	prefixSent    = "x/" // x/<job id>/<attempt>/<START|END> → ""
)

func (*push) Name() string { return "olpush" }

func (*push) Topics(t events.Topics) events.TopicSet { return t.AllDomains() }

func (*push) Handles(name string) bool {
	return name == events.NameJobStarted || name == events.NameJobFinished
}

func attemptKey(job string, attempt int32) string { return job + "/" + strconv.Itoa(int(attempt)) }

// Apply is the fold without the effect, as the state stands once sent.
func (p *push) Apply(s projections.Store, ev events.Event) error {
	_, err := p.fold(s, ev)
	return err
}

// fold records ev and returns the RunEvents it makes, nil if it was sent
// already.
func (p *push) fold(s projections.Store, ev events.Event) ([]openlineage.RunEvent, error) {
	switch e := ev.(type) {
	case *events.JobStarted:
		k := attemptKey(e.JobID, e.Attempt)
		b, err := json.Marshal(e)
		if err != nil {
			return nil, err
		}
		if err := s.Set([]byte(prefixStarted+k), b); err != nil {
			return nil, err
		}
		return p.once(s, k+"/START", func() ([]openlineage.RunEvent, error) { return openlineage.JobEvents(p.cfg.ns, e, nil) })
	case *events.JobFinished:
		k := attemptKey(e.JobID, e.Attempt)
		b, ok, err := s.Get([]byte(prefixStarted + k))
		if err != nil || !ok {
			return nil, err // its start is not on these partitions: nothing to say
		}
		var js events.JobStarted
		if err := json.Unmarshal(b, &js); err != nil {
			return nil, fmt.Errorf("olpush: corrupt start of %s: %w", k, err)
		}
		return p.once(s, k+"/END", func() ([]openlineage.RunEvent, error) {
			evs, err := openlineage.JobEvents(p.cfg.ns, &js, e)
			if err != nil || len(evs) < 2 {
				return nil, err
			}
			return evs[1:], nil
		})
	}
	return nil, nil
}

// once marks key sent and returns make's events, or nil if it was sent.
func (p *push) once(s projections.Store, key string, make func() ([]openlineage.RunEvent, error)) ([]openlineage.RunEvent, error) {
	if _, done, err := s.Get([]byte(prefixSent + key)); err != nil || done {
		return nil, err
	}
	evs, err := make()
	if err != nil {
		return nil, fmt.Errorf("olpush: %s: %w: %w", key, err, projections.ErrInvariant)
	}
	return evs, s.Set([]byte(prefixSent+key), nil)
}

// ApplyContext folds ev and sends its RunEvents, retrying until the
// receiver accepts or ctx ends.
func (p *push) ApplyContext(ctx context.Context, s projections.Store, ev events.Event) error {
	evs, err := p.fold(s, ev)
	if err != nil {
		return err
	}
	for _, re := range evs {
		body, err := json.Marshal(re)
		if err != nil {
			return err
		}
		if err := retry.Do(ctx, p.cfg.backoff, p.cfg.maxBackoff, p.log.With("run", re.Run.RunID), "lineage push",
			func(ctx context.Context) error { return p.post(ctx, body) }); err != nil {
			return err
		}
	}
	return nil
}

func (p *push) post(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.cfg.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s answered %s", p.url, resp.Status)
	}
	return nil
}
