package loader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/formats"
	"github.com/logmesh/logmesh/internal/validate"
	"github.com/logmesh/logmesh/mesh"
	"github.com/logmesh/logmesh/tables"
)

// Opener reads a landed file. processors/ingest's sources implement it.
type Opener interface {
	Open(ctx context.Context, key string) (io.ReadCloser, error)
}

// Writer commits rows to a table. *tables.Catalog implements it: Begin
// for append tables (one pass), Write for upsert tables (two passes).
type Writer interface {
	Begin(ctx context.Context, table string, contract tables.Contract, batchID string) (*tables.Batch, *tables.WriteResult, error)
	Write(ctx context.Context, table string, contract tables.Contract, batchID string, rows tables.Rows) (tables.WriteResult, error)
}

// maxRejectEvents caps the RecordRejected events of one file; the file's
// FileProcessed or FileFailed still counts every rejected record.
const maxRejectEvents = 1000

// maxRaw caps the raw input copied into a RecordRejected.
const maxRaw = 512

// batchLoader loads one batch. Its output events are returned, not produced,
// so the caller can produce them in one transaction with the batch's offset.
type batchLoader struct {
	log     *slog.Logger
	feeds   Feeds
	parsers *formats.Registry
	files   Opener
	writer  Writer
	now     func() time.Time
	// running counts the scan goroutines alive (parsers, second-pass
	// validators); load returns only after its own have ended.
	running atomic.Int64
}

// fileRun is what the loader learned of one file.
type fileRun struct {
	file     events.BatchFile
	id       string // file id = correlation id
	read     int64  // records seen, bad ones included
	valid    int64
	rejected int64
	failed   string // non-empty: the file fails with this reason
	stage    string
}

// load runs the batch and returns its events and the table version it
// committed, if any.
//
// For an append table it is one speculative pass (see
// docs/decisions/0005): each file is parsed, validated and its good rows
// written, as they are read, to a source of its own in the batch's
// tables.Batch, with RecordRejected events and counts; at the file's end
// the source is kept, or dropped (its data files removed, none referenced
// by the commit) if the file failed: over its reject threshold, or
// unreadable, unparsable, or not matching its checksum. The kept sources
// are committed as one table version.
//
// An upsert table keeps two passes: the first parses and validates every
// file and decides which fail, the second streams the good rows of the
// good files into tables' upsert, which holds the batch's winning rows by
// key until the batch ends. Memory stays bounded whatever the files' sizes
// either way (for upsert, by the batch's distinct keys).
func (l *batchLoader) load(ctx context.Context, b *events.BatchPlanned, cause string) ([]events.Event, *tables.WriteResult, error) {
	hash := ""
	if b.DefinitionHash != nil {
		hash = *b.DefinitionHash
	}
	feed, ok, err := l.feeds.Feed(ctx, b.Feed, hash)
	if err != nil {
		return nil, nil, fmt.Errorf("loader: the definition of feed %s: %w", b.Feed, err)
	}
	var out []events.Event
	if !ok {
		why := fmt.Sprintf("feed %q is not defined", b.Feed)
		if hash != "" {
			why = fmt.Sprintf("feed %q has no definition %s on the log", b.Feed, hash)
		}
		for _, f := range b.Files {
			out = append(out, l.failed(b, f, cause, "plan", why, 0, 0)...)
		}
		return out, nil, nil
	}
	v, err := validate.New(feed)
	if err != nil {
		return nil, nil, fmt.Errorf("loader: feed %s: %w", feed.Name, err)
	}
	contract := tables.Contract{Schema: feed.Schema, PrimaryKey: feed.PrimaryKey, Ordering: feed.OrderingField, Mode: feed.Mode}
	var runs []*fileRun
	var res *tables.WriteResult
	if contract.Mode == tables.ModeUpsert {
		runs, res, out, err = l.twoPasses(ctx, b, feed, v, contract, cause)
	} else {
		runs, res, out, err = l.onePass(ctx, b, feed, v, contract, cause)
	}
	if err != nil {
		return nil, nil, err
	}
	goodIdx := -1
	for _, r := range runs {
		if r.failed != "" {
			out = append(out, l.failed(b, r.file, cause, r.stage, r.failed, r.read, r.rejected)...)
			continue
		}
		goodIdx++
		ev := &events.FileProcessed{
			Envelope:        l.envelope("file-processed", r.id, cause, events.AttemptParts(r.file.Attempt, b.BatchID)...),
			BatchID:         b.BatchID,
			Table:           b.Table,
			FileKey:         r.file.Key,
			FileChecksum:    r.file.Checksum,
			RecordsRead:     r.read,
			RecordsLoaded:   r.valid,
			RecordsRejected: r.rejected,
			Attempt:         events.Attempt(r.file.Attempt),
		}
		if res != nil {
			ev.TableVersion = &res.Version
			ev.SnapshotID = &res.SnapshotID
			// Sources is nil for a batch committed before attribution was
			// recorded; then the counts stay unknown.
			if res.Sources != nil {
				var c tables.SourceCount
				if goodIdx < len(res.Sources) {
					c = res.Sources[goodIdx]
				}
				ev.RecordsInVersion, ev.RecordsSuperseded = &c.Kept, c.Superseded
			}
		}
		out = append(out, ev)
	}
	return out, res, nil
}

