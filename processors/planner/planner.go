// Package planner groups landed files into load batches: every Interval, and
// whenever the bytes pending for a table exceed Threshold, it takes each
// table's files that are RECEIVED and not yet batched, in landing order,
// cuts them into batches of at most a policy's max files and max bytes, and
// produces one BatchPlanned per batch to logmesh.raw.batches, keyed by table
// (so one loader owns a table).
//
// # Never planning a file twice
//
// What has been planned is known from the log, not from memory: the planner
// folds FileLanded (logmesh.raw.events) and BatchPlanned
// (logmesh.raw.batches) with the audit projection (projections/audit) into
// its Pebble store, through a processors/host Host in the consumer group
// "logmesh.planner", and plans from that store's merged view, which a tick
// reads through the audit's status index (audit.Pending): a tick costs what
// the files pending cost, not what every file ever audited does. Between
// producing a BatchPlanned and seeing it come back through the log, the
// batch's files are held in memory as planned, so the next tick cannot plan
// them again. After a restart the planner first catches up to the end
// offsets the topics had when it started, so batches planned before the
// restart are known before anything is planned.
//
// Planning needs the whole picture (a table's files are spread over every
// partition of logmesh.raw.events), so a running planner plans only while
// its host owns every partition of both topics: run one planner instance. A
// second instance in the group takes partitions away and both stop planning
// (safely) until one leaves.
//
// Ids are deterministic: a batch id is events.DeriveID("batch", table,
// the files' attempt ids sorted...), and the BatchPlanned event id is
// derived from it, so a batch produced again after an unknown-outcome
// produce error carries the same ids and consumers drop the duplicate. A
// file's attempt id is events.AttemptID(file id, attempt): the file id at
// its first attempt (so batch ids are what they were before attempts
// existed) and another id for each retry, so the batch of a retried file
// is a new batch, which the loader loads again rather than skipping as
// one the table has already.
//
// Files that landed without a table (no feed matched their key) are never
// planned; the watcher records them UNMATCHED. Files that FAILED are not
// planned again either, until a retry (FileRetryRequested, `logmesh files
// retry`) lands them again: the audit then has them RECEIVED at their new
// attempt, which the batch records in BatchFile.Attempt.
package planner

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

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkaconn"
	"github.com/logmesh/logmesh/internal/logging"
	"github.com/logmesh/logmesh/processors/host"
	"github.com/logmesh/logmesh/processors/proc"
	"github.com/logmesh/logmesh/projections/audit"
	"github.com/logmesh/logmesh/state"
)

// Defaults of the options.
const (
	DefaultGroup     = "logmesh.planner"
	DefaultInterval  = 10 * time.Second
	DefaultThreshold = 256 << 20 // bytes
	DefaultMaxFiles  = 100
	DefaultMaxBytes  = 1 << 30 // bytes
)

// Values of BatchPlanned.Trigger written by the planner.
const (
	// TriggerInterval marks a batch planned by the periodic tick.
	TriggerInterval = "interval"
	// TriggerThreshold marks a batch planned because its table's pending
	// bytes exceeded the threshold.
	TriggerThreshold = "threshold"
)

// Errors returned by Run and PlanOnce.
var (
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("planner: closed")
	// ErrRunning is returned by Run when the planner is already running.
	ErrRunning = errors.New("planner: already running")
)

// Policy returns the batch limits of a table: at most maxFiles files and
// maxBytes bytes per batch (a single file larger than maxBytes makes a batch
// of its own). A value <= 0 means the default.
type Policy func(table string) (maxFiles int, maxBytes int64)

// Definitions is what the planner reads of the feeds' definitions, live.
// Its methods must be safe for concurrent use.
type Definitions interface {
	// CatchUp brings the definitions up to date with the log.
	CatchUp(ctx context.Context) error
	// Limits returns the batch limits of table's live feed; ok is false
	// if no live feed loads table.
	Limits(table string) (maxFiles int, maxBytes int64, ok bool)
	// Hash returns the definition hash of feed's latest definition.
	Hash(feed string) (hash string, ok bool)
}

