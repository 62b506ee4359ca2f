package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/logmesh/logmesh/internal/query"
	"github.com/logmesh/logmesh/internal/tables"
	"github.com/logmesh/logmesh/processors/ingest"
	"github.com/logmesh/logmesh/processors/loader"
)

// catalog rebuilds the table catalog from the log.
func (g global) catalog(ctx context.Context, warehouse string) (*tables.Catalog, []string, error) {
	codec, _, err := g.codec()
	if err != nil {
		return nil, nil, err
	}
	ptrs, err := loader.ReadPointers(ctx, g.brokers, codec)
	if err != nil {
		return nil, nil, err
	}
	abs, err := filepath.Abs(warehouse)
	if err != nil {
		return nil, nil, err
	}
	wh, err := tables.OpenWarehouse(ctx, abs, nil)
	if err != nil {
		return nil, nil, err
	}
	cat, err := tables.NewCatalog(wh, ptrs, ptrs)
	if err != nil {
		return nil, nil, err
	}
	names, err := ptrs.Tables(ctx)
	return cat, names, err
}

// cmdTables lists the tables with their current versions.
func cmdTables(ctx context.Context, g global, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tables", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print a JSON array")
	warehouse := fs.String("warehouse", "./.logmesh/warehouse", "the warehouse the tables live in")
	if _, err := interspersed(fs, args); err != nil {
		return err
	}
	cat, names, err := g.catalog(ctx, *warehouse)
	if err != nil {
		return err
	}
	type row struct {
		Name     string `json:"name"`
		Version  int64  `json:"version"`
		Rows     int64  `json:"rows"`
		SchemaID int    `json:"schema_id"`
		Location string `json:"location"`
		Metadata string `json:"metadata_location"`
	}
	out := []row{}
	for _, n := range names {
		info, err := cat.Info(ctx, n)
		if err != nil {
			return fmt.Errorf("tables: %s: %w", n, err)
		}
		out = append(out, row{info.Name, info.Version, info.Rows, info.SchemaID, info.Location, info.MetadataLocation})
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tVERSION\tROWS\tSCHEMA ID\tLOCATION")
	for _, r := range out {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\n", r.Name, r.Version, r.Rows, r.SchemaID, r.Location)
	}
	return tw.Flush()
}

// cmdQuery runs SQL over the tables' current (or --as-of) snapshots.
func cmdQuery(ctx context.Context, g global, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("query", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print a JSON array of objects")
	asCSV := fs.Bool("csv", false, "print CSV")
	asOf := fs.Int64("as-of", 0, "read every table as of this version (0: current)")
	warehouse := fs.String("warehouse", "./.logmesh/warehouse", "the warehouse the tables live in")
	sqls, err := interspersed(fs, args)
	if err != nil {
		return err
	}
	if len(sqls) != 1 {
		return fmt.Errorf("query 'SQL': want one SQL argument: %w", errUsage)
	}
	cat, names, err := g.catalog(ctx, *warehouse)
	if err != nil {
		return err
	}
	var regs []query.Table
	for _, n := range names {
		files, err := cat.Files(ctx, n, *asOf)
		if err != nil {
			return fmt.Errorf("query: %s: %w", n, err)
		}
		local := make([]string, 0, len(files))
		for _, f := range files {
			p, ok := strings.CutPrefix(f, "file://")
			if !ok && strings.Contains(f, "://") {
				return fmt.Errorf("query: %s: only local warehouses are queryable yet (%s)", n, f)
			}
			local = append(local, p)
		}
		regs = append(regs, query.Table{Name: n, Files: local})
	}
	eng, err := query.Open(ctx)
	if err != nil {
		return err
	}
	defer eng.Close()
	if err := eng.Register(ctx, regs); err != nil {
		return err
	}
	res, err := eng.Query(ctx, sqls[0])
	if err != nil {
		return err
	}
	switch {
	case *asJSON:
		return query.WriteJSON(stdout, res)
	case *asCSV:
		return query.WriteCSV(stdout, res)
	default:
		return query.WriteTable(stdout, res)
	}
}

// cmdLand copies files into the landing area.
func cmdLand(ctx context.Context, _ global, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("land", flag.ContinueOnError)
	fs.SetOutput(stderr)
	key := fs.String("key", "", "the landing key (one file only; default: the file's base name)")
	landing := fs.String("landing", "./.logmesh/landing", "the landing directory")
	files, err := interspersed(fs, args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("land FILE... [--key K]: %w", errUsage)
	}
	src, err := ingest.NewLocalSource(*landing)
	if err != nil {
		return err
	}
	keys, err := ingest.Land(ctx, src, files, *key)
	if err != nil {
		return err
	}
	for _, k := range keys {
		fmt.Fprintln(stdout, "landed", k)
	}
	return nil
}