// onePass loads the files of an append batch in one pass (see load). It
// returns every file's run, the commit (nil if every file failed) and the
// RecordRejected events.
func (l *batchLoader) onePass(ctx context.Context, b *events.BatchPlanned, feed *mesh.Feed, v *validate.Validator,
	contract tables.Contract, cause string) ([]*fileRun, *tables.WriteResult, []events.Event, error) {
	// A batch the table already has (done), or a table that cannot be
	// written (beginErr), still has its files checked: a batch whose
	// every file fails commits nothing, and needs no table.
	batch, done, beginErr := l.writer.Begin(ctx, feed.Table, contract, b.BatchID)
	if batch != nil {
		defer batch.Abort() // does nothing once committed
	}
	var out []events.Event
	runs := make([]*fileRun, 0, len(b.Files))
	good := 0
	for _, f := range b.Files {
		var src *tables.Source
		if batch != nil {
			var err error
			if src, err = batch.Source(); err != nil {
				return nil, nil, nil, fmt.Errorf("loader: batch %s: write %s: %w", b.BatchID, feed.Table, err)
			}
		}
		run, rejects, err := l.check(ctx, b, feed, v, f, cause, src)
		if err != nil {
			return nil, nil, nil, err
		}
		runs = append(runs, run)
		out = append(out, rejects...)
		if run.failed == "" {
			good++
		}
	}
	if good == 0 {
		return runs, nil, out, nil
	}
	switch {
	case beginErr != nil:
		return nil, nil, nil, fmt.Errorf("loader: batch %s: write %s: %w", b.BatchID, feed.Table, beginErr)
	case done != nil:
		return runs, done, out, nil
	}
	wr, err := batch.Commit(ctx)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("loader: batch %s: write %s: %w", b.BatchID, feed.Table, err)
	}
	return runs, &wr, out, nil
}

// twoPasses loads the files of an upsert batch in two passes (see load).
func (l *batchLoader) twoPasses(ctx context.Context, b *events.BatchPlanned, feed *mesh.Feed, v *validate.Validator,
	contract tables.Contract, cause string) ([]*fileRun, *tables.WriteResult, []events.Event, error) {
	var out []events.Event
	runs := make([]*fileRun, 0, len(b.Files))
	for _, f := range b.Files {
		run, rejects, err := l.check(ctx, b, feed, v, f, cause, nil)
		if err != nil {
			return nil, nil, nil, err
		}
		runs = append(runs, run)
		out = append(out, rejects...)
	}
	var good []*fileRun
	for _, r := range runs {
		if r.failed == "" {
			good = append(good, r)
		}
	}
	if len(good) == 0 {
		return runs, nil, out, nil
	}
	rows := &batchRows{ctx: ctx, l: l, feed: feed, v: v, runs: good, src: -1}
	wr, err := l.writer.Write(ctx, feed.Table, contract, b.BatchID, rows)
	// A Write that failed or stopped reading early leaves the current
	// file's goroutines running: end them.
	rows.stop()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("loader: batch %s: write %s: %w", b.BatchID, feed.Table, err)
	}
	if rows.err != nil {
		// A file changed under us between the passes: fail the batch
		// attempt; the redelivery starts over.
		return nil, nil, nil, rows.err
	}
	return runs, &wr, out, nil
}

