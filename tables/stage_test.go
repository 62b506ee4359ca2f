package tables

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// stageRows returns n trades named prefix-i.
func stageRows(prefix string, n int) [][]any {
	var rows [][]any
	for i := range n {
		rows = append(rows, trade(fmt.Sprintf("%s-%04d", prefix, i), int64(i+1), i))
	}
	return rows
}

// writeSource writes rows to a new source of b.
func writeSource(t *testing.T, b *Batch, rows [][]any) *Source {
	t.Helper()
	s, err := b.Source()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if err := s.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// onDisk returns the base names of the table's data files on disk.
func onDisk(t *testing.T, f *fixture) []string {
	t.Helper()
	var names []string
	for _, p := range dataFiles(t, f.dir) {
		names = append(names, filepath.Base(p))
	}
	slices.Sort(names)
	return names
}

// referenced returns the base names of the data files of the table's
// current version.
func referenced(t *testing.T, f *fixture) []string {
	t.Helper()
	var names []string
	for _, loc := range currentFiles(t, f.cat, "raw.trades") {
		names = append(names, filepath.Base(loc))
	}
	slices.Sort(names)
	return names
}

// TestBatchKeepsAndDrops writes four sources, two small (held in memory,
// then written to the shared data files) and two large (spilled to data
// files of their own), and drops one of each: the version holds exactly
// the kept sources' rows, attributed to them in the order they were kept,
// and a dropped source's data files are removed the moment it is dropped.
func TestBatchKeepsAndDrops(t *testing.T) {
	f := newFixture(t, RowGroupSize(4<<10)) // sources spill after about 4 KiB
	b, done, err := f.cat.Begin(t.Context(), "raw.trades", appendContract, "b1")
	if err != nil || done != nil {
		t.Fatalf("Begin: %v, %v", done, err)
	}
	small, big := stageRows("small", 5), stageRows("big", 300)
	if err := writeSource(t, b, small).Keep(); err != nil {
		t.Fatal(err)
	}
	s := writeSource(t, b, stageRows("bigdropped", 300))
	if got := onDisk(t, f); !slices.ContainsFunc(got, func(n string) bool { return strings.HasSuffix(n, "-f1.parquet") }) {
		t.Fatalf("a large source has no data file of its own before it is dropped: %v", got)
	}
	s.Drop()
	if got := onDisk(t, f); slices.ContainsFunc(got, func(n string) bool { return strings.HasSuffix(n, "-f1.parquet") }) {
		t.Fatalf("the dropped source's data files are still there: %v", got)
	}
	if err := writeSource(t, b, big).Keep(); err != nil {
		t.Fatal(err)
	}
	writeSource(t, b, stageRows("smalldropped", 5)).Drop()
	res, err := b.Commit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := append(slices.Clone(small), big...)
	if res.Version != 1 || res.RowsAdded != int64(len(want)) || fmt.Sprint(res.Sources) != "[{5 0} {300 0}]" {
		t.Fatalf("result %+v; want version 1 with 305 rows from sources [{5 0} {300 0}]", res)
	}
	rowsEqual(t, readTable(t, f.cat, "raw.trades", 0), want)
	if disk, ref := onDisk(t, f), referenced(t, f); !slices.Equal(disk, ref) {
		t.Fatalf("data files on disk %v, referenced %v", disk, ref)
	}
	if ref := referenced(t, f); !slices.Contains(ref, "b1-0.parquet") || !slices.Contains(ref, "b1-0-f2.parquet") {
		t.Fatalf("referenced files %v; want the shared b1-0.parquet and b1-0-f2.parquet of the large source", ref)
	}
	// The Sources survive deduplication.
	again, done, err := f.cat.Begin(t.Context(), "raw.trades", appendContract, "b1")
	if err != nil || again != nil || done == nil || !done.Deduplicated || fmt.Sprint(done.Sources) != "[{5 0} {300 0}]" {
		t.Fatalf("Begin of a committed batch: %v, %+v, %v; want its commit", again, done, err)
	}
}

// TestBatchKilledBeforeCommit leaves a batch with written and kept sources
// without Commit or Abort, as a loader killed before its commit would: the
// table is as it was, and the redelivered batch commits exactly one
// version, overwriting the killed attempt's data files (their names are a
// function of the batch id), so no orphan remains.
func TestBatchKilledBeforeCommit(t *testing.T) {
	f := newFixture(t, RowGroupSize(4<<10))
	f.write(t, appendContract, "b0", trade("first", 1, 0))
	attempt := func() *Batch {
		b, done, err := f.cat.Begin(t.Context(), "raw.trades", appendContract, "b1")
		if err != nil || done != nil {
			t.Fatalf("Begin: %v, %v", done, err)
		}
		if err := writeSource(t, b, stageRows("a", 300)).Keep(); err != nil {
			t.Fatal(err)
		}
		writeSource(t, b, stageRows("dropped", 300)).Drop()
		if err := writeSource(t, b, stageRows("b", 3)).Keep(); err != nil {
			t.Fatal(err)
		}
		return b
	}
	attempt() // killed: neither committed nor aborted
	if c := f.ptr.Committed(); len(c) != 1 {
		t.Fatalf("%d commits after the killed attempt; want only b0's", len(c))
	}
	rowsEqual(t, readTable(t, f.cat, "raw.trades", 0), [][]any{trade("first", 1, 0)})

	res, err := attempt().Commit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if c := f.ptr.Committed(); len(c) != 2 || res.Version != 2 || res.RowsAdded != 303 {
		t.Fatalf("%d commits, result %+v; want version 2 with 303 rows", len(c), res)
	}
	want := append([][]any{trade("first", 1, 0)}, append(stageRows("a", 300), stageRows("b", 3)...)...)
	rowsEqual(t, readTable(t, f.cat, "raw.trades", 0), want)
	// The killed attempt's shared file is not written again (its rows went
	// into b1-0.parquet again, the one name), and b0's file is referenced.
	if disk, ref := onDisk(t, f), referenced(t, f); !slices.Equal(disk, ref) {
		t.Fatalf("data files on disk %v, referenced %v", disk, ref)
	}
}

// TestBatchAbortRemovesEverything aborts a batch with kept and open
// sources: no data file is left, and nothing is committed.
func TestBatchAbortRemovesEverything(t *testing.T) {
	f := newFixture(t, RowGroupSize(4<<10))
	b, _, err := f.cat.Begin(t.Context(), "raw.trades", appendContract, "b1")
	if err != nil {
		t.Fatal(err)
	}
	if err := writeSource(t, b, stageRows("a", 300)).Keep(); err != nil {
		t.Fatal(err)
	}
	if err := writeSource(t, b, stageRows("b", 5)).Keep(); err != nil {
		t.Fatal(err)
	}
	s := writeSource(t, b, stageRows("c", 300))
	b.Abort()
	b.Abort()
	if got := onDisk(t, f); len(got) != 0 {
		t.Fatalf("data files left after Abort: %v", got)
	}
	if c := f.ptr.Committed(); len(c) != 0 {
		t.Fatalf("%d commits after Abort", len(c))
	}
	if _, err := b.Commit(t.Context()); !errors.Is(err, ErrBatchDone) {
		t.Fatalf("Commit after Abort: %v; want ErrBatchDone", err)
	}
	if err := s.Write(trade("x", 1, 0)); !errors.Is(err, ErrBatchDone) {
		t.Fatalf("Write after Abort: %v; want ErrBatchDone", err)
	}
}

// TestBatchRules checks what Begin and a Batch refuse.
func TestBatchRules(t *testing.T) {
	f := newFixture(t)
	if _, _, err := f.cat.Begin(t.Context(), "raw.trades", upsertContract, "b1"); !errors.Is(err, ErrContract) {
		t.Fatalf("Begin of an upsert table: %v; want ErrContract", err)
	}
	if _, _, err := f.cat.Begin(t.Context(), "raw.trades", appendContract, "a/b"); !errors.Is(err, ErrBadBatch) {
		t.Fatalf("Begin with a bad batch id: %v; want ErrBadBatch", err)
	}
	b, _, err := f.cat.Begin(t.Context(), "raw.trades", appendContract, "b1")
	if err != nil {
		t.Fatal(err)
	}
	s := writeSource(t, b, stageRows("a", 2))
	if _, err := b.Source(); err == nil {
		t.Fatal("a second Source while the first is open: no error")
	}
	if err := s.Write([]any{"short"}); !errors.Is(err, ErrBadRow) {
		t.Fatalf("Write of a bad row: %v; want ErrBadRow", err)
	}
	if err := s.Keep(); !errors.Is(err, ErrBadRow) {
		t.Fatalf("Keep after a failed Write: %v; want its error", err)
	}
	// The failed source was dropped: the batch goes on without it.
	if err := writeSource(t, b, stageRows("b", 2)).Keep(); err != nil {
		t.Fatal(err)
	}
	res, err := b.Commit(t.Context())
	if err != nil || res.RowsAdded != 2 || len(res.Sources) != 1 {
		t.Fatalf("Commit: %+v, %v; want the 2 rows of one source", res, err)
	}
}
