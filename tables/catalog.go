package tables

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"strconv"
	"strings"
	"time"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"

	"github.com/logmesh/logmesh/events"
)

// CatalogType is the catalog.Type of a logmesh Catalog.
const CatalogType catalog.Type = "logmesh"

// Snapshot summary properties logmesh sets on the snapshots it writes.
const (
	// SummaryBatchID is the loader batch that produced the snapshot; a
	// re-delivered batch finds it and writes nothing.
	SummaryBatchID = "logmesh.batch-id"
	// SummaryJobID is the job that produced the snapshot.
	SummaryJobID = "logmesh.job-id"
	// SummaryRowsAdded and SummaryRowsDeleted are the logical row counts of
	// an upsert (rows inserted or replacing others; rows replaced), which
	// differ from Iceberg's physical added-records/deleted-records when
	// files are rewritten.
	SummaryRowsAdded   = "logmesh.rows-added"
	SummaryRowsDeleted = "logmesh.rows-deleted"
	// SummaryVersion is the table version the snapshot was committed as.
	SummaryVersion = "logmesh.version"
	// SummaryRowsSuperseded is WriteResult.RowsSuperseded: the batch's rows
	// that lost their key to a newer row.
	SummaryRowsSuperseded = "logmesh.rows-superseded"
	// SummarySources is WriteResult.Sources, set when the batch's rows had
	// sources: "kept:superseded" per source, in source order, separated by
	// commas ("3:0,1:2"; "" for no rows).
	SummarySources = "logmesh.sources"
)

// Option configures a Catalog.
type Option func(*Catalog)

// Clock sets the clock of TableCommitted.occurred_at. Default time.Now.
func Clock(now func() time.Time) Option { return func(c *Catalog) { c.now = now } }

// TargetFileSize sets the size at which Write rolls to a new data file.
// Default 128 MiB; values below 1 KiB are raised to 1 KiB.
func TargetFileSize(bytes int64) Option { return func(c *Catalog) { c.targetFileSize = bytes } }

// RowGroupSize sets the buffered size at which a data file's row group is
// flushed; it bounds a writer's memory. Default 16 MiB (capped at the
// target file size).
func RowGroupSize(bytes int64) Option { return func(c *Catalog) { c.rowGroupSize = bytes } }

// Catalog is an iceberg-go catalog.Catalog whose commits are TableCommitted
// events: CommitTable writes the new metadata JSON to the warehouse and
// hands the event to the Committer; the current metadata location of every
// table comes from Pointers, a projection of those events. Namespaces are
// logmesh domains and exist implicitly (a domain exists when it has a
// table).
//
// A Catalog is safe for concurrent use, but each table must have one
// writer at a time (logmesh keys batches by table): a commit checks that
// the pointer did not move, and fails with ErrStalePointer if it did, but
// the check and the Committer are not one atomic step unless the
// Committer itself rejects stale versions (MemPointers does). The
// Catalog holds no resources; there is nothing to close.
type Catalog struct {
	wh             *Warehouse
	ptr            Pointers
	com            Committer
	now            func() time.Time
	targetFileSize int64
	rowGroupSize   int64
}

var _ catalog.Catalog = (*Catalog)(nil)

// NewCatalog returns a catalog over a warehouse. ptr and com are usually
// one object (a MemPointers, or a host's projection plus producer).
func NewCatalog(wh *Warehouse, ptr Pointers, com Committer, opts ...Option) (*Catalog, error) {
	if wh == nil || ptr == nil || com == nil {
		return nil, errors.New("tables: NewCatalog needs a warehouse, pointers and a committer")
	}
	c := &Catalog{wh: wh, ptr: ptr, com: com, now: time.Now, targetFileSize: 128 << 20, rowGroupSize: 16 << 20}
	for _, o := range opts {
		o(c)
	}
	if c.now == nil {
		return nil, errors.New("tables: Clock(nil)")
	}
	c.targetFileSize = max(c.targetFileSize, 1<<10)
	if c.rowGroupSize <= 0 || c.rowGroupSize > c.targetFileSize {
		c.rowGroupSize = min(16<<20, c.targetFileSize)
	}
	return c, nil
}

