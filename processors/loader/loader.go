// Package loader is the table writer of the ingestion flow. It consumes
// BatchPlanned events from the batches topic in a consumer group (batches
// are keyed by table, so one loader owns a table at a time), and for each
// batch parses and validates every file, writes the good rows to the feed's
// Iceberg table in one commit, and emits RecordRejected, FileProcessed,
// FileFailed, IncidentOpened, TableCommitted and ProductRefreshed.
//
// It runs on processors/txn: everything a batch emits is produced in one
// Kafka transaction together with the batch's consumer offset, so a batch's
// results appear exactly once or not at all. Data files are written before
// that transaction; if it aborts, the files are garbage no commit
// references, and the redelivered batch writes new ones. A batch whose id
// the table's history already has (the planner produced it twice, say) is
// skipped. A batch that fails MaxAttempts times (its table's domain topic is
// missing, the warehouse refuses writes) is given up: each of its files
// gets a FileFailed with the cause and an incident, so nothing stays
// BATCHED silently.
//
// The table pointers it commits against are the pointers projection
// (projections/pointers) over every domain's events topic, kept in memory
// by a host.View that catches up before each batch; a committed batch's own
// TableCommitted is applied the moment its transaction commits.
package loader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/formats"
	"github.com/logmesh/logmesh/internal/kafkaconn"
	"github.com/logmesh/logmesh/internal/metrics"
	"github.com/logmesh/logmesh/mesh"
	"github.com/logmesh/logmesh/processors/host"
	"github.com/logmesh/logmesh/processors/pointers"
	"github.com/logmesh/logmesh/processors/proc"
	"github.com/logmesh/logmesh/processors/txn"
	"github.com/logmesh/logmesh/tables"
)

// DefaultGroup is the loader's consumer group unless Group says otherwise.
const DefaultGroup = "logmesh.loader"

type config struct {
	proc.Config
	txnOpts  []txn.Option
	parsers  *formats.Registry
	progress func(Result)
}

// Option configures a Loader.
type Option func(*config)

// Transactions adds options to the loader's transactional loop
// (txn.TransactionalID, txn.MaxAttempts, txn.Backoff, ...).
func Transactions(opts ...txn.Option) Option {
	return func(c *config) { c.txnOpts = append(c.txnOpts, opts...) }
}

// Parsers sets the format registry, for custom parsers. Default
// formats.NewRegistry().
func Parsers(r *formats.Registry) Option { return func(c *config) { c.parsers = r } }

// OnBatch sets a callback run after each batch's transaction commits.
func OnBatch(fn func(Result)) Option { return func(c *config) { c.progress = fn } }

// Result is what one committed batch did.
type Result struct {
	BatchID      string
	Table        string
	Version      int64 // 0 when nothing was committed
	Files        int
	FailedFiles  int
	Skipped      bool // the table already had this batch
	GaveUp       bool // the batch failed too often; its files failed
	EventsOutput int
	// RowsWritten and RowsRejected sum the batch's files' loaded and
	// rejected records.
	RowsWritten, RowsRejected int64
	// Took is how long the batch took to load, before its commit.
	Took time.Duration
}

// Loader consumes batches and writes tables. Create it with New and run it
// with Run; it is single-use. The warehouse and feeds remain the caller's.
type Loader struct {
	cfg    config
	conn   kafkaconn.Conn
	log    *slog.Logger
	codec  *events.Codec
	tables *pointers.Tables
	bl     *batchLoader
	loop   *txn.Loop

	mu      sync.Mutex
	pending *Result // the result of the batch whose transaction is in flight

	runMu   sync.Mutex
	stop    context.CancelFunc // cancels an active Run
	ran     bool               // Run was called
	closed  bool
	release sync.Once // closes the view and the pointers store
}

// Feeds is what the loader reads of the mesh's definitions: the feed a
// batch was planned with, and the visibility of a table's product. Its
// methods must be safe for concurrent use.
type Feeds interface {
	// CatchUp brings the definitions up to date with the log; the loader
	// calls it once per poll of batches.
	CatchUp(ctx context.Context) error
	// Feed returns the definition of feed name whose definition hash is
	// hash (its latest definition for ""); ok is false if the log holds
	// none, an error is a failure to read the log (the batch is tried
	// again).
	Feed(ctx context.Context, name, hash string) (f *mesh.Feed, ok bool, err error)
	// Visibility returns the visibility of the product named product; ok
	// is false if there is none.
	Visibility(product string) (visibility string, ok bool)
}

// Static returns the feeds and products of m as Feeds, for a loader with a
// fixed mesh (tests, benchmarks, `make test-rss`): a feed's only version
// is its definition in m, whatever hash a batch names.
func Static(m *mesh.Mesh) Feeds { return staticFeeds{m} }

type staticFeeds struct{ m *mesh.Mesh }

func (staticFeeds) CatchUp(context.Context) error { return nil }

func (s staticFeeds) Feed(_ context.Context, name, _ string) (*mesh.Feed, bool, error) {
	f, ok := s.m.Feed(name)
	return f, ok, nil
}

