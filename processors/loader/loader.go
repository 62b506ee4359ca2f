// Package loader is the table writer of the ingestion flow. It consumes
// BatchPlanned events from logmesh.raw.batches in a consumer group (batches
// are keyed by table, so one loader owns a table at a time), and for each
// batch parses and validates every file, writes the good rows to the feed's
// Iceberg table in one commit, and emits RecordRejected, FileProcessed,
// FileFailed, IncidentOpened, TableCommitted and ProductRefreshed.
//
// Everything a batch emits is produced in one Kafka transaction together
// with the batch's consumer offset (kgo.GroupTransactSession), so a batch's
// results appear exactly once or not at all. Data files are written before
// that transaction; if it aborts, the files are garbage no commit references,
// and the redelivered batch writes new ones. A batch whose id the table's
// history already has (the planner produced it twice, say) is skipped.
package loader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/formats"
	"github.com/logmesh/logmesh/internal/logging"
	"github.com/logmesh/logmesh/internal/mesh"
	"github.com/logmesh/logmesh/internal/tables"
	"github.com/logmesh/logmesh/processors/host"
)

// Notifier tells the support team about an incident. It is called after the
// incident is committed to the log, at least once per incident; receivers
// drop duplicates by incident id.
type Notifier interface {
	Notify(ctx context.Context, inc *events.IncidentOpened) error
}

type config struct {
	brokers    []string
	clientOpts []kgo.Opt
	group      string
	txnID      string
	logger     *slog.Logger
	clock      func() time.Time
	parsers    *formats.Registry
	notifier   Notifier
	progress   func(Result)
}

// Option configures a Loader.
type Option func(*config)

// Brokers sets the seed brokers. Required.
func Brokers(addrs ...string) Option { return func(c *config) { c.brokers = addrs } }

// ClientOpts adds franz-go options (TLS, SASL, ...).
func ClientOpts(opts ...kgo.Opt) Option {
	return func(c *config) { c.clientOpts = append(c.clientOpts, opts...) }
}

// Group sets the consumer group. Default "logmesh.loader".
func Group(g string) Option { return func(c *config) { c.group = g } }

// TransactionalID sets this instance's transactional id; each running
// instance needs its own. Default "logmesh.loader-" + a random suffix.
func TransactionalID(id string) Option { return func(c *config) { c.txnID = id } }

// Logger sets the logger; the default discards.
func Logger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// Clock sets the source of occurred-at times. Default time.Now.
func Clock(now func() time.Time) Option { return func(c *config) { c.clock = now } }

// Parsers sets the format registry, for custom parsers. Default
// formats.NewRegistry().
func Parsers(r *formats.Registry) Option { return func(c *config) { c.parsers = r } }

// Notify sets the support notification sink. Default: log only.
func Notify(n Notifier) Option { return func(c *config) { c.notifier = n } }

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
	EventsOutput int
}

// Loader consumes batches and writes tables. Create it with New and run it
// with Run; it is single-use. The warehouse and mesh remain the caller's.
type Loader struct {
	cfg     config
	log     *slog.Logger
	codec   *events.Codec
	ptrs    *tables.MemPointers
	catalog *tables.Catalog
	bl      *batchLoader
	commits *collector

	closeOnce sync.Once
}

