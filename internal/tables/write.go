package tables

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
	"github.com/parquet-go/parquet-go"

	"github.com/logmesh/logmesh/events"
)

// Rows is a stream of typed rows aligned with a contract's fields (see
// docs/ingestion.md, "Typed rows"). Next returns io.EOF after the last
// row. Write does not keep the slice Next returns beyond the next call,
// except for upsert, which copies the rows it keeps.
type Rows interface {
	Next() ([]any, error)
}

// WriteResult describes the table version a Write committed, or found
// already committed for its batch.
type WriteResult struct {
	// Version is the table version of the batch's commit.
	Version int64
	// SnapshotID is the Iceberg snapshot of the batch's commit.
	SnapshotID int64
	// RowsAdded counts rows inserted (or replacing others, for upsert).
	RowsAdded int64
	// RowsDeleted counts rows replaced by an upsert.
	RowsDeleted int64
	// RowsTotal is the table's row count at Version.
	RowsTotal int64
	// Deduplicated is true when the batch had already been committed and
	// Write wrote nothing.
	Deduplicated bool
	// MetadataLocation is the metadata JSON of Version (for a deduplicated
	// batch, of the current version).
	MetadataLocation string
}

// ErrBadBatch reports an unusable batch id.
var ErrBadBatch = errors.New("tables: bad batch id")

// boundCatalog is the table.CatalogIO of a Write: it commits against the
// pointer and metadata the Write started from and remembers the event.
type boundCatalog struct {
	c    *Catalog
	base *commitBase
	last *events.TableCommitted
	// called is set once the Committer was invoked: from then on a failed
	// commit has an unknown outcome.
	called bool
}

func (b *boundCatalog) LoadTable(ctx context.Context, ident table.Identifier) (*table.Table, error) {
	return b.c.LoadTable(ctx, ident)
}

func (b *boundCatalog) CommitTable(ctx context.Context, ident table.Identifier, reqs []table.Requirement, updates []table.Update) (table.Metadata, string, error) {
	md, loc, ev, err := b.c.commit(ctx, ident, *b.base, reqs, updates, "", &b.called)
	if err == nil {
		b.last = ev
	}
	return md, loc, err
}