type config struct {
	proc.Config
	defs      Definitions
	interval  time.Duration
	threshold int64
	policy    Policy
	hostOpts  []host.Option
}

// Option configures a Planner.
type Option func(*config)

// Interval sets how often Run plans every pending file. Default 10 s.
func Interval(d time.Duration) Option { return func(c *config) { c.interval = d } }

// Threshold sets the pending bytes of a table above which Run plans the
// table at once, without waiting for the next interval. Default 256 MiB.
func Threshold(bytes int64) Option { return func(c *config) { c.threshold = bytes } }

// WithPolicy sets the batch limits per table. The default allows 100 files
// and 1 GiB per batch for every table.
func WithPolicy(p Policy) Option { return func(c *config) { c.policy = p } }

// WithDefinitions makes the planner follow the feeds' definitions on the
// log: it catches them up before each tick, takes each table's batch
// limits from its live feed (WithPolicy's for a table without one), and
// records in each batch the definition hash of its feed, which the loader
// loads it with. Default none: WithPolicy's limits, and batches without a
// hash.
func WithDefinitions(d Definitions) Option { return func(c *config) { c.defs = d } }

// HostOpts adds options to the planner's host (host.Sync,
// host.MaxPollRecords, ...). Client options, logger and progress callback
// are set by the planner.
func HostOpts(opts ...host.Option) Option {
	return func(c *config) { c.hostOpts = append(c.hostOpts, opts...) }
}

// produced is a BatchPlanned the planner produced and has not yet seen
// folded into its store.
type produced struct {
	partition int32
	offset    int64
	files     []string
}

// Planner plans load batches. Create it with New; drive it with Run, or tick
// it by hand with PlanOnce. Its methods are safe for concurrent use. The
// store and codec remain the caller's: Close does not close them.
type Planner struct {
	store *state.Store
	codec *events.Codec
	conn  kafkaconn.Conn
	cfg   config
	// batchesTopic is where batches go; topics what the host folds.
	batchesTopic string
	topics       events.TopicSet
	log          *slog.Logger

	// planMu serializes planning, replay and the start of Run, and guards
	// the fields below it.
	planMu    sync.Mutex
	inflight  map[string]bool // attempt ids (events.AttemptID) of files produced, not yet folded
	reindexed bool            // reindex has run
	unseen    []produced
	running   *host.Host // the host of an active Run, or nil
	ready     bool       // the running host has caught up and owns everything
	parts     []state.TopicPartition

	mu     sync.Mutex
	cl     *kgo.Client
	closed bool
}

// New validates its arguments and returns a Planner over pc.Conn; it does
// not connect. Files land on pc.Topics' raw domain's events topic and
// batches go to its batches topic; the planner's host consumes in pc.Group
// (default DefaultGroup); pc.Clock stamps the occurred-at time of
// BatchPlanned events and is not used for scheduling.
func New(pc proc.Config, store *state.Store, codec *events.Codec, opts ...Option) (*Planner, error) {
	cfg := config{
		Config:    pc.WithDefaults(DefaultGroup),
		interval:  DefaultInterval,
		threshold: DefaultThreshold,
	}
	for _, o := range opts {
		o(&cfg)
	}
	switch {
	case store == nil:
		return nil, errors.New("planner: nil store")
	case codec == nil:
		return nil, errors.New("planner: nil codec")
	case len(cfg.Conn.Brokers()) == 0:
		return nil, errors.New("planner: no brokers")
	case cfg.interval <= 0:
		return nil, fmt.Errorf("planner: interval %v, want > 0", cfg.interval)
	case cfg.threshold <= 0:
		return nil, fmt.Errorf("planner: threshold %d, want > 0", cfg.threshold)
	}
	if cfg.policy == nil {
		cfg.policy = func(string) (int, int64) { return DefaultMaxFiles, DefaultMaxBytes }
	}
	return &Planner{
		store:        store,
		codec:        codec,
		conn:         cfg.Conn,
		cfg:          cfg,
		batchesTopic: cfg.Topics.Batches(),
		topics:       audit.Projection{}.Topics(cfg.Topics),
		log:          cfg.Logger.With("processor", "planner"),
		inflight:     map[string]bool{},
	}, nil
}

