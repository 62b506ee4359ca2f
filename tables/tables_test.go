package tables

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/iceberg-go/table"
	"github.com/parquet-go/parquet-go"

	"github.com/logmesh/logmesh/events"
)

const tradeSchema = `{"type":"record","name":"Trade","namespace":"raw","fields":[
 {"name":"id","type":"string"},
 {"name":"qty","type":"long"},
 {"name":"px","type":["null","double"]},
 {"name":"ts","type":{"type":"long","logicalType":"timestamp-micros"}},
 {"name":"day","type":{"type":"int","logicalType":"date"}},
 {"name":"n","type":"int"},
 {"name":"f","type":"float"},
 {"name":"ok","type":"boolean"},
 {"name":"raw","type":["null","bytes"]}
]}`

var (
	appendContract = Contract{Schema: tradeSchema}
	upsertContract = Contract{Schema: tradeSchema, PrimaryKey: []string{"id"}, Ordering: "ts", Mode: ModeUpsert}
	t0             = time.Date(2026, 11, 2, 9, 30, 0, 0, time.UTC)
	fixedNow       = time.Date(2026, 11, 3, 12, 0, 0, 123456789, time.UTC)
)

// trade builds a typed row; seq moves the timestamp.
func trade(id string, qty int64, seq int) []any {
	var raw any
	if qty%2 == 0 {
		raw = []byte(id)
	}
	var px any = float64(qty) * 1.5
	if qty%3 == 0 {
		px = nil
	}
	return []any{id, qty, px, t0.Add(time.Duration(seq) * time.Second), time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC),
		int32(qty), float32(qty) / 2, qty%2 == 0, raw}
}

// sliceRows is a Rows over a slice; it reuses nothing.
type sliceRows struct {
	rows [][]any
	i    int
}

func (s *sliceRows) Next() ([]any, error) {
	if s.i == len(s.rows) {
		return nil, io.EOF
	}
	s.i++
	return s.rows[s.i-1], nil
}

func rowsOf(r ...[]any) *sliceRows { return &sliceRows{rows: r} }

type fixture struct {
	dir string
	ptr *MemPointers
	cat *Catalog
}