func (s staticFeeds) Visibility(product string) (string, bool) {
	if p, ok := s.m.Product(product); ok {
		return p.Visibility, true
	}
	return "", false
}

// New returns a Loader for the feeds of feeds, reading landed files
// through files, writing tables into wh, and talking to Kafka through
// pc.Conn in pc.Group (default DefaultGroup); pc.Clock is the source of
// occurred-at times.
func New(pc proc.Config, feeds Feeds, files Opener, wh *tables.Warehouse, codec *events.Codec, opts ...Option) (*Loader, error) {
	cfg := config{Config: pc.WithDefaults(DefaultGroup)}
	for _, o := range opts {
		o(&cfg)
	}
	switch {
	case feeds == nil || files == nil || wh == nil || codec == nil:
		return nil, errors.New("loader: nil feeds, files, warehouse or codec")
	case len(cfg.Conn.Brokers()) == 0:
		return nil, errors.New("loader: no brokers")
	}
	if cfg.parsers == nil {
		cfg.parsers = formats.NewRegistry()
	}
	l := &Loader{cfg: cfg, conn: cfg.Conn, log: cfg.Logger.With("processor", "loader"), codec: codec}
	var err error
	if l.tables, err = pointers.OpenTables(cfg.Config, wh, codec); err != nil {
		return nil, err
	}
	l.bl = &batchLoader{log: l.log, feeds: feeds, parsers: cfg.parsers, files: files, writer: l.tables.Catalog, now: cfg.Clock}
	topts := append([]txn.Option{txn.Name("loader")}, cfg.txnOpts...)
	if l.loop, err = txn.New(cfg.Config, events.TopicNames(cfg.Topics.Batches()), codec, l, topts...); err != nil {
		l.tables.Close()
		return nil, err
	}
	return l, nil
}

// Run consumes batches until ctx ends. It returns nil on cancellation, and
// releases the loader's resources when it returns.
func (l *Loader) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	l.runMu.Lock()
	switch {
	case l.closed:
		l.runMu.Unlock()
		return ErrClosed
	case l.ran:
		l.runMu.Unlock()
		return errors.New("loader: Run called twice")
	}
	l.ran, l.stop = true, cancel
	l.runMu.Unlock()
	defer l.releaseAll()
	if err := l.tables.CatchUp(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("loader: table pointers: %w", err)
	}
	return l.loop.Run(ctx)
}

// ErrClosed is returned by Run after Close.
var ErrClosed = errors.New("loader: closed")

// Close stops an active Run (which releases the loader as it returns) or,
// if Run never ran, releases the loader's view and in-memory store. It is
// idempotent and does not wait.
func (l *Loader) Close() error {
	l.runMu.Lock()
	defer l.runMu.Unlock()
	l.closed = true
	switch {
	case l.stop != nil:
		l.stop()
	case !l.ran:
		l.releaseAll()
	}
	return nil
}

func (l *Loader) releaseAll() {
	l.release.Do(l.tables.Close)
}

// Prepare implements txn.Preparer: the feeds' definitions catch up with
// the log once per poll.
func (l *Loader) Prepare(ctx context.Context) error {
	if err := l.bl.feeds.CatchUp(ctx); err != nil {
		return fmt.Errorf("loader: the feeds' definitions: %w", err)
	}
	return nil
}

// Handle implements txn.Handler: it loads one batch and returns its events
// as records.
func (l *Loader) Handle(ctx context.Context, r *kgo.Record, ev events.Event) ([]*kgo.Record, error) {
	log := l.log.With("topic", r.Topic, "partition", r.Partition, "offset", r.Offset)
	b, ok := ev.(*events.BatchPlanned)
	if !ok {
		reason := "not a BatchPlanned: " + ev.Name()
		log.Warn("poison batch record", "reason", reason)
		l.setPending(&Result{})
		return []*kgo.Record{host.DeadLetterRecord(r, events.DeadLetterTopic(r.Topic), reason, "loader")}, nil
	}
	if err := l.tables.CatchUp(ctx); err != nil {
		return nil, fmt.Errorf("loader: table pointers: %w", err)
	}
	log = log.With("batch", b.BatchID, "table", b.Table)
	res := &Result{BatchID: b.BatchID, Table: b.Table, Files: len(b.Files)}
	done, err := l.tables.HasBatch(b.Table, b.BatchID)
	if err != nil {
		return nil, err
	}
	if done {
		log.Info("batch already committed; skipping")
		res.Skipped = true
		l.setPending(res)
		return nil, nil
	}
	start := time.Now()
	evs, wr, err := l.bl.load(ctx, b, b.Envelope.EventID)
	commits := l.tables.Take()
	if err != nil {
		return nil, err
	}
	for _, tc := range commits {
		evs = append(evs, tc)
	}
	if wr != nil && !wr.Deduplicated && len(commits) > 0 {
		evs = append(evs, l.refreshed(b, commits[len(commits)-1]))
		res.Version = wr.Version
	}
	outs, err := l.records(evs, res)
	if err != nil {
		return nil, err
	}
	res.Took = time.Since(start)
	log.Info("batch loaded", "files", len(b.Files), "failed", res.FailedFiles, "version", res.Version, "events", len(evs), "took", time.Since(start))
	l.setPending(res)
	return outs, nil
}