// client returns the planner's producer (and admin) client, creating it.
func (p *Planner) client() (*kgo.Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	if p.cl == nil {
		cl, err := p.conn.Client(append([]kgo.Opt{
			kgo.WithLogger(logging.Kafka(p.cfg.Logger)),
		}, p.cfg.ClientOpts...)...)
		if err != nil {
			return nil, fmt.Errorf("planner: client: %w", err)
		}
		p.cl = cl
	}
	return p.cl, nil
}

// Close stops Run and closes the planner's clients. It is idempotent.
func (p *Planner) Close() error {
	p.mu.Lock()
	cl, already := p.cl, p.closed
	p.closed = true
	p.mu.Unlock()
	if already {
		return nil
	}
	p.planMu.Lock()
	h := p.running
	p.planMu.Unlock()
	if h != nil {
		h.Close()
	}
	if cl != nil {
		cl.Close()
	}
	return nil
}

func (p *Planner) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// Run folds the topics into the store with a host in the planner's consumer
// group, waits until the host has caught up to the end offsets the topics
// had when Run began, and then plans every Interval (trigger "interval") and
// after each folded batch that brings a table's pending bytes above
// Threshold (trigger "threshold"). It returns nil when ctx is done or Close
// is called, and an error if the host fails. A failed plan is logged and
// retried at the next tick.
func (p *Planner) Run(ctx context.Context) error {
	if p.isClosed() {
		return ErrClosed
	}
	progress := make(chan struct{}, 1)
	h, err := host.New(audit.Projection{}, p.store, p.codec, p.conn, p.cfg.Group, p.topics, append(slices.Clone(p.cfg.hostOpts),
		host.ClientOpts(p.cfg.ClientOpts...),
		host.Logger(p.cfg.Logger),
		host.WithMetrics(p.cfg.Metrics),
		host.OnProgress(func(host.Progress) {
			select {
			case progress <- struct{}{}:
			default:
			}
		}))...)
	if err != nil {
		return fmt.Errorf("planner: %w", err)
	}
	p.planMu.Lock()
	if p.running != nil {
		p.planMu.Unlock()
		return ErrRunning
	}
	if err := p.reindex(); err != nil {
		p.planMu.Unlock()
		return err
	}
	p.running, p.ready = h, false
	p.planMu.Unlock()
	defer func() {
		p.planMu.Lock()
		p.running, p.ready = nil, false
		p.planMu.Unlock()
	}()

	hctx, cancel := context.WithCancel(ctx)
	defer cancel()
	hostDone := make(chan error, 1)
	go func() { hostDone <- h.Run(hctx) }()
	stop := func(err error) error {
		cancel()
		h.Close()
		if herr := <-hostDone; err == nil && herr != nil {
			err = fmt.Errorf("planner: %w", herr)
		}
		return err
	}

	ends, err := p.endOffsets(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return stop(nil)
		}
		return stop(err)
	}
	p.log.Info("catching up before planning", "ends", len(ends))
	// Ownership changes by rebalance do not signal progress, so the wait
	// also looks again at a modest pace.
	recheck := time.NewTicker(100 * time.Millisecond)
	defer recheck.Stop()
	for {
		ok, err := p.caughtUp(h, ends)
		if err != nil {
			return stop(err)
		}
		if ok {
			break
		}
		select {
		case <-ctx.Done():
			return stop(nil)
		case err := <-hostDone:
			hostDone <- err
			return stop(nil)
		case <-progress:
		case <-recheck.C:
		}
	}
	p.planMu.Lock()
	p.ready = true
	p.planMu.Unlock()
	p.log.Info("caught up; planning")

	tick := time.NewTicker(p.cfg.interval)
	defer tick.Stop()
	for {
		var thresholdOnly bool
		select {
		case <-ctx.Done():
			return stop(nil)
		case err := <-hostDone:
			hostDone <- err
			return stop(nil)
		case <-tick.C:
		case <-progress:
			thresholdOnly = true
		}
		if _, err := p.tick(ctx, thresholdOnly); err != nil && ctx.Err() == nil {
			p.log.Warn("planning failed; retrying at the next tick", "err", err)
		}
	}
}

