package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go/catalog/rest"
	"github.com/apache/iceberg-go/table"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkatest"
	"github.com/logmesh/logmesh/platform"
)

// icebergWriteMesh: raw.a, and wm's tally over it.
const icebergWriteMesh = `
domains:
  - name: raw
  - name: wm
feeds:
  - {name: a, table: raw.a, key_pattern: "a/*.csv", format: csv, options: {header: true}, visibility: enterprise,
     schema: {type: record, name: A, fields: [{name: id, type: string}, {name: v, type: long}]}}
products:
  - name: tally
    domain: wm
    inputs: [raw.a]
    transform: SELECT count(*) AS n FROM a
    output: {schema: {type: record, name: Tally, fields: [{name: n, type: long}]}}
grants:
  - {product: raw.a, to: wm}
`

// An outside engine's commit is a commit like the loader's: raw's token
// appends a row to raw.a through the catalog with iceberg-go, and the
// ProductRefreshed it makes runs wm.tally again, which counts the row;
// `logmesh query` reads it, and every projection replays to its live
// store.
func TestCatalogIcebergWriteEndToEnd(t *testing.T) {
	if os.Getenv(kafkatest.EnvBrokers) != "" {
		kafkatest.New(t).Reset(t, "logmesh.")
	}
	cfg := meshConfig(t, t.TempDir(), icebergWriteMesh)
	e := &e2e{cli: &cli{t: t, p: startDev(t, cfg)}, cfg: cfg}
	e.land("a/1.csv", "id,v\nk1,1\nk2,2\n")
	e.awaitTable("raw.a", 1)
	e.awaitFinished("wm.tally", 1)

	ctx := context.Background()
	tok, err := platform.DevToken(filepath.Join(cfg.DataDir, platform.DevTokensFile), "raw")
	if err != nil {
		t.Fatal(err)
	}
	cat, err := rest.NewCatalog(ctx, "logmesh", e.p.Env.CatalogURL()+"/iceberg", rest.WithOAuthToken(tok))
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := cat.LoadTable(ctx, table.Identifier{"raw", "a"})
	if err != nil {
		t.Fatal(err)
	}
	sc := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.BinaryTypes.String}, {Name: "v", Type: arrow.PrimitiveTypes.Int64}}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	b.Field(0).(*array.StringBuilder).Append("k3")
	b.Field(1).(*array.Int64Builder).Append(3)
	rec := b.NewRecordBatch()
	b.Release()
	rows := array.NewTableFromRecords(sc, []arrow.RecordBatch{rec})
	rec.Release()
	defer rows.Release()
	tx := tbl.NewTransaction()
	if err := tx.AppendTable(ctx, rows, 1024, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Commit(ctx); err != nil {
		t.Fatalf("raw commits an append to raw.a through the catalog: %v", err)
	}

	_, finished := e.awaitFinished("wm.tally", 2)
	if f := finished[len(finished)-1]; f.Status != events.StatusSucceeded {
		t.Fatalf("wm.tally after the engine's commit: %+v", f)
	}
	if got := column(e.query("SELECT count(*) AS n FROM raw.a"), "n"); got != "3" {
		t.Errorf("raw.a has %s rows after the engine's commit, want 3", got)
	}
	// wm.tally appends: its first run counted 2, the second 3.
	if got := column(e.query("SELECT n FROM wm.tally ORDER BY n"), "n"); got != "2,3" {
		t.Errorf("wm.tally counted %s, want 2,3", got)
	}
	e.verifyAll()
}
