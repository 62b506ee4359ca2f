package bench

// The ingest figures: the loader end to end on one large CSV file, beside
// the two limits it is built from, measured on the same rows in the same
// run: parsing the file with internal/formats alone (the loader parses
// every good file twice, see docs/decisions/0005) and writing the typed rows
// with parquet-go alone. Each reports "rows/s"; one iteration handles
// -bench.ingestrows rows (default 5,000,000, about 500 MB of CSV).

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/formats"
	"github.com/logmesh/logmesh/internal/mesh"
	"github.com/logmesh/logmesh/internal/platform"
	"github.com/logmesh/logmesh/internal/tables"
	"github.com/logmesh/logmesh/processors/ingest"
	"github.com/logmesh/logmesh/processors/loader"
)

var ingestRows = flag.Int("bench.ingestrows", 5_000_000, "CSV rows ingested by one iteration of the ingest benchmarks")

// ingestMesh defines the feed of the generated CSV: append mode and no
// unique_key, so the loader keeps no per-key state and its memory stays
// bounded whatever the row count.
const ingestMesh = `
domains:
  - name: raw
feeds:
  - name: fills
    table: raw.fills
    key_pattern: "fills/*.csv"
    format: csv
    options: {header: true}
    mode: append
    schema:
      type: record
      name: Fill
      fields:
        - {name: id, type: long}
        - {name: ref, type: string}
        - {name: account, type: string}
        - {name: symbol, type: string}
        - {name: qty, type: long}
        - {name: seq, type: int}
        - {name: price, type: double}
        - {name: fee, type: ["null", double]}
        - {name: traded_at, type: {type: long, logicalType: timestamp-micros}}
        - {name: note, type: string}
`

const ingestHeader = "id,ref,account,symbol,qty,seq,price,fee,traded_at,note\n"

var (
	ingestSymbols = []string{"AAPL", "MSFT", "GOOG", "AMZN", "NVDA", "TSLA", "META", "IBM"}
	ingestEpoch   = time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
)

// The columns of row i, shared by the CSV and the typed rows so both
// describe the same data. Row i is deterministic.
func rowAccount(i int) int64         { return int64(i) * 7919 % 1_000_000 }
func rowQty(i int) int64             { return int64(i%1000 + 1) }
func rowPriceCents(i int) int64      { return 1000 + int64(i)*31%500_000 }
func rowFeeMils(i int) (int64, bool) { return int64(i % 5000), i%7 != 0 } // every 7th fee is null
func rowTradedAt(i int) time.Time    { return ingestEpoch.Add(time.Duration(i) * 1237 * time.Microsecond) }
func rowQuoted(i int) bool           { return i%10 == 0 }

const (
	plainNote  = "plain note"
	quotedNote = `quoted, with "escapes"`
)

// appendCSVRow appends row i as a CSV line, about 100 bytes.
func appendCSVRow(b []byte, i int) []byte {
	b = strconv.AppendInt(b, int64(i), 10)
	b = append(b, ",T-"...)
	b = appendPadded(b, int64(i), 10)
	b = append(b, ",ACC-"...)
	b = appendPadded(b, rowAccount(i), 6)
	b = append(b, ',')
	b = append(b, ingestSymbols[i%len(ingestSymbols)]...)
	b = append(b, ',')
	b = strconv.AppendInt(b, rowQty(i), 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(int32(i)), 10)
	b = append(b, ',')
	b = strconv.AppendFloat(b, float64(rowPriceCents(i))/100, 'f', -1, 64)
	b = append(b, ',')
	if fee, ok := rowFeeMils(i); ok {
		b = strconv.AppendFloat(b, float64(fee)/1000, 'f', -1, 64)
	}
	b = append(b, ',')
	b = rowTradedAt(i).AppendFormat(b, "2006-01-02T15:04:05.000000Z07:00")
	b = append(b, ',')
	if rowQuoted(i) {
		b = append(b, `"quoted, with ""escapes"""`...)
	} else {
		b = append(b, plainNote...)
	}
	return append(b, '\n')
}

func appendPadded(b []byte, v int64, width int) []byte {
	var d [20]byte
	s := strconv.AppendInt(d[:0], v, 10)
	for range width - len(s) {
		b = append(b, '0')
	}
	return append(b, s...)
}

// typedRow fills row (10 values) with row i as the validator types it
// (docs/ingestion.md, "Typed rows"), in schema order.
func typedRow(row []any, i int) {
	row[0] = int64(i)
	row[1] = string(appendPadded([]byte("T-"), int64(i), 10))
	row[2] = string(appendPadded([]byte("ACC-"), rowAccount(i), 6))
	row[3] = ingestSymbols[i%len(ingestSymbols)]
	row[4] = rowQty(i)
	row[5] = int32(i)
	row[6] = float64(rowPriceCents(i)) / 100
	if fee, ok := rowFeeMils(i); ok {
		row[7] = float64(fee) / 1000
	} else {
		row[7] = nil
	}
	row[8] = rowTradedAt(i)
	if rowQuoted(i) {
		row[9] = quotedNote
	} else {
		row[9] = plainNote
	}
}

