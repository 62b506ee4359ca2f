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
	icebergio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"
	"github.com/parquet-go/parquet-go"

	"github.com/logmesh/logmesh/events"
)

// Rows is a stream of typed rows aligned with a contract's fields (see
// docs/ingestion.md, "Typed rows"). Next returns io.EOF after the last
// row. Write does not keep the slice Next returns beyond the next call,
// except for upsert, which copies the rows it keeps. Rows that also
// implement SourceRows get their rows attributed to their sources.
type Rows interface {
	Next() ([]any, error)
}

// SourceRows is an optional capability of Rows: rows drawn from several
// sources, such as the files of a batch. When the Rows given to
// Catalog.Write implement it, WriteResult.Sources tells, per source, how
// many of its rows made it into the new version. Write calls Source once
// after every Next that returns a row.
type SourceRows interface {
	Rows
	// Source returns the 0-based index of the source of the row most
	// recently returned by Next, in [0, MaxSources).
	Source() int
}

// MaxSources bounds the source indices of a SourceRows: Write fails with
// ErrBadRow for an index outside [0, MaxSources). The per-source counts
// are kept in the snapshot summary, so they cost the metadata JSON a few
// bytes per source for every snapshot.
const MaxSources = 1 << 16

// SourceCount is what became of one source's rows in a Write. Kept plus
// Superseded is the number of rows the source gave.
type SourceCount struct {
	// Kept counts the source's rows that are in the new version. In append
	// mode that is every row; in upsert mode, every row that won its key.
	Kept int64
	// Superseded counts the source's rows that lost their key to a newer
	// row and so are not in the new version: a row already in the table
	// with a greater ordering value (a tie goes to the batch), or a row of
	// the same batch with a greater ordering value or an equal one later in
	// the batch (with no ordering field, any later row of the batch).
	// Always zero in append mode. The table rows a batch replaces are
	// WriteResult.RowsDeleted, and belong to no source.
	Superseded int64
}

// WriteResult describes the table version a Write committed, or found
// already committed for its batch.
type WriteResult struct {
	// Version is the table version of the batch's commit.
	Version int64
	// SnapshotID is the Iceberg snapshot of the batch's commit.
	SnapshotID int64
	// RowsAdded counts rows inserted (or replacing others, for upsert):
	// the batch's rows that are in Version.
	RowsAdded int64
	// RowsDeleted counts rows replaced by an upsert.
	RowsDeleted int64
	// RowsSuperseded counts the batch's rows that are not in Version
	// because a newer row with the same key is (see
	// SourceCount.Superseded); zero for append. RowsAdded plus
	// RowsSuperseded is the number of rows in the batch.
	RowsSuperseded int64
	// Sources attributes the batch's rows to their sources, indexed by
	// source, when the Rows implement SourceRows; it is nil otherwise.
	// len(Sources) is one more than the greatest index Source returned: a
	// source with a greater index had no rows. For a deduplicated batch,
	// RowsSuperseded and Sources come from the snapshot summary (zero and
	// nil for batches committed before logmesh recorded them there).
	Sources []SourceCount
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
	// extra are updates appended to the commit (see upgrades).
	extra []table.Update
	last  *events.TableCommitted
	// called is set once the Committer was invoked: from then on a failed
	// commit has an unknown outcome.
	called bool
}

func (b *boundCatalog) LoadTable(ctx context.Context, ident table.Identifier) (*table.Table, error) {
	return b.c.LoadTable(ctx, ident)
}

