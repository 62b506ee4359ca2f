// Package logview is logmesh's one way of reading topics to their end: a
// View reads a set of topics (fixed names, a pattern, or both) without a
// consumer group, read_committed, from a start position per partition up to
// the last stable offset each partition had when the read began, and hands
// the records to a callback in batches, each partition's records in offset
// order. It is goka's View: the table pointers, the definitions, the
// watcher's landed files, `logmesh replay` and the tests all read through it.
//
// # One policy
//
//   - A topic that does not exist is an empty topic; it is read once it
//     exists (a pattern picks up topics created later). A topic that
//     disappears while it is read is an error.
//   - Fetch errors are returned, never skipped.
//   - Control records (transaction markers) move the position but are not
//     delivered; aborted records are never delivered.
//   - Records are delivered raw; Events decodes them, sending records that
//     can never decode (events.IsPoison) to a poison callback, and stopping
//     on any other decode error.
//
// A View keeps its position between calls, so a second CatchUp reads only
// what was appended since. Records fetched past a call's end are kept for
// the next call, never lost.
package logview

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkaconn"
	"github.com/logmesh/logmesh/internal/logging"
)

// ErrClosed is returned by CatchUp after Close.
var ErrClosed = errors.New("logview: closed")

// TP names one partition of one topic.
type TP struct {
	Topic     string
	Partition int32
}

// Batch is one poll's worth of records.
type Batch struct {
	// Records are the data records of the poll that lie before the end of
	// the catch-up, each partition's in offset order. Control and aborted
	// records are not included.
	Records []*kgo.Record
	// Next is, for each partition the poll touched, the position after the
	// batch: the offset to read next. It moves past control records too,
	// so a store that records it resumes exactly there.
	Next map[TP]int64
}

// Start returns where to start reading a partition the view has not read
// before: the next offset to read, or ok false for the partition's start.
type Start func(topic string, partition int32) (next int64, ok bool, err error)

type config struct {
	max    int
	start  Start
	logger *slog.Logger
	opts   []kgo.Opt
}

// Option configures a View.
type Option func(*config)

// From sets where each partition starts; the default is its first offset.
// A store that records Batch.Next passes its stored offsets here to resume.
func From(s Start) Option { return func(c *config) { c.start = s } }

// MaxBatch bounds the records of one Batch (control records included).
// The default 0 hands over whatever one fetch brought.
func MaxBatch(n int) Option { return func(c *config) { c.max = n } }

// Logger sets the logger of the view's client; the default discards.
func Logger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// ClientOpts adds franz-go options to the view's client (fetch sizes, say).
func ClientOpts(opts ...kgo.Opt) Option {
	return func(c *config) { c.opts = append(c.opts, opts...) }
}

// View reads a set of topics to their end. Create it with New; release it
// with Close. A View is not safe for concurrent use, except that Close may be
// called at any time: a CatchUp in progress then returns ErrClosed.
type View struct {
	conn   kafkaconn.Conn
	set    events.TopicSet
	match  func(string) bool
	cfg    config
	next   map[TP]int64         // position of every partition being read
	added  map[TP]bool          // partitions the current client reads
	buffer map[TP][]*kgo.Record // fetched past an earlier call's end

	mu     sync.Mutex // guards the fields below, so Close may race a CatchUp
	cl     *kgo.Client
	closed bool
}

// New returns a view of set over conn; it connects lazily.
func New(conn kafkaconn.Conn, set events.TopicSet, opts ...Option) (*View, error) {
	cfg := config{}
	for _, o := range opts {
		o(&cfg)
	}
	if set.Empty() {
		return nil, errors.New("logview: no topics")
	}
	match, err := set.Compile()
	if err != nil {
		return nil, fmt.Errorf("logview: %w", err)
	}
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.DiscardHandler)
	}
	return &View{conn: conn, set: set, match: match, cfg: cfg,
		next: map[TP]int64{}, added: map[TP]bool{}, buffer: map[TP][]*kgo.Record{}}, nil
}

// Topics returns the set the view reads.
func (v *View) Topics() events.TopicSet { return v.set }

// Position returns the next offset the view reads in each partition it
// knows. The map is the caller's.
func (v *View) Position() map[TP]int64 { return maps.Clone(v.next) }

// Ends lists the last stable offset of every partition of every existing
// topic of the set.
// A partition whose leader is moving (a retriable error) is asked again for
// a few seconds before Ends gives up.
func (v *View) Ends(ctx context.Context) (map[TP]int64, error) {
	cl, err := v.open()
	if err != nil {
		return nil, err
	}
	topics, err := v.topics(ctx, cl)
	if err != nil || len(topics) == 0 {
		return map[TP]int64{}, err
	}
	for attempt := 1; ; attempt++ {
		ends, retriable, err := v.listEnds(ctx, cl, topics)
		if err == nil || !retriable || attempt == 20 {
			return ends, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(min(time.Duration(attempt)*100*time.Millisecond, time.Second)):
		}
	}
}