// writeIngestCSV writes a header and rows 0..n-1 to path, streaming, and
// returns the file's batch entry (key, sha256, size).
func writeIngestCSV(path, key string, n int) (events.BatchFile, error) {
	fh, err := os.Create(path)
	if err != nil {
		return events.BatchFile{}, err
	}
	defer fh.Close()
	sum := sha256.New()
	w := bufio.NewWriterSize(io.MultiWriter(fh, sum), 1<<20)
	line := make([]byte, 0, 256)
	size, _ := w.WriteString(ingestHeader)
	for i := range n {
		line = appendCSVRow(line[:0], i)
		k, _ := w.Write(line)
		size += k
	}
	if err := w.Flush(); err != nil {
		return events.BatchFile{}, err
	}
	if err := fh.Close(); err != nil {
		return events.BatchFile{}, err
	}
	return events.BatchFile{Key: key, Checksum: hex.EncodeToString(sum.Sum(nil)), Size: int64(size)}, nil
}

// ingestFile generates the benchmark CSV under a directory removed when b
// ends, untimed, and returns the directory and the file's batch entry.
// Each benchmark that reads the file generates its own: the bench package
// has no end-of-run hook to remove a shared one.
func ingestFile(b *testing.B) (dir string, file events.BatchFile) {
	b.Helper()
	dir = b.TempDir()
	const key = "fills/fills-0.csv"
	if err := os.MkdirAll(filepath.Join(dir, "fills"), 0o755); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	file, err := writeIngestCSV(filepath.Join(dir, filepath.FromSlash(key)), key, *ingestRows)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("generated %d rows, %d MB of CSV, in %v", *ingestRows, file.Size/1e6, time.Since(start).Round(time.Millisecond))
	return dir, file
}

// BenchmarkIngestCSV runs the loader end to end on one BatchPlanned holding
// the generated file, on the shared kfake cluster and a local warehouse:
// first pass (parse, validate), second pass (parse, validate, Parquet),
// Iceberg commit and the batch's Kafka transaction. The time runs from
// producing the batch to the loader's OnBatch callback; the loader has
// joined its group before.
func BenchmarkIngestCSV(b *testing.B) {
	f := shared(b)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	landing, file := ingestFile(b)
	cl, err := kgo.NewClient(kgo.SeedBrokers(f.brokers...))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	if err := platform.EnsureTopics(ctx, cl, events.DefaultTopics()); err != nil {
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
	m, err := mesh.Parse([]byte(ingestMesh), "mesh.yaml", b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	// One group for every iteration: each new loader resumes after the
	// batches of the iterations before.
	const group = "bench-ingest"
	iter := 0
	for b.Loop() {
		b.StopTimer()
		iter++
		batchID := "bench-ingest-" + strconv.Itoa(iter)
		loaded := make(chan loader.Result, 1)
		l, err := loader.New(m, src, wh, f.codec, loader.Brokers(f.brokers...), loader.Group(group),
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
		rec, err := f.codec.Record(ingestBatch(batchID, file))
		if err != nil {
			b.Fatal(err)
		}
		rec.Topic = events.BatchesTopic
		b.StartTimer()
		if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
			b.Fatal(err)
		}
		var res loader.Result
		select {
		case res = <-loaded:
		case err := <-ran:
			b.Fatalf("loader stopped before the batch committed: %v", err)
		}
		b.StopTimer()
		stop()
		if err := <-ran; err != nil {
			b.Fatal(err)
		}
		if res.BatchID != batchID || res.FailedFiles != 0 || res.Version == 0 {
			b.Fatalf("batch result %+v; want %s committed with no failed file", res, batchID)
		}
		fp, err := fileProcessed(ctx, f.codec, f.brokers, batchID)
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

// ingestBatch is the BatchPlanned the planner would produce for file.
func ingestBatch(id string, file events.BatchFile) *events.BatchPlanned {
	return &events.BatchPlanned{
		Envelope: events.Envelope{
			EventID:       events.DeriveID("batch-planned", id),
			OccurredAt:    ingestEpoch,
			Domain:        events.DomainRaw,
			CorrelationID: id,
		},
		BatchID: id, Table: "raw.fills", Feed: "fills", Trigger: "manual",
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

// fileProcessed reads the raw domain topic (read_committed) until it finds
// the FileProcessed of batchID.
func fileProcessed(ctx context.Context, codec *events.Codec, brokers []string, batchID string) (*events.FileProcessed, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(events.DomainTopic(events.DomainRaw)),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	for {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("no FileProcessed for batch %s: %w", batchID, err)
		}
		if err := fetches.Err0(); err != nil {
			return nil, err
		}
		for it := fetches.RecordIter(); !it.Done(); {
			ev, err := codec.Decode(ctx, it.Next().Value)
			if err != nil {
				return nil, err
			}
			if fp, ok := ev.(*events.FileProcessed); ok && fp.BatchID == batchID {
				return fp, nil
			}
		}
	}
}

// BenchmarkIngestParseOnly is the parse-only limit of BenchmarkIngestCSV:
// the same file through formats.NewRegistry().Open("csv") and Next to EOF,
// no validation, nothing written.
func BenchmarkIngestParseOnly(b *testing.B) {
	dir, file := ingestFile(b)
	m, err := mesh.Parse([]byte(ingestMesh), "mesh.yaml", b.TempDir())
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
			typedRow(typed, r)
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

// ingestParquetSchema builds the Parquet schema internal/tables derives from
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

// reportRows reports the ingested rows per second of timed work.
func reportRows(b *testing.B) {
	b.ReportMetric(float64(*ingestRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