func (b *boundCatalog) CommitTable(ctx context.Context, ident table.Identifier, reqs []table.Requirement, updates []table.Update) (table.Metadata, string, error) {
	if len(b.extra) > 0 {
		updates = append(slices.Clip(updates), b.extra...)
	}
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
// If rows implements SourceRows, the result attributes the batch's rows
// to their sources (WriteResult.Sources).
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
	w, done, err := c.prepare(ctx, name, contract, batchID)
	if err != nil || done != nil {
		return deref(done), err
	}
	l := w.l
	dw := newDataWriter(w.wfs, l.pq, w.dataLoc+"/data", batchID, "", c.targetFileSize, c.rowGroupSize)
	tl := newTally(rows)
	var remove []string
	if l.mode == ModeUpsert {
		remove, err = c.upsert(ctx, w.tbl, l, rows, tl, dw, w.props)
	} else {
		err = c.appendRows(ctx, l, rows, tl, dw, w.props)
	}
	tl.record(w.props)
	if err != nil {
		dw.Abort()
		return WriteResult{}, fmt.Errorf("tables: write %s batch %s: %w", name, batchID, err)
	}
	files, err := dw.Close()
	if err != nil {
		return WriteResult{}, fmt.Errorf("tables: write %s batch %s: %w", name, batchID, err)
	}
	return w.commit(ctx, remove, files, tl)
}

func deref(r *WriteResult) WriteResult {
	if r == nil {
		return WriteResult{}
	}
	return *r
}

// pending is a Write (or a Batch) between its start and its commit: the
// table and pointer it commits against.
type pending struct {
	c       *Catalog
	name    string
	batchID string
	l       *layout
	tbl     *table.Table
	bound   *boundCatalog
	wfs     icebergio.WriteFileIO
	dataLoc string // the table's location for new data files
	props   iceberg.Properties
}

// prepare starts a write of batchID to table name: it reads the table's
// pointer and metadata, and returns the result of the batch's commit
// instead if the table's history already has it.
func (c *Catalog) prepare(ctx context.Context, name string, contract Contract, batchID string) (*pending, *WriteResult, error) {
	domain, tname, err := splitName(name)
	if err != nil {
		return nil, nil, err
	}
	if batchID == "" || strings.ContainsAny(batchID, "/\\") || strings.HasPrefix(batchID, ".") {
		return nil, nil, fmt.Errorf("%w: %q", ErrBadBatch, batchID)
	}
	l, err := compile(contract)
	if err != nil {
		return nil, nil, err
	}
	ident := table.Identifier{domain, tname}
	loc := c.wh.TableLocation(domain, tname)
	p, ok, err := c.ptr.Current(ctx, name)
	if err != nil {
		return nil, nil, fmt.Errorf("tables: pointer of %s: %w", name, err)
	}
	base := &commitBase{ptr: p, exists: ok}
	bound := &boundCatalog{c: c, base: base}
	var tbl *table.Table
	if ok {
		if tbl, err = c.loadAt(ctx, ident, p, bound); err != nil {
			return nil, nil, err
		}
		base.meta = tbl.Metadata()
		if res, found := findBatch(tbl.Metadata(), batchID); found {
			res.MetadataLocation = p.MetadataLocation
			if res.Version == 0 {
				res.Version = p.Version
			}
			return nil, &res, nil
		}
		if err := l.sameSchema(tbl.Schema()); err != nil {
			return nil, nil, fmt.Errorf("tables: write %s: %w", name, err)
		}
		bound.extra = upgrades(tbl.Metadata(), l, loc)
	} else {
		md, err := table.NewMetadata(l.ice, iceberg.UnpartitionedSpec, table.UnsortedSortOrder,
			loc, defaultProps(nil))
		if err != nil {
			return nil, nil, fmt.Errorf("tables: create %s: %w", name, err)
		}
		base.meta = md
		tbl = table.New(ident, md, "", c.wh.fsF, bound)
	}
	wfs, err := c.wh.writeIO()
	if err != nil {
		return nil, nil, err
	}
	dataLoc := tbl.Location()
	if movesToURI(dataLoc, loc) {
		dataLoc = loc // the commit moves the table there (upgrades)
	}
	props := iceberg.Properties{
		SummaryBatchID: batchID,
		SummaryVersion: strconv.FormatInt(p.Version+1, 10),
	}
	return &pending{c: c, name: name, batchID: batchID, l: l, tbl: tbl, bound: bound, wfs: wfs, dataLoc: dataLoc, props: props}, nil, nil
}

