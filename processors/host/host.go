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
	"io"
	"log/slog"
	"slices"
	"strconv"
	"sync"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/logging"
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
	Offsets  map[state.TopicPartition]int64 // next offset per partition after the batch
	Assigned []state.TopicPartition         // partitions the host owns after the batch
}

type config struct {
	brokers    []string
	group      string
	topics     []string
	clientOpts []kgo.Opt
	logger     *slog.Logger
	sync       bool
	maxPoll    int
	deadLetter func(topic string) string
	progress   func(Progress)
	ensureDLQ  bool
}

// Option configures a Host.
type Option func(*config)

// Brokers sets the seed brokers. Required.
func Brokers(addrs ...string) Option { return func(c *config) { c.brokers = addrs } }

// Group sets the consumer group. Required.
func Group(name string) Option { return func(c *config) { c.group = name } }

// Topics sets the topics to consume. Required.
func Topics(topics ...string) Option { return func(c *config) { c.topics = topics } }

// ClientOpts adds franz-go options (TLS, SASL, ...) to the host's client.
func ClientOpts(opts ...kgo.Opt) Option {
	return func(c *config) { c.clientOpts = append(c.clientOpts, opts...) }
}

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

// EnsureDeadLetterTopics sets whether Run creates the dead-letter topics if
// they are missing. Default true.
func EnsureDeadLetterTopics(ensure bool) Option { return func(c *config) { c.ensureDLQ = ensure } }

// OnProgress sets a callback invoked after each durable batch commit, from
// the goroutine that runs Run. It must not block for long.
func OnProgress(fn func(Progress)) Option { return func(c *config) { c.progress = fn } }

// Host runs one projection. Create it with New, start it with Run, stop it by
// cancelling Run's context or with Close. A Host is single-use. Its methods
// are safe for concurrent use. The store and decoder remain the caller's: the
// host does not close them.
type Host struct {
	proj  projections.Projection
	store *state.Store
	dec   Decoder
	cfg   config
	log   *slog.Logger

	mu     sync.Mutex
	cl     *kgo.Client
	closed bool
	owned  map[state.TopicPartition]bool
}

// New validates its arguments and returns a Host; it does not connect.
func New(proj projections.Projection, store *state.Store, dec Decoder, opts ...Option) (*Host, error) {
	cfg := config{sync: true, maxPoll: 10000, deadLetter: events.DeadLetterTopic, ensureDLQ: true}
	for _, o := range opts {
		o(&cfg)
	}
	switch {
	case proj == nil:
		return nil, errors.New("host: nil projection")
	case store == nil:
		return nil, errors.New("host: nil store")
	case dec == nil:
		return nil, errors.New("host: nil decoder")
	case len(cfg.brokers) == 0:
		return nil, errors.New("host: no brokers")
	case cfg.group == "":
		return nil, errors.New("host: no consumer group")
	case len(cfg.topics) == 0:
		return nil, errors.New("host: no topics")
	case cfg.maxPoll <= 0:
		return nil, fmt.Errorf("host: MaxPollRecords %d, want > 0", cfg.maxPoll)
	case cfg.deadLetter == nil:
		return nil, errors.New("host: nil dead-letter naming")
	}
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Host{
		proj:  proj,
		store: store,
		dec:   dec,
		cfg:   cfg,
		log:   cfg.logger.With("projection", proj.Name(), "group", cfg.group),
		owned: map[state.TopicPartition]bool{},
	}, nil
}

