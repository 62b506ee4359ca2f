package tables

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/parquet-go/parquet-go"
)

// Batch is a write of one batch to an append table in parts: its rows come
// from sources (the files of a loader batch), each of which is kept or
// dropped once all its rows are written, and the kept sources' rows are
// committed as one new version by Commit. This is what lets a loader
// validate and write a file in one pass, and still leave out a file it
// can only reject at its end: a dropped source's rows are in no data file
// the commit references, and its own data files are removed when it is
// dropped.
//
// A source's first rows are held in memory, up to about 4 MiB of values
// (less with a small RowGroupSize); a source that ends within that is
// kept by writing its rows to the batch's shared data files, named
// <batch>-<n>.parquet as Write names them, so a batch of many small files
// still makes few data files. A source that outgrows it spills to data
// files of its own, <batch>-<n>-f<k>.parquet for the batch's k-th source
// (counting dropped ones), streamed with the memory of one row group. The
// names are a function of the batch id, so a redelivered batch overwrites
// the data files of an attempt that was killed before its commit.
//
// Start one with Catalog.Begin. A Batch and its Sources are not safe for
// concurrent use: use them from one goroutine at a time. Commit or Abort
// must be called; after either, the Batch is done.
type Batch struct {
	w       *pending
	spillAt int64
	shared  *dataWriter // the rows of kept sources that never spilled
	files   []string    // the data files of kept sources that spilled
	sources []SourceCount
	rows    int64
	started int     // sources started, dropped ones included
	open    *Source // the source being written, nil between sources
	done    bool
}

// Source is the rows of one source of a Batch, from Batch.Source until
// Keep or Drop.
type Source struct {
	b    *Batch
	k    int
	pend []parquet.Row // rows held in memory until they spill
	size int64         // about the bytes of pend
	dw   *dataWriter   // the source's own data files, once it spilled
	rows int64
	err  error // a Write failed: Keep returns it
}

// maxSourceBuffer bounds the rows a Source holds in memory before it
// spills to data files of its own.
const maxSourceBuffer = 4 << 20

// ErrBatchDone reports the use of a Batch after Commit or Abort, or of a
// Source after Keep or Drop.
var ErrBatchDone = errors.New("tables: batch or source already ended")

// Begin starts a Batch of batchID on the append table name ("domain.table"),
// creating the table at Commit if it has none yet. If the table's history
// already has batchID, Begin returns that commit (Deduplicated set) and a
// nil Batch: there is nothing to write. Upsert contracts are refused
// (wrapping ErrContract): an upsert keeps the batch's rows by key until
// its end, which Write does.
//
// The pointer the batch will commit against is read now: the table must
// have no other writer until Commit (ErrStalePointer otherwise).
func (c *Catalog) Begin(ctx context.Context, name string, contract Contract, batchID string) (*Batch, *WriteResult, error) {
	if contract.Mode == ModeUpsert {
		return nil, nil, fmt.Errorf("%w: a batch in parts is for append tables; write %s with Write", ErrContract, name)
	}
	w, done, err := c.prepare(ctx, name, contract, batchID)
	if err != nil || done != nil {
		return nil, done, err
	}
	return &Batch{
		w:       w,
		spillAt: min(c.rowGroupSize, maxSourceBuffer),
		shared:  newDataWriter(w.wfs, w.l.pq, w.dataLoc+"/data", batchID, "", c.targetFileSize, c.rowGroupSize),
		sources: []SourceCount{},
	}, nil, nil
}

// Source starts the batch's next source. The previous one must have been
// kept or dropped.
func (b *Batch) Source() (*Source, error) {
	switch {
	case b.done:
		return nil, ErrBatchDone
	case b.open != nil:
		return nil, errors.New("tables: Source: the previous source was neither kept nor dropped")
	case b.started >= MaxSources:
		return nil, fmt.Errorf("%w: more than %d sources", ErrBadRow, MaxSources)
	}
	b.open = &Source{b: b, k: b.started}
	b.started++
	return b.open, nil
}

