package query

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
)

type trade struct {
	ID     int64     `parquet:"id"`
	Symbol string    `parquet:"symbol"`
	Qty    int64     `parquet:"qty"`
	Price  float64   `parquet:"price"`
	TS     time.Time `parquet:"ts,timestamp(microsecond)"`
}

// tradeV2 is a later version of the trades schema with an added column, as
// after an Iceberg schema evolution.
type tradeV2 struct {
	ID     int64     `parquet:"id"`
	Symbol string    `parquet:"symbol"`
	Qty    int64     `parquet:"qty"`
	Price  float64   `parquet:"price"`
	TS     time.Time `parquet:"ts,timestamp(microsecond)"`
	Venue  string    `parquet:"venue"`
}

type instrument struct {
	Symbol string `parquet:"symbol"`
	Sector string `parquet:"sector"`
}

var t0 = time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)

func writeParquet[T any](t *testing.T, path string, rows []T) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := parquet.WriteFile(path, rows); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	return path
}

func openEngine(t *testing.T, opts ...Option) *Engine {
	t.Helper()
	e, err := Open(context.Background(), opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return e
}

// fixture registers raw.trades (two files, the second with an extra column)
// and equities.instruments.
func fixture(t *testing.T) (*Engine, []Table) {
	t.Helper()
	dir := t.TempDir()
	f1 := writeParquet(t, filepath.Join(dir, "trades-1.parquet"), []trade{
		{1, "ACME", 10, 2.5, t0},
		{2, "INIT", 5, 100, t0.Add(time.Minute)},
	})
	f2 := writeParquet(t, filepath.Join(dir, "trades-2.parquet"), []tradeV2{
		{3, "ACME", 4, 3.0, t0.Add(2 * time.Minute), "XLON"},
	})
	f3 := writeParquet(t, filepath.Join(dir, "instruments.parquet"), []instrument{
		{"ACME", "industrials"}, {"INIT", "tech"},
	})
	tables := []Table{
		{Name: "raw.trades", Files: []string{f1, f2}},
		{Name: "equities.instruments", Files: []string{f3}},
	}
	e := openEngine(t)
	if err := e.Register(context.Background(), tables); err != nil {
		t.Fatalf("Register: %v", err)
	}
	return e, tables
}

func mustQuery(t *testing.T, e *Engine, sql string) *Result {
	t.Helper()
	r, err := e.Query(context.Background(), sql)
	if err != nil {
		t.Fatalf("Query(%q): %v", sql, err)
	}
	return r
}

func TestQueryAcrossDomains(t *testing.T) {
	e, _ := fixture(t)
	tests := []struct {
		name  string
		sql   string
		cols  []string
		types []string
		rows  [][]any
	}{
		{
			name:  "join and aggregate",
			sql:   `SELECT i.sector, count(*) AS n, sum(t.qty * t.price) AS notional FROM raw.trades t JOIN equities.instruments i USING (symbol) GROUP BY ALL ORDER BY i.sector`,
			cols:  []string{"sector", "n", "notional"},
			types: []string{"VARCHAR", "BIGINT", "DOUBLE"},
			rows:  [][]any{{"industrials", int64(2), 37.0}, {"tech", int64(1), 500.0}},
		},
		{
			name:  "union by name fills the new column with NULL",
			sql:   `SELECT id, venue, ts FROM raw.trades ORDER BY id`,
			cols:  []string{"id", "venue", "ts"},
			types: []string{"BIGINT", "VARCHAR", "TIMESTAMPTZ"},
			rows: [][]any{
				{int64(1), nil, t0},
				{int64(2), nil, t0.Add(time.Minute)},
				{int64(3), "XLON", t0.Add(2 * time.Minute)},
			},
		},
		{
			name:  "quoted names",
			sql:   `SELECT count(*) AS "n" FROM "raw"."trades"`,
			cols:  []string{"n"},
			types: []string{"BIGINT"},
			rows:  [][]any{{int64(3)}},
		},
		{
			name:  "time zone is UTC",
			sql:   `SELECT current_setting('TimeZone') AS tz, strftime(max(ts), '%H:%M') AS hm FROM raw.trades`,
			cols:  []string{"tz", "hm"},
			types: []string{"VARCHAR", "VARCHAR"},
			rows:  [][]any{{"UTC", "09:32"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustQuery(t, e, tt.sql)
			if !reflect.DeepEqual(r.Columns, tt.cols) {
				t.Errorf("Columns = %q, want %q", r.Columns, tt.cols)
			}
			if !reflect.DeepEqual(r.Types, tt.types) {
				t.Errorf("Types = %q, want %q", r.Types, tt.types)
			}
			if !reflect.DeepEqual(r.Rows, tt.rows) {
				t.Errorf("Rows = %#v, want %#v", r.Rows, tt.rows)
			}
			if r.Truncated {
				t.Error("Truncated = true")
			}
		})
	}
}

func TestRegisterReplacesView(t *testing.T) {
	e, tables := fixture(t)
	one := Table{Name: "raw.trades", Files: tables[0].Files[:1]}
	if err := e.Register(context.Background(), []Table{one}); err != nil {
		t.Fatal(err)
	}
	r := mustQuery(t, e, `SELECT count(*) FROM raw.trades`)
	if got := r.Rows[0][0]; got != int64(2) {
		t.Errorf("count after re-register = %v, want 2", got)
	}
	// The other table is untouched.
	r = mustQuery(t, e, `SELECT count(*) FROM equities.instruments`)
	if got := r.Rows[0][0]; got != int64(2) {
		t.Errorf("instruments count = %v, want 2", got)
	}
}

func TestRegisterIsAtomic(t *testing.T) {
	e, tables := fixture(t)
	bad := []Table{
		{Name: "raw.trades", Files: tables[0].Files[:1]},
		{Name: "raw.missing", Files: []string{filepath.Join(t.TempDir(), "nope.parquet")}},
	}
	// A missing file fails when the view is bound, at CREATE VIEW time.
	if err := e.Register(context.Background(), bad); err == nil {
		t.Fatal("Register with a missing file: no error")
	}
	r := mustQuery(t, e, `SELECT count(*) FROM raw.trades`)
	if got := r.Rows[0][0]; got != int64(3) {
		t.Errorf("count after failed Register = %v, want 3 (unchanged)", got)
	}
}

func TestEmptyTable(t *testing.T) {
	e := openEngine(t)
	err := e.Register(context.Background(), []Table{{
		Name: "fixed_income.bonds",
		Columns: []Column{
			{"id", "BIGINT"}, {"isin", "VARCHAR"}, {"coupon", "DECIMAL(9,4)"},
			{"issued", "DATE"}, {"updated", "TIMESTAMPTZ"}, {"tags", "VARCHAR[]"},
			{`odd "name"`, "BOOLEAN"},
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	r := mustQuery(t, e, `SELECT * FROM fixed_income.bonds`)
	wantCols := []string{"id", "isin", "coupon", "issued", "updated", "tags", `odd "name"`}
	wantTypes := []string{"BIGINT", "VARCHAR", "DECIMAL(9,4)", "DATE", "TIMESTAMPTZ", "VARCHAR[]", "BOOLEAN"}
	if !reflect.DeepEqual(r.Columns, wantCols) || !reflect.DeepEqual(r.Types, wantTypes) {
		t.Errorf("got %q %q, want %q %q", r.Columns, r.Types, wantCols, wantTypes)
	}
	if len(r.Rows) != 0 {
		t.Errorf("rows = %v, want none", r.Rows)
	}
	r = mustQuery(t, e, `SELECT count(*), sum(coupon) FROM fixed_income.bonds`)
	if want := []any{int64(0), nil}; !reflect.DeepEqual(r.Rows[0], want) {
		t.Errorf("aggregate = %#v, want %#v", r.Rows[0], want)
	}
}

func TestFilePathWithQuote(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "o'brien's data", `back\slash "dq"`)
	f := writeParquet(t, filepath.Join(dir, "it's.parquet"), []instrument{{"ACME", "industrials"}})
	e := openEngine(t)
	if err := e.Register(context.Background(), []Table{{Name: "o'domain.ta\"ble", Files: []string{f}}}); err != nil {
		t.Fatal(err)
	}
	r := mustQuery(t, e, `SELECT sector FROM "o'domain"."ta""ble"`)
	if want := [][]any{{"industrials"}}; !reflect.DeepEqual(r.Rows, want) {
		t.Errorf("Rows = %v, want %v", r.Rows, want)
	}
}

func TestRegisterRejects(t *testing.T) {
	e := openEngine(t)
	tests := []struct {
		name  string
		table Table
		want  string
	}{
		{"no domain", Table{Name: "trades", Files: []string{"a.parquet"}}, "not domain.table"},
		{"three parts", Table{Name: "a.b.c", Files: []string{"a.parquet"}}, "not domain.table"},
		{"empty part", Table{Name: ".b", Files: []string{"a.parquet"}}, "not domain.table"},
		{"glob", Table{Name: "raw.t", Files: []string{"/data/*.parquet"}}, "glob"},
		{"bracket", Table{Name: "raw.t", Files: []string{"/data/a[1].parquet"}}, "glob"},
		{"empty path", Table{Name: "raw.t", Files: []string{""}}, "empty file path"},
		{"nothing", Table{Name: "raw.t"}, "neither files nor columns"},
		{"bad type", Table{Name: "raw.t", Columns: []Column{{"id", "BIGINT); DROP SCHEMA raw; --"}}}, "bad type"},
		{"no column name", Table{Name: "raw.t", Columns: []Column{{"", "BIGINT"}}}, "no name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := e.Register(context.Background(), []Table{tt.table})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
	err := e.Register(context.Background(), []Table{{Name: "raw.t", Columns: []Column{{"a", "INT"}}}, {Name: "raw.t", Columns: []Column{{"a", "INT"}}}})
	if err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("duplicate: err = %v", err)
	}
}

func TestQueryErrors(t *testing.T) {
	e, _ := fixture(t)
	tests := []struct{ sql, want string }{
		{`SELEC 1`, "syntax error"},
		{`SELECT * FROM raw.nope`, "Catalog Error"},
		{`SELECT nope FROM raw.trades`, "Binder Error"},
		{`SELECT 'x'::INTEGER`, "Conversion Error"},
	}
	for _, tt := range tests {
		r, err := e.Query(context.Background(), tt.sql)
		if err == nil {
			t.Errorf("Query(%q) = %v, want an error", tt.sql, r)
			continue
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "query: ") || !strings.Contains(msg, tt.want) {
			t.Errorf("Query(%q) error %q, want prefix \"query: \" and %q", tt.sql, msg, tt.want)
		}
	}
}

func TestQueryCancel(t *testing.T) {
	e := openEngine(t)
	ctx, cancel := context.WithCancel(context.Background())
	timer := time.AfterFunc(300*time.Millisecond, cancel)
	defer timer.Stop()
	start := time.Now()
	_, err := e.Query(ctx, `SELECT count(*) FROM range(1000000000) a, range(1000000000) b WHERE (a.range * b.range) % 7 = 3`)
	elapsed := time.Since(start)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if elapsed > 5*time.Second {
		t.Errorf("returned after %v, want promptly after the cancel at 300ms", elapsed)
	}
	t.Logf("cancelled query returned after %v: %v", elapsed, err)

	// The engine still works.
	if r := mustQuery(t, e, `SELECT 42`); r.Rows[0][0] != int64(42) {
		t.Errorf("after cancel: %v", r.Rows)
	}
	// An already-cancelled ctx fails at once.
	if _, err := e.Query(ctx, `SELECT 1`); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled ctx: err = %v", err)
	}
}

func TestMaxRows(t *testing.T) {
	e := openEngine(t, MaxRows(3))
	r := mustQuery(t, e, `SELECT range AS n FROM range(10) ORDER BY n`)
	if want := [][]any{{int64(0)}, {int64(1)}, {int64(2)}}; !reflect.DeepEqual(r.Rows, want) || !r.Truncated {
		t.Errorf("got %v truncated=%v, want %v truncated", r.Rows, r.Truncated, want)
	}
	r = mustQuery(t, e, `SELECT range AS n FROM range(3)`)
	if len(r.Rows) != 3 || r.Truncated {
		t.Errorf("exactly MaxRows: got %d rows truncated=%v", len(r.Rows), r.Truncated)
	}
}

func TestOpenOptions(t *testing.T) {
	e := openEngine(t, MemoryLimit("256MB"), Threads(1), TempDir(t.TempDir()))
	r := mustQuery(t, e, `SELECT current_setting('threads')::BIGINT, current_setting('memory_limit')`)
	if r.Rows[0][0] != int64(1) || !strings.Contains(r.Rows[0][1].(string), "MiB") {
		t.Errorf("settings = %v", r.Rows[0])
	}
	for _, opts := range [][]Option{{Threads(0)}, {MaxRows(0)}, {MemoryLimit("")}, {MemoryLimit("lots")}} {
		if e, err := Open(context.Background(), opts...); err == nil {
			e.Close()
			t.Errorf("Open with %d bad options: no error", len(opts))
		}
	}
}

func TestClose(t *testing.T) {
	e, err := Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := e.Query(context.Background(), "SELECT 1"); !errors.Is(err, ErrClosed) {
		t.Errorf("Query after Close: %v", err)
	}
	if err := e.Register(context.Background(), nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Register after Close: %v", err)
	}
}

func TestConcurrentQueries(t *testing.T) {
	e, tables := fixture(t)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				if i == 0 { // one writer re-registers while the others read
					if err := e.Register(context.Background(), tables); err != nil {
						errs <- err
						return
					}
					continue
				}
				r, err := e.Query(context.Background(), `SELECT count(*) FROM raw.trades JOIN equities.instruments USING (symbol)`)
				if err != nil {
					errs <- err
					return
				}
				if r.Rows[0][0] != int64(3) {
					errs <- errors.New("wrong count")
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestValueTypes(t *testing.T) {
	e := openEngine(t)
	r := mustQuery(t, e, `SELECT
		1::TINYINT, 2::UBIGINT, 18446744073709551615::UBIGINT,
		170141183460469231731687303715884105727::HUGEINT, 3::HUGEINT,
		0.1::FLOAT, 'nan'::DOUBLE,
		12.5::DECIMAL(10,2), (-0.05)::DECIMAL(10,3), 7::DECIMAL(5,0),
		INTERVAL '1 year 2 months 3 days 4 hours 5 minutes 6.5 seconds', INTERVAL '0 seconds', -INTERVAL '90 minutes',
		'0b8e3d5c-1a2b-4c3d-8e9f-0a1b2c3d4e5f'::UUID, '101'::BIT,
		TIME '12:34:56.5', DATE '2026-03-02',
		['0b8e3d5c-1a2b-4c3d-8e9f-0a1b2c3d4e5f'::UUID], {'a': 1::INTEGER, 'b': 'x'}, MAP {'k': 1.5::DECIMAL(4,2)},
		'{"j":[1,true]}'::JSON, 'sm'::ENUM('sm', 'lg'), union_value(n := 5::INTEGER)`)
	want := []any{
		int64(1), int64(2), json.Number("18446744073709551615"),
		json.Number("170141183460469231731687303715884105727"), int64(3),
		0.1, nil, // NaN checked below
		json.Number("12.50"), json.Number("-0.050"), json.Number("7"),
		"P1Y2M3DT4H5M6.5S", "PT0S", "PT-1H-30M",
		"0b8e3d5c-1a2b-4c3d-8e9f-0a1b2c3d4e5f", "101",
		time.Date(1, 1, 1, 12, 34, 56, 500_000_000, time.UTC), time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC),
		[]any{"0b8e3d5c-1a2b-4c3d-8e9f-0a1b2c3d4e5f"}, map[string]any{"a": int64(1), "b": "x"}, map[string]any{"k": json.Number("1.50")},
		map[string]any{"j": []any{1.0, true}}, "sm", int64(5),
	}
	got := r.Rows[0]
	if f, ok := got[6].(float64); !ok || f == f {
		t.Errorf("NaN: got %#v", got[6])
	}
	got[6] = nil
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("column %d (%s): got %#v, want %#v", i, r.Types[i], got[i], want[i])
		}
	}
}

func TestAllowedDirs(t *testing.T) {
	allowed, other, spill := t.TempDir(), t.TempDir(), t.TempDir()
	in := writeParquet(t, filepath.Join(allowed, "sub", "in.parquet"), []instrument{{"ACME", "industrials"}})
	out := writeParquet(t, filepath.Join(other, "out.parquet"), []instrument{{"INIT", "tech"}})
	if err := os.WriteFile(filepath.Join(other, "secret.csv"), []byte("a\n1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e := openEngine(t, AllowedDirs(allowed), TempDir(spill), MemoryLimit("64MB"), Threads(1))
	ctx := context.Background()
	if err := e.Register(ctx, []Table{{Name: "raw.in", Files: []string{in}}}); err != nil {
		t.Fatalf("Register inside allowed dir: %v", err)
	}
	if r := mustQuery(t, e, `SELECT symbol FROM raw.in`); r.Rows[0][0] != "ACME" {
		t.Errorf("raw.in = %v", r.Rows)
	}
	err := e.Register(ctx, []Table{{Name: "raw.out", Files: []string{out}}})
	if err == nil || !strings.Contains(err.Error(), "Permission Error") {
		t.Errorf("Register outside allowed dir: err = %v, want Permission Error", err)
	}
	for _, sql := range []string{
		`SELECT * FROM read_csv('` + filepath.Join(other, "secret.csv") + `')`,
		`SELECT * FROM read_parquet('` + filepath.Join(allowed, "..", filepath.Base(other), "out.parquet") + `')`,
		`SET enable_external_access = true`,
		`SET allowed_directories = ['/']`,
	} {
		if _, err := e.Query(ctx, sql); err == nil {
			t.Errorf("Query(%q): no error", sql)
		}
	}
	// Spilling to TempDir still works in the sandbox: this aggregate needs
	// far more than the 64MB memory limit.
	r := mustQuery(t, e, `SELECT count(*) FROM (SELECT DISTINCT range::VARCHAR || repeat('x', 60) FROM range(3000000))`)
	if r.Rows[0][0] != int64(3000000) {
		t.Errorf("spilling aggregate = %v", r.Rows)
	}
}

func TestSettingsLocked(t *testing.T) {
	e := openEngine(t)
	for _, sql := range []string{`SET TimeZone = 'America/New_York'`, `SET threads = 1`, `SET memory_limit = '10GB'`} {
		if _, err := e.Query(context.Background(), sql); err == nil || !strings.Contains(err.Error(), "locked") {
			t.Errorf("Query(%q): err = %v, want the configuration locked", sql, err)
		}
	}
}
