package loader

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/formats"
	"github.com/logmesh/logmesh/internal/ingesttest"
	"github.com/logmesh/logmesh/mesh"
	"github.com/logmesh/logmesh/processors/ingest"
	"github.com/logmesh/logmesh/tables"
)

var loadRows = flag.Int("loader.rows", 200_000, "CSV rows of BenchmarkLoad")

// BenchmarkLoad is the batch loader alone on one generated CSV file (see
// internal/ingesttest): both passes and the Iceberg commit against
// in-memory pointers, without Kafka. bench's BenchmarkIngestCSV is the
// same work plus the batch's Kafka transaction.
func BenchmarkLoad(b *testing.B) {
	landing := b.TempDir()
	const key = "fills/fills-0.csv"
	if err := os.MkdirAll(filepath.Join(landing, "fills"), 0o755); err != nil {
		b.Fatal(err)
	}
	file, _, err := ingesttest.WriteCSV(filepath.Join(landing, filepath.FromSlash(key)), key,
		func(rows, _ int64) bool { return rows < int64(*loadRows) })
	if err != nil {
		b.Fatal(err)
	}
	src, err := ingest.NewLocalSource(landing)
	if err != nil {
		b.Fatal(err)
	}
	m, err := mesh.Parse([]byte(ingesttest.MeshYAML), "mesh.yaml", b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	wh, err := tables.OpenWarehouse(b.Context(), b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	ptr := tables.NewMemPointers()
	cat, err := tables.NewCatalog(wh, ptr, ptr)
	if err != nil {
		b.Fatal(err)
	}
	bl := &batchLoader{log: slog.New(slog.DiscardHandler), feeds: Static(m), parsers: formats.NewRegistry(), files: src, writer: cat, now: time.Now}
	iter := 0
	for b.Loop() {
		iter++
		batch := &events.BatchPlanned{BatchID: "bench-" + strconv.Itoa(iter), Feed: "fills", Table: "raw.fills", Files: []events.BatchFile{file}}
		_, res, err := bl.load(context.Background(), batch, "cause")
		if err != nil {
			b.Fatal(err)
		}
		if res == nil || res.RowsAdded != int64(*loadRows) {
			b.Fatalf("result %+v; want %d rows added", res, *loadRows)
		}
	}
	b.ReportMetric(float64(*loadRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