// Warehouse returns the catalog's warehouse.
func (c *Catalog) Warehouse() *Warehouse { return c.wh }

// CatalogType implements catalog.Catalog.
func (c *Catalog) CatalogType() catalog.Type { return CatalogType }

// identName turns an identifier into "domain.table".
func identName(ident table.Identifier) (name, domain, tbl string, err error) {
	if len(ident) != 2 {
		return "", "", "", fmt.Errorf("%w: %w: identifier %q is not [domain table]", catalog.ErrNoSuchTable, ErrBadName, strings.Join(ident, "."))
	}
	name = ident[0] + "." + ident[1]
	if domain, tbl, err = splitName(name); err != nil {
		return "", "", "", fmt.Errorf("%w: %w", catalog.ErrNoSuchTable, err)
	}
	return name, domain, tbl, nil
}

// loadAt reads the metadata a pointer names and returns a table bound to cat.
func (c *Catalog) loadAt(ctx context.Context, ident table.Identifier, p Pointer, cat table.CatalogIO) (*table.Table, error) {
	tbl, err := table.NewFromLocation(ctx, ident, p.MetadataLocation, c.wh.fsF, cat)
	if err != nil {
		return nil, fmt.Errorf("tables: load %s version %d from %s: %w", strings.Join(ident, "."), p.Version, p.MetadataLocation, err)
	}
	return tbl, nil
}

// LoadTable implements catalog.Catalog: the table at its current pointer.
// Transactions on the returned table commit through this catalog.
func (c *Catalog) LoadTable(ctx context.Context, ident table.Identifier) (*table.Table, error) {
	name, _, _, err := identName(ident)
	if err != nil {
		return nil, err
	}
	p, ok, err := c.ptr.Current(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("tables: pointer of %s: %w", name, err)
	}
	if !ok {
		return nil, fmt.Errorf("%w: %s", catalog.ErrNoSuchTable, name)
	}
	return c.loadAt(ctx, table.Identifier{ident[0], ident[1]}, p, c)
}

// CheckTableExists implements catalog.Catalog.
func (c *Catalog) CheckTableExists(ctx context.Context, ident table.Identifier) (bool, error) {
	name, _, _, err := identName(ident)
	if err != nil {
		return false, err
	}
	_, ok, err := c.ptr.Current(ctx, name)
	return ok, err
}

// defaultProps are the table properties of tables this catalog creates:
// format v2, and no iceberg-go commit retries, so a stale pointer is
// reported instead of being replayed (replay would bypass the batch-id
// check).
func defaultProps(props iceberg.Properties) iceberg.Properties {
	out := iceberg.Properties{
		table.PropertyFormatVersion: "2",
		table.CommitNumRetriesKey:   "0",
	}
	for k, v := range props {
		out[k] = v
	}
	return out
}

// CreateTable implements catalog.Catalog: it writes version 1 of a table
// with no snapshot and commits it (operation "create"). The location is
// always <warehouse>/<domain>/<table>; a different WithLocation is refused.
func (c *Catalog) CreateTable(ctx context.Context, ident table.Identifier, schema *iceberg.Schema, opts ...catalog.CreateTableOpt) (*table.Table, error) {
	name, domain, tname, err := identName(ident)
	if err != nil {
		return nil, err
	}
	cfg := catalog.NewCreateTableCfg()
	for _, o := range opts {
		o(&cfg)
	}
	loc := c.wh.TableLocation(domain, tname)
	if cfg.Location != "" && cfg.Location != loc {
		return nil, fmt.Errorf("%w: table location must be %s, not %s", ErrUnsupported, loc, cfg.Location)
	}
	if _, ok, err := c.ptr.Current(ctx, name); err != nil {
		return nil, err
	} else if ok {
		return nil, fmt.Errorf("%w: %s", catalog.ErrTableAlreadyExists, name)
	}
	spec := cfg.PartitionSpec
	if spec == nil {
		spec = iceberg.UnpartitionedSpec
	}
	md, err := table.NewMetadata(schema, spec, cfg.SortOrder, loc, defaultProps(cfg.Properties))
	if err != nil {
		return nil, fmt.Errorf("tables: create %s: %w", name, err)
	}
	ident = table.Identifier{domain, tname}
	newMeta, newLoc, _, err := c.commit(ctx, ident, commitBase{meta: md}, nil, nil, "", nil)
	if err != nil {
		return nil, err
	}
	return table.New(ident, newMeta, newLoc, c.wh.fsF, c), nil
}