// check parses and validates one file: the one pass of an append batch,
// or the first of an upsert batch. With src non-nil, the file's good rows
// are written to src as they are validated (on a goroutine of its own, see
// rowSink), and src is kept at the file's end, or dropped if the file
// fails. An error (not a failed file) fails the batch attempt.
func (l *batchLoader) check(ctx context.Context, b *events.BatchPlanned, feed *mesh.Feed, v *validate.Validator, f events.BatchFile, cause string,
	src *tables.Source) (*fileRun, []events.Event, error) {
	l.log.Info("loading file", "file", f.Key, "bytes", f.Size, "table", b.Table)
	run := &fileRun{file: f, id: events.DeriveID(f.Key, f.Checksum)}
	var rejects []events.Event
	// reject records a rejected record: vs holds every violation, the
	// first one also in the event's field, rule and reason.
	reject := func(number, line int64, vs []validate.Violation, raw []byte) {
		run.rejected++
		if len(rejects) >= maxRejectEvents {
			return
		}
		first := vs[0]
		ev := &events.RecordRejected{
			Envelope:     l.envelope("record-rejected", run.id, cause, events.AttemptParts(f.Attempt, b.BatchID, strconv.FormatInt(number, 10))...),
			BatchID:      b.BatchID,
			Table:        b.Table,
			FileKey:      f.Key,
			FileChecksum: f.Checksum,
			RecordNumber: number,
			Rule:         first.Rule,
			Reason:       first.Reason,
			Violations:   make([]events.Violation, 0, len(vs)),
		}
		if line > 0 {
			ev.Line = &line
		}
		if first.Field != "" {
			ev.Field = new(first.Field)
		}
		for _, vi := range vs {
			x := events.Violation{Rule: vi.Rule, Reason: vi.Reason}
			if vi.Field != "" {
				x.Field = new(vi.Field)
			}
			ev.Violations = append(ev.Violations, x)
		}
		if raw != nil {
			s := string(raw)
			if len(s) > maxRaw {
				s, ev.RawTruncated = s[:maxRaw], true
			}
			ev.Raw = &s
		}
		rejects = append(rejects, ev)
	}
	var sink *rowSink
	var scratch []any
	if src != nil {
		sink, ctx = l.startSink(ctx, src)
		defer sink.close()
	}
	err := l.scan(ctx, feed, v, f, func(rec formats.Record, recErr *formats.RecordError, fc *validate.FileCheck) error {
		run.read++
		if recErr != nil {
			reject(recErr.Number, recErr.Line, []validate.Violation{{Rule: "parse", Reason: recErr.Err.Error()}}, recErr.Raw)
			return nil
		}
		// The row goes into a slot of the sink's buffer, or, with no sink,
		// into scratch: nobody keeps it.
		dst := scratch
		if sink != nil {
			var err error
			if dst, err = sink.slot(ctx); err != nil {
				return err
			}
		}
		row, vs := v.RowInto(dst, rec)
		if len(vs) == 0 {
			if dup := fc.Check(row, rec); dup != nil {
				vs = append(vs, *dup)
			}
		}
		if len(vs) > 0 {
			reject(rec.Number, rec.Line, vs, rec.Raw)
			return nil
		}
		run.valid++
		if sink != nil {
			size := 0
			for i := range rec.Fields {
				size += len(rec.Fields[i].Value)
			}
			sink.add(row, size)
		} else {
			scratch = row
		}
		return nil
	})
	var broken *brokenFile
	switch {
	case errors.As(err, &broken):
		run.failed, run.stage = broken.reason, broken.stage
	case err != nil:
		if sink != nil {
			if werr := sink.close(); werr != nil {
				err = werr // what stopped the scan
			}
		}
		return nil, nil, err
	case validate.Exceeds(run.rejected, run.read, feed.RejectThreshold):
		run.failed, run.stage = fmt.Sprintf("%d of %d records rejected, above the feed's threshold of %g",
			run.rejected, run.read, feed.RejectThreshold), "validate"
	}
	if sink == nil {
		return run, rejects, nil
	}
	if run.failed != "" {
		werr := sink.close()
		src.Drop()
		if werr != nil {
			return nil, nil, werr
		}
		return run, rejects, nil
	}
	if err := sink.finish(); err != nil {
		src.Drop()
		return nil, nil, err
	}
	if err := src.Keep(); err != nil {
		return nil, nil, fmt.Errorf("loader: file %s: %w", f.Key, err)
	}
	return run, rejects, nil
}