// listEnds lists the last stable offsets once; retriable reports that every
// error it met is one a retry may cure.
func (v *View) listEnds(ctx context.Context, cl *kgo.Client, topics []string) (_ map[TP]int64, retriable bool, _ error) {
	listed, err := kadm.NewClient(cl).ListCommittedOffsets(ctx, topics...)
	if err != nil {
		return nil, kerr.IsRetriable(err), fmt.Errorf("logview: end offsets of %v: %w", topics, err)
	}
	ends := map[TP]int64{}
	var lerr error
	retriable = true
	listed.Each(func(o kadm.ListedOffset) {
		switch {
		case errors.Is(o.Err, kerr.UnknownTopicOrPartition):
			// Deleted since it was listed, or so new its leader does not
			// know it yet: empty either way.
		case o.Err != nil:
			retriable = retriable && kerr.IsRetriable(o.Err)
			lerr = errors.Join(lerr, fmt.Errorf("logview: end offset of %s/%d: %w", o.Topic, o.Partition, o.Err))
		default:
			ends[TP{o.Topic, o.Partition}] = o.Offset
		}
	})
	return ends, retriable, lerr
}

// CatchUp reads every partition of the set from the view's position up to
// the last stable offset it has now, calling fn once per poll. It returns
// the number of records delivered. An error from fn stops the read and is
// returned as is; the view's position then stands after the last batch fn
// accepted, and the next call reads again from there.
func (v *View) CatchUp(ctx context.Context, fn func(Batch) error) (int, error) {
	ends, err := v.Ends(ctx)
	if err != nil {
		return 0, v.closedErr(err)
	}
	return v.CatchUpTo(ctx, ends, fn)
}

// CatchUpTo is CatchUp with explicit end offsets: it reads each listed
// partition up to (not including) its end. Partitions the view reads that
// ends does not list are not read further.
//
// On any error (from fn, the context, a fetch) the view forgets what it
// fetched past its position and reads it again on the next call, so an
// error never skips a record.
func (v *View) CatchUpTo(ctx context.Context, ends map[TP]int64, fn func(Batch) error) (n int, err error) {
	cl, err := v.open()
	if err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			v.rewind()
			err = v.closedErr(err)
		}
	}()
	if err := v.add(ctx, cl, ends); err != nil {
		return 0, err
	}
	behind := map[TP]int64{}
	for tp, end := range ends {
		if v.next[tp] < end {
			behind[tp] = end
		}
	}
	v.resume(cl, behind)
	idle := map[string][]int32{}
	for tp := range v.added {
		if _, ok := behind[tp]; !ok {
			idle[tp.Topic] = append(idle[tp.Topic], tp.Partition)
		}
	}
	if len(idle) > 0 {
		cl.PauseFetchPartitions(idle)
	}
	delivered := 0
	deliver := func(b Batch) error {
		if len(b.Next) == 0 {
			return nil
		}
		if err := fn(b); err != nil {
			return err
		}
		delivered += len(b.Records)
		v.advance(cl, b, behind)
		return nil
	}
	// Records kept from an earlier call come first, MaxBatch at a time.
	for {
		b, more := v.take(behind, nil)
		if err := deliver(b); err != nil {
			return delivered, err
		}
		if !more {
			break
		}
	}
	for len(behind) > 0 {
		fs := cl.PollRecords(ctx, v.cfg.max)
		if err := ctx.Err(); err != nil {
			return delivered, err
		}
		if fs.IsClientClosed() {
			return delivered, ErrClosed
		}
		for _, fe := range fs.Errors() {
			switch {
			case errors.Is(fe.Err, kerr.UnknownTopicOrPartition) || errors.Is(fe.Err, kerr.UnknownTopicID):
				return delivered, fmt.Errorf("logview: %s/%d disappeared while it was read: %w", fe.Topic, fe.Partition, fe.Err)
			case kerr.IsRetriable(fe.Err):
				// A leader moved or a broker is briefly away: the client
				// retries by itself.
			default:
				return delivered, fmt.Errorf("logview: fetch %s/%d: %w", fe.Topic, fe.Partition, fe.Err)
			}
		}
		b, _ := v.take(behind, fs)
		if err := deliver(b); err != nil {
			return delivered, err
		}
	}
	return delivered, nil
}

// closedErr reports an error caused by a concurrent Close as ErrClosed.
func (v *View) closedErr(err error) error {
	v.mu.Lock()
	closed := v.closed
	v.mu.Unlock()
	if closed || errors.Is(err, kgo.ErrClientClosed) {
		return ErrClosed
	}
	return err
}