// Run consumes until ctx is done or Close is called, and returns nil in both
// cases. It returns an error if the store fails, the projection returns a
// non-invariant error, or a record cannot be decoded for a reason other than
// poison; the batch in progress is then not committed, so a restarted host
// resumes exactly where the last committed batch ended.
func (h *Host) Run(ctx context.Context) error {
	cl, err := h.connect()
	if err != nil {
		return err
	}
	defer h.Close()
	if h.cfg.ensureDLQ {
		if err := h.ensureDeadLetterTopics(ctx, cl); err != nil {
			return err
		}
	}
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

func (h *Host) connect() (*kgo.Client, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	if h.cl != nil {
		return nil, errors.New("host: Run called twice")
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(h.cfg.brokers...),
		kgo.ConsumerGroup(h.cfg.group),
		kgo.ConsumeTopics(h.cfg.topics...),
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
	cl, err := kgo.NewClient(append(opts, h.cfg.clientOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("host: client: %w", err)
	}
	h.cl = cl
	return cl, nil
}

// Close stops Run and leaves the consumer group. It is idempotent.
func (h *Host) Close() error {
	h.mu.Lock()
	cl := h.cl
	already := h.closed
	h.closed = true
	h.mu.Unlock()
	// The client's close runs the revoke callback, which takes h.mu.
	if cl != nil && !already {
		cl.Close()
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
	prog, err := foldBatch(ctx, h.proj, h.store, h.dec, fetches, h.cfg.sync, poison)
	if err != nil || prog.Records == 0 {
		return err
	}
	if h.cfg.progress != nil {
		prog.Assigned = h.Assigned()
		h.cfg.progress(prog)
	}
	return nil
}

// foldBatch applies every record of fetches to store in one batch, sets the
// next offset of each partition in the same batch, and commits it. Poison
// records are handed to poison before the commit.
func foldBatch(ctx context.Context, proj projections.Projection, store *state.Store, dec Decoder,
	fetches kgo.Fetches, sync bool, poison func(*kgo.Record, string) error) (Progress, error) {
	prog := Progress{Offsets: map[state.TopicPartition]int64{}}
	if fetches.NumRecords() == 0 {
		return prog, nil
	}
	b := store.NewBatch()
	defer b.Close()
	var err error
	fetches.EachPartition(func(p kgo.FetchTopicPartition) {
		if err != nil || len(p.Records) == 0 {
			return
		}
		sc := b.Scope(p.Topic, p.Partition)
		for _, r := range p.Records {
			var reason string
			reason, err = applyRecord(ctx, proj, dec, sc, r)
			if err != nil {
				err = fmt.Errorf("host: %s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err)
				return
			}
			prog.Records++
			if reason != "" {
				prog.Poison++
				if err = poison(r, reason); err != nil {
					return
				}
			}
		}
		next := p.Records[len(p.Records)-1].Offset + 1
		b.SetOffset(p.Topic, p.Partition, next)
		prog.Offsets[state.TopicPartition{Topic: p.Topic, Partition: p.Partition}] = next
	})
	if err != nil {
		return prog, err
	}
	if err := b.Commit(sync); err != nil {
		return prog, fmt.Errorf("host: commit batch: %w", err)
	}
	return prog, nil
}

// applyRecord decodes r and folds it into s through an overlay, so that a
// refused event leaves no partial writes. It returns a non-empty reason when
// r is poison, and an error when the host must stop.
func applyRecord(ctx context.Context, proj projections.Projection, dec Decoder, s projections.Store, r *kgo.Record) (reason string, err error) {
	if r.Attrs.IsControl() {
		return "", nil
	}
	if r.Value == nil {
		return "tombstone on a fact topic", nil
	}
	ev, err := dec.Decode(ctx, r.Value)
	if err != nil {
		if events.IsPoison(err) {
			return "decode: " + err.Error(), nil
		}
		return "", err
	}
	ov := newOverlay(s)
	if err := proj.Apply(ov, ev); err != nil {
		if errors.Is(err, projections.ErrInvariant) {
			return "apply: " + err.Error(), nil
		}
		if ov.err != nil {
			return "", ov.err
		}
		return "", fmt.Errorf("apply %s: %w", ev.Name(), err)
	}
	return "", ov.flush()
}

// deadLetter writes r with its reason to the dead-letter topic and waits for
// the write to be acknowledged, so the poison record is never dropped even if
// the host crashes right after. A crash between the write and the batch
// commit writes it again; the source coordinates in the headers identify
// duplicates.
func (h *Host) deadLetter(ctx context.Context, cl *kgo.Client, r *kgo.Record, reason string) error {
	h.log.Warn("poison record", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "reason", reason)
	dl := DeadLetterRecord(r, h.cfg.deadLetter(r.Topic), reason, h.proj.Name())
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

func (h *Host) ensureDeadLetterTopics(ctx context.Context, cl *kgo.Client) error {
	adm := kadm.NewClient(cl)
	seen := map[string]bool{}
	for _, t := range h.cfg.topics {
		dl := h.cfg.deadLetter(t)
		if seen[dl] {
			continue
		}
		seen[dl] = true
		resp, err := adm.CreateTopic(ctx, 1, -1, map[string]*string{"retention.ms": kadm.StringPtr("-1")}, dl)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("host: create dead-letter topic %s: %w", dl, err)
		}
	}
	return nil
}

func sortedTPs(m map[state.TopicPartition]bool) []state.TopicPartition {
	tps := make([]state.TopicPartition, 0, len(m))
	for tp := range m {
		tps = append(tps, tp)
	}
	slices.SortFunc(tps, func(a, b state.TopicPartition) int {
		if a.Topic != b.Topic {
			if a.Topic < b.Topic {
				return -1
			}
			return 1
		}
		return int(a.Partition - b.Partition)
	})
	return tps
}