// commit commits files (replacing remove) as the table's next version.
// The files are removed if the commit fails before the Committer was
// called; after, the outcome is unknown and they are left for vacuum.
func (w *pending) commit(ctx context.Context, remove, files []string, tl *tally) (WriteResult, error) {
	tx := w.tbl.NewTransaction()
	var err error
	if len(remove) > 0 {
		err = tx.ReplaceDataFiles(ctx, remove, files, w.props)
	} else {
		err = tx.AddFiles(ctx, files, w.props, false)
	}
	if err == nil {
		_, err = tx.Commit(ctx)
	}
	if err != nil {
		if !w.bound.called { // no event can have been produced: the files are ours to remove
			for _, f := range files {
				_ = w.wfs.Remove(f)
			}
		}
		return WriteResult{}, fmt.Errorf("tables: write %s batch %s: %w", w.name, w.batchID, err)
	}
	ev := w.bound.last
	if ev == nil {
		return WriteResult{}, fmt.Errorf("tables: write %s batch %s: transaction committed no version", w.name, w.batchID)
	}
	return WriteResult{
		Version: ev.Version, SnapshotID: ev.SnapshotID, RowsAdded: ev.RowsAdded, RowsDeleted: ev.RowsDeleted,
		RowsSuperseded: tl.superseded, Sources: tl.sources,
		RowsTotal: ev.RowsTotal, MetadataLocation: ev.MetadataLocation,
	}, nil
}

// upgrades returns the metadata updates that bring a table written by an
// earlier logmesh up to date; they are committed with the Write's own
// changes. A local table at a bare path moves to its file URI location
// (loc): new metadata, manifests and data files go there, while old files
// keep their bare paths, which still resolve. An upsert table gets the
// identifier field ids of its contract's primary key (a new schema with
// the same fields). Tables this version created need neither.
func upgrades(md table.Metadata, l *layout, loc string) []table.Update {
	var ups []table.Update
	if movesToURI(md.Location(), loc) {
		ups = append(ups, table.NewSetLocationUpdate(loc))
	}
	sc := md.CurrentSchema()
	have := slices.Sorted(slices.Values(sc.IdentifierFieldIDs))
	if ids := l.identifierIDs(sc.Fields()); ids != nil && !slices.Equal(ids, have) {
		ups = append(ups,
			table.NewAddSchemaUpdate(iceberg.NewSchemaWithIdentifiers(sc.ID, ids, sc.Fields()...)),
			table.NewSetCurrentSchemaUpdate(-1))
	}
	return ups
}

// movesToURI reports whether a table at location cur is the bare-path
// form of its file URI location want.
func movesToURI(cur, want string) bool {
	return cur != want && strings.HasPrefix(want, "file://") && bareLocation(want) == cur
}

// tally counts what became of a Write's rows: superseded rows, and per
// source counts when the Rows implement SourceRows.
type tally struct {
	sr         SourceRows // nil: no sources
	sources    []SourceCount
	superseded int64
}

func newTally(rows Rows) *tally {
	t := &tally{}
	if sr, ok := rows.(SourceRows); ok {
		t.sr = sr
		t.sources = []SourceCount{}
	}
	return t
}

// source returns the source of the row Next just returned, or -1 when
// rows have no sources.
func (t *tally) source() (int, error) {
	if t.sr == nil {
		return -1, nil
	}
	i := t.sr.Source()
	if i < 0 || i >= MaxSources {
		return 0, fmt.Errorf("%w: source %d is not in [0, %d)", ErrBadRow, i, MaxSources)
	}
	if i >= len(t.sources) {
		t.sources = append(t.sources, make([]SourceCount, i+1-len(t.sources))...)
	}
	return i, nil
}

// keep counts a row of source src (-1: none) that is in the new version.
func (t *tally) keep(src int) {
	if src >= 0 {
		t.sources[src].Kept++
	}
}