// endOffsets lists the last stable offsets of both topics, and remembers
// their partitions (all of which the host must own to plan).
func (p *Planner) endOffsets(ctx context.Context) (map[state.TopicPartition]int64, error) {
	cl, err := p.client()
	if err != nil {
		return nil, err
	}
	// A topic created a moment ago may not have a leader yet: a retriable
	// error is waited out (with a WARN), anything else stops the planner.
	var lo kadm.ListedOffsets
	for attempt := 1; ; attempt++ {
		lo, err = kadm.NewClient(cl).ListCommittedOffsets(ctx, p.topics.Names...)
		if err == nil {
			err = lo.Error()
		}
		if err == nil {
			break
		}
		if !kerr.IsRetriable(err) || ctx.Err() != nil {
			return nil, fmt.Errorf("planner: end offsets of %s: %w", p.topics, err)
		}
		p.log.Warn("end offsets not available yet; retrying", "topics", p.topics.String(), "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(min(time.Duration(attempt)*200*time.Millisecond, 5*time.Second)):
		}
	}
	ends := map[state.TopicPartition]int64{}
	lo.Each(func(o kadm.ListedOffset) {
		ends[state.TopicPartition{Topic: o.Topic, Partition: o.Partition}] = o.Offset
	})
	p.planMu.Lock()
	p.parts = slices.Collect(maps.Keys(ends))
	p.planMu.Unlock()
	return ends, nil
}

// caughtUp reports whether h owns every partition and the store has folded
// each up to ends.
func (p *Planner) caughtUp(h *host.Host, ends map[state.TopicPartition]int64) (bool, error) {
	if !p.ownsAll(h) {
		return false, nil
	}
	for tp, end := range ends {
		if end <= 0 {
			continue
		}
		next, ok, err := p.store.Offset(tp.Topic, tp.Partition)
		if err != nil {
			return false, fmt.Errorf("planner: stored offset of %v: %w", tp, err)
		}
		if !ok || next < end {
			return false, nil
		}
	}
	return true, nil
}

func (p *Planner) ownsAll(h *host.Host) bool {
	owned := map[state.TopicPartition]bool{}
	for _, tp := range h.Assigned() {
		owned[tp] = true
	}
	p.planMu.Lock()
	defer p.planMu.Unlock()
	for _, tp := range p.parts {
		if !owned[tp] {
			return false
		}
	}
	return true
}

// tick plans under planMu if the running host is ready and owns every
// partition.
func (p *Planner) tick(ctx context.Context, thresholdOnly bool) (int, error) {
	p.planMu.Lock()
	h, ready := p.running, p.ready
	p.planMu.Unlock()
	if h == nil || !ready {
		return 0, nil
	}
	if !p.ownsAll(h) {
		p.log.Warn("not planning: the host does not own every partition (is a second planner running?)")
		return 0, nil
	}
	p.planMu.Lock()
	defer p.planMu.Unlock()
	return p.plan(ctx, thresholdOnly)
}

// PlanOnce runs one tick: it plans every pending file, with trigger
// "threshold" for tables whose pending bytes exceed Threshold and
// "interval" for the others, and returns how many batches it produced.
//
// If Run is active, PlanOnce plans from what the running host has folded
// (nothing before the host has caught up and owns every partition).
// Otherwise it first folds both topics into the store up to their current
// end offsets (host.Replay, no consumer group), so it sees every file
// landed and every batch planned before the call.
func (p *Planner) PlanOnce(ctx context.Context) (batches int, err error) {
	if p.isClosed() {
		return 0, ErrClosed
	}
	p.planMu.Lock()
	running := p.running != nil
	p.planMu.Unlock()
	if running {
		return p.tick(ctx, false)
	}
	p.planMu.Lock()
	defer p.planMu.Unlock()
	if p.running != nil { // Run started meanwhile; let it fold.
		return 0, nil
	}
	if err := p.reindex(); err != nil {
		return 0, err
	}
	if _, err := host.Replay(ctx, audit.Projection{}, p.store, p.codec, p.conn, p.topics, append(slices.Clone(p.cfg.hostOpts),
		host.ClientOpts(p.cfg.ClientOpts...),
		host.Logger(p.cfg.Logger))...); err != nil {
		return 0, fmt.Errorf("planner: catch up: %w", err)
	}
	return p.plan(ctx, false)
}

