package tables

import (
	"errors"
	"slices"
	"testing"

	"github.com/apache/iceberg-go"
)

func TestUpsert(t *testing.T) {
	f := newFixture(t)
	r1 := f.write(t, upsertContract, "b1",
		trade("a", 1, 10), trade("b", 2, 10), trade("c", 3, 10),
		trade("b", 4, 9),  // older than b/2 within the batch: dropped
		trade("c", 5, 10), // tie within the batch: the later row wins
	)
	if r1.Version != 1 || r1.RowsAdded != 3 || r1.RowsDeleted != 0 || r1.RowsTotal != 3 {
		t.Fatalf("first: %+v", r1)
	}
	rowsEqual(t, readTable(t, f.cat, "raw.trades", 0), [][]any{trade("a", 1, 10), trade("b", 2, 10), trade("c", 5, 10)})
	// Second file so that one existing file is untouched.
	f.write(t, upsertContract, "b2", trade("d", 6, 10))
	r3 := f.write(t, upsertContract, "b3",
		trade("a", 7, 11), // newer: replaces a/1
		trade("b", 8, 9),  // older: loses to b/2
		trade("c", 9, 10), // equal: replaces c/5
		trade("e", 10, 0), // new key
	)
	if r3.Version != 3 || r3.RowsAdded != 3 || r3.RowsDeleted != 2 || r3.RowsTotal != 5 {
		t.Fatalf("third: %+v", r3)
	}
	want := [][]any{trade("a", 7, 11), trade("b", 2, 10), trade("c", 9, 10), trade("d", 6, 10), trade("e", 10, 0)}
	rowsEqual(t, readTable(t, f.cat, "raw.trades", 0), want)
	ev := f.ptr.Committed()[2]
	if ev.Operation != "overwrite" || ev.RowsAdded != 3 || ev.RowsDeleted != 2 || ev.RowsTotal != 5 || ev.DataFilesRemoved != 1 {
		t.Errorf("event: %+v", ev)
	}
	// The untouched file of b2 is still referenced.
	files, err := f.cat.Files(t.Context(), "raw.trades", 0)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range files {
		found = found || p == f.cat.Warehouse().Location()+"/raw/trades/data/b2-0.parquet"
	}
	if !found || len(files) != 2 {
		t.Errorf("files %v", files)
	}
	// Time travel still sees version 2.
	rowsEqual(t, readTable(t, f.cat, "raw.trades", 2),
		[][]any{trade("a", 1, 10), trade("b", 2, 10), trade("c", 5, 10), trade("d", 6, 10)})

	// A batch whose every row loses still commits (its id must be found).
	r4 := f.write(t, upsertContract, "b4", trade("a", 99, 1))
	if r4.Version != 4 || r4.RowsAdded != 0 || r4.RowsTotal != 5 {
		t.Fatalf("losing batch: %+v", r4)
	}
	rowsEqual(t, readTable(t, f.cat, "raw.trades", 0), want)
	if again := f.write(t, upsertContract, "b4", trade("a", 99, 100)); !again.Deduplicated || again.Version != 4 {
		t.Fatalf("again: %+v", again)
	}
}

func TestUpsertWithoutOrderingLatestWins(t *testing.T) {
	f := newFixture(t)
	c := upsertContract
	c.Ordering = ""
	f.write(t, c, "b1", trade("a", 1, 10), trade("a", 2, 0))
	f.write(t, c, "b2", trade("a", 3, -5))
	rowsEqual(t, readTable(t, f.cat, "raw.trades", 0), [][]any{trade("a", 3, -5)})
}