// New returns a Loader for the feeds of m, reading landed files through
// files and writing tables into wh.
func New(m *mesh.Mesh, files Opener, wh *tables.Warehouse, codec *events.Codec, opts ...Option) (*Loader, error) {
	cfg := config{group: "logmesh.loader", clock: time.Now}
	for _, o := range opts {
		o(&cfg)
	}
	switch {
	case m == nil || files == nil || wh == nil || codec == nil:
		return nil, errors.New("loader: nil mesh, files, warehouse or codec")
	case len(cfg.brokers) == 0:
		return nil, errors.New("loader: no brokers")
	}
	if cfg.txnID == "" {
		cfg.txnID = "logmesh.loader-" + events.NewID()
	}
	if cfg.logger == nil {
		cfg.logger = discard()
	}
	if cfg.parsers == nil {
		cfg.parsers = formats.NewRegistry()
	}
	ptrs := tables.NewMemPointers()
	col := &collector{}
	cat, err := tables.NewCatalog(wh, ptrs, col, tables.Clock(cfg.clock))
	if err != nil {
		return nil, err
	}
	return &Loader{
		cfg:     cfg,
		log:     cfg.logger.With("processor", "loader"),
		codec:   codec,
		ptrs:    ptrs,
		catalog: cat,
		commits: col,
		bl:      &batchLoader{mesh: m, parsers: cfg.parsers, files: files, writer: cat, now: cfg.clock},
	}, nil
}

// collector is the catalog's Committer: it keeps the TableCommitted events
// of the batch in progress, which the loader produces in the batch's
// transaction.
type collector struct {
	mu  sync.Mutex
	evs []*events.TableCommitted
}

func (c *collector) Commit(_ context.Context, ev *events.TableCommitted) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.evs = append(c.evs, ev)
	return nil
}

func (c *collector) take() []*events.TableCommitted {
	c.mu.Lock()
	defer c.mu.Unlock()
	evs := c.evs
	c.evs = nil
	return evs
}

// Run consumes batches until ctx ends. It returns nil on cancellation.
func (l *Loader) Run(ctx context.Context) error {
	view, err := newPointerView(ctx, l.cfg, l.codec, l.ptrs)
	if err != nil {
		return err
	}
	defer view.close()
	if err := l.ensureDLQ(ctx); err != nil {
		return err
	}
	sess, err := kgo.NewGroupTransactSession(append([]kgo.Opt{
		kgo.SeedBrokers(l.cfg.brokers...),
		kgo.TransactionalID(l.cfg.txnID),
		kgo.TransactionTimeout(60 * time.Second),
		kgo.ConsumerGroup(l.cfg.group),
		kgo.ConsumeTopics(events.BatchesTopic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.RequireStableFetchOffsets(),
		kgo.WithLogger(logging.Kafka(l.cfg.logger)),
	}, l.cfg.clientOpts...)...)
	if err != nil {
		return fmt.Errorf("loader: session: %w", err)
	}
	defer sess.Close()
	for {
		fetches := sess.PollRecords(ctx, 1)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			return nil
		}
		for _, fe := range fetches.Errors() {
			l.log.Warn("fetch error", "topic", fe.Topic, "partition", fe.Partition, "err", fe.Err)
		}
		for _, r := range fetches.Records() {
			if err := l.handle(ctx, sess, view, r); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
		}
	}
}

