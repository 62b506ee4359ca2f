package formats_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/logmesh/logmesh/internal/formats"
)

// TestGolden parses the files under testdata/<format>/ and compares the
// transcript (records with fields, lines and raw text; rejects; the end)
// with testdata/golden/<format>_<file>.txt. Run with -update to rewrite
// the golden files, then review the diff.
func TestGolden(t *testing.T) {
	fw := []formats.Column{
		{Name: "id", Start: 1, Width: 6},
		{Name: "symbol", Start: 7, Width: 4},
		{Name: "qty", Start: 11, Width: 7},
		{Name: "price", Start: 18, Width: 9},
	}
	tests := []struct {
		format, file string
		opts         formats.Options
	}{
		{"csv", "trades.csv", formats.Defaults()},
		{"csv", "bad_rows.csv", formats.Defaults()},
		{"csv", "truncated.csv", formats.Defaults()},
		{"csv", "latin1.csv", withOpts(func(o *formats.Options) { o.Delimiter, o.Encoding = ';', "latin1" })},
		{"csv", "utf16le_bom.csv", withOpts(func(o *formats.Options) { o.Encoding = "utf-16" })},
		{"csv", "utf16be.csv", withOpts(func(o *formats.Options) { o.Encoding = "utf-16be" })},
		{"csv", "utf16_read_as_utf8.csv", formats.Defaults()},
		{"csv", "binary.csv", formats.Defaults()},
		{"json", "trades.json", formats.Options{}},
		{"json", "wrapped.json", formats.Options{RecordPath: "data"}},
		{"json", "truncated.json", formats.Options{}},
		{"ndjson", "trades.ndjson", formats.Options{}},
		{"ndjson", "garbled.ndjson", formats.Options{}},
		{"ndjson", "bad_lines.ndjson", formats.Options{}},
		{"xml", "trades.xml", formats.Options{RecordPath: "trades/trade"}},
		{"xml", "truncated.xml", formats.Options{RecordPath: "trade"}},
		{"xml", "latin1.xml", formats.Options{RecordPath: "rows/row"}},
		{"xml", "utf16.xml", formats.Options{RecordPath: "rows/row"}},
		{"xml", "doctype.xml", formats.Options{RecordPath: "trades/trade"}},
		{"fixed-width", "trades.txt", formats.Options{Header: true, Comment: '#', FixedWidth: fw}},
	}
	g := formats.NewRegistry()
	for _, tt := range tests {
		t.Run(tt.format+"/"+tt.file, func(t *testing.T) {
			f, err := os.Open(filepath.Join("testdata", tt.format, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			st, err := f.Stat()
			if err != nil {
				t.Fatal(err)
			}
			var got string
			rd, err := g.Open(tt.format, f, tt.opts)
			if err != nil {
				got = "OPEN " + err.Error() + "\n"
			} else {
				got = drain(t, rd, int(st.Size())+1).String()
			}
			name := tt.format + "_" + strings.ReplaceAll(tt.file, ".", "_") + ".txt"
			golden(t, name, got)
		})
	}
}