// Write writes one batch of rows to a table ("domain.table") and commits
// it as one new version, creating the table on its first write (schema
// from the contract, format v2, unpartitioned). It is idempotent by
// batchID: if a snapshot of the table already carries the batch id,
// Write returns that commit with Deduplicated set and writes nothing.
//
// In append mode rows are streamed into Parquet files of about the target
// size; memory is bounded by one row group. In upsert mode (copy-on-write)
// the batch's distinct keys and their winning rows are held in memory —
// memory is bounded by the batch size — while existing data files are
// streamed one at a time; every file holding a key the batch replaces is
// rewritten without those rows.
//
// The caller owns rows. Write is safe for concurrent use on different
// tables; one table must have one writer at a time (ErrStalePointer
// otherwise). Files of a failed Write are removed when the failure is
// known to have committed nothing; otherwise they are garbage for vacuum.
func (c *Catalog) Write(ctx context.Context, name string, contract Contract, batchID string, rows Rows) (WriteResult, error) {
	domain, tname, err := splitName(name)
	if err != nil {
		return WriteResult{}, err
	}
	if batchID == "" || strings.ContainsAny(batchID, "/\\") || strings.HasPrefix(batchID, ".") {
		return WriteResult{}, fmt.Errorf("%w: %q", ErrBadBatch, batchID)
	}
	l, err := compile(contract)
	if err != nil {
		return WriteResult{}, err
	}
	ident := table.Identifier{domain, tname}
	p, ok, err := c.ptr.Current(ctx, name)
	if err != nil {
		return WriteResult{}, fmt.Errorf("tables: pointer of %s: %w", name, err)
	}
	base := &commitBase{ptr: p, exists: ok}
	bound := &boundCatalog{c: c, base: base}
	var tbl *table.Table
	if ok {
		if tbl, err = c.loadAt(ctx, ident, p, bound); err != nil {
			return WriteResult{}, err
		}
		base.meta = tbl.Metadata()
		if res, found := findBatch(tbl.Metadata(), batchID); found {
			res.MetadataLocation = p.MetadataLocation
			if res.Version == 0 {
				res.Version = p.Version
			}
			return res, nil
		}
		if err := l.sameSchema(tbl.Schema()); err != nil {
			return WriteResult{}, fmt.Errorf("tables: write %s: %w", name, err)
		}
	} else {
		md, err := table.NewMetadata(l.ice, iceberg.UnpartitionedSpec, table.UnsortedSortOrder,
			c.wh.TableLocation(domain, tname), defaultProps(nil))
		if err != nil {
			return WriteResult{}, fmt.Errorf("tables: create %s: %w", name, err)
		}
		base.meta = md
		tbl = table.New(ident, md, "", c.wh.fsF, bound)
	}
	wfs, err := c.wh.writeIO()
	if err != nil {
		return WriteResult{}, err
	}
	dw := newDataWriter(wfs, l.pq, tbl.Location()+"/data", batchID, c.targetFileSize, c.rowGroupSize)
	props := iceberg.Properties{
		SummaryBatchID: batchID,
		SummaryVersion: strconv.FormatInt(p.Version+1, 10),
	}
	var remove []string
	if l.mode == ModeUpsert {
		remove, err = c.upsert(ctx, tbl, l, rows, dw, props)
	} else {
		err = c.appendRows(ctx, l, rows, dw, props)
	}
	if err != nil {
		dw.Abort()
		return WriteResult{}, fmt.Errorf("tables: write %s batch %s: %w", name, batchID, err)
	}
	files, err := dw.Close()
	if err != nil {
		return WriteResult{}, fmt.Errorf("tables: write %s batch %s: %w", name, batchID, err)
	}
	tx := tbl.NewTransaction()
	if len(remove) > 0 {
		err = tx.ReplaceDataFiles(ctx, remove, files, props)
	} else {
		err = tx.AddFiles(ctx, files, props, false)
	}
	if err == nil {
		_, err = tx.Commit(ctx)
	}
	if err != nil {
		if !bound.called { // no event can have been produced: the files are ours to remove
			for _, f := range files {
				_ = wfs.Remove(f)
			}
		}
		return WriteResult{}, fmt.Errorf("tables: write %s batch %s: %w", name, batchID, err)
	}
	ev := bound.last
	if ev == nil {
		return WriteResult{}, fmt.Errorf("tables: write %s batch %s: transaction committed no version", name, batchID)
	}
	return WriteResult{
		Version: ev.Version, SnapshotID: ev.SnapshotID, RowsAdded: ev.RowsAdded, RowsDeleted: ev.RowsDeleted,
		RowsTotal: ev.RowsTotal, MetadataLocation: ev.MetadataLocation,
	}, nil
}

// findBatch looks for the snapshot of a batch in a table's history.
func findBatch(md table.Metadata, batchID string) (WriteResult, bool) {
	for _, s := range md.Snapshots() {
		if s.Summary == nil || s.Summary.Properties[SummaryBatchID] != batchID {
			continue
		}
		num := func(k string) int64 {
			n, _ := strconv.ParseInt(s.Summary.Properties[k], 10, 64)
			return n
		}
		res := WriteResult{
			Version: num(SummaryVersion), SnapshotID: s.SnapshotID,
			RowsAdded: num(SummaryRowsAdded), RowsDeleted: num(SummaryRowsDeleted),
			RowsTotal: num("total-records"), Deduplicated: true,
		}
		return res, true
	}
	return WriteResult{}, false
}

const ctxCheckEvery = 4096

func (c *Catalog) appendRows(ctx context.Context, l *layout, rows Rows, dw *dataWriter, props iceberg.Properties) error {
	var n int64
	for {
		row, err := rows.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("row %d: %w", n+1, err)
		}
		r, err := l.toParquet(dw.row(), row)
		if err != nil {
			return fmt.Errorf("row %d: %w", n+1, err)
		}
		if err := dw.commitRow(r); err != nil {
			return err
		}
		n++
		if n%ctxCheckEvery == 0 && ctx.Err() != nil {
			return context.Cause(ctx)
		}
	}
	props[SummaryRowsAdded] = strconv.FormatInt(n, 10)
	props[SummaryRowsDeleted] = "0"
	return nil
}

