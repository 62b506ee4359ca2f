// Package runner runs data products' jobs. It reads every domain's bus on
// the transactional loop and, for each JobStarted, waits for the attempt's
// not_before (a retry's backoff), hands the job to a Launcher within the
// attempt's timeout, validates the rows it returns against the product's
// output contract (as the loader validates a file's records), writes them
// as a new version of the product's Iceberg table with the loader's writer
// (append, or upsert by primary key), and produces, in the transaction that
// commits the JobStarted's offset, the JobFinished (SUCCEEDED with the
// version, or FAILED with the reason) and on success the TableCommitted and
// the product's ProductRefreshed on its owner's bus, which the router
// delivers onward (a downstream product's input). The orchestrator reads
// the JobFinished back from the owner's inbox.
//
// A job that fails (its SQL, a row that breaks the contract, the timeout)
// is a FAILED JobFinished, not a retry of the transaction: the
// orchestrator's retry policy decides what happens next. The table write
// is idempotent by the attempt (its batch id), so an attempt whose
// transaction did not commit finds its own version when it runs again.
package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/formats"
	"github.com/logmesh/logmesh/internal/metrics"
	"github.com/logmesh/logmesh/internal/validate"
	"github.com/logmesh/logmesh/mesh"
	"github.com/logmesh/logmesh/processors/pointers"
	"github.com/logmesh/logmesh/processors/proc"
	"github.com/logmesh/logmesh/processors/txn"
	"github.com/logmesh/logmesh/tables"
)

// DefaultGroup is the runner's consumer group unless Group says otherwise.
const DefaultGroup = "logmesh-runner"

// DefaultTimeout bounds an attempt whose product sets no timeout.
const DefaultTimeout = time.Hour

// maxViolations bounds the violations a failed job's error lists.
const maxViolations = 5

// Rows is what a launcher returns: the result's columns and its rows, each
// value as text (query.Text) or nil for NULL.
type Rows struct {
	Columns []string
	Rows    [][]*string
}

// Input is one pinned input of a job, resolved to its data files.
type Input struct {
	events.InputVersion
	// Files are the version's data files, local paths or file URIs.
	Files []string
}

// Launcher runs a job's transform over its pinned inputs. Launch returns
// the result rows, or the reason the job failed.
type Launcher interface {
	Launch(ctx context.Context, job *events.JobStarted, inputs []Input) (*Rows, error)
}

type config struct {
	proc.Config
	txnOpts   []txn.Option
	progress  func(Result)
	launchers map[string]Launcher
	defaultTO time.Duration
}

// Option configures a Runner.
type Option func(*config)

// Transactions adds options to the transactional loop.
func Transactions(opts ...txn.Option) Option {
	return func(c *config) { c.txnOpts = append(c.txnOpts, opts...) }
}

// WithLauncher runs jobs whose JobStarted.runner is name with l; "duckdb"
// is the embedded DuckDB launcher unless replaced.
func WithLauncher(name string, l Launcher) Option {
	return func(c *config) { c.launchers[name] = l }
}

// Timeout sets the timeout of an attempt whose product sets none; default
// DefaultTimeout.
func Timeout(d time.Duration) Option { return func(c *config) { c.defaultTO = d } }

// OnFinished calls fn after each committed job attempt.
func OnFinished(fn func(Result)) Option { return func(c *config) { c.progress = fn } }

// Result is what became of one job attempt.
type Result struct {
	JobID, Product string
	Attempt        int32
	Status         string
	Version        int64
	Rows           int64
	Error          string
	Duration       time.Duration
}

// Runner runs jobs. Create it with New, run it with Run; it is single-use.
type Runner struct {
	cfg    config
	log    *slog.Logger
	codec  *events.Codec
	tables *pointers.Tables
	loop   *txn.Loop

	mu      sync.Mutex
	pending *Result
}

// New returns a runner over pc.Conn, consuming in pc.Group (default
// DefaultGroup) and writing into wh; pc.Clock is the clock of JobFinished
// and of the table commits.
func New(pc proc.Config, wh *tables.Warehouse, codec *events.Codec, opts ...Option) (*Runner, error) {
	cfg := config{Config: pc.WithDefaults(DefaultGroup), launchers: map[string]Launcher{}, defaultTO: DefaultTimeout}
	for _, o := range opts {
		o(&cfg)
	}
	if wh == nil || codec == nil {
		return nil, errors.New("runner: nil warehouse or codec")
	}
	r := &Runner{cfg: cfg, log: cfg.Logger.With("processor", "runner"), codec: codec}
	var err error
	if r.tables, err = pointers.OpenTables(cfg.Config, wh, codec); err != nil {
		return nil, err
	}
	if _, ok := cfg.launchers["duckdb"]; !ok {
		cfg.launchers["duckdb"] = &DuckDB{Cache: &tables.FileCache{IO: wh.IO()}}
	}
	topts := append([]txn.Option{txn.Name("runner")}, cfg.txnOpts...)
	if r.loop, err = txn.New(cfg.Config, cfg.Topics.AllDomains(), codec, r, topts...); err != nil {
		r.tables.Close()
		return nil, err
	}
	return r, nil
}

