package loader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/tables"
)

// The tests of the one pass of an append batch (docs/decisions/0005,
// update of 2026-12-01): a file that fails at its end leaves nothing in
// the table version, and nothing on disk.

// pipeRow is a row of the pipe feed's table, as parquet-go reads it.
type pipeRow struct {
	ID   int64  `parquet:"id"`
	Qty  int64  `parquet:"qty"`
	Note string `parquet:"note"`
}

// tableIDs returns the sorted ids of the rows of the current version of
// raw.pipe, read from its data files with parquet-go alone, and the base
// names of those files.
func (r *pipeRig) tableIDs(t *testing.T) (ids []int64, files []string) {
	t.Helper()
	locs, err := r.cat.Files(t.Context(), "raw.pipe", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, loc := range locs {
		rows, err := parquet.ReadFile[pipeRow](strings.TrimPrefix(loc, "file://"))
		if err != nil {
			t.Fatal(err)
		}
		for _, row := range rows {
			ids = append(ids, row.ID)
		}
		files = append(files, filepath.Base(loc))
	}
	slices.Sort(ids)
	slices.Sort(files)
	return ids, files
}

// onDisk returns the base names of the Parquet files in the warehouse.
func (r *pipeRig) onDisk(t *testing.T) []string {
	t.Helper()
	var names []string
	dir := strings.TrimPrefix(r.wh.Location(), "file://")
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".parquet") {
			names = append(names, filepath.Base(p))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	return names
}

// goodIDs returns the ids pipeCSV(n) gives rows for, offset by base (see
// offsetCSV).
func goodIDs(n int, base int64) []int64 {
	var ids []int64
	for i := 1; i <= n; i++ {
		if i%17 != 0 && i%13 != 0 {
			ids = append(ids, base+int64(i))
		}
	}
	return ids
}

// offsetCSV is pipeCSV(n) with every id moved by base, so the rows of
// several files can be told apart.
func offsetCSV(n int, base int64) string {
	lines := strings.Split(pipeCSV(n), "\n")
	for i := 1; i < len(lines); i++ {
		id, rest, ok := strings.Cut(lines[i], ",")
		if !ok {
			continue
		}
		var x int64
		fmt.Sscan(id, &x)
		lines[i] = fmt.Sprintf("%d,%s", x+base, rest)
	}
	return strings.Join(lines, "\n")
}

// rejectingCSV is a CSV of n records of which 3 in 5 have qty 0, above
// pipe's threshold of 0.5; each has a note of 1 KB, so the good ones alone
// are megabytes and the file's rows spill to data files of its own before
// its end.
func rejectingCSV(n int, base int64) string {
	var b strings.Builder
	b.WriteString("id,qty,note\n")
	note := strings.Repeat("x", 1<<10)
	for i := 1; i <= n; i++ {
		qty := 1
		if i%5 < 3 {
			qty = 0
		}
		fmt.Fprintf(&b, "%d,%d,%s\n", base+int64(i), qty, note)
	}
	return b.String()
}

// result returns the FileProcessed and FileFailed events of out by file
// key.
func results(out []events.Event) (processed map[string]*events.FileProcessed, failed map[string]*events.FileFailed) {
	processed, failed = map[string]*events.FileProcessed{}, map[string]*events.FileFailed{}
	for _, ev := range out {
		switch e := ev.(type) {
		case *events.FileProcessed:
			processed[e.FileKey] = e
		case *events.FileFailed:
			failed[e.FileKey] = e
		}
	}
	return processed, failed
}

// TestOnePassDropsAFileOverItsThreshold loads a batch of a large good
// file, a large file over its reject threshold and a small good file: the
// version holds the good files' rows only, none of its data files is the
// failed file's, and no data file of the failed file is left on disk.
func TestOnePassDropsAFileOverItsThreshold(t *testing.T) {
	r := newPipeRig(t)
	const n = 20000
	files := []events.BatchFile{
		r.land(t, "pipe/a.csv", offsetCSV(n, 0)),
		r.land(t, "pipe/bad.csv", rejectingCSV(n, 1_000_000)),
		r.land(t, "pipe/c.csv", offsetCSV(100, 2_000_000)),
	}
	out, res, err := r.bl.load(t.Context(), r.batch("b-1", files...), "cause")
	r.noGoroutines(t)
	if err != nil {
		t.Fatal(err)
	}
	processed, failed := results(out)
	ff := failed["pipe/bad.csv"]
	if len(processed) != 2 || len(failed) != 1 || ff == nil || ff.Stage != "validate" || ff.RecordsRead != n || ff.RecordsRejected != n*3/5 {
		t.Fatalf("processed %v, failed %+v; want a.csv and c.csv processed, bad.csv failed at validate with %d of %d rejected", processed, ff, n*3/5, n)
	}
	want := append(goodIDs(n, 0), goodIDs(100, 2_000_000)...)
	if res == nil || res.Version != 1 || res.RowsAdded != int64(len(want)) || len(res.Sources) != 2 ||
		res.Sources[0].Kept != int64(len(goodIDs(n, 0))) || res.Sources[1].Kept != int64(len(goodIDs(100, 0))) {
		t.Fatalf("result %+v; want version 1 with %d rows from 2 sources", res, len(want))
	}
	if fp := processed["pipe/c.csv"]; fp.RecordsInVersion == nil || *fp.RecordsInVersion != int64(len(goodIDs(100, 0))) {
		t.Fatalf("c.csv's FileProcessed %+v; want its rows in the version", fp)
	}
	ids, refs := r.tableIDs(t)
	if !slices.Equal(ids, want) {
		t.Fatalf("the version has %d rows, want the %d of the good files", len(ids), len(want))
	}
	// Sources are numbered from 0 in the batch: bad.csv's data files
	// would be named b-1-<n>-f1.parquet.
	for _, f := range refs {
		if strings.HasSuffix(f, "-f1.parquet") {
			t.Errorf("the version references %s, a data file of the failed file", f)
		}
	}
	if disk := r.onDisk(t); !slices.Equal(disk, refs) {
		t.Fatalf("data files on disk %v, in the version %v: the failed file's are left", disk, refs)
	}
	if !slices.Contains(refs, "b-1-0-f0.parquet") {
		t.Fatalf("data files %v; want a.csv's own b-1-0-f0.parquet (it outgrew the in-memory buffer)", refs)
	}
}

// changedOpener serves landed files, but one key's content is other than
// what landed (and than its checksum) from the middle of the file on: the
// file changed while it was read.
type changedOpener struct {
	Opener
	key     string
	content string
}

func (o *changedOpener) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if key == o.key {
		return io.NopCloser(strings.NewReader(o.content)), nil
	}
	return o.Opener.Open(ctx, key)
}

