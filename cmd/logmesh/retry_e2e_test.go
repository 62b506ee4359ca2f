package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/logmesh/logmesh/mesh"
)

// startRetryE2E starts the platform on the retry mesh, whose one feed
// does not take the keys under lab2/.
func startRetryE2E(t *testing.T) *e2e {
	t.Helper()
	cfg := e2eConfig(t)
	var err error
	if cfg.Mesh, err = mesh.Load("testdata/retry/mesh.yaml"); err != nil {
		t.Fatal(err)
	}
	return startE2E(t, cfg)
}

// awaitFiles polls `files --json` until ok holds for n files, and returns
// the files by key.
func (e *e2e) awaitFiles(n int, what string, ok func(f fileJSON) bool) map[string]fileJSON {
	e.t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
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
		good := 0
		for _, f := range files {
			byKey[f.Key] = f
			if ok(f) {
				good++
			}
		}
		if good == n {
			return byKey
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%d of %d files %s before the deadline:\n%s", good, n, what, out)
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

// 20 files land that no feed takes; once a feed that takes their keys is
// applied, `files retry --status UNMATCHED` loads every one, each once.
func TestE2ERetryUnmatched(t *testing.T) {
	e := startRetryE2E(t)
	const n = 20
	rows := 0 // counted from the inputs, independently of the platform
	var keys []string
	for i := range n {
		var b strings.Builder
		b.WriteString("id,qty\n")
		for j := range i%7 + 1 {
			fmt.Fprintf(&b, "F%02d-R%d,%d\n", i, j, i*10+j+1)
		}
		content := b.String()
		rows += strings.Count(content, "\n") - 1
		key := fmt.Sprintf("lab2/%02d.csv", i)
		keys = append(keys, key)
		e.land(key, content)
	}
	e.awaitFiles(n, "UNMATCHED", func(f fileJSON) bool { return f.Status == "UNMATCHED" && f.Attempt == 1 })

	// None landed since a moment to come.
	later := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	if out, err := e.run("files", "retry", "--status", "UNMATCHED", "--since", later); err != nil || out != "no UNMATCHED files to retry\n" {
		t.Errorf("files retry --since %s: %v %q", later, err, out)
	}

	// The feed for lab2/ is applied to the running platform; the files
	// stay UNMATCHED until they are retried.
	if out, err := e.run("apply", "-f", "testdata/retry/mesh-lab2.yaml"); err != nil || !strings.Contains(out, "+ feed lab2") {
		t.Fatalf("apply of the lab2 feed: %v\n%s", err, out)
	}
	out, err := e.run("files", "retry", "--status", "UNMATCHED", "--since", time.Now().Add(-time.Hour).UTC().Format(time.RFC3339),
		"--reason", "the lab2 feed is defined now")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if !strings.Contains(out, "retry requested: "+k+" (attempt 2)\n") {
			t.Errorf("files retry --status UNMATCHED does not say it retried %s:\n%s", k, out)
		}
	}
	if c := strings.Count(out, "\n"); c != n {
		t.Errorf("files retry printed %d lines, want %d:\n%s", c, n, out)
	}
	// At once again: each retry is pending, or its attempt has begun;
	// nothing is requested twice.
	if again, err := e.run("files", "retry", "--status", "UNMATCHED"); err != nil || strings.Contains(again, "retry requested") {
		t.Errorf("a second files retry at once: %v\n%s", err, again)
	}

	files := e.awaitFiles(n, "PROCESSED at attempt 2", func(f fileJSON) bool { return f.Status == "PROCESSED" && f.Attempt == 2 })
	total := 0
	for _, k := range keys {
		f := files[k]
		var steps []string
		for _, s := range f.Timeline {
			steps = append(steps, fmt.Sprintf("%s@%d", s.Status, s.Attempt))
		}
		want := "RECEIVED@1 UNMATCHED@1 RETRY_REQUESTED@2 RECEIVED@2 BATCHED@2 PROCESSED@2"
		if got := strings.Join(steps, " "); got != want || f.Table != "raw.lab2" || f.Error != "" || f.Retry != 2 {
			t.Errorf("%s: table %q error %q retry %d timeline %s, want raw.lab2, no error, timeline %s", k, f.Table, f.Error, f.Retry, got, want)
		}
		total += int(f.RowsWritten)
	}
	if total != rows {
		t.Errorf("the audit says %d rows written, the inputs hold %d", total, rows)
	}

	// Nothing is left to retry, and a PROCESSED file is not retried.
	if out, err := e.run("files", "retry", "--status", "UNMATCHED"); err != nil || out != "no UNMATCHED files to retry\n" {
		t.Errorf("files retry --status UNMATCHED when all are PROCESSED: %v %q", err, out)
	}
	if out, err := e.run("files", "retry", keys[3]); err != nil || out != keys[3]+" is already PROCESSED (attempt 2); nothing to retry\n" {
		t.Errorf("files retry %s: %v %q", keys[3], err, out)
	}
	// An unknown key is an error that names it; the known key is dealt
	// with all the same.
	out, err = e.run("files", "retry", "lab2/nope.csv", keys[4])
	if !errors.Is(err, errUnknownFile) || !strings.Contains(err.Error(), "lab2/nope.csv") || !strings.Contains(err.Error(), "retried: none") ||
		!strings.Contains(out, keys[4]+" is already PROCESSED") {
		t.Errorf("files retry of an unknown key: %v %q", err, out)
	}

	got := e.query("SELECT count(*) AS n, count(DISTINCT id) AS d FROM raw.lab2")
	if c := column(got, "n", "d"); c != fmt.Sprintf("%d:%d", rows, rows) {
		t.Errorf("raw.lab2 holds %s rows (count:distinct), the inputs %d: a file loaded twice or not at all", c, rows)
	}
	e.verifyAll()
}
