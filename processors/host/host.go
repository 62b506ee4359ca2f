// Package host runs a projection against Kafka: it consumes topics in a
// consumer group, decodes each record into a typed event, folds it into a
// Pebble store, and commits the state changes together with the consumed
// offsets in one atomic batch.
//
// State is kept per (topic, partition), and on every assignment the host
// resumes each partition from the offset stored beside its state, not from
// Kafka's committed offset. When a rebalance hands a partition to a host that
// owned it before, that host catches up from where its own state left off; a
// host that never owned it replays the partition from the start. So nothing
// is applied twice and nothing is skipped, across crashes, restarts and
// rebalances. Kafka's committed offsets are kept for lag monitoring only.
//
// Poison records (undecodable bytes, an unknown schema id, an event the
// projection refuses with projections.ErrInvariant) are copied to a
// dead-letter topic with the reason in their headers, and the partition moves
// on.
package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkaconn"
	"github.com/logmesh/logmesh/internal/logging"
	"github.com/logmesh/logmesh/internal/metrics"
	"github.com/logmesh/logmesh/projections"
	"github.com/logmesh/logmesh/state"
)

// ErrClosed is returned by Run after Close.
var ErrClosed = errors.New("host: closed")

// Headers set on a dead-letter record, beside the original key and value.
const (
	HeaderReason     = "logmesh.dlq.reason"
	HeaderTopic      = "logmesh.dlq.topic"
	HeaderPartition  = "logmesh.dlq.partition"
	HeaderOffset     = "logmesh.dlq.offset"
	HeaderProjection = "logmesh.dlq.projection"
)

// Decoder turns a record value into a typed event. *events.Codec implements
// it. Errors wrapping events.ErrMalformed, events.ErrUnknownSchema,
// events.ErrUnknownEvent or events.ErrIncompatible mark the record as poison;
// any other error (an unreachable registry, say) stops the host.
type Decoder interface {
	Decode(ctx context.Context, value []byte) (events.Event, error)
}

// Progress describes one committed batch. It is passed to the Progress
// option's callback after the batch is durable.
type Progress struct {
	Records  int                            // records in the batch, poison included
	Poison   int                            // records sent to the dead-letter topic
	Changed  int                            // records whose fold wrote state
	Offsets  map[state.TopicPartition]int64 // next offset per partition after the batch
	Assigned []state.TopicPartition         // partitions the host owns after the batch
}

type config struct {
	clientOpts []kgo.Opt
	logger     *slog.Logger
	sync       bool
	maxPoll    int
	deadLetter func(topic string) string
	progress   func(Progress)
	ensureDLQ  bool
	metrics    *metrics.Metrics
}

// Option configures a Host.
type Option func(*config)

// ClientOpts adds franz-go options (a session timeout, fetch sizes, ...) to
// the host's client, after the connection's own.
func ClientOpts(opts ...kgo.Opt) Option {
	return func(c *config) { c.clientOpts = append(c.clientOpts, opts...) }
}

// WithMetrics records the time each batch takes to fold and commit
// (logmesh_projection_apply_seconds{projection}) into m. Default nil:
// nothing is recorded.
func WithMetrics(m *metrics.Metrics) Option { return func(c *config) { c.metrics = m } }

// Logger sets the logger; the default discards.
func Logger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// Sync sets whether each batch commit waits for the Pebble WAL to reach the
// disk. The default, true, survives a machine crash; false survives a
// process crash only, and is faster.
func Sync(sync bool) Option { return func(c *config) { c.sync = sync } }

// MaxPollRecords bounds the records folded into one batch. Default 10000.
func MaxPollRecords(n int) Option { return func(c *config) { c.maxPoll = n } }

// DeadLetter names the dead-letter topic of a source topic. The default is
// events.DeadLetterTopic.
func DeadLetter(fn func(topic string) string) Option { return func(c *config) { c.deadLetter = fn } }

// EnsureDeadLetterTopics sets whether the host creates a dead-letter topic
// that is missing when it first needs it. Default true.
func EnsureDeadLetterTopics(ensure bool) Option { return func(c *config) { c.ensureDLQ = ensure } }

// OnProgress sets a callback invoked after each durable batch commit, from
// the goroutine that runs Run. It must not block for long.
func OnProgress(fn func(Progress)) Option { return func(c *config) { c.progress = fn } }