// rowSink writes the good rows of one file to its source in the batch, on
// a goroutine of its own, so that converting and encoding the rows runs
// beside parsing and validating the next ones. The rows are handed over in
// batches of at most rowBatch rows and sinkBatchBytes bytes of values
// through sinkBuffers buffers, so memory stays bounded whatever the
// records' widths. The rows themselves are reused: a buffer comes back
// with the rows the goroutine wrote, cleared (Source.Write keeps no
// reference to a row), and slot gives them out again to be filled by
// Validator.RowInto. A failed Write cancels the context startSink
// returned, which stops the file's scan.
type rowSink struct {
	src    *tables.Source
	batch  [][]any // being filled
	bytes  int     // the values' bytes in batch
	cur    chan [][]any
	free   chan [][]any
	done   chan struct{}
	closed bool
	err    error // the first Write error; read after done is closed
	cancel context.CancelCauseFunc
}

func (l *batchLoader) startSink(ctx context.Context, src *tables.Source) (*rowSink, context.Context) {
	ctx, cancel := context.WithCancelCause(ctx)
	s := &rowSink{
		src:    src,
		cur:    make(chan [][]any, sinkBuffers),
		free:   make(chan [][]any, sinkBuffers),
		done:   make(chan struct{}),
		cancel: cancel,
	}
	for range sinkBuffers {
		s.free <- make([][]any, 0, rowBatch)
	}
	l.running.Add(1)
	go func() {
		defer close(s.done)
		defer l.running.Add(-1)
		for batch := range s.cur {
			for _, row := range batch {
				if s.err == nil {
					if err := s.src.Write(row); err != nil {
						s.err = fmt.Errorf("loader: write: %w", err)
						cancel(s.err)
					}
				}
				clear(row) // kept for reuse, without its values
			}
			s.free <- batch[:0] // never blocks: free holds every buffer
		}
	}()
	return s, ctx
}

