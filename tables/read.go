package tables

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"
)

// TableInfo describes a table's current version.
type TableInfo struct {
	Name             string
	Version          int64
	SnapshotID       int64
	Rows             int64
	SchemaID         int
	Location         string
	MetadataLocation string
}

// Info describes the current version of a table ("domain.table"). It
// returns an error wrapping catalog.ErrNoSuchTable for a table with no
// commit. Safe for concurrent use.
func (c *Catalog) Info(ctx context.Context, name string) (TableInfo, error) {
	tbl, p, err := c.tableAt(ctx, name, 0)
	if err != nil {
		return TableInfo{}, err
	}
	info := TableInfo{
		Name: name, Version: p.Version, SchemaID: tbl.Schema().ID,
		Location: tbl.Location(), MetadataLocation: p.MetadataLocation,
	}
	if s := tbl.CurrentSnapshot(); s != nil {
		info.SnapshotID = s.SnapshotID
		if s.Summary != nil {
			info.Rows, _ = strconv.ParseInt(s.Summary.Properties["total-records"], 10, 64)
		}
	}
	return info, nil
}

// Files returns the data file locations of a table's snapshot at version
// asOfVersion (0 = current), sorted. The list alone is the table: logmesh
// writes no delete files. Safe for concurrent use.
func (c *Catalog) Files(ctx context.Context, name string, asOfVersion int64) ([]string, error) {
	tbl, _, err := c.tableAt(ctx, name, asOfVersion)
	if err != nil {
		return nil, err
	}
	return filesOf(ctx, tbl, name)
}

// FilesAt returns the data file locations of the version p names, as a
// TableCommitted or ProductRefreshed event gives it, without looking up the
// table's pointers. Safe for concurrent use.
func (c *Catalog) FilesAt(ctx context.Context, name string, p Pointer) ([]string, error) {
	domain, tname, err := splitName(name)
	if err != nil {
		return nil, err
	}
	tbl, err := c.loadAt(ctx, table.Identifier{domain, tname}, p, c)
	if err != nil {
		return nil, err
	}
	return filesOf(ctx, tbl, name)
}

func filesOf(ctx context.Context, tbl *table.Table, name string) ([]string, error) {
	if tbl.CurrentSnapshot() == nil {
		return nil, nil
	}
	tasks, err := tbl.Scan().PlanFiles(ctx)
	if err != nil {
		return nil, fmt.Errorf("tables: files of %s: %w", name, err)
	}
	var out []string
	for _, t := range tasks {
		if len(t.DeleteFiles)+len(t.EqualityDeleteFiles)+len(t.DeletionVectorFiles) > 0 {
			return nil, fmt.Errorf("%w: %s has delete files", ErrUnsupported, name)
		}
		out = append(out, t.File.FilePath())
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// tableAt loads a table at a version (0 = current).
func (c *Catalog) tableAt(ctx context.Context, name string, version int64) (*table.Table, Pointer, error) {
	domain, tname, err := splitName(name)
	if err != nil {
		return nil, Pointer{}, err
	}
	var (
		p  Pointer
		ok bool
	)
	if version == 0 {
		p, ok, err = c.ptr.Current(ctx, name)
	} else {
		p, ok, err = c.ptr.At(ctx, name, version)
	}
	if err != nil {
		return nil, Pointer{}, fmt.Errorf("tables: pointer of %s: %w", name, err)
	}
	if !ok {
		if version != 0 {
			return nil, Pointer{}, fmt.Errorf("%w: %s has no version %d", catalog.ErrNoSuchTable, name, version)
		}
		return nil, Pointer{}, fmt.Errorf("%w: %s", catalog.ErrNoSuchTable, name)
	}
	tbl, err := c.loadAt(ctx, table.Identifier{domain, tname}, p, c)
	return tbl, p, err
}
