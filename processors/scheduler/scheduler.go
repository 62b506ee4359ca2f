// Package scheduler turns the cron schedules of data products into facts.
// It follows the product definitions on the central bus and, each time a
// product's schedule comes due, produces a RunRequested on its owner's bus
// with RequestedBy events.RequestedBySchedule, the due time as OccurredAt
// and an event id derived from the product and that time. The router
// brings it to the owner's inbox, where the orchestration projection
// weighs it in the product's trigger policy ("schedule", "inputs and
// schedule", "inputs or schedule") like any other fact, so a scheduled
// run replays like every other decision.
//
// The scheduler keeps no state. Started (or restarted), it emits for each
// product the latest due time not before the product's definition; times
// missed while it was down give one run, not one each. A due time the
// orchestration has seen already (from the scheduler before a restart, or
// from a second scheduler) is ignored there, so a repeated RunRequested
// starts no second run.
package scheduler

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkaconn"
	"github.com/logmesh/logmesh/internal/trigger"
	"github.com/logmesh/logmesh/processors/host"
	"github.com/logmesh/logmesh/processors/proc"
	"github.com/logmesh/logmesh/projections/definitions"
	"github.com/logmesh/logmesh/state"
)

// DefaultInterval is how often the scheduler looks at the clock and the
// definitions.
const DefaultInterval = time.Second

type config struct {
	proc.Config
	interval time.Duration
	progress func(*events.RunRequested)
}

// Option configures a Scheduler.
type Option func(*config)

// Interval sets how often the scheduler looks; default DefaultInterval.
func Interval(d time.Duration) Option { return func(c *config) { c.interval = d } }

// OnRequested calls fn after each RunRequested is on the log.
func OnRequested(fn func(*events.RunRequested)) Option { return func(c *config) { c.progress = fn } }

// scheduled is one product with a schedule.
type scheduled struct {
	name, owner string
	cron        trigger.Cron
	since       time.Time // the definition's time: nothing is due before it
}

// Scheduler emits the due times of products' schedules. Create it with
// New, run it with Run; it is single-use.
type Scheduler struct {
	cfg   config
	log   *slog.Logger
	codec *events.Codec
	conn  kafkaconn.Conn
	store *state.Store
	view  *host.View

	products []scheduled
	last     map[string]time.Time // the latest due time emitted, by product

	runMu  sync.Mutex
	stop   context.CancelFunc
	closed bool
}

// New returns a scheduler over pc.Conn; pc.Clock is the clock schedules
// are due by, and pc.Group is not used (the scheduler consumes in no
// group).
func New(pc proc.Config, codec *events.Codec, opts ...Option) (*Scheduler, error) {
	cfg := config{Config: pc.WithDefaults(""), interval: DefaultInterval}
	for _, o := range opts {
		o(&cfg)
	}
	if codec == nil {
		return nil, errors.New("scheduler: nil codec")
	}
	st, err := state.Open("", &state.Options{FS: vfs.NewMem(), Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	s := &Scheduler{cfg: cfg, log: cfg.Logger.With("processor", "scheduler"), codec: codec, conn: cfg.Conn, store: st,
		last: map[string]time.Time{}}
	proj := definitions.Projection{}
	if s.view, err = host.NewView(proj, st, codec, cfg.Conn, proj.Topics(cfg.Topics), host.Sync(false),
		host.Logger(cfg.Logger), host.ClientOpts(cfg.ClientOpts...)); err != nil {
		st.Close()
		return nil, err
	}
	return s, nil
}

// Run emits due times until ctx ends or Close is called; it returns nil
// then, or the error that stopped it.
func (s *Scheduler) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.runMu.Lock()
	if s.closed {
		s.runMu.Unlock()
		return errors.New("scheduler: closed")
	}
	s.stop = cancel
	s.runMu.Unlock()
	defer func() {
		s.view.Close()
		_ = s.store.Close()
	}()
	if err := s.codec.Register(ctx); err != nil {
		return fmt.Errorf("scheduler: %w", err)
	}
	cl, err := s.conn.Client(s.cfg.ClientOpts...)
	if err != nil {
		return fmt.Errorf("scheduler: %w", err)
	}
	defer cl.Close()
	t := time.NewTicker(s.cfg.interval)
	defer t.Stop()
	for {
		if err := s.Tick(ctx, cl); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			// The next tick tries again: a due time not emitted stays due.
			s.log.Warn("scheduler: tick failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Close stops Run. It is idempotent and does not wait.
func (s *Scheduler) Close() error {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	s.closed = true
	if s.stop != nil {
		s.stop()
	}
	return nil
}

// Tick catches up with the definitions and emits, with cl, the due times
// the clock has reached.
func (s *Scheduler) Tick(ctx context.Context, cl *kgo.Client) error {
	prog, err := s.view.CatchUp(ctx)
	if err != nil {
		return fmt.Errorf("definitions: %w", err)
	}
	if prog.Changed > 0 {
		if err := s.reload(); err != nil {
			return err
		}
	}
	now := s.cfg.Clock().UTC()
	for _, p := range s.products {
		after := p.since
		if last, ok := s.last[p.name]; ok && last.After(after) {
			after = last
		}
		due, ok := p.cron.Due(after, now)
		if !ok {
			continue
		}
		ev := Request(p.name, p.owner, p.cron, due)
		rec, err := s.codec.Record(ev)
		if err != nil {
			return err
		}
		rec.Topic = s.cfg.Topics.For(ev)
		if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
			return fmt.Errorf("product %s due %s: %w", p.name, due.Format(time.RFC3339), err)
		}
		s.last[p.name] = due
		s.log.Info("schedule due", "product", p.name, "schedule", p.cron.String(), "due", due)
		if s.cfg.progress != nil {
			s.cfg.progress(ev)
		}
	}
	return nil
}

// Request is the RunRequested that says product's schedule was due at due.
func Request(product, owner string, cron trigger.Cron, due time.Time) *events.RunRequested {
	due = due.UTC().Truncate(time.Microsecond)
	at := due.Format(time.RFC3339Nano)
	return &events.RunRequested{
		Envelope: events.Envelope{EventID: events.DeriveID("schedule", product, at), OccurredAt: due, Domain: owner,
			CorrelationID: events.DeriveID("schedule", product)},
		Product: product, RequestedBy: events.RequestedBySchedule,
		Reason: new("schedule " + cron.String() + " due at " + at),
	}
}

// reload rereads the scheduled products from the definitions.
func (s *Scheduler) reload() error {
	all, err := definitions.All(s.store)
	if err != nil {
		return err
	}
	var ps []scheduled
	for k, d := range all {
		if k.Kind != definitions.KindProduct || d.Retired || d.Product == nil || d.Product.Schedule == "" ||
			d.Product.Kind != "consumer-aligned" {
			continue
		}
		c, err := trigger.ParseCron(d.Product.Schedule)
		if err != nil {
			s.log.Warn("scheduler: product ignored", "product", d.Name, "err", err) // refused at apply
			continue
		}
		ps = append(ps, scheduled{name: d.Name, owner: d.Product.Owner, cron: c, since: d.At})
	}
	slices.SortFunc(ps, func(a, b scheduled) int { return cmp.Compare(a.name, b.name) })
	s.products = ps
	return nil
}