// Effectful is an optional capability of a Projection whose fold has an
// effect outside the log (the notifier's webhook): the host calls
// ApplyContext instead of Apply, and commits the state and offsets only
// after it returns, so the effect happens at least once per event. An error
// stops the host without committing, as from Apply.
type Effectful interface {
	projections.Projection
	ApplyContext(ctx context.Context, s projections.Store, ev events.Event) error
}

// Host runs one projection. Create it with New, start it with Run, stop it by
// cancelling Run's context or with Close. A Host is single-use. Its methods
// are safe for concurrent use. The store and decoder remain the caller's: the
// host does not close them.
type Host struct {
	proj   projections.Projection
	store  *state.Store
	dec    Decoder
	conn   kafkaconn.Conn
	group  string
	topics events.TopicSet
	cfg    config
	log    *slog.Logger

	mu     sync.Mutex
	cl     *kgo.Client
	stop   context.CancelFunc // cancels an active Run
	closed bool
	owned  map[state.TopicPartition]bool
	dlqs   map[string]bool // dead-letter topics known to exist
}

// New validates its arguments and returns a Host that folds topics into
// store as a member of the consumer group; it does not connect.
func New(proj projections.Projection, store *state.Store, dec Decoder, conn kafkaconn.Conn, group string,
	topics events.TopicSet, opts ...Option) (*Host, error) {
	cfg := config{sync: true, maxPoll: 10000, deadLetter: events.DeadLetterTopic, ensureDLQ: true}
	for _, o := range opts {
		o(&cfg)
	}
	_, perr := topics.Compile()
	switch {
	case proj == nil:
		return nil, errors.New("host: nil projection")
	case store == nil:
		return nil, errors.New("host: nil store")
	case dec == nil:
		return nil, errors.New("host: nil decoder")
	case len(conn.Brokers()) == 0:
		return nil, errors.New("host: no brokers")
	case group == "":
		return nil, errors.New("host: no consumer group")
	case topics.Empty():
		return nil, errors.New("host: no topics")
	case perr != nil:
		return nil, fmt.Errorf("host: %w", perr)
	case cfg.maxPoll <= 0:
		return nil, fmt.Errorf("host: MaxPollRecords %d, want > 0", cfg.maxPoll)
	case cfg.deadLetter == nil:
		return nil, errors.New("host: nil dead-letter naming")
	}
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.DiscardHandler)
	}
	return &Host{
		proj:   proj,
		store:  store,
		dec:    dec,
		conn:   conn,
		group:  group,
		topics: topics,
		cfg:    cfg,
		log:    cfg.logger.With("projection", proj.Name(), "group", group),
		owned:  map[state.TopicPartition]bool{},
		dlqs:   map[string]bool{},
	}, nil
}