// Run runs jobs until ctx ends.
func (r *Runner) Run(ctx context.Context) error {
	defer r.tables.Close()
	if err := r.tables.CatchUp(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("runner: table pointers: %w", err)
	}
	return r.loop.Run(ctx)
}

// Handle implements txn.Handler.
func (r *Runner) Handle(ctx context.Context, rec *kgo.Record, ev events.Event) ([]*kgo.Record, error) {
	js, ok := ev.(*events.JobStarted)
	if !ok {
		return nil, nil
	}
	if js.NotBefore != nil {
		if wait := js.NotBefore.Sub(r.cfg.Clock()); wait > 0 {
			r.log.Info("retry waits for its backoff", "product", js.Product, "job", js.JobID, "attempt", js.Attempt, "wait", wait)
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			case <-t.C:
			}
		}
	}
	if err := r.tables.CatchUp(ctx); err != nil {
		return nil, fmt.Errorf("runner: table pointers: %w", err)
	}
	start := r.cfg.Clock()
	res := &Result{JobID: js.JobID, Product: js.Product, Attempt: js.Attempt}
	version, rows, err := r.run(ctx, js)
	if ctx.Err() != nil {
		return nil, ctx.Err() // stopping: the job comes again
	}
	commits := r.tables.Take()
	for _, tc := range commits {
		if tc.Version == version.Version {
			version.MetadataLocation = tc.MetadataLocation
		}
	}
	res.Duration = r.cfg.Clock().Sub(start)
	fin := &events.JobFinished{
		Envelope: events.Envelope{
			EventID:       events.DeriveID("job-finished", js.JobID, fmt.Sprint(js.Attempt)),
			OccurredAt:    r.cfg.Clock().UTC(),
			Domain:        js.OwnerDomain,
			CorrelationID: js.JobID,
			CausationID:   js.Envelope.EventID,
		},
		JobID: js.JobID, Product: js.Product, Attempt: js.Attempt, DurationMs: res.Duration.Milliseconds(),
	}
	evs := []events.Event{}
	if err != nil {
		res.Status, res.Error = events.StatusFailed, err.Error()
		fin.Status, fin.Error = events.StatusFailed, &res.Error
		r.log.Warn("job failed", "product", js.Product, "job", js.JobID, "attempt", js.Attempt, "err", err)
	} else {
		res.Status, res.Version, res.Rows = events.StatusSucceeded, version.Version, rows
		fin.Status, fin.OutputVersion, fin.OutputSnapshotID, fin.RowsWritten = events.StatusSucceeded, &version.Version, &version.SnapshotID, rows
		for _, tc := range commits {
			evs = append(evs, tc)
		}
		evs = append(evs, refreshed(js, version, fin))
		r.log.Info("job succeeded", "product", js.Product, "job", js.JobID, "attempt", js.Attempt, "version", version.Version,
			"rows", rows, "took", res.Duration)
	}
	evs = append(evs, fin)
	outs := make([]*kgo.Record, 0, len(evs))
	for _, e := range evs {
		out, err := r.codec.Record(e)
		if err != nil {
			return nil, fmt.Errorf("runner: encode %s: %w", e.Name(), err)
		}
		out.Topic = r.cfg.Topics.For(e)
		outs = append(outs, out)
	}
	r.mu.Lock()
	r.pending = res
	r.mu.Unlock()
	return outs, nil
}

// written is the version a job's write made.
type written struct {
	Version, SnapshotID, RowsTotal int64
	MetadataLocation               string
}

// run runs the attempt: launch, validate, write.
func (r *Runner) run(ctx context.Context, js *events.JobStarted) (written, int64, error) {
	timeout := r.cfg.defaultTO
	if js.TimeoutSeconds != nil && *js.TimeoutSeconds > 0 {
		timeout = time.Duration(*js.TimeoutSeconds) * time.Second
	}
	jctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	l, ok := r.cfg.launchers[js.Runner]
	if !ok {
		return written{}, 0, fmt.Errorf("engine %q is not one this runner knows (the engines of its mesh file, and duckdb)", js.Runner)
	}
	inputs := make([]Input, 0, len(js.Inputs))
	for _, in := range js.Inputs {
		files, err := r.tables.Catalog.FilesAt(jctx, in.Table, tables.Pointer{Version: in.Version, MetadataLocation: in.MetadataLocation,
			SnapshotID: in.SnapshotID})
		if err != nil {
			return written{}, 0, fmt.Errorf("input %s version %d: %w", in.Name, in.Version, err)
		}
		inputs = append(inputs, Input{InputVersion: in, Files: files})
	}
	out, err := l.Launch(jctx, js, inputs)
	if jctx.Err() == context.DeadlineExceeded && ctx.Err() == nil {
		return written{}, 0, fmt.Errorf("timed out after %v", timeout)
	}
	if err != nil {
		return written{}, 0, err
	}
	contract := tables.Contract{Schema: deref(js.OutputSchema), PrimaryKey: js.PrimaryKey, Mode: js.Mode}
	rows, err := typed(js, contract, out)
	if err != nil {
		return written{}, 0, err
	}
	wr, err := r.tables.Catalog.Write(jctx, js.OutputTable, contract, events.DeriveID("job-attempt", js.JobID, fmt.Sprint(js.Attempt)), &sliceRows{rows: rows})
	if jctx.Err() == context.DeadlineExceeded && ctx.Err() == nil {
		return written{}, 0, fmt.Errorf("timed out after %v", timeout)
	}
	if err != nil {
		return written{}, 0, fmt.Errorf("writing %s: %w", js.OutputTable, err)
	}
	w := written{Version: wr.Version, SnapshotID: wr.SnapshotID, RowsTotal: wr.RowsTotal}
	if wr.Deduplicated {
		// Written by an earlier try of this attempt whose transaction did
		// not commit: the pointers have its version if a TableCommitted
		// made it to the log, else the version is found below.
		if p, ok, err := r.tables.At(jctx, js.OutputTable, wr.Version); err == nil && ok {
			w.MetadataLocation = p.MetadataLocation
		}
	}
	return w, wr.RowsAdded, nil
}

