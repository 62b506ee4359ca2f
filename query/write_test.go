package query

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// goldenSQL are queries whose results are rendered by every writer and
// compared with testdata/<name>.{json,csv,txt}.
var goldenSQL = []struct{ name, sql string }{
	{"types", `SELECT * FROM (VALUES
		(1::BIGINT, 'plain', 12.5::DECIMAL(10,2), 1.5::DOUBLE, true,
		 TIMESTAMPTZ '2026-03-02 09:30:00.123456+00', DATE '2026-03-02', TIME '12:34:56',
		 '\x01\xff'::BLOB, [1, 2], {'a': 1, 'b': 'x'}, INTERVAL '90 minutes', 'x', 'dup'),
		(-20, 'comma, "quotes"' || chr(10) || 'and a newline', -0.05, 'nan'::DOUBLE, false,
		 TIMESTAMPTZ '1999-12-31 23:59:59+00', DATE '1999-12-31', TIME '00:00:00.5',
		 ''::BLOB, [], {'a': NULL, 'b': 'y'}, INTERVAL '1 month 2 days', 'tab' || chr(9) || 'bed', 'dup'),
		(NULL, 'ünïcödé ✓', NULL, 1e300, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)
	) AS t(id, label, amount, ratio, flag, ts, day, tod, raw, nums, rec, span, "id ", id_)
	ORDER BY id NULLS LAST`},
	{"duplicate_names", `SELECT 1 AS id, 2 AS id, 3 AS id_1`},
	{"empty", `SELECT 1::BIGINT AS id, 'x' AS name WHERE false`},
	{"truncated", `SELECT range AS n, range * 1.5 AS x FROM range(5) ORDER BY n`},
}

func TestWritersGolden(t *testing.T) {
	e := openEngine(t, MaxRows(3))
	writers := []struct {
		ext   string
		write func(*bytes.Buffer, *Result) error
	}{
		{"json", func(b *bytes.Buffer, r *Result) error { return WriteJSON(b, r) }},
		{"csv", func(b *bytes.Buffer, r *Result) error { return WriteCSV(b, r) }},
		{"txt", func(b *bytes.Buffer, r *Result) error { return WriteTable(b, r) }},
	}
	for _, g := range goldenSQL {
		r := mustQuery(t, e, g.sql)
		for _, w := range writers {
			t.Run(g.name+"."+w.ext, func(t *testing.T) {
				var buf bytes.Buffer
				if err := w.write(&buf, r); err != nil {
					t.Fatal(err)
				}
				if w.ext == "json" {
					var v []map[string]any
					if err := json.Unmarshal(buf.Bytes(), &v); err != nil {
						t.Fatalf("output is not JSON: %v\n%s", err, buf.Bytes())
					}
					if len(v) != len(r.Rows) {
						t.Errorf("decoded %d objects, want %d", len(v), len(r.Rows))
					}
				}
				golden := filepath.Join("testdata", g.name+"."+w.ext)
				if *update {
					if err := os.MkdirAll("testdata", 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run go test -update to create it)", err)
				}
				if !bytes.Equal(buf.Bytes(), want) {
					t.Errorf("%s differs (run go test -update after checking)\ngot:\n%s\nwant:\n%s", golden, buf.Bytes(), want)
				}
			})
		}
	}
}

// TestWriteJSONKeepsColumnOrder checks the object keys follow the columns,
// not alphabetical order as a Go map would give.
func TestWriteJSONKeepsColumnOrder(t *testing.T) {
	r := &Result{
		Columns: []string{"z", "a", "m"},
		Types:   []string{"BIGINT", "DOUBLE", "TIMESTAMPTZ"},
		Rows:    [][]any{{int64(1), math.Inf(-1), time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("X", 3600))}},
	}
	var buf bytes.Buffer
	if err := WriteJSON(&buf, r); err != nil {
		t.Fatal(err)
	}
	want := "[\n{\"z\":1,\"a\":\"-Infinity\",\"m\":\"2026-01-02T02:04:05.000000006Z\"}\n]\n"
	if buf.String() != want {
		t.Errorf("got %q, want %q", buf.String(), want)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWritersReportWriteErrors(t *testing.T) {
	r := &Result{Columns: []string{"a"}, Types: []string{"BIGINT"}, Rows: [][]any{{int64(1)}}}
	for name, w := range map[string]func() error{
		"json":  func() error { return WriteJSON(failWriter{}, r) },
		"csv":   func() error { return WriteCSV(failWriter{}, r) },
		"table": func() error { return WriteTable(failWriter{}, r) },
	} {
		if err := w(); err == nil {
			t.Errorf("%s: no error from a failing writer", name)
		}
	}
}

func TestDecimalString(t *testing.T) {
	e := openEngine(t)
	r := mustQuery(t, e, `SELECT 0::DECIMAL(4,2), 0.01::DECIMAL(4,2), -1.1::DECIMAL(4,2), 123456789012345678901234567890.12345678::DECIMAL(38,8)`)
	want := []any{json.Number("0.00"), json.Number("0.01"), json.Number("-1.10"), json.Number("123456789012345678901234567890.12345678")}
	for i, w := range want {
		if r.Rows[0][i] != w {
			t.Errorf("column %d: got %#v, want %#v", i, r.Rows[0][i], w)
		}
	}
}

func TestWritersRejectBadShape(t *testing.T) {
	for _, r := range []*Result{
		nil,
		{Columns: []string{"a"}, Rows: [][]any{{int64(1), int64(2)}}},
		{Columns: []string{"a", "b"}, Rows: [][]any{{int64(1)}}},
	} {
		var buf bytes.Buffer
		if WriteJSON(&buf, r) == nil || WriteCSV(&buf, r) == nil || WriteTable(&buf, r) == nil {
			t.Errorf("%+v: a writer accepted it", r)
		}
	}
}

// FuzzWriteJSON checks the invariant that WriteJSON always produces valid
// JSON, and that valid UTF-8 strings and column names survive a round trip.
func FuzzWriteJSON(f *testing.F) {
	for _, s := range []string{"", "plain", "quote\"back\\slash", "<html>&", "tab\tnl\n", "\x00\x1f", "ünï ✓", "\xff\xfe"} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, col, val string) {
		r := &Result{Columns: []string{col}, Types: []string{"VARCHAR"}, Rows: [][]any{{val}}}
		var buf bytes.Buffer
		if err := WriteJSON(&buf, r); err != nil {
			t.Fatal(err)
		}
		var got []map[string]string
		if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
			t.Fatalf("invalid JSON %q: %v", buf.Bytes(), err)
		}
		if utf8.ValidString(col) && utf8.ValidString(val) {
			if v, ok := got[0][col]; !ok || v != val {
				t.Errorf("round trip of %q: %q", val, got)
			}
		}
	})
}