func newFixture(t *testing.T, opts ...Option) *fixture {
	t.Helper()
	dir := t.TempDir()
	wh, err := OpenWarehouse(t.Context(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	ptr := NewMemPointers()
	cat, err := NewCatalog(wh, ptr, ptr, append([]Option{Clock(func() time.Time { return fixedNow })}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{dir: dir, ptr: ptr, cat: cat}
}

func (f *fixture) write(t *testing.T, c Contract, batch string, rows ...[]any) WriteResult {
	t.Helper()
	res, err := f.cat.Write(t.Context(), "raw.trades", c, batch, rowsOf(rows...))
	if err != nil {
		t.Fatalf("write %s: %v", batch, err)
	}
	return res
}

// readTable reads the current snapshot's files with parquet-go alone and
// returns the rows sorted by id (then qty).
func readTable(t *testing.T, cat *Catalog, name string, version int64) [][]any {
	t.Helper()
	files, err := cat.Files(t.Context(), name, version)
	if err != nil {
		t.Fatal(err)
	}
	l, err := compile(appendContract)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]any
	for _, f := range files {
		if err := readFile(cat.Warehouse().IO(), f, l, func(row []any) error {
			out = append(out, slices.Clone(row))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	sortRows(out)
	return out
}

func sortRows(rows [][]any) {
	slices.SortFunc(rows, func(a, b []any) int {
		if c := strings.Compare(a[0].(string), b[0].(string)); c != 0 {
			return c
		}
		return int(a[1].(int64) - b[1].(int64))
	})
}

func rowsEqual(t *testing.T, got, want [][]any) {
	t.Helper()
	sortRows(want)
	sortRows(got)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("rows differ\n got: %v\nwant: %v", got, want)
	}
}

func dataFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "raw", "trades", "data", "*.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestAppendTwiceCommitsTwoVersions(t *testing.T) {
	f := newFixture(t)
	r1 := f.write(t, appendContract, "b1", trade("a", 1, 0), trade("b", 2, 0))
	r2 := f.write(t, appendContract, "b2", trade("c", 3, 0))
	if r1.Version != 1 || r2.Version != 2 || r1.RowsAdded != 2 || r2.RowsAdded != 1 || r1.RowsTotal != 2 || r2.RowsTotal != 3 {
		t.Fatalf("results: %+v %+v", r1, r2)
	}
	evs := f.ptr.Committed()
	if len(evs) != 2 {
		t.Fatalf("%d events", len(evs))
	}
	for i, ev := range evs {
		v := int64(i + 1)
		batch := fmt.Sprintf("b%d", v)
		if ev.Table != "raw.trades" || ev.Version != v || ev.Operation != "append" || ev.BatchID == nil || *ev.BatchID != batch {
			t.Errorf("event %d: %+v", i, ev)
		}
		if want := events.DeriveID("table-committed", "raw.trades", fmt.Sprint(v)); ev.Envelope.EventID != want {
			t.Errorf("event %d id %s, want %s", i, ev.Envelope.EventID, want)
		}
		if ev.Envelope.Domain != "raw" || ev.Envelope.CorrelationID != batch || !ev.Envelope.OccurredAt.Equal(fixedNow.Truncate(time.Microsecond)) {
			t.Errorf("event %d envelope %+v", i, ev.Envelope)
		}
		if ev.DataFilesAdded != 1 || ev.BytesAdded <= 0 || ev.RowsDeleted != 0 || ev.SchemaID != 0 {
			t.Errorf("event %d counts: %+v", i, ev)
		}
		if !strings.HasPrefix(filepath.Base(ev.MetadataLocation), fmt.Sprintf("%05d-", v)) ||
			!strings.HasSuffix(ev.MetadataLocation, ".metadata.json") {
			t.Errorf("event %d metadata location %s", i, ev.MetadataLocation)
		}
		if _, err := os.Stat(strings.TrimPrefix(ev.MetadataLocation, "file://")); err != nil {
			t.Errorf("event %d: %v", i, err)
		}
	}
	if evs[0].PreviousMetadataLocation != nil || evs[0].ParentSnapshotID != nil {
		t.Errorf("first event has a previous: %+v", evs[0])
	}
	if evs[1].PreviousMetadataLocation == nil || *evs[1].PreviousMetadataLocation != evs[0].MetadataLocation ||
		evs[1].ParentSnapshotID == nil || *evs[1].ParentSnapshotID != evs[0].SnapshotID {
		t.Errorf("second event does not chain: %+v", evs[1])
	}
	if evs[0].RowsTotal != 2 || evs[1].RowsTotal != 3 || evs[1].RowsAdded != 1 {
		t.Errorf("row counts: %+v %+v", evs[0], evs[1])
	}
	rowsEqual(t, readTable(t, f.cat, "raw.trades", 0), [][]any{trade("a", 1, 0), trade("b", 2, 0), trade("c", 3, 0)})
	rowsEqual(t, readTable(t, f.cat, "raw.trades", 1), [][]any{trade("a", 1, 0), trade("b", 2, 0)})
	info, err := f.cat.Info(t.Context(), "raw.trades")
	if err != nil {
		t.Fatal(err)
	}
	if info.Version != 2 || info.Rows != 3 || info.SnapshotID != r2.SnapshotID || info.Location != "file://"+filepath.ToSlash(f.dir)+"/raw/trades" {
		t.Errorf("info %+v", info)
	}
}

func TestSameBatchIsDeduplicated(t *testing.T) {
	f := newFixture(t)
	first := f.write(t, appendContract, "b1", trade("a", 1, 0), trade("b", 2, 0))
	files := dataFiles(t, f.dir)
	again := f.write(t, appendContract, "b1", trade("zzz", 9, 0))
	if !again.Deduplicated || again.Version != first.Version || again.SnapshotID != first.SnapshotID ||
		again.RowsAdded != 2 || again.RowsTotal != 2 {
		t.Fatalf("again = %+v, first = %+v", again, first)
	}
	if got := dataFiles(t, f.dir); !slices.Equal(got, files) {
		t.Fatalf("files changed: %v -> %v", files, got)
	}
	if n := len(f.ptr.Committed()); n != 1 {
		t.Fatalf("%d events", n)
	}
	// Still found after other batches.
	f.write(t, appendContract, "b2", trade("c", 3, 0))
	again = f.write(t, appendContract, "b1", trade("zzz", 9, 0))
	if !again.Deduplicated || again.Version != 1 {
		t.Fatalf("again = %+v", again)
	}
}

func TestExternalReaderWithIcebergGo(t *testing.T) {
	f := newFixture(t)
	f.write(t, appendContract, "b1", trade("a", 1, 0), trade("b", 2, 0))
	f.write(t, upsertContract, "b2", trade("a", 10, 5), trade("c", 3, 0))
	info, err := f.cat.Info(t.Context(), "raw.trades")
	if err != nil {
		t.Fatal(err)
	}
	// No logmesh code: iceberg-go's own local IO, from the metadata location alone.
	tbl, err := table.NewFromLocation(t.Context(), table.Identifier{"raw", "trades"}, info.MetadataLocation,
		func(ctx context.Context) (icebergIO, error) { return loadFS(ctx, info.MetadataLocation) }, nil)
	if err != nil {
		t.Fatal(err)
	}
	at, err := tbl.Scan().ToArrowTable(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer at.Release()
	if at.NumRows() != 3 || at.NumCols() != 9 {
		t.Fatalf("arrow table %d rows %d cols", at.NumRows(), at.NumCols())
	}
	got := arrowRows(t, at)
	rowsEqual(t, got, [][]any{trade("a", 10, 5), trade("b", 2, 0), trade("c", 3, 0)})
	// The data files are plain Parquet.
	for _, p := range dataFiles(t, f.dir) {
		fh, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		st, _ := fh.Stat()
		pf, err := parquet.OpenFile(fh, st.Size())
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if pf.NumRows() == 0 || len(pf.Schema().Columns()) != 9 {
			t.Errorf("%s: %d rows, %d columns", p, pf.NumRows(), len(pf.Schema().Columns()))
		}
		fh.Close()
	}
}

func TestStalePointerFails(t *testing.T) {
	f := newFixture(t)
	f.write(t, appendContract, "b1", trade("a", 1, 0))
	old, err := f.cat.LoadTable(t.Context(), table.Identifier{"raw", "trades"})
	if err != nil {
		t.Fatal(err)
	}
	f.write(t, appendContract, "b2", trade("b", 2, 0))
	tx := old.NewTransaction()
	if err := tx.SetProperties(map[string]string{"x": "y"}); err != nil {
		t.Fatal(err)
	}
	if err := tx.AssertRefSnapshotID(""); err != nil {
		t.Fatal(err)
	}
	_, err = tx.Commit(t.Context())
	if !errors.Is(err, ErrStalePointer) || !errors.Is(err, table.ErrCommitFailed) {
		t.Fatalf("commit on a stale table: %v", err)
	}
	// A Committer that sees a stale version refuses it.
	stale := &events.TableCommitted{Table: "raw.trades", Version: 2}
	if err := f.ptr.Commit(t.Context(), stale); !errors.Is(err, ErrStalePointer) {
		t.Fatalf("stale commit: %v", err)
	}
	if n := len(f.ptr.Committed()); n != 2 {
		t.Fatalf("%d events", n)
	}
}

// movingPointers moves the pointer (as a concurrent writer would) between
// a Write's read and its commit.
type movingPointers struct {
	*MemPointers
	calls int
	move  func()
}

func (m *movingPointers) Current(ctx context.Context, tbl string) (Pointer, bool, error) {
	m.calls++
	if m.calls == 2 && m.move != nil {
		m.move()
	}
	return m.MemPointers.Current(ctx, tbl)
}

func TestWriteAgainstMovedPointerFails(t *testing.T) {
	f := newFixture(t)
	f.write(t, appendContract, "b1", trade("a", 1, 0))
	// Another writer's version 2, applied to the projection mid-write.
	other := newFixture(t)
	other.write(t, appendContract, "x1", trade("x", 1, 0))
	other.write(t, appendContract, "x2", trade("y", 1, 0))
	ev := other.ptr.Committed()[1]
	mp := &movingPointers{MemPointers: f.ptr, move: func() {
		if err := f.ptr.Apply(ev); err != nil {
			t.Error(err)
		}
	}}
	cat, err := NewCatalog(f.cat.Warehouse(), mp, f.ptr)
	if err != nil {
		t.Fatal(err)
	}
	before := dataFiles(t, f.dir)
	_, err = cat.Write(t.Context(), "raw.trades", appendContract, "b2", rowsOf(trade("b", 2, 0)))
	if !errors.Is(err, ErrStalePointer) {
		t.Fatalf("write against a moved pointer: %v", err)
	}
	if got := dataFiles(t, f.dir); !slices.Equal(got, before) {
		t.Errorf("files of the failed write left behind: %v", got)
	}
}