// slot returns a row to fill for add, reused from an earlier batch when
// there is one (nil otherwise), waiting for a free buffer if need be; ctx
// is the one startSink returned.
func (s *rowSink) slot(ctx context.Context) ([]any, error) {
	if s.batch == nil {
		select {
		case s.batch = <-s.free:
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
	}
	return s.batch[:len(s.batch)+1][len(s.batch)], nil
}

// add queues a row after slot; size is about its values' bytes.
func (s *rowSink) add(row []any, size int) {
	s.batch = append(s.batch, row)
	s.bytes += size
	if len(s.batch) == cap(s.batch) || s.bytes >= sinkBatchBytes {
		s.cur <- s.batch // never blocks: cur holds every buffer
		s.batch, s.bytes = nil, 0
	}
}

// finish writes the queued rows and ends the goroutine; it returns the
// first Write error.
func (s *rowSink) finish() error {
	if len(s.batch) > 0 && !s.closed {
		s.cur <- s.batch // never blocks: cur holds every buffer
		s.batch = nil
	}
	return s.close()
}

// close ends the goroutine (after it wrote what was queued) and returns
// the first Write error. Safe to call more than once.
func (s *rowSink) close() error {
	if !s.closed {
		s.closed = true
		close(s.cur)
		<-s.done
		s.cancel(nil)
	}
	return s.err
}

// brokenFile is a file that cannot be read as its feed says: it fails.
type brokenFile struct{ stage, reason string }

func (e *brokenFile) Error() string { return e.stage + ": " + e.reason }

// scan opens a file, checks its checksum as it streams, and calls fn for each
// record or bad record, in file order. The file is read and parsed on a
// goroutine of its own, a few batches of records ahead of fn (see
// startParse); scan returns after that goroutine has ended. The Record
// given to fn is valid only until fn returns. A broken file is reported as
// *brokenFile.
func (l *batchLoader) scan(ctx context.Context, feed *mesh.Feed, v *validate.Validator, f events.BatchFile,
	fn func(formats.Record, *formats.RecordError, *validate.FileCheck) error) error {
	rc, err := l.files.Open(ctx, f.Key)
	if err != nil {
		return &brokenFile{"read", fmt.Sprintf("open %s: %v", f.Key, err)}
	}
	defer rc.Close()
	p := l.startParse(ctx, feed, f.Checksum, f.Size, rc)
	defer p.stop() // before rc.Close: the parser reads rc until it ends
	fc := v.NewFile()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		b, ok, err := p.next(ctx)
		if err != nil {
			return err
		}
		if !ok {
			return p.err
		}
		for i := range b.items {
			it := &b.items[i]
			if err := fn(it.rec, it.recErr, fc); err != nil {
				return err
			}
		}
		p.free <- b // never blocks: free holds every buffer
	}
}

// batchRows streams the good rows of the good files: the second pass of an
// upsert batch. Each
// file is validated on a goroutine of its own (and parsed on another, see
// scan), which hands its rows over in batches of rowBatch through
// rowBuffers buffers, so the table writer encodes rows on the caller's
// goroutine while the next ones are parsed and validated.
type batchRows struct {
	ctx  context.Context
	l    *batchLoader
	feed *mesh.Feed
	v    *validate.Validator
	runs []*fileRun
	err  error
	src  int // index, among the good files, of the file being read; -1 before

	rows   [][]any // the rest of the current batch
	batch  [][]any // the current batch, handed back through free when done
	cur    chan [][]any
	free   chan [][]any
	errc   chan error
	cancel context.CancelFunc
	done   chan struct{} // closed when the current file's goroutine ended
}

// The row hand-over of the second pass of an upsert batch (batchRows): at
// most rowBuffers batches of rowBatch rows each are in flight per file.
// The one pass (rowSink) has sinkBuffers batches, each also closed at
// sinkBatchBytes of values, so at most about 4 MiB of values are in
// flight whatever the records' widths; 16 rather than 4 buffers let the
// validator run on while the writer compresses a page (measured faster).
const (
	rowBatch       = 256
	rowBuffers     = 4
	sinkBuffers    = 16
	sinkBatchBytes = 256 << 10
)

var _ tables.SourceRows = (*batchRows)(nil)

// Source implements tables.SourceRows: the index, among the batch's good
// files, of the file of the row Next returned last.
func (br *batchRows) Source() int { return br.src }

// Next implements tables.Rows.
func (br *batchRows) Next() ([]any, error) {
	if br.err != nil {
		return nil, br.err
	}
	for {
		if len(br.rows) > 0 {
			row := br.rows[0]
			br.rows[0] = nil
			br.rows = br.rows[1:]
			return row, nil
		}
		if br.batch != nil {
			br.free <- br.batch // never blocks: free holds every buffer
			br.batch = nil
		}
		if br.cur == nil {
			if len(br.runs) == 0 {
				return nil, io.EOF
			}
			br.start(br.runs[0])
			br.runs = br.runs[1:]
			br.src++
		}
		batch, ok := <-br.cur
		if ok {
			br.batch, br.rows = batch, batch
			continue
		}
		err := <-br.errc
		br.stop()
		if err != nil {
			br.err = fmt.Errorf("loader: second pass: %w", err)
			return nil, br.err
		}
	}
}