// Write adds a typed row (see Rows) to the source. The row is not kept:
// its values are converted at once (strings and byte slices are
// referenced, not copied, until the source ends: do not modify them).
func (s *Source) Write(row []any) error {
	if s.err != nil {
		return s.err
	}
	if s.b.open != s {
		return ErrBatchDone
	}
	l := s.b.w.l
	var err error
	if s.dw != nil {
		var r parquet.Row
		if r, err = l.toParquet(s.dw.row(), row); err == nil {
			err = s.dw.commitRow(r)
		}
	} else {
		var r parquet.Row
		if r, err = l.toParquet(nil, row); err == nil {
			s.pend = append(s.pend, r)
			s.size += rowSize(r)
			if s.size >= s.b.spillAt {
				err = s.spill()
			}
		}
	}
	if err != nil {
		s.err = fmt.Errorf("tables: source %d row %d: %w", s.k, s.rows+1, err)
		return s.err
	}
	s.rows++
	return nil
}

// rowSize is about the memory of a converted row.
func rowSize(r parquet.Row) int64 {
	n := int64(len(r)) * 24
	for _, v := range r {
		if v.Kind() == parquet.ByteArray {
			n += int64(len(v.ByteArray()))
		}
	}
	return n
}

// spill moves the source's rows to data files of its own.
func (s *Source) spill() error {
	w := s.b.w
	s.dw = newDataWriter(w.wfs, w.l.pq, w.dataLoc+"/data", w.batchID, "-f"+strconv.Itoa(s.k), w.c.targetFileSize, w.c.rowGroupSize)
	for i, r := range s.pend {
		if err := s.dw.commitRow(r); err != nil {
			return err
		}
		s.pend[i] = nil
	}
	s.pend, s.size = nil, 0
	return nil
}

// Keep ends the source: its rows are in the batch's commit. It returns the
// error of a failed Write, or of finishing the source's data files; the
// source is then dropped, and the batch should be aborted.
func (s *Source) Keep() error {
	b := s.b
	if b.open != s {
		return ErrBatchDone
	}
	if s.err != nil {
		s.Drop()
		return s.err
	}
	if s.dw != nil {
		files, err := s.dw.Close()
		if err != nil {
			s.Drop()
			return fmt.Errorf("tables: source %d: %w", s.k, err)
		}
		b.files = append(b.files, files...)
	} else {
		for i, r := range s.pend {
			if err := b.shared.commitRow(r); err != nil {
				s.Drop()
				return fmt.Errorf("tables: source %d: %w", s.k, err)
			}
			s.pend[i] = nil
		}
	}
	b.sources = append(b.sources, SourceCount{Kept: s.rows})
	b.rows += s.rows
	b.open, s.pend = nil, nil
	return nil
}

// Drop ends the source without its rows: they are in no data file the
// batch commits, and the source's own data files are removed (best
// effort; one left behind is garbage no commit references, for vacuum).
// Dropping a source that already ended does nothing.
func (s *Source) Drop() {
	if s.b.open != s {
		return
	}
	if s.dw != nil {
		s.dw.Abort()
	}
	s.b.open, s.pend, s.dw = nil, nil, nil
}

// Commit commits the kept sources' rows as the table's next version and
// ends the batch. WriteResult.Sources has one entry per kept source, in
// the order they were kept. On failure the batch's data files are removed
// if the failure is known to have committed nothing; otherwise they are
// garbage for vacuum.
func (b *Batch) Commit(ctx context.Context) (WriteResult, error) {
	switch {
	case b.done:
		return WriteResult{}, ErrBatchDone
	case b.open != nil:
		b.Abort()
		return WriteResult{}, errors.New("tables: Commit: a source was neither kept nor dropped")
	}
	shared, err := b.shared.Close()
	if err != nil {
		b.Abort()
		return WriteResult{}, fmt.Errorf("tables: write %s batch %s: %w", b.w.name, b.w.batchID, err)
	}
	b.done = true
	files := append(b.files, shared...)
	b.files = nil
	props := b.w.props
	props[SummaryRowsAdded] = strconv.FormatInt(b.rows, 10)
	props[SummaryRowsDeleted] = "0"
	tl := &tally{sources: b.sources}
	tl.record(props)
	return b.w.commit(ctx, nil, files, tl)
}

// Abort ends the batch without a commit and removes its data files (best
// effort). It is idempotent, and does nothing after Commit.
func (b *Batch) Abort() {
	if b.done {
		return
	}
	b.done = true
	if b.open != nil {
		b.open.Drop()
	}
	b.shared.Abort()
	for _, f := range b.files {
		_ = b.w.wfs.Remove(f)
	}
	b.files = nil
}