// commitBase is the state a commit applies its updates to.
type commitBase struct {
	ptr    Pointer        // zero when the table does not exist yet
	exists bool           // the pointer exists
	meta   table.Metadata // metadata at ptr, or the staged metadata of a new table, or nil
}

// CommitTable implements catalog.Catalog: it validates the requirements
// against the table's current metadata, applies the updates, writes the
// new metadata JSON (<table>/metadata/<version>-<uuid>.metadata.json) and
// commits a TableCommitted event. A requirement that fails returns an
// error wrapping ErrStalePointer (and so table.ErrCommitFailed).
func (c *Catalog) CommitTable(ctx context.Context, ident table.Identifier, reqs []table.Requirement, updates []table.Update) (table.Metadata, string, error) {
	name, _, _, err := identName(ident)
	if err != nil {
		return nil, "", err
	}
	p, ok, err := c.ptr.Current(ctx, name)
	if err != nil {
		return nil, "", fmt.Errorf("tables: pointer of %s: %w", name, err)
	}
	base := commitBase{ptr: p, exists: ok}
	if ok {
		tbl, err := c.loadAt(ctx, ident, p, nil)
		if err != nil {
			return nil, "", err
		}
		base.meta = tbl.Metadata()
	}
	md, loc, _, err := c.commit(ctx, table.Identifier{ident[0], ident[1]}, base, reqs, updates, "", nil)
	return md, loc, err
}

// commit is the one commit path: validate, apply, write metadata, check
// the pointer, commit the event. op overrides the event's operation when
// not "".
func (c *Catalog) commit(ctx context.Context, ident table.Identifier, base commitBase, reqs []table.Requirement, updates []table.Update, op string, called *bool) (table.Metadata, string, *events.TableCommitted, error) {
	name := ident[0] + "." + ident[1]
	for _, r := range reqs {
		if err := r.Validate(base.meta); err != nil {
			return nil, "", nil, fmt.Errorf("%w: %s at version %d: %w", ErrStalePointer, name, base.ptr.Version, err)
		}
	}
	baseMeta := base.meta
	if baseMeta == nil {
		var err error
		if baseMeta, err = table.NewMetadata(iceberg.NewSchema(0), nil, table.UnsortedSortOrder, "", nil); err != nil {
			return nil, "", nil, err
		}
	}
	newMeta := baseMeta
	if len(updates) > 0 || base.meta == nil {
		var err error
		if newMeta, err = table.UpdateTableMetadata(baseMeta, updates, base.ptr.MetadataLocation); err != nil {
			return nil, "", nil, fmt.Errorf("tables: commit %s: %w", name, err)
		}
	}
	version := base.ptr.Version + 1
	provider, err := table.LoadLocationProvider(newMeta.Location(), newMeta.Properties())
	if err != nil {
		return nil, "", nil, fmt.Errorf("tables: commit %s: %w", name, err)
	}
	loc, err := provider.NewTableMetadataFileLocation(int(version))
	if err != nil {
		return nil, "", nil, fmt.Errorf("tables: commit %s: %w", name, err)
	}
	if err := c.writeMetadata(newMeta, loc); err != nil {
		return nil, "", nil, fmt.Errorf("tables: commit %s: write %s: %w", name, loc, err)
	}
	// Optimistic check: the pointer must still be where the commit began.
	cur, ok, err := c.ptr.Current(ctx, name)
	if err != nil {
		return nil, "", nil, fmt.Errorf("tables: pointer of %s: %w", name, err)
	}
	if ok != base.exists || cur.Version != base.ptr.Version {
		return nil, "", nil, fmt.Errorf("%w: %s moved from version %d to %d", ErrStalePointer, name, base.ptr.Version, cur.Version)
	}
	ev := c.event(ident, version, base, newMeta, loc, op)
	if called != nil {
		*called = true
	}
	if err := c.com.Commit(ctx, ev); err != nil {
		return nil, "", nil, fmt.Errorf("tables: commit %s version %d: %w", name, version, err)
	}
	return newMeta, loc, ev, nil
}