// handle loads one batch record and commits its outputs with its offset.
func (l *Loader) handle(ctx context.Context, sess *kgo.GroupTransactSession, view *pointerView, r *kgo.Record) error {
	log := l.log.With("topic", r.Topic, "partition", r.Partition, "offset", r.Offset)
	if err := view.catchUp(ctx); err != nil {
		return err
	}
	var outs []*kgo.Record
	res := Result{}
	ev, err := l.codec.Decode(ctx, r.Value)
	b, ok := ev.(*events.BatchPlanned)
	switch {
	case err != nil && !events.IsPoison(err):
		return fmt.Errorf("loader: decode %s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err)
	case err != nil || !ok:
		reason := fmt.Sprintf("not a BatchPlanned: %v", err)
		if err == nil {
			reason = "not a BatchPlanned: " + ev.Name()
		}
		log.Warn("poison batch record", "reason", reason)
		outs = append(outs, host.DeadLetterRecord(r, events.DeadLetterTopic(r.Topic), reason, "loader"))
	default:
		log = log.With("batch", b.BatchID, "table", b.Table)
		res.BatchID, res.Table, res.Files = b.BatchID, b.Table, len(b.Files)
		if l.ptrs.HasBatch(b.Table, b.BatchID) {
			log.Info("batch already committed; skipping")
			res.Skipped = true
			break
		}
		start := time.Now()
		evs, wr, err := l.bl.load(ctx, b, b.Envelope.EventID)
		commits := l.commits.take()
		if err != nil {
			return err
		}
		for _, tc := range commits {
			evs = append(evs, tc)
		}
		if wr != nil && !wr.Deduplicated && len(commits) > 0 {
			evs = append(evs, l.refreshed(b, commits[len(commits)-1]))
			res.Version = wr.Version
		}
		for _, e := range evs {
			if f, ok := e.(*events.FileFailed); ok && f != nil {
				res.FailedFiles++
			}
			rec, err := l.codec.Record(e)
			if err != nil {
				return fmt.Errorf("loader: encode %s: %w", e.Name(), err)
			}
			outs = append(outs, rec)
		}
		log.Info("batch loaded", "files", len(b.Files), "failed", res.FailedFiles, "version", res.Version, "events", len(evs), "took", time.Since(start))
	}
	res.EventsOutput = len(outs)

	if err := sess.Begin(); err != nil {
		return fmt.Errorf("loader: begin transaction: %w", err)
	}
	perr := sess.Client().ProduceSync(ctx, outs...).FirstErr()
	committed, err := sess.End(ctx, kgo.TransactionEndTry(perr == nil))
	switch {
	case err != nil:
		view.reset()
		return fmt.Errorf("loader: end transaction: %w", err)
	case perr != nil || !committed:
		// Aborted (a rebalance, say): the batch comes again; the pointer
		// view must forget the commit that did not happen.
		view.reset()
		log.Warn("batch transaction aborted; it will be redelivered", "produce_err", perr)
		return nil
	}
	for _, o := range outs {
		if ev, err := l.codec.Decode(ctx, o.Value); err == nil {
			switch e := ev.(type) {
			case *events.TableCommitted:
				if err := l.ptrs.Apply(e); err != nil {
					l.log.Error("pointer view out of step; rereading", "err", err)
					view.reset()
				}
			case *events.IncidentOpened:
				l.notify(ctx, e)
			}
		}
	}
	if l.cfg.progress != nil {
		l.cfg.progress(res)
	}
	return nil
}

func (l *Loader) refreshed(b *events.BatchPlanned, tc *events.TableCommitted) *events.ProductRefreshed {
	domain, _, _ := splitTable(b.Table)
	at := tc.Envelope.OccurredAt
	return &events.ProductRefreshed{
		Envelope: events.Envelope{
			EventID:       events.DeriveID("product-refreshed", b.Table, fmt.Sprint(tc.Version)),
			OccurredAt:    tc.Envelope.OccurredAt,
			Domain:        events.DomainCentral,
			CorrelationID: b.BatchID,
			CausationID:   tc.Envelope.EventID,
		},
		Product:          b.Table,
		OwnerDomain:      domain,
		Visibility:       events.VisibilityDomain,
		Table:            b.Table,
		Version:          tc.Version,
		SnapshotID:       tc.SnapshotID,
		MetadataLocation: tc.MetadataLocation,
		RowsTotal:        tc.RowsTotal,
		DataAsOf:         &at,
	}
}

func (l *Loader) notify(ctx context.Context, inc *events.IncidentOpened) {
	l.log.Error("incident opened", "incident", inc.IncidentID, "subject", inc.Subject, "summary", inc.Summary)
	if l.cfg.notifier == nil {
		return
	}
	if err := l.cfg.notifier.Notify(ctx, inc); err != nil {
		l.log.Warn("notification failed", "incident", inc.IncidentID, "err", err)
	}
}

func (l *Loader) ensureDLQ(ctx context.Context) error {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(l.cfg.brokers...)}, l.cfg.clientOpts...)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, 1, -1, map[string]*string{"retention.ms": kadm.StringPtr("-1")}, events.DeadLetterTopic(events.BatchesTopic))
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("loader: dead-letter topic: %w", err)
	}
	return nil
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