// reindex upgrades, once per planner, a store folded before the audit had
// its status index (planner.UpgradeAudit): without it the files pending then
// would never be planned. It reads every entry of the store once, and
// writes only if it finds entries to upgrade. The caller holds planMu, and
// no host folds into the store yet.
func (p *Planner) reindex() error {
	if p.reindexed {
		return nil
	}
	n, err := UpgradeAudit(p.store)
	if err != nil {
		return fmt.Errorf("planner: index the audit by status: %w", err)
	}
	if n > 0 {
		p.log.Info("indexed the audit by status (a store folded by an older version)", "files", n)
	}
	p.reindexed = true
	return nil
}

// plan plans pending files and produces the batches. The caller holds
// planMu. Its cost grows with the files pending (audit.Pending reads the
// audit's status index), not with every file ever audited.
func (p *Planner) plan(ctx context.Context, thresholdOnly bool) (int, error) {
	if err := p.forgetFolded(); err != nil {
		return 0, err
	}
	if p.cfg.defs != nil {
		if err := p.cfg.defs.CatchUp(ctx); err != nil {
			return 0, fmt.Errorf("planner: %w", err)
		}
	}
	pending, err := audit.Pending(p.store)
	if err != nil {
		return 0, fmt.Errorf("planner: pending files: %w", err)
	}
	var batches []*events.BatchPlanned
	for _, table := range slices.Sorted(maps.Keys(pending)) {
		files := slices.DeleteFunc(pending[table], func(f audit.File) bool { return p.inflight[events.AttemptID(f.ID, f.Attempt)] })
		var bytes int64
		for _, f := range files {
			bytes += f.Size
		}
		trigger := TriggerInterval
		if bytes > p.cfg.threshold {
			trigger = TriggerThreshold
		} else if thresholdOnly {
			continue
		}
		maxFiles, maxBytes := p.cfg.policy(table)
		if p.cfg.defs != nil {
			if f, b, ok := p.cfg.defs.Limits(table); ok {
				maxFiles, maxBytes = f, b
			}
		}
		if maxFiles <= 0 {
			maxFiles = DefaultMaxFiles
		}
		if maxBytes <= 0 {
			maxBytes = DefaultMaxBytes
		}
		for _, group := range Split(files, maxFiles, maxBytes) {
			batches = append(batches, p.batch(table, trigger, group))
		}
	}
	if len(batches) == 0 {
		return 0, nil
	}
	return p.produce(ctx, batches)
}

// forgetFolded drops from the in-memory planned set the batches the store
// has folded: from then on the store knows their files are batched.
func (p *Planner) forgetFolded() error {
	keep := p.unseen[:0]
	for _, b := range p.unseen {
		next, ok, err := p.store.Offset(p.batchesTopic, b.partition)
		if err != nil {
			return fmt.Errorf("planner: stored offset of %s/%d: %w", p.batchesTopic, b.partition, err)
		}
		if ok && next > b.offset {
			for _, id := range b.files {
				delete(p.inflight, id)
			}
			continue
		}
		keep = append(keep, b)
	}
	clear(p.unseen[len(keep):])
	p.unseen = keep
	return nil
}

