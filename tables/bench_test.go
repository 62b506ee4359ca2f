package tables

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
)

// benchSchema has 10 columns, the shape of the "parquet-go write rate"
// figure in DESIGN.md.
const benchSchema = `{"type":"record","name":"Row","fields":[
 {"name":"id","type":"string"},
 {"name":"account","type":"string"},
 {"name":"symbol","type":"string"},
 {"name":"qty","type":"long"},
 {"name":"price","type":"double"},
 {"name":"fee","type":["null","double"]},
 {"name":"side","type":"boolean"},
 {"name":"ts","type":{"type":"long","logicalType":"timestamp-micros"}},
 {"name":"day","type":{"type":"int","logicalType":"date"}},
 {"name":"seq","type":"int"}
]}`

var symbols = []string{"AAPL", "MSFT", "GOOG", "AMZN", "NVDA", "TSLA", "META", "IBM"}

// genRows generates n typed rows on the fly, reusing one row: nothing is
// retained, so the producer's memory is constant.
type genRows struct {
	n, i   int
	row    []any
	sample func(i int)
}

func newGenRows(n int) *genRows { return &genRows{n: n, row: make([]any, 10)} }

func (g *genRows) Next() ([]any, error) {
	if g.i == g.n {
		return nil, io.EOF
	}
	i := g.i
	g.i++
	if g.sample != nil && i%100_000 == 0 {
		g.sample(i)
	}
	g.row[0] = "t-" + strconv.Itoa(i)
	g.row[1] = "acct-" + strconv.Itoa(i%5000)
	g.row[2] = symbols[i%len(symbols)]
	g.row[3] = int64(i % 1000)
	g.row[4] = 100 + float64(i%10000)/100
	if i%7 == 0 {
		g.row[5] = nil
	} else {
		g.row[5] = float64(i%100) / 10
	}
	g.row[6] = i%2 == 0
	g.row[7] = t0.Add(time.Duration(i) * time.Millisecond)
	g.row[8] = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	g.row[9] = int32(i)
	return g.row, nil
}

// rawDataSize is the in-memory size of n generated rows as Go values,
// roughly: strings plus 8 bytes per fixed-width value plus interface headers.
func rawDataSize(n int) int64 { return int64(n) * (10 + 9 + 4 + 8*7 + 16*10) }

func TestWriteStreamsWithBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 2M rows")
	}
	f := newFixture(t, TargetFileSize(4<<20))
	const n = 2_000_000
	gen := newGenRows(n)
	// HeapInuse after a collection is what the write retains; without
	// the collection it also counts garbage awaiting the next cycle.
	var maxHeap, maxRaw uint64
	gen.sample = func(int) {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		maxRaw = max(maxRaw, ms.HeapInuse)
		runtime.GC()
		runtime.ReadMemStats(&ms)
		maxHeap = max(maxHeap, ms.HeapInuse)
	}
	start := time.Now()
	res, err := f.cat.Write(t.Context(), "raw.big", Contract{Schema: benchSchema}, "big", gen)
	if err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	if res.RowsAdded != n || res.RowsTotal != n {
		t.Fatalf("result %+v", res)
	}
	files, err := f.cat.Files(t.Context(), "raw.big", 0)
	if err != nil {
		t.Fatal(err)
	}
	var size int64
	for _, p := range files {
		st, err := os.Stat(strings.TrimPrefix(p, "file://"))
		if err != nil {
			t.Fatal(err)
		}
		size += st.Size()
	}
	data := rawDataSize(n)
	t.Logf("%d rows in %v (%.0f rows/s), %d files, %d MiB Parquet; max HeapInuse %d MiB after GC (%d MiB before) vs ~%d MiB of row data",
		n, elapsed.Round(time.Millisecond), n/elapsed.Seconds(), len(files), size>>20, maxHeap>>20, maxRaw>>20, data>>20)
	if len(files) < 2 {
		t.Errorf("no rolling: %d files of %d bytes", len(files), size)
	}
	if maxHeap > uint64(data)/4 {
		t.Errorf("max HeapInuse %d MiB, not well below %d MiB of row data", maxHeap>>20, data>>20)
	}
}

const benchBatch = 100_000

func BenchmarkWriteAppend(b *testing.B) {
	dir := b.TempDir()
	wh, err := OpenWarehouse(b.Context(), dir, nil)
	if err != nil {
		b.Fatal(err)
	}
	ptr := NewMemPointers()
	cat, err := NewCatalog(wh, ptr, ptr)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	start := time.Now()
	for i := 0; b.Loop(); i++ {
		if _, err := cat.Write(b.Context(), "bench.rows", Contract{Schema: benchSchema}, fmt.Sprint("b", i), newGenRows(benchBatch)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*benchBatch)/time.Since(start).Seconds(), "rows/s")
}

// BenchmarkParquetRaw writes the same rows with parquet-go alone (same
// schema and writer options, one file per batch): the baseline of
// BenchmarkWriteAppend.
func BenchmarkParquetRaw(b *testing.B) {
	l, err := compile(Contract{Schema: benchSchema})
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	b.ReportAllocs()
	start := time.Now()
	buf := make([]parquet.Row, writeBatch)
	for i := 0; b.Loop(); i++ {
		fh, err := os.Create(filepath.Join(dir, fmt.Sprint(i, ".parquet")))
		if err != nil {
			b.Fatal(err)
		}
		w := parquet.NewWriter(fh, writerOptions(l.pq)...)
		gen := newGenRows(benchBatch)
		k := 0
		for {
			row, err := gen.Next()
			if err == io.EOF {
				break
			}
			if buf[k], err = l.toParquet(buf[k], row); err != nil {
				b.Fatal(err)
			}
			if k++; k == len(buf) {
				if _, err := w.WriteRows(buf); err != nil {
					b.Fatal(err)
				}
				k = 0
			}
		}
		if _, err := w.WriteRows(buf[:k]); err != nil {
			b.Fatal(err)
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		fh.Close()
	}
	b.ReportMetric(float64(b.N*benchBatch)/time.Since(start).Seconds(), "rows/s")
}