// upsert writes the winning batch rows and the rewritten existing files
// to dw and returns the existing files to remove.
func (c *Catalog) upsert(ctx context.Context, tbl *table.Table, l *layout, rows Rows, dw *dataWriter, props iceberg.Properties) ([]string, error) {
	// 1. The batch: one row per key, the greatest ordering value winning
	// (a later row wins ties).
	var (
		batch   []([]any)
		index   = map[string]int{}
		kb      []byte
		n       int64
		scratch parquet.Row
	)
	for {
		row, err := rows.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("row %d: %w", n+1, err)
		}
		n++
		if len(row) != len(l.fields) {
			return nil, fmt.Errorf("row %d: %w: %d values, contract has %d fields", n, ErrBadRow, len(row), len(l.fields))
		}
		if scratch, err = l.toParquet(scratch, row); err != nil { // validate now, before any file is touched
			return nil, fmt.Errorf("row %d: %w", n, err)
		}
		kb = l.appendKey(kb[:0], row)
		i, seen := index[string(kb)]
		if seen && l.ord >= 0 && compareOrdering(row[l.ord], batch[i][l.ord]) < 0 {
			continue
		}
		kept := slices.Clone(row)
		for j, v := range kept {
			if b, ok := v.([]byte); ok {
				kept[j] = slices.Clone(b)
			}
		}
		if seen {
			batch[i] = kept
		} else {
			index[string(kb)] = len(batch)
			batch = append(batch, kept)
		}
		if n%ctxCheckEvery == 0 && ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
	}
	// 2. Which existing files hold keys the batch replaces, and which batch
	// rows lose to a newer existing row.
	fs := c.wh.IO()
	var files []string
	if tbl.CurrentSnapshot() != nil {
		tasks, err := tbl.Scan().PlanFiles(ctx)
		if err != nil {
			return nil, fmt.Errorf("plan files: %w", err)
		}
		for _, t := range tasks {
			if p := t.File.FilePath(); !slices.Contains(files, p) {
				files = append(files, p)
			}
		}
	}
	lost := make([]bool, len(batch))
	hits := map[string][]int{}
	for _, f := range files {
		err := readFile(fs, f, l, func(row []any) error {
			kb = l.appendKey(kb[:0], row)
			i, ok := index[string(kb)]
			if !ok {
				return nil
			}
			if l.ord >= 0 && compareOrdering(row[l.ord], batch[i][l.ord]) > 0 {
				lost[i] = true
			} else {
				hits[f] = append(hits[f], i)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
	}
	// 3. Rewrite the affected files without the replaced rows.
	var remove []string
	var deleted, added int64
	for _, f := range files {
		affected := slices.ContainsFunc(hits[f], func(i int) bool { return !lost[i] })
		if !affected {
			continue
		}
		remove = append(remove, f)
		err := readFile(fs, f, l, func(row []any) error {
			kb = l.appendKey(kb[:0], row)
			if i, ok := index[string(kb)]; ok && !lost[i] {
				deleted++
				return nil
			}
			r, err := l.toParquet(dw.row(), row)
			if err != nil {
				return fmt.Errorf("%s: %w", f, err)
			}
			return dw.commitRow(r)
		})
		if err != nil {
			return nil, err
		}
	}
	// 4. The winning batch rows.
	for i, row := range batch {
		if lost[i] {
			continue
		}
		r, err := l.toParquet(dw.row(), row)
		if err != nil {
			return nil, err
		}
		if err := dw.commitRow(r); err != nil {
			return nil, err
		}
		added++
	}
	props[SummaryRowsAdded] = strconv.FormatInt(added, 10)
	props[SummaryRowsDeleted] = strconv.FormatInt(deleted, 10)
	return remove, nil
}