// Split cuts files (in order) into consecutive groups of at most maxFiles
// files and maxBytes bytes, starting a new group where the feed changes. A
// file larger than maxBytes is a group of its own. maxFiles and maxBytes
// must be > 0. Safe for concurrent use.
func Split(files []audit.File, maxFiles int, maxBytes int64) [][]audit.File {
	var out [][]audit.File
	var cur []audit.File
	var size int64
	for _, f := range files {
		if len(cur) > 0 && (len(cur) >= maxFiles || size+f.Size > maxBytes || f.Feed != cur[0].Feed) {
			out = append(out, cur)
			cur, size = nil, 0
		}
		cur = append(cur, f)
		size += f.Size
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// BatchID returns events.DeriveID("batch", table, the sorted ids...),
// where ids are the attempt ids (events.AttemptID(file id, attempt)) of
// the batch's files: at a file's first attempt its file id. Safe for
// concurrent use.
func BatchID(table string, ids []string) string {
	sorted := slices.Sorted(slices.Values(ids))
	return events.DeriveID(append([]string{"batch", table}, sorted...)...)
}

// batch builds the BatchPlanned of files (non-empty, in landing order).
func (p *Planner) batch(table, trigger string, files []audit.File) *events.BatchPlanned {
	ids := make([]string, len(files))
	bfs := make([]events.BatchFile, len(files))
	var total int64
	for i, f := range files {
		ids[i] = events.AttemptID(f.ID, f.Attempt)
		bf := events.BatchFile{Key: f.Key, Checksum: f.Checksum, Size: f.Size, LandedEventID: f.LandedEventID,
			Attempt: events.Attempt(f.Attempt)}
		if f.Version != "" {
			bf.Version = &f.Version
		}
		bfs[i] = bf
		total += f.Size
	}
	id := BatchID(table, ids)
	var hash *string
	if p.cfg.defs != nil {
		if h, ok := p.cfg.defs.Hash(files[0].Feed); ok {
			hash = &h
		}
	}
	return &events.BatchPlanned{
		Envelope: events.Envelope{
			EventID:       events.DeriveID(events.NameBatchPlanned, id),
			OccurredAt:    p.cfg.Clock().UTC().Truncate(time.Microsecond),
			Domain:        events.DomainRaw,
			CorrelationID: id,
			// The batch exists because its last file landed.
			CausationID: files[len(files)-1].LandedEventID,
		},
		BatchID:        id,
		Table:          table,
		Feed:           files[0].Feed,
		Trigger:        trigger,
		Files:          bfs,
		TotalBytes:     total,
		DefinitionHash: hash,
	}
}

// produce writes the batches to the batches topic and marks the files of
// each acknowledged batch as planned. Files of a batch whose produce failed
// stay pending, so the next tick plans them again with the same batch id.
func (p *Planner) produce(ctx context.Context, batches []*events.BatchPlanned) (int, error) {
	cl, err := p.client()
	if err != nil {
		return 0, err
	}
	recs := make([]*kgo.Record, len(batches))
	byRec := make(map[*kgo.Record]*events.BatchPlanned, len(batches))
	for i, b := range batches {
		rec, err := p.codec.Record(b)
		if err != nil {
			return 0, fmt.Errorf("planner: encode batch %s of %s: %w", b.BatchID, b.Table, err)
		}
		rec.Topic = p.batchesTopic
		recs[i] = rec
		byRec[rec] = b
	}
	// Results come back in completion order; byRec maps them to batches.
	results := cl.ProduceSync(ctx, recs...)
	var errs []error
	n := 0
	for _, r := range results {
		b := byRec[r.Record]
		if r.Err != nil {
			errs = append(errs, fmt.Errorf("planner: produce batch %s of %s: %w", b.BatchID, b.Table, r.Err))
			continue
		}
		n++
		ids := make([]string, len(b.Files))
		for j, f := range b.Files {
			ids[j] = events.AttemptID(events.DeriveID(f.Key, f.Checksum), f.Attempt)
			p.inflight[ids[j]] = true
		}
		p.unseen = append(p.unseen, produced{partition: r.Record.Partition, offset: r.Record.Offset, files: ids})
		p.log.Info("batch planned", "table", b.Table, "batch", b.BatchID, "files", len(b.Files),
			"bytes", b.TotalBytes, "trigger", b.Trigger, "topic", r.Record.Topic,
			"partition", r.Record.Partition, "offset", r.Record.Offset)
	}
	return n, errors.Join(errs...)
}