// stop ends the current file's goroutine, if any, and waits for it. Safe to
// call more than once; Next after stop starts the next file.
func (br *batchRows) stop() {
	if br.cur == nil {
		return
	}
	br.cancel()
	<-br.done
	br.cur, br.rows, br.batch = nil, nil, nil
}

func (br *batchRows) start(run *fileRun) {
	br.l.log.Info("writing rows", "file", run.file.Key, "rows", run.valid, "table", br.feed.Table)
	ctx, cancel := context.WithCancel(br.ctx)
	br.cancel = cancel
	br.cur = make(chan [][]any, rowBuffers)
	br.free = make(chan [][]any, rowBuffers)
	for range rowBuffers {
		br.free <- make([][]any, 0, rowBatch)
	}
	br.errc = make(chan error, 1)
	br.done = make(chan struct{})
	br.l.running.Add(1)
	go func(cur, free chan [][]any, done chan struct{}) {
		defer close(done)
		defer br.l.running.Add(-1)
		var valid int64
		var batch [][]any
		send := func() error {
			select {
			case cur <- batch:
				batch = nil
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		err := br.l.scan(ctx, br.feed, br.v, run.file, func(rec formats.Record, recErr *formats.RecordError, fc *validate.FileCheck) error {
			if recErr != nil {
				return nil
			}
			row, vs := br.v.Row(rec)
			if len(vs) > 0 || fc.Check(row, rec) != nil {
				return nil
			}
			valid++
			if batch == nil {
				select {
				case batch = <-free:
					batch = batch[:0]
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			batch = append(batch, row)
			if len(batch) == cap(batch) {
				return send()
			}
			return nil
		})
		if err == nil && len(batch) > 0 {
			err = send()
		}
		if err == nil && valid != run.valid {
			err = fmt.Errorf("file %s: %d valid rows on the second pass, %d on the first", run.file.Key, valid, run.valid)
		}
		close(cur)
		br.errc <- err
	}(br.cur, br.free, br.done)
}

// failed returns the FileFailed and IncidentOpened of a file.
func (l *batchLoader) failed(b *events.BatchPlanned, f events.BatchFile, cause, stage, reason string, read, rejected int64) []events.Event {
	id := events.DeriveID(f.Key, f.Checksum)
	batch, table, sum := b.BatchID, b.Table, f.Checksum
	ff := &events.FileFailed{
		Envelope:        l.envelope("file-failed", id, cause, events.AttemptParts(f.Attempt, b.BatchID)...),
		BatchID:         &batch,
		Table:           &table,
		FileKey:         f.Key,
		FileChecksum:    &sum,
		Stage:           stage,
		Reason:          reason,
		RecordsRead:     read,
		RecordsRejected: rejected,
		Attempt:         events.Attempt(f.Attempt),
	}
	inc := &events.IncidentOpened{
		Envelope:    l.envelope("incident", id, ff.Envelope.EventID, events.AttemptParts(f.Attempt, b.BatchID)...),
		IncidentID:  events.DeriveID(events.AttemptParts(f.Attempt, "incident", "file-failed", id, b.BatchID)...),
		Severity:    "error",
		SubjectKind: "file",
		Subject:     f.Key,
		Table:       &table,
		Summary:     fmt.Sprintf("file %s failed at %s: %s", f.Key, stage, reason),
	}
	inc.Envelope.CausationID = ff.Envelope.EventID
	return []events.Event{ff, inc}
}

// envelope builds a derived event's envelope: its id is a function of what it
// stems from, so a retried batch produces the same ids. The parts of a
// file's events include the file's attempt (events.AttemptParts), so the
// outcome of a retried file is never a duplicate of an earlier attempt's,
// while a redelivered batch of the same attempt derives the same ids.
func (l *batchLoader) envelope(kind, correlation, cause string, parts ...string) events.Envelope {
	return events.Envelope{
		EventID:       events.DeriveID(append([]string{kind, correlation}, parts...)...),
		OccurredAt:    l.now().UTC().Truncate(time.Microsecond),
		Domain:        "raw",
		CorrelationID: correlation,
		CausationID:   cause,
	}
}
