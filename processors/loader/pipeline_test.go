package loader

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/formats"
	"github.com/logmesh/logmesh/internal/validate"
	"github.com/logmesh/logmesh/mesh"
	"github.com/logmesh/logmesh/processors/ingest"
	"github.com/logmesh/logmesh/tables"
)

// The tests of the loader's goroutines: the parse-ahead of scan, the
// row hand-over of the one pass (rowSink) and of the second pass of an
// upsert batch (batchRows), on files of many batches.

const pipeMesh = `
domains:
  - name: raw
feeds:
  - name: pipe
    table: raw.pipe
    key_pattern: "pipe/*.csv"
    format: csv
    options: {header: true}
    mode: append
    reject_threshold: 0.5
    schema:
      type: record
      name: Pipe
      fields:
        - {name: id, type: long}
        - {name: qty, type: long}
        - {name: note, type: string}
    rules:
      - {field: qty, rule: min, value: "1"}
  - name: pipe_up
    table: raw.pipe_up
    key_pattern: "pipeup/*.csv"
    format: csv
    options: {header: true}
    mode: upsert
    primary_key: [id]
    reject_threshold: 0.5
    schema:
      type: record
      name: PipeUp
      fields:
        - {name: id, type: long}
        - {name: qty, type: long}
        - {name: note, type: string}
    rules:
      - {field: qty, rule: min, value: "1"}
`

// pipeCSV is a CSV of n records: every 13th has qty 0 (rejected by the
// rule), every 17th has a missing field (a parse error), every 29th a note
// longer than a RecordRejected keeps, and every 997th a note of 300 KB,
// which closes a parse batch early (parseBatchBytes).
func pipeCSV(n int) string {
	var b strings.Builder
	b.WriteString("id,qty,note\n")
	for i := 1; i <= n; i++ {
		note := fmt.Sprintf("note %d", i)
		switch {
		case i%997 == 0:
			note = strings.Repeat("w", 300<<10)
		case i%29 == 0:
			note = strings.Repeat("n", maxRaw+200)
		}
		switch {
		case i%17 == 0:
			fmt.Fprintf(&b, "%d,%s\n", i, note)
		case i%13 == 0:
			fmt.Fprintf(&b, "%d,0,%s\n", i, note)
		default:
			fmt.Fprintf(&b, "%d,%d,\"%s\"\n", i, i%50+1, note)
		}
	}
	return b.String()
}

// pipeRig is a batch loader on a landing directory and a local warehouse
// with in-memory pointers, without Kafka.
type pipeRig struct {
	landing string
	wh      *tables.Warehouse
	ptr     *tables.MemPointers
	cat     *tables.Catalog
	bl      *batchLoader
	feed    *mesh.Feed
	v       *validate.Validator
}

func newPipeRig(t *testing.T) *pipeRig {
	t.Helper()
	r := &pipeRig{landing: t.TempDir()}
	src, err := ingest.NewLocalSource(r.landing)
	if err != nil {
		t.Fatal(err)
	}
	m, err := mesh.Parse([]byte(pipeMesh), "mesh.yaml", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if r.wh, err = tables.OpenWarehouse(t.Context(), t.TempDir(), nil); err != nil {
		t.Fatal(err)
	}
	r.ptr = tables.NewMemPointers()
	if r.cat, err = tables.NewCatalog(r.wh, r.ptr, r.ptr); err != nil {
		t.Fatal(err)
	}
	r.bl = &batchLoader{log: slog.New(slog.DiscardHandler), feeds: Static(m), parsers: formats.NewRegistry(), files: src, writer: r.cat, now: time.Now}
	r.feed, _ = m.Feed("pipe")
	if r.v, err = validate.New(r.feed); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if n := r.bl.running.Load(); n != 0 {
			t.Errorf("%d scan goroutines still running at the end of the test", n)
		}
	})
	return r
}

func (r *pipeRig) land(t *testing.T, key, content string) events.BatchFile {
	t.Helper()
	p := filepath.Join(r.landing, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(content))
	return events.BatchFile{Key: key, Checksum: hex.EncodeToString(sum[:]), Size: int64(len(content))}
}

func (r *pipeRig) batch(id string, files ...events.BatchFile) *events.BatchPlanned {
	return &events.BatchPlanned{BatchID: id, Feed: "pipe", Table: "raw.pipe", Files: files}
}

// noGoroutines fails unless every scan goroutine has ended: load and scan
// wait for theirs before returning.
func (r *pipeRig) noGoroutines(t *testing.T) {
	t.Helper()
	if n := r.bl.running.Load(); n != 0 {
		t.Fatalf("%d scan goroutines still running after return", n)
	}
}

