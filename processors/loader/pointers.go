package loader

import (
	"context"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/tables"
)

// pointerView keeps the loader's table pointers equal to the TableCommitted
// events committed on logmesh.raw.events: it is a view (every partition, no
// group) that catches up to the topic's last stable offset before each batch.
// Not safe for concurrent use.
type pointerView struct {
	cfg   config
	codec *events.Codec
	ptrs  *tables.MemPointers
	cl    *kgo.Client
	adm   *kadm.Client
	next  map[int32]int64 // next offset to read per partition
	topic string
}

func newPointerView(ctx context.Context, cfg config, codec *events.Codec, ptrs *tables.MemPointers) (*pointerView, error) {
	v := &pointerView{cfg: cfg, codec: codec, ptrs: ptrs, topic: events.DomainTopic(events.DomainRaw)}
	if err := v.open(); err != nil {
		return nil, err
	}
	if err := v.catchUp(ctx); err != nil {
		v.close()
		return nil, err
	}
	return v, nil
}

func (v *pointerView) open() error {
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(v.cfg.brokers...),
		kgo.ConsumeTopics(v.topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	}, v.cfg.clientOpts...)...)
	if err != nil {
		return fmt.Errorf("loader: pointer view: %w", err)
	}
	v.cl, v.adm, v.next = cl, kadm.NewClient(cl), map[int32]int64{}
	return nil
}

// reset forgets everything and rereads the topic from the start on the next
// catch-up: after an aborted transaction the in-memory pointers may hold a
// commit that never happened.
func (v *pointerView) reset() {
	v.close()
	v.ptrs.Reset()
	if err := v.open(); err != nil {
		v.cfg.logger.Error("pointer view reopen failed", "err", err)
	}
}

func (v *pointerView) close() {
	if v.cl != nil {
		v.cl.Close()
		v.cl = nil
	}
}

// catchUp reads until every partition reaches the last stable offset it had
// when catchUp was called.
func (v *pointerView) catchUp(ctx context.Context) error {
	if v.cl == nil {
		if err := v.open(); err != nil {
			return err
		}
	}
	ends, err := v.adm.ListCommittedOffsets(ctx, v.topic)
	if err != nil {
		return fmt.Errorf("loader: pointer view end offsets: %w", err)
	}
	behind := func() bool {
		b := false
		ends.Each(func(o kadm.ListedOffset) {
			if o.Err == nil && v.next[o.Partition] < o.Offset {
				b = true
			}
		})
		return b
	}
	for behind() {
		fs := v.cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		for _, fe := range fs.Errors() {
			return fmt.Errorf("loader: pointer view fetch %s/%d: %w", fe.Topic, fe.Partition, fe.Err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			v.next[r.Partition] = r.Offset + 1
			if r.Attrs.IsControl() || !strings.Contains(string(header(r, events.HeaderEvent)), "TableCommitted") {
				return
			}
			ev, err := v.codec.Decode(ctx, r.Value)
			if err != nil {
				return // the projection hosts dead-letter it; not ours to judge
			}
			if tc, ok := ev.(*events.TableCommitted); ok {
				if err := v.ptrs.Apply(tc); err != nil {
					v.cfg.logger.Error("table pointer out of step", "table", tc.Table, "err", err)
				}
			}
		})
	}
	return nil
}

func header(r *kgo.Record, key string) []byte {
	for _, h := range r.Headers {
		if h.Key == key {
			return h.Value
		}
	}
	return nil
}

// splitTable splits "domain.table".
func splitTable(name string) (domain, table string, ok bool) {
	domain, table, ok = strings.Cut(name, ".")
	return domain, table, ok && domain != "" && table != ""
}

// ReadPointers folds every TableCommitted of the raw domain committed so far
// into a fresh MemPointers: the table catalog as the log has it now.
func ReadPointers(ctx context.Context, brokers []string, codec *events.Codec, opts ...kgo.Opt) (*tables.MemPointers, error) {
	ptrs := tables.NewMemPointers()
	v, err := newPointerView(ctx, config{brokers: brokers, clientOpts: opts, logger: discard()}, codec, ptrs)
	if err != nil {
		return nil, err
	}
	v.close()
	return ptrs, nil
}