// rewind drops the client and the records fetched past the position: the
// next call starts a client at the position of every partition.
func (v *View) rewind() {
	v.mu.Lock()
	v.closeClient()
	v.mu.Unlock()
	clear(v.buffer)
}

// resume fetches the partitions of behind; paused ones are not fetched, so
// nothing piles up for a partition that is read to its end.
func (v *View) resume(cl *kgo.Client, behind map[TP]int64) {
	m := map[string][]int32{}
	for tp := range behind {
		m[tp.Topic] = append(m[tp.Topic], tp.Partition)
	}
	if len(m) > 0 {
		cl.ResumeFetchPartitions(m)
	}
}

// take builds a batch from the buffered records (when fs is nil, at most
// MaxBatch of them; more reports that some are left) or from fs: every
// record before its partition's end in behind. Records at or past it are
// buffered for a later call.
func (v *View) take(behind map[TP]int64, fs kgo.Fetches) (b Batch, more bool) {
	b = Batch{Next: map[TP]int64{}}
	budget := -1
	if fs == nil && v.cfg.max > 0 {
		budget = v.cfg.max
	}
	consume := func(tp TP, recs []*kgo.Record) {
		end, want := behind[tp]
		for i, r := range recs {
			if !want || r.Offset >= end || budget == 0 {
				v.buffer[tp] = append(v.buffer[tp], recs[i:]...)
				more = more || want && r.Offset < end
				return
			}
			b.Next[tp] = r.Offset + 1
			if budget > 0 {
				budget--
			}
			if !r.Attrs.IsControl() {
				b.Records = append(b.Records, r)
			}
		}
	}
	if fs == nil {
		for _, tp := range slices.SortedFunc(maps.Keys(v.buffer), compareTP) {
			recs := v.buffer[tp]
			delete(v.buffer, tp)
			consume(tp, recs)
		}
		return b, more
	}
	fs.EachPartition(func(p kgo.FetchTopicPartition) {
		consume(TP{p.Topic, p.Partition}, p.Records)
	})
	return b, false
}

// advance moves the position past b and pauses the partitions it brought
// to their end.
func (v *View) advance(cl *kgo.Client, b Batch, behind map[TP]int64) {
	done := map[string][]int32{}
	for tp, next := range b.Next {
		v.next[tp] = next
		if next >= behind[tp] {
			delete(behind, tp)
			done[tp.Topic] = append(done[tp.Topic], tp.Partition)
		}
	}
	if len(done) > 0 {
		cl.PauseFetchPartitions(done)
	}
}

func compareTP(a, b TP) int {
	if a.Topic != b.Topic {
		if a.Topic < b.Topic {
			return -1
		}
		return 1
	}
	return int(a.Partition - b.Partition)
}

// Reset forgets the view's position: the next CatchUp reads everything
// again from the start positions.
func (v *View) Reset() {
	v.rewind()
	clear(v.next)
}

// Close releases the view's client. It is idempotent and safe to call
// concurrently with CatchUp.
func (v *View) Close() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.closeClient()
	v.closed = true
}

func (v *View) closeClient() {
	if v.cl != nil {
		v.cl.Close()
		v.cl = nil
	}
	clear(v.added)
}

func (v *View) open() (*kgo.Client, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return nil, ErrClosed
	}
	if v.cl != nil {
		return v.cl, nil
	}
	cl, err := v.conn.Client(append([]kgo.Opt{
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Transaction markers are kept so the position moves past them;
		// without them a partition that ends in a marker never looks read.
		kgo.KeepControlRecords(),
		// Partitions are added as topics appear; their metadata must not
		// wait out the default five-second minimum age.
		kgo.MetadataMinAge(100 * time.Millisecond),
		// A catch-up waits for the fetch in flight before a partition
		// it resumes (one read to its end before, and paused) is fetched
		// again: a router resumes the central bus its own forward has
		// just landed in before every poll. franz-go's shortest wait
		// keeps that stall to 10ms (it was 250ms, the p99 of refresh →
		// JobStarted in `make bench` now and then); all partitions read,
		// the view pauses them and fetches nothing.
		kgo.FetchMaxWait(10 * time.Millisecond),
		kgo.WithLogger(logging.Kafka(v.cfg.logger)),
	}, v.cfg.opts...)...)
	if err != nil {
		return nil, fmt.Errorf("logview: %w", err)
	}
	v.cl = cl
	return cl, nil
}

