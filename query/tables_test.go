package query_test

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logmesh/logmesh/query"
	"github.com/logmesh/logmesh/tables"
)

// positionSchema lists its fields out of alphabetical order.
const positionSchema = `{"type":"record","name":"Position","namespace":"fi","fields":[
 {"name":"isin","type":"string"},
 {"name":"account","type":"string"},
 {"name":"qty","type":"long"},
 {"name":"px","type":["null","double"]},
 {"name":"as_of","type":{"type":"long","logicalType":"timestamp-micros"}}
]}`

type rowSlice struct {
	rows [][]any
	i    int
}

func (r *rowSlice) Next() ([]any, error) {
	if r.i == len(r.rows) {
		return nil, io.EOF
	}
	r.i++
	return r.rows[r.i-1], nil
}

// TestSelectStarOverCatalogFiles writes an upsert table with
// tables and reads the file URIs its catalog lists: SELECT *
// gives the contract's column order.
func TestSelectStarOverCatalogFiles(t *testing.T) {
	ctx := t.Context()
	wh, err := tables.OpenWarehouse(ctx, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ptr := tables.NewMemPointers()
	cat, err := tables.NewCatalog(wh, ptr, ptr)
	if err != nil {
		t.Fatal(err)
	}
	c := tables.Contract{Schema: positionSchema, PrimaryKey: []string{"isin", "account"}, Ordering: "as_of", Mode: tables.ModeUpsert}
	at := time.Date(2026, 11, 2, 17, 0, 0, 0, time.UTC)
	for i, batch := range [][][]any{
		{{"XS1", "acct-2", int64(5), 101.5, at}, {"XS2", "acct-1", int64(7), nil, at}},
		{{"XS1", "acct-2", int64(6), 101.25, at.Add(time.Hour)}},
	} {
		if _, err := cat.Write(ctx, "fi.positions", c, fmt.Sprint("b", i), &rowSlice{rows: batch}); err != nil {
			t.Fatal(err)
		}
	}
	files, err := cat.Files(ctx, "fi.positions", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !strings.HasPrefix(f, "file:///") {
			t.Fatalf("data file %s is not a file URI", f)
		}
	}
	e, err := query.Open(ctx, query.Threads(1))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := e.Register(ctx, []query.Table{{Name: "fi.positions", Files: files}}); err != nil {
		t.Fatal(err)
	}
	res, err := e.Query(ctx, "SELECT * FROM fi.positions ORDER BY isin")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"isin", "account", "qty", "px", "as_of"}; !slices.Equal(res.Columns, want) {
		t.Errorf("columns %v, want %v", res.Columns, want)
	}
	if want := []string{"VARCHAR", "VARCHAR", "BIGINT", "DOUBLE", "TIMESTAMPTZ"}; !slices.Equal(res.Types, want) {
		t.Errorf("types %v, want %v", res.Types, want)
	}
	if got := fmt.Sprint(res.Rows); !strings.HasPrefix(got, "[[XS1 acct-2 6 101.25 ") || !strings.Contains(got, "[XS2 acct-1 7 <nil> ") || len(res.Rows) != 2 {
		t.Errorf("rows %v", got)
	}
}

func TestRegisterRefusesRemoteURIs(t *testing.T) {
	e, err := query.Open(t.Context(), query.Threads(1))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for _, f := range []string{"s3://bucket/a.parquet", "file://host/a.parquet", "file:///a.parquet?x=1"} {
		if err := e.Register(t.Context(), []query.Table{{Name: "raw.t", Files: []string{f}}}); err == nil {
			t.Errorf("Register(%q) accepted", f)
		}
	}
}
