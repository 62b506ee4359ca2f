package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logmesh/logmesh/internal/ingesttest/hostile"
	"github.com/logmesh/logmesh/mesh"
	"github.com/logmesh/logmesh/platform"
	"github.com/logmesh/logmesh/processors/ingest"
)

// The hostile-input suite (issue 18): every file of the corpus in
// testdata/hostile (internal/ingesttest/hostile) goes through the real
// path — landing area, watcher, planner, loader, audit — and must end in
// its expected status with a reason; nothing may crash or stall.

var updateCorpus = flag.Bool("update", false, "rewrite testdata/hostile from internal/ingesttest/hostile")

const corpusDir = "testdata/hostile"

// The committed corpus is what hostile.Files generates: regenerate it with
// go generate ./internal/ingesttest/hostile (this test with -update).
func TestHostileCorpusCommitted(t *testing.T) {
	files := hostile.Files()
	want := map[string][]byte{"mesh.yaml": []byte(hostile.MeshYAML)}
	for _, f := range files {
		if !f.AtTestTime {
			want[f.Key] = f.Content
		}
	}
	if *updateCorpus {
		if err := os.RemoveAll(corpusDir); err != nil {
			t.Fatal(err)
		}
		for key, content := range want {
			p := filepath.Join(corpusDir, filepath.FromSlash(key))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, content, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	var total int64
	got := map[string]bool{}
	err := filepath.WalkDir(corpusDir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(corpusDir, p)
		key := filepath.ToSlash(rel)
		got[key] = true
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		total += int64(len(b))
		if w, ok := want[key]; !ok {
			t.Errorf("%s: not in the corpus hostile.Files generates (stale? run go generate ./internal/ingesttest/hostile)", p)
		} else if !bytes.Equal(b, w) {
			t.Errorf("%s: differs from what hostile.Files generates (run go generate ./internal/ingesttest/hostile)", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for key := range want {
		if !got[key] {
			t.Errorf("%s: missing under %s (run go generate ./internal/ingesttest/hostile)", key, corpusDir)
		}
	}
	if total >= 100_000 {
		t.Errorf("the committed corpus is %d bytes; keep it under 100 kB (generate large cases at test time)", total)
	}
}

// hostileRow is one line of the suite's table.
type hostileRow struct{ input, outcome, reason string }

// logTable prints rows as "input | outcome | reason".
func logTable(t *testing.T, rows []hostileRow) {
	t.Helper()
	w := len("input")
	for _, r := range rows {
		w = max(w, len(r.input))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n%-*s | %-9s | %s\n", w, "input", "outcome", "reason")
	for _, r := range rows {
		reason := r.reason
		if len(reason) > 240 {
			reason = reason[:240] + "…"
		}
		fmt.Fprintf(&b, "%-*s | %-9s | %s\n", w, r.input, r.outcome, strings.ReplaceAll(reason, "\n", " "))
	}
	t.Log(b.String())
}

// startHostile starts a platform on the corpus's mesh.
func startHostile(t *testing.T) *e2e {
	t.Helper()
	m, err := mesh.Load(filepath.Join(corpusDir, "mesh.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := platform.DevConfig{Config: platform.Config{
		DataDir: t.TempDir(), Mesh: m, AdminAddr: "127.0.0.1:0",
		PlanInterval: 300 * time.Millisecond, ScanInterval: 200 * time.Millisecond,
	}, KafkaPort: -1, RegistryPort: -1}
	return startE2E(t, cfg)
}

// finalFiles waits until every key has a final status (PROCESSED, FAILED
// or UNMATCHED) in `logmesh files --json` and returns the files by key. It
// fails the test at the deadline or if a processor stops.
func (e *e2e) finalFiles(keys []string, deadline time.Duration) map[string]fileJSON {
	e.t.Helper()
	until := time.Now().Add(deadline)
	errc := e.p.Err()
	for {
		out, err := e.run("files", "--json")
		if err != nil {
			e.t.Fatal(err)
		}
		var files []fileJSON
		if err := json.Unmarshal([]byte(out), &files); err != nil {
			e.t.Fatalf("files --json: %v\n%s", err, out)
		}
		byKey := map[string]fileJSON{}
		for _, f := range files {
			byKey[f.Key] = f
		}
		var waiting []string
		for _, k := range keys {
			switch byKey[k].Status {
			case "PROCESSED", "FAILED", "UNMATCHED":
			default:
				waiting = append(waiting, k+"="+byKey[k].Status)
			}
		}
		if len(waiting) == 0 {
			return byKey
		}
		if time.Now().After(until) {
			e.t.Fatalf("no final status before the deadline for %d files: %v", len(waiting), waiting)
		}
		select {
		case err, ok := <-errc:
			if ok {
				e.t.Fatalf("a processor stopped: %v", err)
			}
			errc = nil
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// reasonOf is a file's reason: its error, then its rejections.
func reasonOf(f fileJSON) string {
	parts := []string{}
	if f.Error != "" {
		parts = append(parts, f.Error)
	}
	if len(f.Rejections) > 0 {
		parts = append(parts, "rejected: "+strings.Join(f.Rejections, "; "))
	}
	return strings.Join(parts, " / ")
}

// checkHostile asserts a file's outcome against its case and returns its row.
func checkHostile(t *testing.T, c hostile.File, f fileJSON) hostileRow {
	t.Helper()
	reason := reasonOf(f)
	row := hostileRow{c.Key, f.Status, reason}
	if reason == "" && f.Status == "PROCESSED" {
		row.reason = fmt.Sprintf("ok: %d rows written, none rejected", f.RowsWritten)
	}
	if f.Status != string(c.Outcome) {
		t.Errorf("%s: %s, want %s (reason %q)", c.Key, f.Status, c.Outcome, reason)
	}
	if reason == "" && (f.Status != "PROCESSED" || f.RowsRejected > 0) {
		t.Errorf("%s: %s with %d rejected and no reason", c.Key, f.Status, f.RowsRejected)
	}
	if c.Reason != "" && !strings.Contains(strings.ToLower(reason), c.Reason) {
		t.Errorf("%s: reason %q does not mention %q", c.Key, reason, c.Reason)
	}
	if c.Rejected >= 0 && f.RowsRejected != int64(c.Rejected) {
		t.Errorf("%s: %d rows rejected, want %d (reason %q)", c.Key, f.RowsRejected, c.Rejected, reason)
	}
	return row
}

func TestHostileFiles(t *testing.T) {
	e := startHostile(t)
	cases := hostile.Files()
	var keys []string
	for _, c := range cases {
		b := c.Content
		if !c.AtTestTime {
			var err error
			if b, err = os.ReadFile(filepath.Join(corpusDir, filepath.FromSlash(c.Key))); err != nil {
				t.Fatal(err)
			}
		}
		e.land(c.Key, string(b))
		keys = append(keys, c.Key)
	}
	files := e.finalFiles(keys, 90*time.Second)
	var rows []hostileRow
	for _, c := range cases {
		rows = append(rows, checkHostile(t, c, files[c.Key]))
	}
	slices.SortFunc(rows, func(a, b hostileRow) int { return strings.Compare(a.input, b.input) })
	logTable(t, rows)
}

// One line of 100 MB per format, written at test time into t.TempDir()
// and landed with ingest.Land (what logmesh land calls). The readers bound
// a record at formats.DefaultMaxRecordBytes and never hold the line: in
// the line-based formats it is one rejected record with a reason and the
// records around it load; CSV and JSON fail the file, "record too large".
func TestHostileLongLine(t *testing.T) {
	e := startHostile(t)
	dir := t.TempDir()
	cases := hostile.Lines()
	var keys []string
	for _, c := range cases {
		p := filepath.Join(dir, filepath.Base(c.Key))
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := hostile.WriteLine(f, c.Key, hostile.LineSize); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := ingest.Land(context.Background(), e.p.Landing, []string{p}, c.Key); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(p); err != nil { // the landing area has its copy
			t.Fatal(err)
		}
		keys = append(keys, c.Key)
	}
	files := e.finalFiles(keys, 3*time.Minute)
	var rows []hostileRow
	for _, c := range cases {
		row := checkHostile(t, c, files[c.Key])
		if w := files[c.Key].RowsWritten; c.Outcome == hostile.Processed && w != 3 {
			t.Errorf("%s: %d rows written, want the 3 good ones around the line", c.Key, w)
		}
		rows = append(rows, row)
	}
	logTable(t, rows)
}