// writeMetadata writes metadata JSON (uncompressed, as iceberg-go's
// catalogs do by default).
func (c *Catalog) writeMetadata(md table.Metadata, loc string) error {
	wfs, err := c.wh.writeIO()
	if err != nil {
		return err
	}
	b, err := json.Marshal(md)
	if err != nil {
		return err
	}
	return wfs.WriteFile(loc, b)
}

// event builds the TableCommitted of a commit.
func (c *Catalog) event(ident table.Identifier, version int64, base commitBase, md table.Metadata, loc, op string) *events.TableCommitted {
	name := ident[0] + "." + ident[1]
	ev := &events.TableCommitted{
		Table:            name,
		Version:          version,
		MetadataLocation: loc,
		SchemaID:         int32(md.CurrentSchema().ID),
	}
	if base.exists {
		prev := base.ptr.MetadataLocation
		ev.PreviousMetadataLocation = &prev
	}
	var baseSnap int64 = -1
	if base.meta != nil {
		if s := base.meta.CurrentSnapshot(); s != nil {
			baseSnap = s.SnapshotID
		}
	}
	snap := md.CurrentSnapshot()
	if snap != nil {
		ev.SnapshotID = snap.SnapshotID
	}
	switch {
	case snap != nil && snap.SnapshotID != baseSnap:
		ev.ParentSnapshotID = snap.ParentSnapshotID
		var props iceberg.Properties
		if snap.Summary != nil {
			ev.Operation = string(snap.Summary.Operation)
			props = snap.Summary.Properties
		}
		num := func(keys ...string) int64 {
			for _, k := range keys {
				if v, ok := props[k]; ok {
					n, _ := strconv.ParseInt(v, 10, 64)
					return n
				}
			}
			return 0
		}
		ev.RowsAdded = num(SummaryRowsAdded, "added-records")
		ev.RowsDeleted = num(SummaryRowsDeleted, "deleted-records")
		ev.RowsTotal = num("total-records")
		ev.DataFilesAdded = int32(num("added-data-files"))
		ev.DataFilesRemoved = int32(num("deleted-data-files"))
		ev.BytesAdded = num("added-files-size")
		if v := props[SummaryBatchID]; v != "" {
			ev.BatchID = &v
		}
		if v := props[SummaryJobID]; v != "" {
			ev.JobID = &v
		}
	case base.meta == nil || !base.exists:
		ev.Operation = "create"
	case md.CurrentSchema().ID != base.meta.CurrentSchema().ID:
		ev.Operation = "schema"
	default:
		ev.Operation = "metadata"
	}
	if snap != nil && ev.RowsTotal == 0 && snap.Summary != nil {
		ev.RowsTotal, _ = strconv.ParseInt(snap.Summary.Properties["total-records"], 10, 64)
	}
	if op != "" {
		ev.Operation = op
	}
	corr := ""
	switch {
	case ev.BatchID != nil:
		corr = *ev.BatchID
	case ev.JobID != nil:
		corr = *ev.JobID
	}
	ev.Envelope = events.Envelope{
		EventID:       events.DeriveID("table-committed", name, strconv.FormatInt(version, 10)),
		OccurredAt:    c.now().UTC().Truncate(time.Microsecond),
		Domain:        ident[0],
		CorrelationID: corr,
	}
	return ev
}

