package bench

// The ingest figures: the loader end to end on one large file, CSV and
// NDJSON with the same rows, beside the limits it is built from, measured on
// the same rows in the same run: parsing the file with internal/formats
// alone (the loader parses every good file twice, see docs/decisions/0005),
// writing the typed rows with parquet-go alone, and the peer: DuckDB (the
// embedded engine logmesh queries with) converting the same file to Parquet
// with COPY (SELECT * FROM read_csv(...)) TO '....parquet', which validates
// nothing and commits nothing. Each reports "rows/s"; one iteration handles
// -bench.ingestrows rows (default 5,000,000, about 500 MB of CSV).

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/duckdb/duckdb-go/v2"
	"github.com/parquet-go/parquet-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/formats"
	"github.com/logmesh/logmesh/internal/ingesttest"
	"github.com/logmesh/logmesh/internal/kafkaconn"
	"github.com/logmesh/logmesh/internal/logview"
	"github.com/logmesh/logmesh/mesh"
	"github.com/logmesh/logmesh/processors/ingest"
	"github.com/logmesh/logmesh/processors/loader"
	"github.com/logmesh/logmesh/processors/proc"
	"github.com/logmesh/logmesh/tables"
)

var ingestRows = flag.Int("bench.ingestrows", 5_000_000, "CSV rows ingested by one iteration of the ingest benchmarks")

// ingestRounds numbers the calls of the loader benchmarks in the process,
// for their topic prefixes (go test -count calls a benchmark again).
var ingestRounds atomic.Int64

// ingestFile generates the benchmark file in format under a directory
// removed when b ends, untimed, and returns the directory and the file's
// batch entry. Each benchmark that reads the file generates its own: the
// bench package has no end-of-run hook to remove a shared one.
func ingestFile(b *testing.B, format ingesttest.Format) (dir string, file events.BatchFile) {
	b.Helper()
	dir = b.TempDir()
	key := "fills/fills-0." + string(format)
	if err := os.MkdirAll(filepath.Join(dir, "fills"), 0o755); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	file, _, err := ingesttest.Write(filepath.Join(dir, filepath.FromSlash(key)), key, format,
		func(rows, _ int64) bool { return rows < int64(*ingestRows) })
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("generated %d rows, %d MB of %s, in %v", *ingestRows, file.Size/1e6, format, time.Since(start).Round(time.Millisecond))
	return dir, file
}

// BenchmarkIngestCSV runs the loader end to end on one BatchPlanned holding
// the generated CSV, on the shared kfake cluster and a local warehouse:
// parse, validate, Parquet, Iceberg commit and the batch's Kafka
// transaction. The time runs from producing the batch to the loader's
// OnBatch callback; the loader has joined its group before.
func BenchmarkIngestCSV(b *testing.B) { benchIngest(b, ingesttest.CSV) }

// BenchmarkIngestNDJSON is BenchmarkIngestCSV on the same rows as NDJSON.
func BenchmarkIngestNDJSON(b *testing.B) { benchIngest(b, ingesttest.NDJSON) }

