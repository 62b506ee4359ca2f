package host

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logmesh/logmesh/projections"
	"github.com/logmesh/logmesh/state"
)

// Replay folds every partition of the Topics option into store, from the
// offset stored for each partition (the start where none is) up to the last
// stable offset the partition had when Replay began, committing a batch per
// poll exactly as a Host does. It reads without a consumer group, and it
// writes nothing to Kafka: poison records are skipped, as the live host
// skipped them, and counted in the returned Progress.
//
// Replay into a fresh store rebuilds a projection from offset 0; comparing
// its digest with a live store's is what `logmesh replay --verify` does. The
// Group, DeadLetter and OnProgress options are ignored.
func Replay(ctx context.Context, proj projections.Projection, store *state.Store, dec Decoder, opts ...Option) (Progress, error) {
	total := Progress{Offsets: map[state.TopicPartition]int64{}}
	opts = append([]Option{Group("replay")}, opts...)
	h, err := New(proj, store, dec, opts...)
	if err != nil {
		return total, err
	}
	cfg := h.cfg
	admCl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(cfg.brokers...)}, cfg.clientOpts...)...)
	if err != nil {
		return total, fmt.Errorf("host: replay client: %w", err)
	}
	defer admCl.Close()
	ends, err := kadm.NewClient(admCl).ListCommittedOffsets(ctx, cfg.topics...)
	if err != nil {
		return total, fmt.Errorf("host: replay end offsets: %w", err)
	}
	if err := ends.Error(); err != nil {
		return total, fmt.Errorf("host: replay end offsets: %w", err)
	}
	start := map[string]map[int32]kgo.Offset{}
	remaining := map[state.TopicPartition]int64{}
	var listed []kadm.ListedOffset
	ends.Each(func(lo kadm.ListedOffset) { listed = append(listed, lo) })
	for _, lo := range listed {
		tp := state.TopicPartition{Topic: lo.Topic, Partition: lo.Partition}
		next, ok, err := store.Offset(lo.Topic, lo.Partition)
		if err != nil {
			return total, fmt.Errorf("host: replay stored offset %s/%d: %w", lo.Topic, lo.Partition, err)
		}
		total.Offsets[tp] = next
		if next >= lo.Offset {
			continue
		}
		remaining[tp] = lo.Offset
		if start[lo.Topic] == nil {
			start[lo.Topic] = map[int32]kgo.Offset{}
		}
		if ok {
			start[lo.Topic][lo.Partition] = kgo.NewOffset().At(next)
		} else {
			start[lo.Topic][lo.Partition] = kgo.NewOffset().AtStart()
		}
	}
	if len(remaining) == 0 {
		return total, nil
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(cfg.brokers...),
		kgo.ConsumePartitions(start),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
	}, cfg.clientOpts...)...)
	if err != nil {
		return total, fmt.Errorf("host: replay client: %w", err)
	}
	defer cl.Close()
	skip := func(*kgo.Record, string) error { return nil }
	for len(remaining) > 0 {
		fetches := cl.PollRecords(ctx, cfg.maxPoll)
		if err := ctx.Err(); err != nil {
			return total, err
		}
		for _, fe := range fetches.Errors() {
			if !errors.Is(fe.Err, context.Canceled) {
				return total, fmt.Errorf("host: replay fetch %s/%d: %w", fe.Topic, fe.Partition, fe.Err)
			}
		}
		// Records past the end offset (appended after Replay began) are
		// left for later, so the result is the log up to a fixed point.
		var trimmed kgo.Fetches
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			tp := state.TopicPartition{Topic: p.Topic, Partition: p.Partition}
			end, ok := remaining[tp]
			if !ok {
				return
			}
			n := 0
			for n < len(p.Records) && p.Records[n].Offset < end {
				n++
			}
			p.Records = p.Records[:n]
			trimmed = append(trimmed, kgo.Fetch{Topics: []kgo.FetchTopic{{Topic: p.Topic, Partitions: []kgo.FetchPartition{p.FetchPartition}}}})
		})
		prog, err := foldBatch(ctx, proj, store, dec, trimmed, cfg.sync, skip)
		if err != nil {
			return total, err
		}
		total.Records += prog.Records
		total.Poison += prog.Poison
		for tp, next := range prog.Offsets {
			total.Offsets[tp] = next
			if next >= remaining[tp] {
				delete(remaining, tp)
			}
		}
	}
	return total, nil
}
