package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/iceberg-go/catalog/rest"
	"github.com/apache/iceberg-go/table"

	"github.com/logmesh/logmesh/internal/kafkatest"
	"github.com/logmesh/logmesh/platform"
)

// catalogMesh: raw.a granted to wm; raw.b enterprise-visible, granted to
// nobody.
const catalogMesh = `
domains:
  - name: raw
  - name: wm
feeds:
  - {name: a, table: raw.a, key_pattern: "a/*.csv", format: csv, options: {header: true}, visibility: enterprise,
     schema: {type: record, name: A, fields: [{name: id, type: string}, {name: v, type: long}]}}
  - {name: b, table: raw.b, key_pattern: "b/*.csv", format: csv, options: {header: true}, visibility: enterprise,
     schema: {type: record, name: B, fields: [{name: id, type: string}, {name: w, type: long}]}}
grants:
  - {product: raw.a, to: wm}
`

// An outside engine: iceberg-go's own REST catalog client, configured with
// wm's token from dev's tokens file, loads raw.a through logmesh's Iceberg
// REST endpoints and scans the rows `logmesh query` returns; raw.b, not
// granted, is refused; governance loads both.
func TestCatalogIcebergClientEndToEnd(t *testing.T) {
	if os.Getenv(kafkatest.EnvBrokers) != "" {
		kafkatest.New(t).Reset(t, "logmesh.")
	}
	cfg := meshConfig(t, t.TempDir(), catalogMesh)
	e := &e2e{cli: &cli{t: t, p: startDev(t, cfg)}, cfg: cfg}
	e.land("a/1.csv", "id,v\nk1,1\nk2,2\n")
	e.land("b/1.csv", "id,w\nk1,10\n")
	e.awaitTable("raw.a", 1)
	between := asOfNow().UTC().Format(time.RFC3339Nano)
	e.land("a/2.csv", "id,v\nk3,3\n")
	e.awaitTable("raw.a", 2)
	// The CLI as of between the versions: tables and query see version 1.
	if out, err := e.run(append([]string{"--at", between, "tables", "--json"}, e.storeArgs()...)...); err != nil ||
		!strings.Contains(out, `"name": "raw.a",`+"\n"+`    "version": 1`) {
		t.Errorf("tables --at %s: %v\n%s", between, err, out)
	}
	if out, err := e.run(append([]string{"--at", between, "query", "--csv", "SELECT count(*) AS n FROM raw.a"}, e.storeArgs()...)...); err != nil ||
		!strings.Contains(out, "\n2\n") {
		t.Errorf("query --at %s: %v\n%s", between, err, out)
	}
	e.awaitTable("raw.b", 1)

	ctx := context.Background()
	tokens := filepath.Join(cfg.DataDir, platform.DevTokensFile)
	client := func(principal string) *rest.Catalog {
		t.Helper()
		tok, err := platform.DevToken(tokens, principal)
		if err != nil {
			t.Fatal(err)
		}
		cat, err := rest.NewCatalog(ctx, "logmesh", e.p.Env.CatalogURL()+"/iceberg", rest.WithOAuthToken(tok))
		if err != nil {
			t.Fatal(err)
		}
		return cat
	}
	scan := func(cat *rest.Catalog, ns, name string) (string, error) {
		t.Helper()
		tbl, err := cat.LoadTable(ctx, table.Identifier{ns, name})
		if err != nil {
			return "", err
		}
		at, err := tbl.Scan().ToArrowTable(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer at.Release()
		var rows []string
		tr := array.NewTableReader(at, 1024)
		defer tr.Release()
		for tr.Next() {
			rec := tr.RecordBatch()
			for i := range int(rec.NumRows()) {
				var cells []string
				for c := range int(rec.NumCols()) {
					cells = append(cells, rec.Column(c).ValueStr(i))
				}
				rows = append(rows, strings.Join(cells, ":"))
			}
		}
		slices.Sort(rows)
		return strings.Join(rows, ","), nil
	}

	wm := client("wm")
	got, err := scan(wm, "raw", "a")
	if err != nil {
		t.Fatalf("wm loads raw.a: %v", err)
	}
	if want := column(e.query("SELECT id, v FROM raw.a ORDER BY id"), "id", "v"); got != want || got != "k1:1,k2:2,k3:3" {
		t.Errorf("iceberg-go scanned raw.a = %s; logmesh query = %s", got, want)
	}
	if _, err := scan(wm, "raw", "b"); err == nil || !strings.Contains(fmt.Sprint(err), "orbidden") {
		t.Errorf("wm loads raw.b, not granted: %v, want Iceberg's ForbiddenException", err)
	}
	var listed []string
	for id, err := range wm.ListTables(ctx, table.Identifier{"raw"}) {
		if err != nil {
			t.Fatal(err)
		}
		listed = append(listed, strings.Join(id, "."))
	}
	if strings.Join(listed, ",") != "raw.a" {
		t.Errorf("wm lists %v, want raw.a only", listed)
	}
	gov := client("governance")
	if got, err := scan(gov, "raw", "b"); err != nil || got != "k1:10" {
		t.Errorf("governance scans raw.b: %s, %v", got, err)
	}

	// The CLI through the catalog: wm may not grant itself raw.b;
	// governance may, and wm reads it then; after the revoke, not.
	tok := func(p string) string {
		v, err := platform.DevToken(tokens, p)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	api := []string{"--catalog", e.p.Env.CatalogURL()}
	if _, err := e.run(append([]string{"grant", "raw.b", "--to", "wm", "--token", tok("wm")}, api...)...); !errors.Is(err, errMesh) ||
		!strings.Contains(err.Error(), "403") {
		t.Fatalf("wm grants itself raw.b through the catalog: %v", err)
	}
	if out, err := e.run(append([]string{"grant", "raw.b", "--to", "wm", "--purpose", "audit", "--token", tok("governance")}, api...)...); err != nil ||
		!strings.Contains(out, "granted raw.b to wm") {
		t.Fatalf("governance grants raw.b: %v %s", err, out)
	}
	if got, err := scan(client("wm"), "raw", "b"); err != nil || got != "k1:10" {
		t.Errorf("wm scans raw.b after the grant: %s, %v", got, err)
	}
	if _, err := e.run(append([]string{"revoke", "raw.b", "--from", "wm", "--token", tok("governance")}, api...)...); err != nil {
		t.Fatal(err)
	}
	if _, err := scan(client("wm"), "raw", "b"); err == nil {
		t.Error("wm scans raw.b after the revoke")
	}

	// The file audit through the catalog: what the replay shows, for
	// governance and for raw, the owner of both tables; nothing for wm,
	// which reads raw.a's data but not its ingestion.
	for _, status := range []string{"", "PROCESSED", "RECEIVED"} {
		args := []string{"files", "--json"}
		if status != "" {
			args = append(args, "--status", status)
		}
		replayed, err := e.run(args...)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"governance", "raw"} {
			if got, err := e.run(append(append([]string{}, args...), append([]string{"--token", tok(p)}, api...)...)...); err != nil || got != replayed {
				t.Errorf("files %v --catalog as %s: %v\n%s\nwant, as the replay shows,\n%s", args[1:], p, err, got, replayed)
			}
		}
		if got, err := e.run(append(append([]string{}, args...), append([]string{"--token", tok("wm")}, api...)...)...); err != nil ||
			strings.TrimSpace(got) != "[]" {
			t.Errorf("files %v --catalog as wm: %v %s, want none", args[1:], err, got)
		}
	}
	if out, err := e.run(append([]string{"files", "--status", "PROCESSED", "--token", tok("governance")}, api...)...); err != nil ||
		strings.Count(out, " PROCESSED ") != 3 || !strings.Contains(out, "a/2.csv") {
		t.Errorf("files --status PROCESSED --catalog: %v\n%s", err, out)
	}
	e.verifyAll()
}
