package runner

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/query"
	"github.com/logmesh/logmesh/tables"
)

// DefaultMaxRows bounds the rows of a DuckDB transform's result.
const DefaultMaxRows = 10_000_000

// DuckDB runs a job's SQL with the embedded DuckDB, over exactly its
// pinned inputs: each is a view named by its table ("raw.trades") and, when
// no other input shares it, by its bare name ("trades"), and the engine may
// read the inputs' data files only.
type DuckDB struct {
	// Cache makes local copies of remote (S3) data files.
	Cache *tables.FileCache
	// MaxRows bounds the result; default DefaultMaxRows. A larger result
	// fails the job.
	MaxRows int
}

// Launch implements Launcher.
func (d *DuckDB) Launch(ctx context.Context, job *events.JobStarted, inputs []Input) (*Rows, error) {
	if job.Transform == nil || strings.TrimSpace(*job.Transform) == "" {
		return nil, fmt.Errorf("product %s has no transform", job.Product)
	}
	short := map[string]int{}
	for _, in := range inputs {
		_, name, _ := strings.Cut(in.Table, ".")
		short[name]++
	}
	var regs []query.Table
	var dirs []string
	for _, in := range inputs {
		t := query.Table{Name: in.Table}
		if _, name, _ := strings.Cut(in.Table, "."); short[name] == 1 {
			t.Aliases = []string{name}
		}
		for _, f := range in.Files {
			p, err := d.Cache.Local(ctx, f)
			if err != nil {
				return nil, fmt.Errorf("input %s: %w", in.Name, err)
			}
			t.Files = append(t.Files, p)
			if dir := filepath.Dir(strings.TrimPrefix(p, "file://")); !slices.Contains(dirs, dir) {
				dirs = append(dirs, dir)
			}
		}
		if len(t.Files) == 0 {
			return nil, fmt.Errorf("input %s version %d has no data files", in.Name, in.Version)
		}
		regs = append(regs, t)
	}
	maxRows := d.MaxRows
	if maxRows <= 0 {
		maxRows = DefaultMaxRows
	}
	eng, err := query.Open(ctx, query.MaxRows(maxRows), query.AllowedDirs(dirs...))
	if err != nil {
		return nil, err
	}
	defer eng.Close()
	if err := eng.Register(ctx, regs); err != nil {
		return nil, err
	}
	res, err := eng.Query(ctx, *job.Transform)
	if err != nil {
		return nil, err
	}
	if res.Truncated {
		return nil, fmt.Errorf("the result has more than %d rows", maxRows)
	}
	out := &Rows{Columns: res.Columns, Rows: make([][]*string, len(res.Rows))}
	for i, row := range res.Rows {
		out.Rows[i] = make([]*string, len(row))
		for j, v := range row {
			if v != nil {
				s := query.Text(v, res.Types[j])
				out.Rows[i][j] = &s
			}
		}
	}
	return out, nil
}