// TestOnePassChecksumChangedMidRead changes a large file from its middle
// on, with every record still valid: only the checksum, at the file's end,
// tells. The file fails at read with none of its rows in the version nor
// any of its data files on disk; the batch's other file commits.
func TestOnePassChecksumChangedMidRead(t *testing.T) {
	r := newPipeRig(t)
	const n = 20000
	content := offsetCSV(n, 0)
	changed := r.land(t, "pipe/changed.csv", content)
	good := r.land(t, "pipe/good.csv", offsetCSV(500, 1_000_000))
	mid := len(content) / 2
	later := content[:mid] + strings.Replace(content[mid:], ",3,", ",4,", 1)
	if later == content {
		t.Fatal("the change changed nothing")
	}
	r.bl.files = &changedOpener{Opener: r.bl.files, key: changed.Key, content: later}
	out, res, err := r.bl.load(t.Context(), r.batch("b-1", changed, good), "cause")
	r.noGoroutines(t)
	if err != nil {
		t.Fatal(err)
	}
	processed, failed := results(out)
	ff := failed["pipe/changed.csv"]
	if len(processed) != 1 || processed["pipe/good.csv"] == nil || ff == nil || ff.Stage != "read" || !strings.Contains(ff.Reason, "checksum") {
		t.Fatalf("processed %v, failed %+v; want good.csv processed and changed.csv failed at read on its checksum", processed, ff)
	}
	want := goodIDs(500, 1_000_000)
	if res == nil || res.RowsAdded != int64(len(want)) {
		t.Fatalf("result %+v; want %d rows", res, len(want))
	}
	ids, refs := r.tableIDs(t)
	if !slices.Equal(ids, want) {
		t.Fatalf("the version has %d rows, want the %d of good.csv", len(ids), len(want))
	}
	if disk := r.onDisk(t); !slices.Equal(disk, refs) {
		t.Fatalf("data files on disk %v, in the version %v: the changed file's are left", disk, refs)
	}
}

// failingCommitter is a tables.Committer whose first commit fails after
// the new metadata was written: the outcome of the commit is unknown to
// the writer, which leaves its data files, as a loader killed between
// writing its files and committing would.
type failingCommitter struct {
	*tables.MemPointers
	failed bool
}

var errKilled = errors.New("killed before the commit")

func (c *failingCommitter) Commit(ctx context.Context, ev *events.TableCommitted) error {
	if !c.failed {
		c.failed = true
		return errKilled
	}
	return c.MemPointers.Commit(ctx, ev)
}