// ListTables implements catalog.Catalog; it needs Pointers to implement
// Lister.
func (c *Catalog) ListTables(ctx context.Context, namespace table.Identifier) iter.Seq2[table.Identifier, error] {
	return func(yield func(table.Identifier, error) bool) {
		names, err := c.tables(ctx)
		if err != nil {
			yield(nil, err)
			return
		}
		for _, n := range names {
			d, t, _ := strings.Cut(n, ".")
			if len(namespace) > 0 && (len(namespace) != 1 || namespace[0] != d) {
				continue
			}
			if !yield(table.Identifier{d, t}, nil) {
				return
			}
		}
	}
}

func (c *Catalog) tables(ctx context.Context) ([]string, error) {
	l, ok := c.ptr.(Lister)
	if !ok {
		return nil, fmt.Errorf("%w: listing tables needs a Pointers that implements Lister", ErrUnsupported)
	}
	return l.Tables(ctx)
}

// DropTable implements catalog.Catalog; logmesh tables are not dropped
// (there is no event for it yet), so it returns ErrUnsupported.
func (c *Catalog) DropTable(context.Context, table.Identifier) error {
	return fmt.Errorf("%w: drop table", ErrUnsupported)
}

// RenameTable implements catalog.Catalog; it returns ErrUnsupported.
func (c *Catalog) RenameTable(context.Context, table.Identifier, table.Identifier) (*table.Table, error) {
	return nil, fmt.Errorf("%w: rename table", ErrUnsupported)
}

// ListNamespaces implements catalog.Catalog: the domains that have tables.
func (c *Catalog) ListNamespaces(ctx context.Context, parent table.Identifier) ([]table.Identifier, error) {
	if len(parent) > 0 {
		return nil, nil // domains are not nested
	}
	names, err := c.tables(ctx)
	if err != nil {
		return nil, err
	}
	var out []table.Identifier
	for _, n := range names {
		d, _, _ := strings.Cut(n, ".")
		if len(out) == 0 || out[len(out)-1][0] != d {
			out = append(out, table.Identifier{d})
		}
	}
	return out, nil
}

// CreateNamespace implements catalog.Catalog. Namespaces are domains,
// defined by DomainDefined events elsewhere, and exist implicitly here, so
// it only checks the name; properties are refused.
func (c *Catalog) CreateNamespace(_ context.Context, ns table.Identifier, props iceberg.Properties) error {
	if len(ns) != 1 || ns[0] == "" || strings.ContainsAny(ns[0], "./\\") {
		return fmt.Errorf("%w: %q", catalog.ErrNoSuchNamespace, strings.Join(ns, "."))
	}
	if len(props) > 0 {
		return fmt.Errorf("%w: namespace properties", ErrUnsupported)
	}
	return nil
}

// DropNamespace implements catalog.Catalog; it returns ErrUnsupported.
func (c *Catalog) DropNamespace(context.Context, table.Identifier) error {
	return fmt.Errorf("%w: drop namespace", ErrUnsupported)
}

// CheckNamespaceExists implements catalog.Catalog: a domain exists when it
// has a table.
func (c *Catalog) CheckNamespaceExists(ctx context.Context, ns table.Identifier) (bool, error) {
	all, err := c.ListNamespaces(ctx, nil)
	if err != nil {
		return false, err
	}
	for _, n := range all {
		if len(ns) == 1 && n[0] == ns[0] {
			return true, nil
		}
	}
	return false, nil
}

// LoadNamespaceProperties implements catalog.Catalog: the domain's
// location in the warehouse.
func (c *Catalog) LoadNamespaceProperties(ctx context.Context, ns table.Identifier) (iceberg.Properties, error) {
	ok, err := c.CheckNamespaceExists(ctx, ns)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: %s", catalog.ErrNoSuchNamespace, strings.Join(ns, "."))
	}
	return iceberg.Properties{"location": c.wh.Location() + "/" + ns[0]}, nil
}

// UpdateNamespaceProperties implements catalog.Catalog; it returns
// ErrUnsupported.
func (c *Catalog) UpdateNamespaceProperties(context.Context, table.Identifier, []string, iceberg.Properties) (catalog.PropertiesUpdateSummary, error) {
	return catalog.PropertiesUpdateSummary{}, fmt.Errorf("%w: namespace properties", ErrUnsupported)
}