// noFiles fails if the warehouse holds any file: a failed load must leave
// no data file and commit nothing.
func (r *pipeRig) noFiles(t *testing.T) {
	t.Helper()
	if c := r.ptr.Committed(); len(c) != 0 {
		t.Fatalf("%d commits, want none", len(c))
	}
	dir := strings.TrimPrefix(r.wh.Location(), "file://")
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".parquet") {
			t.Errorf("data file left behind: %s", p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// seen is what scan or a plain Reader gave for one record.
type seen struct {
	number, line int64
	fields       string
	raw          string
	recErr       string
}

func seenOf(rec formats.Record, recErr *formats.RecordError) seen {
	if recErr != nil {
		return seen{number: recErr.Number, line: recErr.Line, raw: string(recErr.Raw), recErr: recErr.Err.Error()}
	}
	var f strings.Builder
	for _, x := range rec.Fields {
		fmt.Fprintf(&f, "%s=%q/%v;", x.Name, x.Value, x.Null)
	}
	raw := rec.Raw
	if len(raw) > maxRaw+1 { // scan keeps what a RecordRejected can use
		raw = raw[:maxRaw+1]
	}
	return seen{number: rec.Number, line: rec.Line, fields: f.String(), raw: string(raw)}
}

// TestScanGivesWhatTheReaderGives checks that the parse-ahead hands over
// every record and bad record in file order with the same fields, lines
// and raw text as the Reader alone, across many batches (some closed early
// by wide records), and that a broken end still comes after the records
// before it.
func TestScanGivesWhatTheReaderGives(t *testing.T) {
	r := newPipeRig(t)
	content := pipeCSV(5000)
	for _, tc := range []struct {
		name, content string
		checksum      string // "" for the right one
		wantStage     string // "" for no broken file
	}{
		{name: "whole", content: content},
		{name: "truncated", content: content + "5001,1,\"open quote\n", wantStage: "parse"},
		{name: "changed", content: content, checksum: strings.Repeat("0", 64), wantStage: "read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := r.land(t, "pipe/"+tc.name+".csv", tc.content)
			if tc.checksum != "" {
				f.Checksum = tc.checksum
			}
			var want []seen
			rd, err := r.bl.parsers.Open(r.feed.Format, strings.NewReader(tc.content), r.feed.ParserOptions())
			if err != nil {
				t.Fatal(err)
			}
			for {
				rec, err := rd.Next()
				if err == io.EOF {
					break
				}
				var re *formats.RecordError
				if errors.As(err, &re) {
					want = append(want, seenOf(formats.Record{}, re))
					continue
				}
				if err != nil {
					break // the broken end
				}
				want = append(want, seenOf(rec, nil))
			}
			var got []seen
			err = r.bl.scan(t.Context(), r.feed, r.v, f, func(rec formats.Record, recErr *formats.RecordError, _ *validate.FileCheck) error {
				got = append(got, seenOf(rec, recErr))
				return nil
			})
			r.noGoroutines(t)
			var broken *brokenFile
			switch {
			case tc.wantStage == "" && err != nil:
				t.Fatalf("scan: %v", err)
			case tc.wantStage != "" && (!errors.As(err, &broken) || broken.stage != tc.wantStage):
				t.Fatalf("scan: %v; want a broken file at %s", err, tc.wantStage)
			}
			if len(got) != len(want) {
				t.Fatalf("scan gave %d records, the reader %d", len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("record %d: scan gave %+v, the reader %+v", i, got[i], want[i])
				}
			}
		})
	}
}

// TestScanStopsItsParser checks that an error from fn, or a cancelled
// context, ends scan with the parser goroutine ended, while the parser is
// batches ahead.
func TestScanStopsItsParser(t *testing.T) {
	r := newPipeRig(t)
	f := r.land(t, "pipe/a.csv", pipeCSV(20000))
	stop := errors.New("enough")
	n := 0
	err := r.bl.scan(t.Context(), r.feed, r.v, f, func(formats.Record, *formats.RecordError, *validate.FileCheck) error {
		if n++; n == 300 {
			return stop
		}
		return nil
	})
	r.noGoroutines(t)
	if !errors.Is(err, stop) || n != 300 {
		t.Fatalf("scan: %v after %d records; want fn's error after 300", err, n)
	}

	ctx, cancel := context.WithCancel(t.Context())
	n = 0
	err = r.bl.scan(ctx, r.feed, r.v, f, func(formats.Record, *formats.RecordError, *validate.FileCheck) error {
		if n++; n == 300 {
			cancel()
		}
		return nil
	})
	r.noGoroutines(t)
	if !errors.Is(err, context.Canceled) || n >= 20000 {
		t.Fatalf("scan: %v after %d records; want context.Canceled before the end", err, n)
	}
}

// TestLoadManyBatches loads three files of many batches each into one
// commit and checks the counts and the per-file attribution.
func TestLoadManyBatches(t *testing.T) {
	r := newPipeRig(t)
	var files []events.BatchFile
	for i, n := range []int{3000, 1, 7001} {
		files = append(files, r.land(t, fmt.Sprintf("pipe/%d.csv", i), pipeCSV(n)))
	}
	out, res, err := r.bl.load(t.Context(), r.batch("b-1", files...), "cause")
	r.noGoroutines(t)
	if err != nil {
		t.Fatal(err)
	}
	good := func(n int) (g int64) {
		for i := 1; i <= n; i++ {
			if i%17 != 0 && i%13 != 0 {
				g++
			}
		}
		return g
	}
	want := []int64{good(3000), good(1), good(7001)}
	if res == nil || res.RowsAdded != want[0]+want[1]+want[2] || len(res.Sources) != 3 {
		t.Fatalf("result %+v; want %v rows in 3 sources", res, want)
	}
	for i, w := range want {
		if res.Sources[i].Kept != w {
			t.Errorf("source %d kept %d rows, want %d", i, res.Sources[i].Kept, w)
		}
	}
	var processed, rejected int
	for _, ev := range out {
		switch e := ev.(type) {
		case *events.FileProcessed:
			processed++
		case *events.RecordRejected:
			rejected++
			if e.Raw == nil || len(*e.Raw) > maxRaw || e.RawTruncated != (len(*e.Raw) == maxRaw) {
				t.Errorf("record %d rejected with raw %d bytes, truncated %v", e.RecordNumber, len(*e.Raw), e.RawTruncated)
			}
		}
	}
	wantRejected := int64(0)
	for i, n := range []int64{3000, 1, 7001} {
		wantRejected += min(n-want[i], maxRejectEvents)
	}
	if processed != 3 || int64(rejected) != wantRejected {
		t.Errorf("%d FileProcessed and %d RecordRejected; want 3 and %d", processed, rejected, wantRejected)
	}
}

// TestLoadWriteErrorCommitsNothing makes the table writer fail on its
// first data file, while the parser and the validator are rows ahead: the
// error surfaces, nothing is committed, no data file is left and every
// goroutine has ended.
func TestLoadWriteErrorCommitsNothing(t *testing.T) {
	r := newPipeRig(t)
	f := r.land(t, "pipe/a.csv", pipeCSV(20000))
	// A file where the table's data directory should be: creating the
	// first data file fails.
	loc := strings.TrimPrefix(r.wh.TableLocation("raw", "pipe"), "file://")
	if err := os.MkdirAll(loc, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(loc, "data"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, res, err := r.bl.load(t.Context(), r.batch("b-1", f), "cause")
	r.noGoroutines(t)
	if err == nil || res != nil {
		t.Fatalf("load: %+v, %v; want the write error", res, err)
	}
	t.Logf("load: %v", err)
	r.noFiles(t)
}

// cancellingOpener opens files through an Opener and cancels the load's
// context once after bytes have been read from them.
type cancellingOpener struct {
	Opener
	cancel context.CancelFunc
	after  int
	read   atomic.Int64
}

func (o *cancellingOpener) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	rc, err := o.Opener.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	return &cancellingReader{ReadCloser: rc, o: o}, nil
}

type cancellingReader struct {
	io.ReadCloser
	o *cancellingOpener
}

func (r *cancellingReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if total := r.o.read.Add(int64(n)); total >= int64(r.o.after) && total-int64(n) < int64(r.o.after) {
		r.o.cancel()
	}
	return n, err
}

// TestLoadCancelledWhileWriting cancels the load while rows are in
// flight (the file is read well past its first data file): the load
// fails, commits nothing, and leaves no goroutine and no data file.
func TestLoadCancelledWhileWriting(t *testing.T) {
	r := newPipeRig(t)
	content := pipeCSV(40000)
	f := r.land(t, "pipe/a.csv", content)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	r.bl.files = &cancellingOpener{Opener: r.bl.files, cancel: cancel, after: len(content) * 3 / 4}
	_, res, err := r.bl.load(ctx, r.batch("b-1", f), "cause")
	r.noGoroutines(t)
	if !errors.Is(err, context.Canceled) || res != nil {
		t.Fatalf("load: %+v, %v; want context.Canceled", res, err)
	}
	r.noFiles(t)
}

// changingOpener gives a file's content on the first Open and other
// content from the second on: the file changed between the passes.
type changingOpener struct {
	first, later []byte
	opens        atomic.Int32
}

func (o *changingOpener) Open(context.Context, string) (io.ReadCloser, error) {
	if o.opens.Add(1) == 1 {
		return io.NopCloser(bytes.NewReader(o.first)), nil
	}
	return io.NopCloser(bytes.NewReader(o.later)), nil
}

// TestLoadFileChangedBetweenPasses changes the file of an upsert batch
// (two passes) after its first pass: the second pass fails the batch
// attempt after rows were written, and nothing is committed.
func TestLoadFileChangedBetweenPasses(t *testing.T) {
	r := newPipeRig(t)
	content := pipeCSV(20000)
	f := r.land(t, "pipeup/a.csv", content)
	// The same records but one: both passes count the same valid rows,
	// and only the checksum tells.
	later := strings.Replace(content, "\n2,3,", "\n2,4,", 1)
	r.bl.files = &changingOpener{first: []byte(content), later: []byte(later)}
	b := &events.BatchPlanned{BatchID: "b-1", Feed: "pipe_up", Table: "raw.pipe_up", Files: []events.BatchFile{f}}
	_, res, err := r.bl.load(t.Context(), b, "cause")
	r.noGoroutines(t)
	if err == nil || res != nil || !strings.Contains(err.Error(), "second pass") {
		t.Fatalf("load: %+v, %v; want the second pass to fail", res, err)
	}
	r.noFiles(t)
}