func TestBadInput(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	cases := []struct {
		name     string
		table    string
		contract Contract
		batch    string
		rows     [][]any
	}{
		{"bad table name", "trades", appendContract, "b", nil},
		{"bad batch id", "raw.trades", appendContract, "../b", nil},
		{"bad schema", "raw.trades", Contract{Schema: `{"type":"string"}`}, "b", nil},
		{"unsupported type", "raw.trades", Contract{Schema: `{"type":"record","name":"r","fields":[{"name":"x","type":{"type":"array","items":"int"}}]}`}, "b", nil},
		{"upsert without key", "raw.trades", Contract{Schema: tradeSchema, Mode: ModeUpsert}, "b", nil},
		{"unknown key", "raw.trades", Contract{Schema: tradeSchema, Mode: ModeUpsert, PrimaryKey: []string{"nope"}}, "b", nil},
		{"wrong go type", "raw.trades", appendContract, "b", [][]any{{"a", 1, nil, t0, t0, int32(1), float32(1), true, nil}}},
		{"nil required", "raw.trades", appendContract, "b", [][]any{{nil, int64(1), nil, t0, t0, int32(1), float32(1), true, nil}}},
		{"short row", "raw.trades", upsertContract, "b", [][]any{{"a"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := f.cat.Write(ctx, tc.table, tc.contract, tc.batch, rowsOf(tc.rows...)); err == nil {
				t.Fatal("no error")
			}
		})
	}
	if n := len(f.ptr.Committed()); n != 0 {
		t.Fatalf("%d commits", n)
	}
	if files := dataFiles(t, f.dir); len(files) != 0 {
		t.Fatalf("files left: %v", files)
	}
	// A contract that changes the schema of an existing table is refused.
	f.write(t, appendContract, "b1", trade("a", 1, 0))
	other := Contract{Schema: `{"type":"record","name":"r","fields":[{"name":"id","type":"string"}]}`}
	if _, err := f.cat.Write(ctx, "raw.trades", other, "b2", rowsOf([]any{"x"})); err == nil {
		t.Fatal("schema change accepted")
	}
}

// sourcedRows is a SourceRows over a slice: row i comes from source src[i].
type sourcedRows struct {
	sliceRows
	src []int
}

var _ SourceRows = (*sourcedRows)(nil)

func (s *sourcedRows) Source() int { return s.src[s.i-1] }

// sourced builds a sourcedRows from (source, row) pairs.
func sourced(pairs ...any) *sourcedRows {
	s := &sourcedRows{}
	for i := 0; i < len(pairs); i += 2 {
		s.src = append(s.src, pairs[i].(int))
		s.rows = append(s.rows, pairs[i+1].([]any))
	}
	return s
}

func TestUpsertAttributesRowsToSources(t *testing.T) {
	f := newFixture(t)
	f.write(t, upsertContract, "b1", trade("a", 1, 10), trade("x", 1, 0))
	rows := func() *sourcedRows {
		return sourced(
			0, trade("a", 2, 5), // file A: older than the table's a: superseded
			0, trade("c", 3, 1), // file A: loses to B's later, newer c: superseded
			1, trade("b", 4, 0), // file B: a new key: kept
			1, trade("c", 5, 2), // file B: wins c: kept
			1, trade("b", 6, -1), // file B: older than B's own b: superseded
			3, trade("x", 7, 1), // file D: replaces the table's x: kept
		) // file C (2) has no rows
	}
	res, err := f.cat.Write(t.Context(), "raw.trades", upsertContract, "b2", rows())
	if err != nil {
		t.Fatal(err)
	}
	want := []SourceCount{{Kept: 0, Superseded: 2}, {Kept: 2, Superseded: 1}, {}, {Kept: 1, Superseded: 0}}
	if !slices.Equal(res.Sources, want) || res.RowsSuperseded != 3 || res.RowsAdded != 3 || res.RowsDeleted != 1 || res.RowsTotal != 4 {
		t.Fatalf("result %+v, want sources %v", res, want)
	}
	rowsEqual(t, readTable(t, f.cat, "raw.trades", 0),
		[][]any{trade("a", 1, 10), trade("b", 4, 0), trade("c", 5, 2), trade("x", 7, 1)})
	// A re-delivered batch gets the same attribution from the snapshot.
	again, err := f.cat.Write(t.Context(), "raw.trades", upsertContract, "b2", rows())
	if err != nil {
		t.Fatal(err)
	}
	if !again.Deduplicated || !slices.Equal(again.Sources, want) || again.RowsSuperseded != 3 || again.RowsAdded != 3 {
		t.Fatalf("deduplicated result %+v", again)
	}
	// Rows without sources: no Sources, still the superseded count.
	res = f.write(t, upsertContract, "b3", trade("a", 8, 0), trade("y", 9, 0))
	if res.Sources != nil || res.RowsSuperseded != 1 || res.RowsAdded != 1 {
		t.Fatalf("unsourced result %+v", res)
	}
	// Without an ordering field a later batch row always wins, and the
	// batch wins over the table.
	noOrd := upsertContract
	noOrd.Ordering = ""
	res, err = f.cat.Write(t.Context(), "raw.trades", noOrd, "b4", sourced(1, trade("a", 10, -5), 0, trade("a", 11, -9)))
	if err != nil {
		t.Fatal(err)
	}
	if want := []SourceCount{{Kept: 1}, {Superseded: 1}}; !slices.Equal(res.Sources, want) || res.RowsDeleted != 1 {
		t.Fatalf("no ordering: %+v, want sources %v", res, want)
	}
}

func TestAppendAttributesRowsToSources(t *testing.T) {
	f := newFixture(t)
	res, err := f.cat.Write(t.Context(), "raw.trades", appendContract, "b1",
		sourced(0, trade("a", 1, 0), 2, trade("a", 2, 0), 0, trade("b", 3, 0)))
	if err != nil {
		t.Fatal(err)
	}
	if want := []SourceCount{{Kept: 2}, {}, {Kept: 1}}; !slices.Equal(res.Sources, want) || res.RowsSuperseded != 0 || res.RowsAdded != 3 {
		t.Fatalf("result %+v, want sources %v", res, want)
	}
	// No rows at all: an empty, non-nil attribution.
	res, err = f.cat.Write(t.Context(), "raw.trades", appendContract, "b2", sourced())
	if err != nil {
		t.Fatal(err)
	}
	if res.Sources == nil || len(res.Sources) != 0 {
		t.Fatalf("empty batch: %+v", res)
	}
	again, err := f.cat.Write(t.Context(), "raw.trades", appendContract, "b2", sourced())
	if err != nil || !again.Deduplicated || again.Sources == nil || len(again.Sources) != 0 {
		t.Fatalf("empty batch again: %+v, %v", again, err)
	}
}

func TestBadSourceIndex(t *testing.T) {
	for _, src := range []int{-1, MaxSources} {
		for _, c := range []Contract{appendContract, upsertContract} {
			f := newFixture(t)
			_, err := f.cat.Write(t.Context(), "raw.trades", c, "b1", sourced(0, trade("a", 1, 0), src, trade("b", 2, 0)))
			if !errors.Is(err, ErrBadRow) {
				t.Errorf("%s, source %d: %v", c.Mode, src, err)
			}
			if n := len(f.ptr.Committed()); n != 0 {
				t.Errorf("%s, source %d: %d commits", c.Mode, src, n)
			}
		}
	}
}

func TestParseSources(t *testing.T) {
	for _, v := range []string{"", "1:0", "0:2,2:1,0:0,1:0"} {
		got, ok := parseSources(v)
		tl := &tally{sources: got}
		props := iceberg.Properties{}
		tl.record(props)
		if !ok || props[SummarySources] != v {
			t.Errorf("parseSources(%q) = %v, %v; records as %q", v, got, ok, props[SummarySources])
		}
	}
	for _, v := range []string{"1", "1:x", "1:2,", ":"} {
		if got, ok := parseSources(v); ok {
			t.Errorf("parseSources(%q) = %v, ok", v, got)
		}
	}
}