// supersede counts a row of source src (-1: none) that lost its key.
func (t *tally) supersede(src int) {
	t.superseded++
	if src >= 0 {
		t.sources[src].Superseded++
	}
}

// record stores the tally in the snapshot summary, so that a
// deduplicated Write can return it (see findBatch).
func (t *tally) record(props iceberg.Properties) {
	props[SummaryRowsSuperseded] = strconv.FormatInt(t.superseded, 10)
	if t.sources == nil {
		return
	}
	var b []byte
	for i, s := range t.sources {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, s.Kept, 10)
		b = append(b, ':')
		b = strconv.AppendInt(b, s.Superseded, 10)
	}
	props[SummarySources] = string(b)
}

// parseSources decodes a SummarySources value; ok is false if it is
// malformed.
func parseSources(v string) (out []SourceCount, ok bool) {
	out = []SourceCount{}
	if v == "" {
		return out, true
	}
	for item := range strings.SplitSeq(v, ",") {
		k, s, found := strings.Cut(item, ":")
		kept, err1 := strconv.ParseInt(k, 10, 64)
		sup, err2 := strconv.ParseInt(s, 10, 64)
		if !found || err1 != nil || err2 != nil {
			return nil, false
		}
		out = append(out, SourceCount{Kept: kept, Superseded: sup})
	}
	return out, true
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
			RowsSuperseded: num(SummaryRowsSuperseded),
			RowsTotal:      num("total-records"), Deduplicated: true,
		}
		if v, ok := s.Summary.Properties[SummarySources]; ok {
			res.Sources, _ = parseSources(v)
		}
		return res, true
	}
	return WriteResult{}, false
}

const ctxCheckEvery = 4096

func (c *Catalog) appendRows(ctx context.Context, l *layout, rows Rows, tl *tally, dw *dataWriter, props iceberg.Properties) error {
	var n int64
	for {
		row, err := rows.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("row %d: %w", n+1, err)
		}
		src, err := tl.source()
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
		tl.keep(src)
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
func (c *Catalog) upsert(ctx context.Context, tbl *table.Table, l *layout, rows Rows, tl *tally, dw *dataWriter, props iceberg.Properties) ([]string, error) {
	// 1. The batch: one row per key, the greatest ordering value winning
	// (a later row wins ties).
	var (
		batch   []([]any)
		srcOf   []int // source of batch[i], -1 if none
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
		if n%ctxCheckEvery == 0 && ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		src, err := tl.source()
		if err != nil {
			return nil, fmt.Errorf("row %d: %w", n, err)
		}
		if len(row) != len(l.fields) {
			return nil, fmt.Errorf("row %d: %w: %d values, contract has %d fields", n, ErrBadRow, len(row), len(l.fields))
		}
		if scratch, err = l.toParquet(scratch, row); err != nil { // validate now, before any file is touched
			return nil, fmt.Errorf("row %d: %w", n, err)
		}
		kb = l.appendKey(kb[:0], row)
		i, seen := index[string(kb)]
		if seen && l.ord >= 0 && compareOrdering(row[l.ord], batch[i][l.ord]) < 0 {
			tl.supersede(src)
			continue
		}
		kept := slices.Clone(row)
		for j, v := range kept {
			if b, ok := v.([]byte); ok {
				kept[j] = slices.Clone(b)
			}
		}
		if seen {
			tl.supersede(srcOf[i])
			batch[i], srcOf[i] = kept, src
		} else {
			index[string(kb)] = len(batch)
			batch = append(batch, kept)
			srcOf = append(srcOf, src)
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
			tl.supersede(srcOf[i])
			continue
		}
		r, err := l.toParquet(dw.row(), row)
		if err != nil {
			return nil, err
		}
		if err := dw.commitRow(r); err != nil {
			return nil, err
		}
		tl.keep(srcOf[i])
		added++
	}
	props[SummaryRowsAdded] = strconv.FormatInt(added, 10)
	props[SummaryRowsDeleted] = strconv.FormatInt(deleted, 10)
	return remove, nil
}