// topics returns the existing topics of the set, sorted. It asks a broker
// every time (no cached metadata), so a topic created a moment ago is seen.
func (v *View) topics(ctx context.Context, cl *kgo.Client) ([]string, error) {
	req := kmsg.NewPtrMetadataRequest()
	if v.set.Pattern == "" {
		for _, name := range v.set.Names {
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(name)
			req.Topics = append(req.Topics, rt)
		}
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("logview: list topics %s: %w", v.set, err)
	}
	var out []string
	for _, t := range resp.Topics {
		if t.Topic == nil {
			continue
		}
		name := *t.Topic
		switch err := kerr.ErrorForCode(t.ErrorCode); {
		case errors.Is(err, kerr.UnknownTopicOrPartition):
		case err != nil:
			return nil, fmt.Errorf("logview: topic %s: %w", name, err)
		case v.match(name):
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out, nil
}

// add makes the client read every partition of ends it does not read yet:
// from the view's position where it has one, else from the Start option's,
// else from the partition's log start offset.
func (v *View) add(ctx context.Context, cl *kgo.Client, ends map[TP]int64) error {
	at := map[string]map[int32]kgo.Offset{}
	var unknown []string
	for tp := range ends {
		if v.added[tp] {
			continue
		}
		next, ok := v.next[tp]
		if !ok && v.cfg.start != nil {
			n, found, err := v.cfg.start(tp.Topic, tp.Partition)
			if err != nil {
				return fmt.Errorf("logview: start of %s/%d: %w", tp.Topic, tp.Partition, err)
			}
			next, ok = n, found
		}
		if !ok {
			unknown = append(unknown, tp.Topic)
			continue
		}
		v.next[tp] = next
		if at[tp.Topic] == nil {
			at[tp.Topic] = map[int32]kgo.Offset{}
		}
		at[tp.Topic][tp.Partition] = kgo.NewOffset().At(next)
	}
	if len(unknown) > 0 {
		// The log start, not 0: records below it are gone, and a position
		// waiting for them would never reach the end.
		starts, err := kadm.NewClient(cl).ListStartOffsets(ctx, slices.Compact(slices.Sorted(slices.Values(unknown)))...)
		if err != nil {
			return fmt.Errorf("logview: start offsets: %w", err)
		}
		for tp := range ends {
			if _, ok := v.next[tp]; ok || v.added[tp] {
				continue
			}
			lo, ok := starts.Lookup(tp.Topic, tp.Partition)
			if !ok {
				return fmt.Errorf("logview: no start offset of %s/%d", tp.Topic, tp.Partition)
			}
			if lo.Err != nil {
				return fmt.Errorf("logview: start offset of %s/%d: %w", tp.Topic, tp.Partition, lo.Err)
			}
			v.next[tp] = lo.Offset
			if at[tp.Topic] == nil {
				at[tp.Topic] = map[int32]kgo.Offset{}
			}
			at[tp.Topic][tp.Partition] = kgo.NewOffset().At(lo.Offset)
		}
	}
	for t, ps := range at {
		for p := range ps {
			v.added[TP{t, p}] = true
		}
	}
	if len(at) > 0 {
		cl.AddConsumePartitions(at)
	}
	return nil
}

// Decoder turns a record value into a typed event; *events.Codec is one.
type Decoder interface {
	Decode(ctx context.Context, value []byte) (events.Event, error)
}

// Events adapts fn to a batch callback: it decodes each record with dec and
// calls fn with it. When names are given, records whose logmesh.event
// header names another fact are skipped without decoding. A record that can
// never decode (events.IsPoison) goes to poison, or is skipped if poison is
// nil; any other decode error stops the read.
func Events(ctx context.Context, dec Decoder, fn func(r *kgo.Record, ev events.Event) error,
	poison func(r *kgo.Record, err error) error, names ...string) func(Batch) error {
	return func(b Batch) error {
		for _, r := range b.Records {
			if len(names) > 0 {
				if h, ok := header(r, events.HeaderEvent); ok && !slices.Contains(names, h) {
					continue
				}
			}
			ev, err := dec.Decode(ctx, r.Value)
			switch {
			case err != nil && events.IsPoison(err):
				if poison != nil {
					if err := poison(r, err); err != nil {
						return err
					}
				}
				continue
			case err != nil:
				return fmt.Errorf("logview: decode %s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err)
			}
			if len(names) > 0 && !slices.Contains(names, ev.Name()) {
				continue
			}
			if err := fn(r, ev); err != nil {
				return err
			}
		}
		return nil
	}
}

func header(r *kgo.Record, key string) (string, bool) {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value), true
		}
	}
	return "", false
}

// ReadAll reads set once from the start to its end and returns the data
// records: the whole committed log of the set as of the call.
func ReadAll(ctx context.Context, conn kafkaconn.Conn, set events.TopicSet) ([]*kgo.Record, error) {
	v, err := New(conn, set)
	if err != nil {
		return nil, err
	}
	defer v.Close()
	var out []*kgo.Record
	_, err = v.CatchUp(ctx, func(b Batch) error {
		out = append(out, b.Records...)
		return nil
	})
	return out, err
}