func benchIngest(b *testing.B, format ingesttest.Format) {
	f := shared(b)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	landing, file := ingestFile(b, format)
	feed, table := format.Feed()
	cl, err := kgo.NewClient(kgo.SeedBrokers(f.brokers...))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	// Each call (a round of -count) has topics of its own: the tables it
	// commits are in a warehouse of its own, which the pointers an earlier
	// round left on the log know nothing of (a loader on those would fail
	// to commit), and its batch ids start again at 1.
	names := events.Topics{Prefix: "benchingest-" + string(format) + "-" + strconv.FormatInt(ingestRounds.Add(1), 10)}
	conn := kafkaconn.Plain(f.brokers...)
	if err := conn.EnsureTopics(ctx, names.Specs(events.DefaultPartitions)...); err != nil {
		b.Fatal(err)
	}
	src, err := ingest.NewLocalSource(landing)
	if err != nil {
		b.Fatal(err)
	}
	wh, err := tables.OpenWarehouse(ctx, b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	m, err := mesh.Parse([]byte(ingesttest.MeshYAML), "mesh.yaml", b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	// One group for every iteration of the round: each new loader resumes
	// after the batches of the iterations before.
	group := names.Prefix + ".loader"
	iter := 0
	for b.Loop() {
		b.StopTimer()
		iter++
		batchID := group + "-" + strconv.Itoa(iter)
		loaded := make(chan loader.Result, 16)
		l, err := loader.New(proc.Config{Conn: conn, Topics: names, Group: group}, loader.Static(m), src, wh, f.codec,
			loader.OnBatch(func(r loader.Result) { loaded <- r }))
		if err != nil {
			b.Fatal(err)
		}
		runCtx, stop := context.WithCancel(ctx)
		ran := make(chan error, 1)
		go func() { ran <- l.Run(runCtx) }()
		if err := awaitStableGroup(runCtx, f.adm, group, ran); err != nil {
			b.Fatal(err)
		}
		rec, err := f.codec.Record(ingestBatch(batchID, feed, table, file))
		if err != nil {
			b.Fatal(err)
		}
		rec.Topic = names.Batches()
		b.StartTimer()
		if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
			b.Fatal(err)
		}
		var res loader.Result
		for res.BatchID != batchID {
			select {
			case res = <-loaded:
			case err := <-ran:
				b.Fatalf("loader stopped before the batch committed: %v", err)
			}
		}
		b.StopTimer()
		stop()
		if err := <-ran; err != nil {
			b.Fatal(err)
		}
		if res.BatchID != batchID || res.FailedFiles != 0 || res.Version == 0 {
			b.Fatalf("batch result %+v; want %s committed with no failed file", res, batchID)
		}
		fp, err := fileProcessed(ctx, f.codec, conn, names, batchID)
		if err != nil {
			b.Fatal(err)
		}
		if n := int64(*ingestRows); fp.RecordsRead != n || fp.RecordsLoaded != n {
			b.Fatalf("FileProcessed: read %d, loaded %d, rejected %d; want %d read and loaded",
				fp.RecordsRead, fp.RecordsLoaded, fp.RecordsRejected, n)
		}
		b.StartTimer()
	}
	reportRows(b)
}

// fileProcessed returns the FileProcessed of batchID on the raw bus of names.
// The loader calls OnBatch after the batch's transaction commits, so the
// event is on the log already: one read to the end finds it.
func fileProcessed(ctx context.Context, codec *events.Codec, conn kafkaconn.Conn, names events.Topics, batchID string) (*events.FileProcessed, error) {
	recs, err := logview.ReadAll(ctx, conn, events.TopicNames(names.Domain(events.DomainRaw)))
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		ev, err := codec.Decode(ctx, r.Value)
		if err != nil {
			return nil, fmt.Errorf("%s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err)
		}
		if fp, ok := ev.(*events.FileProcessed); ok && fp.BatchID == batchID {
			return fp, nil
		}
	}
	return nil, fmt.Errorf("no FileProcessed for batch %s on %s", batchID, names.Domain(events.DomainRaw))
}

// ingestBatch is the BatchPlanned the planner would produce for file.
func ingestBatch(id, feed, table string, file events.BatchFile) *events.BatchPlanned {
	return &events.BatchPlanned{
		Envelope: events.Envelope{
			EventID:       events.DeriveID("batch-planned", id),
			OccurredAt:    ingesttest.Epoch,
			Domain:        events.DomainRaw,
			CorrelationID: id,
		},
		BatchID: id, Table: table, Feed: feed, Trigger: "manual",
		Files: []events.BatchFile{file},
	}
}

// awaitStableGroup waits until group is Stable with a member, polling, or
// until run reports that the loader stopped.
func awaitStableGroup(ctx context.Context, adm *kadm.Client, group string, run <-chan error) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		described, err := adm.DescribeGroups(ctx, group)
		if err == nil {
			if g, ok := described[group]; ok && g.Err == nil && g.State == "Stable" && len(g.Members) > 0 {
				return nil
			}
		}
		select {
		case err := <-run:
			return fmt.Errorf("loader stopped before joining group %s: %v", group, err)
		case <-ctx.Done():
			return fmt.Errorf("group %s never became stable: %w", group, ctx.Err())
		case <-tick.C:
		}
	}
}

// BenchmarkIngestParseOnly is the parse-only limit of BenchmarkIngestCSV:
// the same file through formats.NewRegistry().Open("csv") and Next to EOF,
// no validation, nothing written.
func BenchmarkIngestParseOnly(b *testing.B) {
	dir, file := ingestFile(b, ingesttest.CSV)
	m, err := mesh.Parse([]byte(ingesttest.MeshYAML), "mesh.yaml", b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	opts := m.Feeds[0].Options.Formats()
	reg := formats.NewRegistry()
	for b.Loop() {
		fh, err := os.Open(filepath.Join(dir, filepath.FromSlash(file.Key)))
		if err != nil {
			b.Fatal(err)
		}
		rd, err := reg.Open("csv", fh, opts)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			rec, err := rd.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			sink += len(rec.Fields)
			n++
		}
		fh.Close()
		if n != *ingestRows {
			b.Fatalf("parsed %d rows, want %d", n, *ingestRows)
		}
	}
	reportRows(b)
}