// GiveUp implements txn.GiveUpper: a batch that failed too often fails
// each of its files with the cause, each with an incident.
func (l *Loader) GiveUp(_ context.Context, _ *kgo.Record, ev events.Event, attempts int, cause error) ([]*kgo.Record, error) {
	b, ok := ev.(*events.BatchPlanned)
	if !ok {
		return nil, fmt.Errorf("loader: give up on a %s", ev.Name())
	}
	l.tables.Take()
	stage := "load"
	if errors.Is(cause, txn.ErrNotCommitted) {
		stage = "commit"
	}
	reason := fmt.Sprintf("the batch failed %d times; last error: %v", attempts, cause)
	var evs []events.Event
	for _, f := range b.Files {
		evs = append(evs, l.bl.failed(b, f, b.Envelope.EventID, stage, reason, 0, 0)...)
	}
	res := &Result{BatchID: b.BatchID, Table: b.Table, Files: len(b.Files), GaveUp: true}
	outs, err := l.records(evs, res)
	l.setPending(res)
	return outs, err
}

// Committed implements txn.Committer: the batch's own table commits are
// applied to the pointers at once, and the result is reported.
func (l *Loader) Committed(ctx context.Context, produced []*kgo.Record) {
	l.tables.Own(ctx, produced)
	for _, r := range produced {
		if string(header(r, events.HeaderEvent)) == events.NameFileFailed {
			l.log.Warn("file failed", "file", string(r.Key), "topic", r.Topic, "offset", r.Offset)
		}
	}
	l.mu.Lock()
	res := l.pending
	l.pending = nil
	l.mu.Unlock()
	if res != nil {
		l.observe(*res)
	}
	if res != nil && l.cfg.progress != nil {
		l.cfg.progress(*res)
	}
}

// observe records a committed batch's metrics: its rows by table and its
// duration, outcome "failed" if any file failed or the batch gave up.
func (l *Loader) observe(res Result) {
	if res.Skipped || res.BatchID == "" {
		return
	}
	m := l.cfg.Metrics
	m.RowsWritten(res.Table, res.RowsWritten)
	m.RowsRejected(res.Table, res.RowsRejected)
	outcome := metrics.OutcomeOK
	if res.GaveUp || res.FailedFiles > 0 {
		outcome = metrics.OutcomeFailed
	}
	if !res.GaveUp { // a batch given up on was not timed
		m.BatchDone(outcome, res.Took)
	}
}

// Aborted implements txn.Aborter: the batch's table commits did not happen.
func (l *Loader) Aborted(context.Context) {
	l.tables.Take()
	l.setPending(nil)
}

func (l *Loader) setPending(res *Result) {
	l.mu.Lock()
	l.pending = res
	l.mu.Unlock()
}

// records encodes evs, each to its topic under the installation's names,
// and counts the failed files into res.
func (l *Loader) records(evs []events.Event, res *Result) ([]*kgo.Record, error) {
	outs := make([]*kgo.Record, 0, len(evs))
	for _, e := range evs {
		switch e := e.(type) {
		case *events.FileFailed:
			res.FailedFiles++
			res.RowsRejected += e.RecordsRejected
		case *events.FileProcessed:
			res.RowsWritten += e.RecordsLoaded
			res.RowsRejected += e.RecordsRejected
		}
		rec, err := l.codec.Record(e)
		if err != nil {
			return nil, fmt.Errorf("loader: encode %s: %w", e.Name(), err)
		}
		rec.Topic = l.cfg.Topics.For(e)
		outs = append(outs, rec)
	}
	res.EventsOutput = len(outs)
	return outs, nil
}

// refreshed is the ProductRefreshed of the feed's product, on its owner's
// bus: the router forwards it to the central bus if the product is
// enterprise-visible.
func (l *Loader) refreshed(b *events.BatchPlanned, tc *events.TableCommitted) *events.ProductRefreshed {
	domain, _, _ := splitTable(b.Table)
	at := tc.Envelope.OccurredAt
	visibility := events.VisibilityDomain
	if v, ok := l.bl.feeds.Visibility(b.Table); ok {
		visibility = v
	}
	return &events.ProductRefreshed{
		Envelope: events.Envelope{
			EventID:       events.DeriveID("product-refreshed", b.Table, fmt.Sprint(tc.Version)),
			OccurredAt:    tc.Envelope.OccurredAt,
			Domain:        domain,
			CorrelationID: b.BatchID,
			CausationID:   tc.Envelope.EventID,
		},
		Product:          b.Table,
		OwnerDomain:      domain,
		Visibility:       visibility,
		Table:            b.Table,
		Version:          tc.Version,
		SnapshotID:       tc.SnapshotID,
		MetadataLocation: tc.MetadataLocation,
		RowsTotal:        tc.RowsTotal,
		DataAsOf:         &at,
	}
}

var (
	_ txn.Handler   = (*Loader)(nil)
	_ txn.GiveUpper = (*Loader)(nil)
	_ txn.Committer = (*Loader)(nil)
	_ txn.Aborter   = (*Loader)(nil)
)

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