// typed validates the launcher's rows against the contract and returns
// them typed in the contract's field order.
func typed(js *events.JobStarted, c tables.Contract, out *Rows) ([][]any, error) {
	if c.Schema == "" {
		return nil, errors.New("the product has no output contract")
	}
	v, err := validate.New(&mesh.Feed{Name: js.Product, Table: js.OutputTable, Schema: c.Schema, PrimaryKey: c.PrimaryKey, Mode: c.Mode})
	if err != nil {
		return nil, fmt.Errorf("output contract: %w", err)
	}
	want := v.Columns()
	var extra []string
	for _, col := range out.Columns {
		if !contains(want, col) {
			extra = append(extra, col)
		}
	}
	if len(extra) > 0 {
		return nil, fmt.Errorf("the result breaks the contract: column(s) %s are not in the output schema (fields: %s)",
			strings.Join(extra, ", "), strings.Join(want, ", "))
	}
	rows := make([][]any, 0, len(out.Rows))
	var bad []string
	nbad := 0
	for i, raw := range out.Rows {
		rec := formats.Record{Number: int64(i + 1), Fields: make([]formats.Field, len(out.Columns))}
		for j, col := range out.Columns {
			if raw[j] == nil {
				rec.Fields[j] = formats.Field{Name: col, Null: true}
			} else {
				rec.Fields[j] = formats.Field{Name: col, Value: *raw[j]}
			}
		}
		row, vs := v.Row(rec)
		if len(vs) > 0 {
			nbad++
			if len(bad) < maxViolations {
				bad = append(bad, fmt.Sprintf("row %d: %s", i+1, vs[0]))
			}
			continue
		}
		rows = append(rows, row)
	}
	if nbad > 0 {
		return nil, fmt.Errorf("the result breaks the contract: %d of %d rows: %s", nbad, len(out.Rows), strings.Join(bad, "; "))
	}
	return rows, nil
}

// refreshed is the product's ProductRefreshed for the version a job wrote.
func refreshed(js *events.JobStarted, w written, fin *events.JobFinished) *events.ProductRefreshed {
	at := fin.Envelope.OccurredAt
	return &events.ProductRefreshed{
		Envelope: events.Envelope{
			EventID:       events.DeriveID("product-refreshed", js.OutputTable, fmt.Sprint(w.Version)),
			OccurredAt:    at,
			Domain:        js.OwnerDomain,
			CorrelationID: js.JobID,
			CausationID:   fin.Envelope.EventID,
		},
		Product: js.Product, OwnerDomain: js.OwnerDomain, Visibility: js.Visibility, Table: js.OutputTable,
		Version: w.Version, SnapshotID: w.SnapshotID, MetadataLocation: w.MetadataLocation, RowsTotal: w.RowsTotal,
		JobID: &js.JobID, DataAsOf: &at,
	}
}

// Committed implements txn.Committer.
func (r *Runner) Committed(ctx context.Context, produced []*kgo.Record) {
	r.tables.Own(ctx, produced)
	r.mu.Lock()
	res := r.pending
	r.pending = nil
	r.mu.Unlock()
	if res != nil {
		outcome := metrics.OutcomeOK
		if res.Status != events.StatusSucceeded {
			outcome = metrics.OutcomeFailed
		}
		r.cfg.Metrics.JobDone(outcome, res.Duration)
	}
	if res != nil && r.cfg.progress != nil {
		r.cfg.progress(*res)
	}
}

// Aborted implements txn.Aborter.
func (r *Runner) Aborted(context.Context) {
	r.tables.Take()
	r.mu.Lock()
	r.pending = nil
	r.mu.Unlock()
}

type sliceRows struct {
	rows [][]any
	i    int
}

func (s *sliceRows) Next() ([]any, error) {
	if s.i >= len(s.rows) {
		return nil, io.EOF
	}
	s.i++
	return s.rows[s.i-1], nil
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

var (
	_ txn.Handler   = (*Runner)(nil)
	_ txn.Committer = (*Runner)(nil)
	_ txn.Aborter   = (*Runner)(nil)
)