// BenchmarkIngestParquetRaw is the Parquet limit of BenchmarkIngestCSV: the
// same rows, typed as the validator types them but generated on the fly
// (holding 5M typed rows would not fit the point), written with parquet-go
// alone to one file with the loader's settings: the table's schema, zstd,
// 256-row WriteRows calls and a row group flushed every 16 MiB
// (tables.RowGroupSize's default). No Iceberg, no rolling to new files.
func BenchmarkIngestParquetRaw(b *testing.B) {
	schema, cols := ingestParquetSchema()
	dir := b.TempDir()
	const rowGroup = 16 << 20
	buf := make([]parquet.Row, 256)
	typed := make([]any, len(cols))
	for i := 0; b.Loop(); i++ {
		fh, err := os.Create(filepath.Join(dir, fmt.Sprint(i, ".parquet")))
		if err != nil {
			b.Fatal(err)
		}
		w := parquet.NewWriter(fh, schema, parquet.Compression(&parquet.Zstd))
		var flushedAt int64
		k := 0
		write := func(rows []parquet.Row) {
			if _, err := w.WriteRows(rows); err != nil {
				b.Fatal(err)
			}
			if size := w.Size(); size-flushedAt >= rowGroup {
				if err := w.Flush(); err != nil {
					b.Fatal(err)
				}
				flushedAt = w.Size()
			}
		}
		for r := range *ingestRows {
			ingesttest.TypedRow(typed, r)
			buf[k] = toParquetRow(buf[k], typed, cols)
			if k++; k == len(buf) {
				write(buf)
				k = 0
			}
		}
		write(buf[:k])
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		if err := fh.Close(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := os.Remove(fh.Name()); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	reportRows(b)
}

// ingestParquetSchema builds the Parquet schema tables derives from
// the feed's contract (required leaves, an optional fee, timestamps in
// microseconds, field ids from 1) and, per field in schema order, its
// column index (parquet.Group sorts columns by name).
func ingestParquetSchema() (*parquet.Schema, []int) {
	names := []string{"id", "ref", "account", "symbol", "qty", "seq", "price", "fee", "traded_at", "note"}
	nodes := []parquet.Node{
		parquet.Int(64), parquet.String(), parquet.String(), parquet.String(), parquet.Int(64),
		parquet.Int(32), parquet.Leaf(parquet.DoubleType), parquet.Optional(parquet.Leaf(parquet.DoubleType)),
		parquet.Timestamp(parquet.Microsecond), parquet.String(),
	}
	group := parquet.Group{}
	for i, n := range nodes {
		if !n.Optional() {
			n = parquet.Required(n)
		}
		group[names[i]] = parquet.FieldID(n, i+1)
	}
	schema := parquet.NewSchema("Fill", group)
	cols := make([]int, len(names))
	for ci, path := range schema.Columns() {
		for i, name := range names {
			if path[0] == name {
				cols[i] = ci
			}
		}
	}
	return schema, cols
}

// toParquetRow converts a typed row into dst, as tables' writer does.
func toParquetRow(dst parquet.Row, row []any, cols []int) parquet.Row {
	if cap(dst) < len(row) {
		dst = make(parquet.Row, len(row))
	}
	dst = dst[:len(row)]
	for i, v := range row {
		c, def := cols[i], 0
		var pv parquet.Value
		switch x := v.(type) {
		case nil:
			dst[c] = parquet.NullValue().Level(0, 0, c)
			continue
		case string:
			pv = parquet.ValueOf(x)
		case int64:
			pv = parquet.Int64Value(x)
		case int32:
			pv = parquet.Int32Value(x)
		case float64:
			pv = parquet.DoubleValue(x)
		case time.Time:
			pv = parquet.Int64Value(x.UnixMicro())
		}
		if i == 7 { // fee, the optional field
			def = 1
		}
		dst[c] = pv.Level(0, def, c)
	}
	return dst
}

// BenchmarkIngestDuckDBCSV is the peer of BenchmarkIngestCSV: embedded
// DuckDB (duckdb-go, the engine of `logmesh query` and the job runner, with
// its defaults: every core, no memory limit) converting the same file to
// one Parquet file, COPY (SELECT * FROM read_csv(file)) TO 'out.parquet'
// (FORMAT parquet, COMPRESSION zstd, the loader's codec). It infers the
// types, validates nothing and commits nothing.
func BenchmarkIngestDuckDBCSV(b *testing.B) { benchDuckDB(b, ingesttest.CSV) }

// BenchmarkIngestDuckDBNDJSON is BenchmarkIngestDuckDBCSV on the NDJSON
// file, with read_json(file, format = 'newline_delimited').
func BenchmarkIngestDuckDBNDJSON(b *testing.B) { benchDuckDB(b, ingesttest.NDJSON) }

func benchDuckDB(b *testing.B, format ingesttest.Format) {
	dir, file := ingestFile(b, format)
	connector, err := duckdb.NewConnector("", nil)
	if err != nil {
		b.Fatal(err)
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	in := filepath.Join(dir, filepath.FromSlash(file.Key))
	read := fmt.Sprintf("read_csv('%s')", in)
	if format == ingesttest.NDJSON {
		read = fmt.Sprintf("read_json('%s', format = 'newline_delimited')", in)
	}
	out := filepath.Join(b.TempDir(), "out.parquet")
	for b.Loop() {
		if _, err := db.Exec(fmt.Sprintf("COPY (SELECT * FROM %s) TO '%s' (FORMAT parquet, COMPRESSION zstd)", read, out)); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		var n int
		if err := db.QueryRow(fmt.Sprintf("SELECT count(*) FROM read_parquet('%s')", out)).Scan(&n); err != nil {
			b.Fatal(err)
		}
		if n != *ingestRows {
			b.Fatalf("DuckDB wrote %d rows, want %d", n, *ingestRows)
		}
		if err := os.Remove(out); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	reportRows(b)
}

// reportRows reports the ingested rows per second of timed work.
func reportRows(b *testing.B) {
	b.ReportMetric(float64(*ingestRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
