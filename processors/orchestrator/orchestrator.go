// Package orchestrator runs each domain's data products when their inputs
// say so. It reads every domain's inbox (one partition per domain, in one
// order: the router keys inboxes by domain) on the transactional loop,
// folds each fact into the orchestration projection
// (projections/orchestration) held in a Pebble store, and produces the
// projection's decisions — JobStarted, IncidentOpened, IncidentResolved —
// on the owner domain's bus in the same transaction as the fact's offset.
// The runner (processors/runner) runs the jobs; their JobFinished come back
// through the router into the inbox.
//
// # Exactly once, with a store
//
// A decision is produced exactly once: only inside the transaction that
// commits the fact's offset. The store is written after that transaction
// commits, with the offsets it covers, so it is never ahead of the group's
// committed offsets. When it is behind (the process died between the two,
// or another member owned the partition), the facts in between are folded
// again from the log, without producing (their decisions are on the log
// already), before the next fact is decided. A rebuilt store therefore
// equals the live one, which `logmesh replay --verify` checks.
package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkaconn"
	"github.com/logmesh/logmesh/internal/logview"
	"github.com/logmesh/logmesh/processors/proc"
	"github.com/logmesh/logmesh/processors/txn"
	"github.com/logmesh/logmesh/projections/orchestration"
	"github.com/logmesh/logmesh/state"
)

// DefaultGroup is the orchestrator's consumer group unless Group says
// otherwise.
const DefaultGroup = "logmesh-orchestrator"

type config struct {
	proc.Config
	txnOpts  []txn.Option
	progress func(Stats)
	sync     bool
}

// Option configures an Orchestrator.
type Option func(*config)

// Transactions adds options to the transactional loop (its transactional
// id, say).
func Transactions(opts ...txn.Option) Option {
	return func(c *config) { c.txnOpts = append(c.txnOpts, opts...) }
}

// OnCommit calls fn with the orchestrator's counts after each committed
// transaction.
func OnCommit(fn func(Stats)) Option { return func(c *config) { c.progress = fn } }

// Stats counts what the orchestrator committed since it started.
type Stats struct {
	Facts     int64 // inbox facts decided on
	Started   int64 // JobStarted produced
	Incidents int64 // IncidentOpened produced
	Resolved  int64 // IncidentResolved produced
	Refolded  int64 // facts folded again to bring the store up to the log
}

// Orchestrator decides the runs of every domain's products.
type Orchestrator struct {
	cfg   config
	log   *slog.Logger
	codec *events.Codec
	conn  kafkaconn.Conn
	store *state.Store
	loop  *txn.Loop

	batch   *state.Batch // the transaction in flight's state
	next    map[state.TopicPartition]int64
	pending Stats

	mu    sync.Mutex
	stats Stats
}

// New returns an orchestrator over pc.Conn, consuming in pc.Group (default
// DefaultGroup) and keeping its state in store (the caller's); pc.Clock is
// not used.
func New(pc proc.Config, store *state.Store, codec *events.Codec, opts ...Option) (*Orchestrator, error) {
	cfg := config{Config: pc.WithDefaults(DefaultGroup), sync: true}
	for _, o := range opts {
		o(&cfg)
	}
	if store == nil || codec == nil {
		return nil, errors.New("orchestrator: nil store or codec")
	}
	o := &Orchestrator{cfg: cfg, log: cfg.Logger.With("processor", "orchestrator"), codec: codec, conn: cfg.Conn, store: store,
		next: map[state.TopicPartition]int64{}}
	topts := append([]txn.Option{txn.Name("orchestrator"),
		txn.RecordsPerTransaction(500)}, cfg.txnOpts...)
	loop, err := txn.New(cfg.Config, orchestration.Projection{}.Topics(cfg.Topics), codec, o, topts...)
	if err != nil {
		return nil, err
	}
	o.loop = loop
	return o, nil
}

// Run decides until ctx ends.
func (o *Orchestrator) Run(ctx context.Context) error {
	defer o.discard()
	return o.loop.Run(ctx)
}

// Stats returns what was committed so far.
func (o *Orchestrator) Stats() Stats {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.stats
}