// TestOnePassKilledBeforeCommit fails a batch after its data files are
// written but before its commit, and redelivers it: the table is as it was
// until the redelivery, which commits exactly one version with the batch's
// rows; and since data file names are a function of the batch id, the
// redelivery overwrote the attempt's files, so none is orphaned.
func TestOnePassKilledBeforeCommit(t *testing.T) {
	r := newPipeRig(t)
	com := &failingCommitter{MemPointers: r.ptr}
	cat, err := tables.NewCatalog(r.wh, r.ptr, com)
	if err != nil {
		t.Fatal(err)
	}
	r.cat, r.bl.writer = cat, cat
	const n = 20000
	files := []events.BatchFile{
		r.land(t, "pipe/a.csv", offsetCSV(n, 0)),
		r.land(t, "pipe/bad.csv", rejectingCSV(n, 1_000_000)),
		r.land(t, "pipe/c.csv", offsetCSV(100, 2_000_000)),
	}
	b := r.batch("b-1", files...)
	if _, res, err := r.bl.load(t.Context(), b, "cause"); !errors.Is(err, errKilled) || res != nil {
		t.Fatalf("load: %+v, %v; want the commit to fail", res, err)
	}
	r.noGoroutines(t)
	if c := r.ptr.Committed(); len(c) != 0 {
		t.Fatalf("%d commits after the failed attempt; want none", len(c))
	}
	if _, ok, err := r.ptr.Current(t.Context(), "raw.pipe"); ok || err != nil {
		t.Fatalf("raw.pipe has a version after the failed attempt (%v)", err)
	}
	if disk := r.onDisk(t); len(disk) == 0 {
		t.Fatal("the failed attempt left no data file: the test does not kill after writing")
	}

	_, res, err := r.bl.load(t.Context(), b, "cause")
	r.noGoroutines(t)
	if err != nil {
		t.Fatal(err)
	}
	want := append(goodIDs(n, 0), goodIDs(100, 2_000_000)...)
	if c := r.ptr.Committed(); len(c) != 1 || res == nil || res.Version != 1 || res.RowsAdded != int64(len(want)) {
		t.Fatalf("%d commits, result %+v; want exactly version 1 with %d rows", len(c), res, len(want))
	}
	ids, refs := r.tableIDs(t)
	if !slices.Equal(ids, want) {
		t.Fatalf("the version has %d rows, want %d", len(ids), len(want))
	}
	if disk := r.onDisk(t); !slices.Equal(disk, refs) {
		t.Fatalf("data files on disk %v, in the version %v", disk, refs)
	}
	// Delivered once more, the batch is found in the table's history.
	_, again, err := r.bl.load(t.Context(), b, "cause")
	if err != nil || again == nil || !again.Deduplicated || again.Version != 1 || len(r.ptr.Committed()) != 1 {
		t.Fatalf("third delivery: %+v, %v; want the deduplicated version 1", again, err)
	}
}

// A file that no longer parses because it changed after it landed fails
// at stage read with the change as its reason (its parse error beside it),
// not as an unparsable file: emptied, truncated inside a quote, grown with
// a broken record, rewritten in place with the same size. A file that
// landed unparsable still fails at stage parse.
func TestHostileChangedFileFailsOnTheChange(t *testing.T) {
	const landed = "id,qty\n1,3\n2,4\n"
	for _, tc := range []struct {
		name, now, stage, reason string
	}{
		{"emptied", "", "read", "it has 0 bytes now, it landed with 15"},
		{"truncated in a quote", "id,qty\n1,\"3", "read", "it has 11 bytes now"},
		{"grown with a broken record", landed + "3,\"5\n", "read", "changed after it landed"},
		{"same size, broken", "id,qty\n1,\"3\n2,4", "read", "checksum"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newPipeRig(t)
			f := r.land(t, "pipe/c.csv", landed)
			r.bl.files = &changedOpener{Opener: r.bl.files, key: f.Key, content: tc.now}
			out, res, err := r.bl.load(t.Context(), r.batch("b-1", f), "cause")
			r.noGoroutines(t)
			if err != nil {
				t.Fatal(err)
			}
			_, failed := results(out)
			ff := failed[f.Key]
			if ff == nil || res != nil {
				t.Fatalf("result %+v, events %v; want the file failed, nothing committed", res, out)
			}
			if ff.Stage != tc.stage || !strings.Contains(ff.Reason, tc.reason) || !strings.Contains(ff.Reason, "changed after it landed") ||
				!strings.Contains(ff.Reason, "fails to parse") {
				t.Errorf("failed at %s: %q; want stage %s naming the change (%q) and the parse error", ff.Stage, ff.Reason, tc.stage, tc.reason)
			}
		})
	}
	t.Run("landed unparsable", func(t *testing.T) {
		r := newPipeRig(t)
		f := r.land(t, "pipe/c.csv", "id,qty\n1,\"3")
		out, _, err := r.bl.load(t.Context(), r.batch("b-1", f), "cause")
		r.noGoroutines(t)
		if err != nil {
			t.Fatal(err)
		}
		_, failed := results(out)
		if ff := failed[f.Key]; ff == nil || ff.Stage != "parse" || strings.Contains(ff.Reason, "changed") {
			t.Errorf("failed %+v; want stage parse, with no change named", ff)
		}
	})
}
