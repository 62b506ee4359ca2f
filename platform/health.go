package platform

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/logmesh/logmesh/internal/lag"
	"github.com/logmesh/logmesh/state"
)

// probeTimeout bounds each check of /readyz.
const probeTimeout = 5 * time.Second

// readiness answers /readyz: Kafka answers a metadata request, the schema
// registry answers, and every live store of the process has folded its
// topics up to the end offsets they had when readiness was first asked
// (once caught up, a store stays caught up: later lag is a metric, not
// unreadiness). A store of a processor that consumes in a consumer group
// holds only the partitions its instance is assigned; a partition another
// instance folds counts as caught up once the group's committed offset
// reached the end (the group commits with each instance's state, decision
// 0001), so several instances of a processor all become ready. Safe for
// concurrent use.
type readiness struct {
	env *Env

	mu      sync.Mutex
	targets map[string]map[state.TopicPartition]int64 // per live store, the end offsets seen first
	caught  map[string]bool
}

// check returns nil when the process is ready, or every reason it is not.
func (r *readiness) check(ctx context.Context) []string {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	var reasons []string
	adm, err := r.env.admin()
	if err == nil {
		_, err = adm.BrokerMetadata(ctx)
	}
	if err != nil {
		reasons = append(reasons, fmt.Sprintf("kafka: %v", err))
	}
	if r.env.Registry != nil {
		if _, err := r.env.Registry.SupportedTypes(ctx); err != nil {
			reasons = append(reasons, fmt.Sprintf("schema registry: %v", err))
		}
	}
	if len(reasons) > 0 {
		return reasons
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.targets == nil {
		r.targets, r.caught = map[string]map[state.TopicPartition]int64{}, map[string]bool{}
	}
	for _, l := range r.env.liveStores() {
		if r.caught[l.processor] {
			continue
		}
		ends, ok := r.targets[l.processor]
		if !ok {
			if ends, err = r.endOffsets(ctx, adm, l.projection); err != nil {
				reasons = append(reasons, fmt.Sprintf("%s: end offsets: %v", l.processor, err))
				continue
			}
			r.targets[l.processor] = ends
		}
		var committed map[state.TopicPartition]int64
		if !slices.Contains(noGroup, l.processor) {
			if committed, err = r.committed(ctx, adm, r.env.Config.Group(l.processor)); err != nil {
				reasons = append(reasons, fmt.Sprintf("%s: committed offsets: %v", l.processor, err))
				continue
			}
		}
		behind, err := r.behindBy(ctx, l.store(), ends, committed)
		if err != nil {
			reasons = append(reasons, fmt.Sprintf("%s: %v", l.processor, err))
			continue
		}
		if len(behind) > 0 {
			reasons = append(reasons, fmt.Sprintf("%s: catching up (%s)", l.processor, strings.Join(behind, ", ")))
			continue
		}
		r.caught[l.processor] = true
	}
	return reasons
}

// endOffsets lists the end offsets of the topics of the named projection.
func (r *readiness) endOffsets(ctx context.Context, adm *kadm.Client, projection string) (map[state.TopicPartition]int64, error) {
	var set = r.env.projectionTopics(projection)
	match, err := set.Compile()
	if err != nil {
		return nil, err
	}
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, t := range topics.Names() {
		if match(t) {
			names = append(names, t)
		}
	}
	out := map[state.TopicPartition]int64{}
	if len(names) == 0 {
		return out, nil
	}
	ends, err := adm.ListEndOffsets(ctx, names...)
	if err != nil {
		return nil, err
	}
	if err := ends.Error(); err != nil {
		return nil, err
	}
	ends.Each(func(o kadm.ListedOffset) {
		out[state.TopicPartition{Topic: o.Topic, Partition: o.Partition}] = o.Offset
	})
	return out, nil
}

// committed returns the committed offsets of group.
func (r *readiness) committed(ctx context.Context, adm *kadm.Client, group string) (map[state.TopicPartition]int64, error) {
	out := map[state.TopicPartition]int64{}
	resp, err := adm.FetchOffsets(ctx, group)
	if err == nil {
		err = resp.Error()
	}
	if errors.Is(err, kerr.GroupIDNotFound) {
		return out, nil // a group that never committed
	}
	if err != nil {
		return nil, err
	}
	resp.Each(func(o kadm.OffsetResponse) {
		out[state.TopicPartition{Topic: o.Topic, Partition: o.Partition}] = o.At
	})
	return out, nil
}

// behindBy names each partition whose stored offset (or, further, its
// group's committed offset in committed) is short of its end in ends,
// with how far. A partition followed by nothing but transaction
// markers (a store's offset moves past the records it folds, and a
// transaction's commit marker is no record) is not behind: lag.Ages reads
// what is left to tell.
func (r *readiness) behindBy(ctx context.Context, st *state.Store, ends, committed map[state.TopicPartition]int64) ([]string, error) {
	var parts []lag.Partition
	for _, tp := range slicesSortedTP(ends) {
		end := ends[tp]
		if end <= 0 {
			continue
		}
		next, ok, err := st.Offset(tp.Topic, tp.Partition)
		if err != nil {
			return nil, fmt.Errorf("stored offset of %s/%d: %w", tp.Topic, tp.Partition, err)
		}
		if !ok {
			next = -1
		}
		if c, ok := committed[tp]; ok {
			next = max(next, c)
		}
		if next < end {
			parts = append(parts, lag.Partition{Topic: tp.Topic, Partition: tp.Partition, Committed: next, End: end,
				Records: lag.Records(next, 0, end)})
		}
	}
	if len(parts) == 0 {
		return nil, nil
	}
	actx, cancel := context.WithTimeout(ctx, probeTimeout/2)
	defer cancel()
	// Unread partitions stay behind; the error says only that none was read.
	_ = lag.Ages(actx, r.env.Conn.WithHooks(nil).Client, parts, time.Now())
	var out []string
	for _, p := range parts {
		if p.Records > 0 {
			out = append(out, fmt.Sprintf("%s/%d at %d of %d", p.Topic, p.Partition, max(p.Committed, 0), p.End))
		}
	}
	return out, nil
}

func slicesSortedTP(m map[state.TopicPartition]int64) []state.TopicPartition {
	out := make([]state.TopicPartition, 0, len(m))
	for tp := range m {
		out = append(out, tp)
	}
	slices.SortFunc(out, state.TopicPartition.Compare)
	return out
}