// Handle implements txn.Handler.
func (o *Orchestrator) Handle(ctx context.Context, rec *kgo.Record, ev events.Event) ([]*kgo.Record, error) {
	tp := state.TopicPartition{Topic: rec.Topic, Partition: rec.Partition}
	expected, ok := o.next[tp]
	if !ok {
		stored, found, err := o.store.Offset(rec.Topic, rec.Partition)
		if err != nil {
			return nil, err
		}
		if !found {
			stored = 0
		}
		if stored < rec.Offset {
			// The store is behind the group's offsets: fold the facts in
			// between (their decisions are on the log already) into this
			// transaction's state.
			n, err := o.refold(ctx, tp, stored, rec.Offset)
			if err != nil {
				return nil, err
			}
			o.pending.Refolded += int64(n)
			o.log.Info("state brought up to the log", "topic", rec.Topic, "partition", rec.Partition,
				"from", stored, "to", rec.Offset, "facts", n)
			stored = rec.Offset
		}
		expected = stored
	}
	if rec.Offset < expected {
		// Folded already: the group's offsets went back behind what the
		// store holds (a manual reset). Deciding again would repeat
		// decisions; skip, and say so.
		o.log.Error("a fact the store has folded came again; skipped", "topic", rec.Topic, "partition", rec.Partition,
			"offset", rec.Offset, "store_at", expected)
		return nil, nil
	}
	if o.batch == nil {
		o.batch = o.store.NewBatch()
	}
	decided, err := orchestration.Decide(o.batch.Scope(rec.Topic, rec.Partition), rec.Topic, ev)
	if err != nil {
		return nil, fmt.Errorf("orchestrator: %s/%d@%d: %w", rec.Topic, rec.Partition, rec.Offset, err)
	}
	o.batch.SetOffset(rec.Topic, rec.Partition, rec.Offset+1)
	o.next[tp] = rec.Offset + 1
	o.pending.Facts++
	outs := make([]*kgo.Record, 0, len(decided))
	for _, d := range decided {
		r, err := o.codec.Record(d)
		if err != nil {
			return nil, fmt.Errorf("orchestrator: encode %s: %w", d.Name(), err)
		}
		r.Topic = o.cfg.Topics.For(d)
		outs = append(outs, r)
		switch e := d.(type) {
		case *events.JobStarted:
			o.pending.Started++
			o.log.Info("job started", "product", e.Product, "job", e.JobID, "attempt", e.Attempt, "trigger", e.Trigger)
		case *events.IncidentOpened:
			o.pending.Incidents++
			o.log.Warn("incident opened", "product", deref(e.Product), "incident", e.IncidentID, "summary", e.Summary)
		case *events.IncidentResolved:
			o.pending.Resolved++
		}
	}
	return outs, nil
}

// refold folds the facts of tp from offset from up to end into the
// transaction's state, dropping their decisions.
func (o *Orchestrator) refold(ctx context.Context, tp state.TopicPartition, from, end int64) (int, error) {
	start := func(topic string, p int32) (int64, bool, error) { return from, true, nil }
	view, err := logview.New(o.conn, events.TopicNames(tp.Topic), logview.From(start), logview.Logger(o.cfg.Logger),
		logview.ClientOpts(o.cfg.ClientOpts...))
	if err != nil {
		return 0, err
	}
	defer view.Close()
	if o.batch == nil {
		o.batch = o.store.NewBatch()
	}
	sc := o.batch.Scope(tp.Topic, tp.Partition)
	n := 0
	fold := func(_ *kgo.Record, ev events.Event) error {
		n++
		_, err := orchestration.Decide(sc, tp.Topic, ev)
		return err
	}
	poison := func(r *kgo.Record, err error) error {
		o.log.Warn("skipping an undecodable record", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "err", err)
		return nil
	}
	if _, err := view.CatchUpTo(ctx, map[logview.TP]int64{{Topic: tp.Topic, Partition: tp.Partition}: end},
		logview.Events(ctx, o.codec, fold, poison)); err != nil {
		return 0, fmt.Errorf("orchestrator: refold %s/%d from %d to %d: %w", tp.Topic, tp.Partition, from, end, err)
	}
	o.batch.SetOffset(tp.Topic, tp.Partition, end)
	return n, nil
}

// Committed implements txn.Committer: the transaction's state is stored.
func (o *Orchestrator) Committed(context.Context, []*kgo.Record) {
	if o.batch != nil {
		if err := o.batch.Commit(o.cfg.sync); err != nil {
			// The log has the decisions; the store will be refolded.
			o.log.Error("storing the orchestration state; it will be refolded from the log", "err", err)
			o.next = map[state.TopicPartition]int64{}
		}
		o.batch = nil
	}
	o.mu.Lock()
	o.stats.Facts += o.pending.Facts
	o.stats.Started += o.pending.Started
	o.stats.Incidents += o.pending.Incidents
	o.stats.Resolved += o.pending.Resolved
	o.stats.Refolded += o.pending.Refolded
	st := o.stats
	o.mu.Unlock()
	o.pending = Stats{}
	if o.cfg.progress != nil {
		o.cfg.progress(st)
	}
}

// Aborted implements txn.Aborter: the transaction's state is dropped and
// positions are read from the store again.
func (o *Orchestrator) Aborted(context.Context) {
	o.discard()
	o.pending = Stats{}
}

func (o *Orchestrator) discard() {
	if o.batch != nil {
		_ = o.batch.Close()
		o.batch = nil
	}
	o.next = map[state.TopicPartition]int64{}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

var (
	_ txn.Handler   = (*Orchestrator)(nil)
	_ txn.Committer = (*Orchestrator)(nil)
	_ txn.Aborter   = (*Orchestrator)(nil)
)
