package host

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkaconn"
	"github.com/logmesh/logmesh/internal/logview"
	"github.com/logmesh/logmesh/projections"
	"github.com/logmesh/logmesh/state"
)

// View keeps a projection in a store up to date by reading its topics to
// their end with the log view, without a consumer group (goka's View): every
// partition, from the offset stored for it (the start where none is),
// committing a batch per poll with the offsets exactly as a Host does. It
// writes nothing to Kafka and has no effects (an Effectful projection's
// Apply folds, not its ApplyContext): poison records are skipped, as the
// live host dead-letters them, and counted in Progress.Poison. A View is not safe for
// concurrent use; the store stays the caller's.
type View struct {
	proj  projections.Projection
	store *state.Store
	dec   Decoder
	sync  bool
	lv    *logview.View
	// progress, when set, gets the running total after each batch.
	progress func(Progress)
}

// NewView returns a view of proj over topics into store. The Sync,
// MaxPollRecords, ClientOpts, Logger and OnProgress (called with the
// running total of a catch-up after each batch) options apply; the others
// are ignored.
func NewView(proj projections.Projection, store *state.Store, dec Decoder, conn kafkaconn.Conn,
	topics events.TopicSet, opts ...Option) (*View, error) {
	cfg := config{sync: true, maxPoll: 10000}
	for _, o := range opts {
		o(&cfg)
	}
	if proj == nil || store == nil || dec == nil {
		return nil, errors.New("host: view: nil projection, store or decoder")
	}
	lv, err := logview.New(conn, topics,
		logview.From(func(topic string, partition int32) (int64, bool, error) {
			return store.Offset(topic, partition)
		}),
		logview.Logger(cfg.logger), logview.MaxBatch(cfg.maxPoll), logview.ClientOpts(cfg.clientOpts...))
	if err != nil {
		return nil, err
	}
	return &View{proj: proj, store: store, dec: dec, sync: cfg.sync, lv: lv, progress: cfg.progress}, nil
}

// CatchUp folds everything committed on the topics up to their last stable
// offsets as of the call.
func (v *View) CatchUp(ctx context.Context) (Progress, error) {
	return v.CatchUpTo(ctx, nil)
}

// CatchUpTo folds each partition of ends up to (not including) its end, and
// no other partition; nil ends means the last stable offsets as of the call.
func (v *View) CatchUpTo(ctx context.Context, ends map[state.TopicPartition]int64) (Progress, error) {
	total := Progress{Offsets: map[state.TopicPartition]int64{}}
	skip := func(*kgo.Record, string) error { return nil }
	fold := func(b logview.Batch) error {
		next := make(map[state.TopicPartition]int64, len(b.Next))
		for tp, n := range b.Next {
			next[state.TopicPartition{Topic: tp.Topic, Partition: tp.Partition}] = n
		}
		prog, err := foldBatch(ctx, v.proj, v.store, v.dec, b.Records, next, v.sync, skip, false)
		if err != nil {
			return err
		}
		total.Records += prog.Records
		total.Poison += prog.Poison
		total.Changed += prog.Changed
		for tp, n := range prog.Offsets {
			total.Offsets[tp] = n
		}
		if v.progress != nil {
			v.progress(total)
		}
		return nil
	}
	var err error
	if ends == nil {
		_, err = v.lv.CatchUp(ctx, fold)
	} else {
		to := make(map[logview.TP]int64, len(ends))
		for tp, end := range ends {
			to[logview.TP{Topic: tp.Topic, Partition: tp.Partition}] = end
		}
		_, err = v.lv.CatchUpTo(ctx, to, fold)
	}
	return total, err
}

// Own folds records this process produced and saw committed, before the
// view reads them from the log, so the process reads its own writes: the
// loader applies its TableCommitted the moment its transaction commits.
// Offsets are not moved; the view reads the records again later, so the
// projection must ignore an event it has already applied (the pointers
// projection does). Records of topics outside the view's set are skipped.
func (v *View) Own(ctx context.Context, recs []*kgo.Record) error {
	match, err := v.lv.Topics().Compile()
	if err != nil {
		return err
	}
	var mine []*kgo.Record
	for _, r := range recs {
		if match(r.Topic) {
			mine = append(mine, r)
		}
	}
	if len(mine) == 0 {
		return nil
	}
	b := v.store.NewBatch()
	defer b.Close()
	ov := &overlay{}
	for _, r := range mine {
		if _, _, err := applyRecord(ctx, v.proj, v.dec, ov, b.Scope(r.Topic, r.Partition), r, false); err != nil {
			return err
		}
	}
	return b.Commit(false)
}

// Reset forgets the view's position; the store is the caller's to reset.
func (v *View) Reset() { v.lv.Reset() }

// Close releases the view's client. It is idempotent.
func (v *View) Close() { v.lv.Close() }

// Replay folds every partition of topics into store up to the last stable
// offsets as of the call, from the offsets stored (the start where none
// are): a View read once. Replay into a fresh store rebuilds a projection
// from offset 0.
func Replay(ctx context.Context, proj projections.Projection, store *state.Store, dec Decoder, conn kafkaconn.Conn,
	topics events.TopicSet, opts ...Option) (Progress, error) {
	return ReplayTo(ctx, proj, store, dec, conn, topics, nil, opts...)
}

// ReplayTo is Replay up to explicit end offsets (see View.CatchUpTo).
// `logmesh replay --verify` replays to the offsets of a live store and
// compares the digests.
func ReplayTo(ctx context.Context, proj projections.Projection, store *state.Store, dec Decoder, conn kafkaconn.Conn,
	topics events.TopicSet, ends map[state.TopicPartition]int64, opts ...Option) (Progress, error) {
	v, err := NewView(proj, store, dec, conn, topics, opts...)
	if err != nil {
		return Progress{Offsets: map[state.TopicPartition]int64{}}, err
	}
	defer v.Close()
	return v.CatchUpTo(ctx, ends)
}