// Run consumes until ctx is done or Close is called, and returns nil in both
// cases. It returns an error if the store fails, the projection returns a
// non-invariant error, or a record cannot be decoded for a reason other than
// poison; the batch in progress is then not committed, so a restarted host
// resumes exactly where the last committed batch ended.
func (h *Host) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cl, err := h.connect(cancel)
	if err != nil {
		return err
	}
	// The client closes here, after the last fold returned and allowed the
	// rebalance its close runs; closing it during a fold would deadlock.
	defer cl.Close()
	for {
		fetches := cl.PollRecords(ctx, h.cfg.maxPoll)
		if fetches.IsClientClosed() || ctx.Err() != nil {
			cl.AllowRebalance()
			return nil
		}
		for _, fe := range fetches.Errors() {
			if errors.Is(fe.Err, context.Canceled) {
				continue
			}
			h.log.Warn("fetch error", "topic", fe.Topic, "partition", fe.Partition, "err", fe.Err)
		}
		err := h.commit(ctx, cl, fetches)
		cl.AllowRebalance()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

func (h *Host) connect(stop context.CancelFunc) (*kgo.Client, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	if h.cl != nil {
		return nil, errors.New("host: Run called twice")
	}
	h.stop = stop
	opts := []kgo.Opt{
		kgo.ConsumerGroup(h.group),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Control records (transaction markers) are kept so the stored
		// offset moves past them; applyRecord skips them.
		kgo.KeepControlRecords(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.BlockRebalanceOnPoll(),
		kgo.AdjustFetchOffsetsFn(h.adjustOffsets),
		kgo.OnPartitionsAssigned(h.assigned),
		kgo.OnPartitionsRevoked(h.revoked),
		kgo.OnPartitionsLost(h.revoked),
		kgo.WithLogger(logging.Kafka(h.cfg.logger)),
		// Kafka's committed offsets (autocommitted) serve lag monitoring
		// only; resumption uses the offsets stored beside the state.
	}
	if h.topics.Pattern != "" {
		// New topics that match (a domain added later) join the group's
		// assignment as they appear.
		opts = append(opts, kgo.ConsumeRegex(), kgo.ConsumeTopics(h.topics.Regex()), kgo.MetadataMaxAge(10*time.Second))
	} else {
		opts = append(opts, kgo.ConsumeTopics(h.topics.Names...))
	}
	cl, err := h.conn.Client(append(opts, h.cfg.clientOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("host: client: %w", err)
	}
	h.cl = cl
	return cl, nil
}

// Close stops Run, which leaves the consumer group as it returns; Close
// itself does not wait for that. It is idempotent and safe to call from any
// goroutine, also while an effectful fold is blocked (it is cancelled).
func (h *Host) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	if h.stop != nil {
		h.stop()
	}
	return nil
}

// adjustOffsets replaces the group's committed offsets with the offsets
// stored beside the state: the state is the source of truth.
func (h *Host) adjustOffsets(_ context.Context, assigned map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	for topic, parts := range assigned {
		for p := range parts {
			next, ok, err := h.store.Offset(topic, p)
			if err != nil {
				return nil, fmt.Errorf("host: stored offset of %s/%d: %w", topic, p, err)
			}
			if ok {
				parts[p] = kgo.NewOffset().At(next).WithEpoch(-1)
			} else {
				parts[p] = kgo.NewOffset().AtStart()
			}
			h.log.Debug("resuming partition", "topic", topic, "partition", p, "offset", next, "stored", ok)
		}
	}
	return assigned, nil
}

func (h *Host) assigned(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for t, ps := range m {
		for _, p := range ps {
			h.owned[state.TopicPartition{Topic: t, Partition: p}] = true
		}
	}
	h.log.Info("partitions assigned", "assigned", m)
}

func (h *Host) revoked(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for t, ps := range m {
		for _, p := range ps {
			delete(h.owned, state.TopicPartition{Topic: t, Partition: p})
		}
	}
	h.log.Info("partitions revoked", "revoked", m)
}

// Assigned returns the partitions the host owns now, sorted.
func (h *Host) Assigned() []state.TopicPartition {
	h.mu.Lock()
	defer h.mu.Unlock()
	return sortedTPs(h.owned)
}

// commit folds one poll into one batch and commits it with the offsets.
func (h *Host) commit(ctx context.Context, cl *kgo.Client, fetches kgo.Fetches) error {
	poison := func(r *kgo.Record, reason string) error { return h.deadLetter(ctx, cl, r, reason) }
	var recs []*kgo.Record
	next := map[state.TopicPartition]int64{}
	fetches.EachPartition(func(p kgo.FetchTopicPartition) {
		if len(p.Records) > 0 {
			recs = append(recs, p.Records...)
			next[state.TopicPartition{Topic: p.Topic, Partition: p.Partition}] = p.Records[len(p.Records)-1].Offset + 1
		}
	})
	start := time.Now()
	prog, err := foldBatch(ctx, h.proj, h.store, h.dec, recs, next, h.cfg.sync, poison, true)
	if err != nil || prog.Records == 0 {
		return err
	}
	h.cfg.metrics.Applied(h.proj.Name(), time.Since(start))
	if h.cfg.progress != nil {
		prog.Assigned = h.Assigned()
		h.cfg.progress(prog)
	}
	return nil
}

// foldBatch applies recs (control records are skipped) to store, sets the
// next offset of each partition of next with that partition's state, and
// commits. Poison records are handed to poison before anything commits.
//
// A poll of parallelMin records or more folds its partitions in parallel,
// one goroutine per core, each into a batch of its own committed with its
// offset: state is scoped by partition (docs/decisions/0001), so no fold
// reads another partition's state. A smaller poll, or a projection with
// effects when they run, folds its partitions one after the other into one
// batch with one commit.
func foldBatch(ctx context.Context, proj projections.Projection, store *state.Store, dec Decoder,
	recs []*kgo.Record, next map[state.TopicPartition]int64, sync bool, poison func(*kgo.Record, string) error, effects bool) (Progress, error) {
	prog := Progress{Offsets: map[state.TopicPartition]int64{}}
	if len(next) == 0 {
		return prog, nil
	}
	// The partitions in the order their first record came, then those
	// with only an offset to store.
	var parts []*partFold
	byTP := map[state.TopicPartition]*partFold{}
	part := func(tp state.TopicPartition) *partFold {
		pf, ok := byTP[tp]
		if !ok {
			pf = &partFold{tp: tp}
			byTP[tp] = pf
			parts = append(parts, pf)
		}
		return pf
	}
	for _, r := range recs {
		pf := part(state.TopicPartition{Topic: r.Topic, Partition: r.Partition})
		pf.recs = append(pf.recs, r)
	}
	for _, tp := range sortedTPs(keysOf(next)) {
		part(tp)
	}
	defer func() {
		for _, pf := range parts {
			if pf.b != nil {
				pf.b.Close()
			}
		}
	}()
	workers := 1
	if _, eff := proj.(Effectful); (!eff || !effects) && len(recs) >= parallelMin {
		workers = min(runtime.GOMAXPROCS(0), len(parts))
	}
	// Folded on one goroutine, the partitions share one batch: one commit
	// (one sync) per poll, as before the parallel fold.
	var shared *state.Batch
	if workers == 1 {
		shared = store.NewBatch()
	}
	fold := func(pf *partFold) {
		pf.b = shared
		if pf.b == nil {
			pf.b = store.NewBatch()
		}
		sc, ov := pf.b.Scope(pf.tp.Topic, pf.tp.Partition), &overlay{}
		for _, r := range pf.recs {
			reason, wrote, err := applyRecord(ctx, proj, dec, ov, sc, r, effects)
			if wrote {
				pf.changed++
			}
			if err != nil {
				pf.err = fmt.Errorf("host: %s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err)
				return
			}
			if !r.Attrs.IsControl() && reason != "" {
				pf.poison = append(pf.poison, poisoned{r, reason})
			}
		}
		if n, ok := next[pf.tp]; ok {
			pf.b.SetOffset(pf.tp.Topic, pf.tp.Partition, n)
		}
	}
	parallel(parts, workers, fold)
	for _, pf := range parts {
		prog.Changed += pf.changed
		if pf.err != nil {
			return prog, pf.err
		}
	}
	for _, pf := range parts {
		for _, r := range pf.recs {
			if !r.Attrs.IsControl() {
				prog.Records++
			}
		}
		for _, p := range pf.poison {
			prog.Poison++
			if err := poison(p.r, p.reason); err != nil {
				return prog, err
			}
		}
	}
	if shared != nil {
		if err := shared.Commit(sync); err != nil {
			return prog, fmt.Errorf("host: commit batch: %w", err)
		}
	} else {
		parallel(parts, workers, func(pf *partFold) {
			if err := pf.b.Commit(sync); err != nil {
				pf.err = fmt.Errorf("host: commit batch of %s: %w", pf.tp, err)
			}
		})
	}
	var errs []error
	for _, pf := range parts {
		if pf.err != nil {
			errs = append(errs, pf.err)
			continue
		}
		if n, ok := next[pf.tp]; ok {
			prog.Offsets[pf.tp] = n
		}
	}
	return prog, errors.Join(errs...)
}

// parallelMin is the fewest records a fold spreads over goroutines. A
// small batch (a live processor's poll of a few facts) folds on the
// caller's goroutine: handing it to others saves nothing and, on a busy
// machine, the caller woken after them can wait a scheduler time slice
// (10 ms) for a core, which the orchestration latency benchmark showed.
const parallelMin = 1000

// partFold is one partition's share of a fold.
type partFold struct {
	tp      state.TopicPartition
	recs    []*kgo.Record
	b       *state.Batch
	changed int
	poison  []poisoned
	err     error
}

type poisoned struct {
	r      *kgo.Record
	reason string
}

// parallel calls fn for every part on up to workers goroutines, the
// caller's one of them, and waits.
func parallel(parts []*partFold, workers int, fn func(*partFold)) {
	var next atomic.Int64
	run := func() {
		for i := next.Add(1) - 1; i < int64(len(parts)); i = next.Add(1) - 1 {
			fn(parts[i])
		}
	}
	var wg sync.WaitGroup
	for range workers - 1 {
		wg.Go(run)
	}
	run()
	wg.Wait()
}

func keysOf(m map[state.TopicPartition]int64) map[state.TopicPartition]bool {
	out := make(map[state.TopicPartition]bool, len(m))
	for tp := range m {
		out[tp] = true
	}
	return out
}

func applyRecord(ctx context.Context, proj projections.Projection, dec Decoder, ov *overlay, s projections.Store, r *kgo.Record, effects bool) (reason string, wrote bool, err error) {
	if r.Attrs.IsControl() {
		return "", false, nil
	}
	if r.Value == nil {
		return "tombstone on a fact topic", false, nil
	}
	if sel, ok := proj.(projections.Selective); ok {
		for _, h := range r.Headers {
			if h.Key == events.HeaderEvent && !sel.Handles(string(h.Value)) {
				return "", false, nil
			}
		}
	}
	ev, err := dec.Decode(ctx, r.Value)
	if err != nil {
		if events.IsPoison(err) {
			return "decode: " + err.Error(), false, nil
		}
		return "", false, err
	}
	ov.reset(s)
	if e, ok := proj.(Effectful); ok && effects {
		err = e.ApplyContext(ctx, ov, ev)
	} else if l, ok := proj.(projections.Located); ok {
		err = l.ApplyAt(ov, r.Topic, ev)
	} else {
		err = proj.Apply(ov, ev)
	}
	if err != nil {
		if errors.Is(err, projections.ErrInvariant) {
			return "apply: " + err.Error(), false, nil
		}
		if ov.err != nil {
			return "", false, ov.err
		}
		return "", false, fmt.Errorf("apply %s: %w", ev.Name(), err)
	}
	return "", len(ov.writes) > 0, ov.flush()
}

// deadLetter writes r with its reason to the dead-letter topic and waits for
// the write to be acknowledged, so the poison record is never dropped even if
// the host crashes right after. A crash between the write and the batch
// commit writes it again; the source coordinates in the headers identify
// duplicates.
func (h *Host) deadLetter(ctx context.Context, cl *kgo.Client, r *kgo.Record, reason string) error {
	h.log.Warn("poison record", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "reason", reason)
	dl := DeadLetterRecord(r, h.cfg.deadLetter(r.Topic), reason, h.proj.Name())
	if err := h.ensureDeadLetterTopic(ctx, dl.Topic); err != nil {
		return err
	}
	if err := cl.ProduceSync(ctx, dl).FirstErr(); err != nil {
		return fmt.Errorf("host: dead-letter %s/%d@%d to %s: %w", r.Topic, r.Partition, r.Offset, dl.Topic, err)
	}
	return nil
}

// DeadLetterRecord returns the dead-letter copy of r for topic: its key,
// value and headers, plus the reason, the processor and r's coordinates.
func DeadLetterRecord(r *kgo.Record, topic, reason, processor string) *kgo.Record {
	return &kgo.Record{
		Topic: topic,
		Key:   r.Key,
		Value: r.Value,
		Headers: append(slices.Clone(r.Headers),
			kgo.RecordHeader{Key: HeaderReason, Value: []byte(reason)},
			kgo.RecordHeader{Key: HeaderTopic, Value: []byte(r.Topic)},
			kgo.RecordHeader{Key: HeaderPartition, Value: []byte(strconv.Itoa(int(r.Partition)))},
			kgo.RecordHeader{Key: HeaderOffset, Value: []byte(strconv.FormatInt(r.Offset, 10))},
			kgo.RecordHeader{Key: HeaderProjection, Value: []byte(processor)},
		),
	}
}

// ensureDeadLetterTopic creates topic once, before its first record.
func (h *Host) ensureDeadLetterTopic(ctx context.Context, topic string) error {
	h.mu.Lock()
	known := h.dlqs[topic]
	h.mu.Unlock()
	if known || !h.cfg.ensureDLQ {
		return nil
	}
	spec := events.TopicSpec{Name: topic, Partitions: 1, Configs: map[string]*string{"retention.ms": kadm.StringPtr("-1")}}
	if err := h.conn.EnsureTopics(ctx, spec); err != nil {
		return fmt.Errorf("host: dead-letter topic: %w", err)
	}
	h.mu.Lock()
	h.dlqs[topic] = true
	h.mu.Unlock()
	return nil
}

func sortedTPs(m map[state.TopicPartition]bool) []state.TopicPartition {
	return slices.SortedFunc(maps.Keys(m), state.TopicPartition.Compare)
}
