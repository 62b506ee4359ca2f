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

// Replay folds every partition of topics into store, from the offset stored
// for each partition (the start where none is) up to the last stable offset
// the partition had when Replay began, committing a batch per poll exactly
// as a Host does. It reads through the log view (no consumer group), and it
// writes nothing to Kafka: poison records are skipped, as the live host
// skipped them, and counted in the returned Progress.
//
// Replay into a fresh store rebuilds a projection from offset 0. The Sync,
// MaxPollRecords, ClientOpts and Logger options apply; the others are
// ignored.
func Replay(ctx context.Context, proj projections.Projection, store *state.Store, dec Decoder, conn kafkaconn.Conn,
	topics events.TopicSet, opts ...Option) (Progress, error) {
	return ReplayTo(ctx, proj, store, dec, conn, topics, nil, opts...)
}

// ReplayTo is Replay up to explicit end offsets: each partition of ends is
// folded up to (not including) its end, and no other partition is read. A
// nil ends means the last stable offsets at the call. `logmesh replay
// --verify` replays to the offsets of a live store and compares digests.
func ReplayTo(ctx context.Context, proj projections.Projection, store *state.Store, dec Decoder, conn kafkaconn.Conn,
	topics events.TopicSet, ends map[state.TopicPartition]int64, opts ...Option) (Progress, error) {
	total := Progress{Offsets: map[state.TopicPartition]int64{}}
	cfg := config{sync: true, maxPoll: 10000}
	for _, o := range opts {
		o(&cfg)
	}
	if proj == nil || store == nil || dec == nil {
		return total, errors.New("host: replay: nil projection, store or decoder")
	}
	stored, err := store.Offsets()
	if err != nil {
		return total, err
	}
	for tp, next := range stored {
		total.Offsets[tp] = next
	}
	v, err := logview.New(conn, topics,
		logview.From(func(topic string, partition int32) (int64, bool, error) {
			return store.Offset(topic, partition)
		}),
		logview.Logger(cfg.logger),
		logview.MaxBatch(cfg.maxPoll), logview.ClientOpts(cfg.clientOpts...))
	if err != nil {
		return total, err
	}
	defer v.Close()
	skip := func(*kgo.Record, string) error { return nil }
	fold := func(b logview.Batch) error {
		next := make(map[state.TopicPartition]int64, len(b.Next))
		for tp, n := range b.Next {
			next[state.TopicPartition{Topic: tp.Topic, Partition: tp.Partition}] = n
		}
		prog, err := foldBatch(ctx, proj, store, dec, b.Records, next, cfg.sync, skip)
		if err != nil {
			return err
		}
		total.Records += prog.Records
		total.Poison += prog.Poison
		for tp, n := range prog.Offsets {
			total.Offsets[tp] = n
		}
		return nil
	}
	if ends == nil {
		_, err = v.CatchUp(ctx, fold)
	} else {
		to := make(map[logview.TP]int64, len(ends))
		for tp, end := range ends {
			to[logview.TP{Topic: tp.Topic, Partition: tp.Partition}] = end
		}
		_, err = v.CatchUpTo(ctx, to, fold)
	}
	return total, err
}
