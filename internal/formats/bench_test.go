package formats_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/logmesh/logmesh/internal/formats"
)

// benchParse parses data in format once per iteration and reports the
// parse-only rate as rows/s and MB/s.
func benchParse(b *testing.B, format string, data []byte, rows int) {
	g := formats.NewRegistry()
	opts := formats.Defaults()
	b.ReportAllocs()
	for b.Loop() {
		rd, err := g.Open(format, bytes.NewReader(data), opts)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			_, err := rd.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != rows {
			b.Fatalf("parsed %d rows, want %d", n, rows)
		}
	}
	sec := b.Elapsed().Seconds()
	b.ReportMetric(float64(rows)*float64(b.N)/sec, "rows/s")
	b.ReportMetric(float64(len(data))*float64(b.N)/sec/1e6, "MB/s")
}

func generate(head string, row func([]byte, int) []byte, rows int) []byte {
	data := []byte(head)
	for i := range rows {
		data = row(data, i)
	}
	return data
}

// BenchmarkCSV is the parse-only rate of a 10-column CSV (ids, strings,
// decimals, timestamps), shown by make bench beside the ingest rate.
func BenchmarkCSV(b *testing.B) {
	const rows = 20_000
	benchParse(b, "csv", generate(csvHeader, csvRow, rows), rows)
}

// BenchmarkNDJSON is the parse-only rate of NDJSON with the same kind of
// values.
func BenchmarkNDJSON(b *testing.B) {
	const rows = 20_000
	benchParse(b, "ndjson", generate("", ndjsonRow, rows), rows)
}
