package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// qaFiles are the files TestE2EApplyLive lands for the qa domain's feeds:
// one per format, and a garbled one that fails.
var qaFiles = []struct{ key, content, status string }{
	{"qa/trades/t1.csv", "trade_id,qty\nQ1,50\nQ2,7\n", "PROCESSED"},
	{"qa/securities/s1.json", `[{"isin":"QA0001","name":"One"},{"isin":"QA0002","name":"Two"}]`, "PROCESSED"},
	{"qa/quotes/q1.ndjson", "{\"isin\":\"QA0001\",\"bid\":1.5}\n{\"isin\":\"QA0002\",\"bid\":2.5}\n", "PROCESSED"},
	{"qa/accounts/a1.xml", "<accounts><account><id>A1</id><owner>ann</owner></account></accounts>", "PROCESSED"},
	{"qa/positions/p1.txt", "ACC001000042\nACC002000007\n", "PROCESSED"},
	{"qa/orders/o1.csv", "order_id,qty\nO1,5\n", "PROCESSED"},
	{"qa/trades/bad.csv", "trade_id,qty\nQ9,not-a-number\n", "FAILED"},
}

// awaitStatuses waits until every key of want has its status, and returns
// the files by key.
func (e *e2e) awaitStatuses(want map[string]string) map[string]fileJSON {
	e.t.Helper()
	return e.awaitFiles(len(want), fmt.Sprintf("with their statuses %v", want), func(f fileJSON) bool {
		s, ok := want[f.Key]
		return ok && f.Status == s
	})
}

// TestE2EApplyLive: a platform started on the example mesh takes a second
// domain applied while it runs, with no restart: a feed in every format
// loads its files; a changed validation rule judges the next file; a
// retired feed leaves the next file UNMATCHED with the retirement as its
// reason; and every live store equals its rebuilt one.
func TestE2EApplyLive(t *testing.T) {
	cfg := e2eConfig(t)
	if err := withExample(&cfg.Config); err != nil { // the example mesh, with its files
		t.Fatal(err)
	}
	e := startE2E(t, cfg)
	qa := filepath.Join("testdata", "live", "qa.yaml")
	out, err := e.run("apply", "-f", qa)
	if err != nil || !strings.Contains(out, "applied") {
		t.Fatalf("apply %s: %v\n%s", qa, err, out)
	}
	want := map[string]string{}
	for _, f := range qaFiles {
		e.land(f.key, f.content)
		want[f.key] = f.status
	}
	files := e.awaitStatuses(want)
	if f := files["qa/trades/bad.csv"]; f.Error == "" {
		t.Errorf("the failed file has no reason: %v", f)
	}
	if f := files["qa/trades/t1.csv"]; f.RowsWritten != 2 {
		t.Errorf("t1.csv under min 1: %v, want both rows written", f)
	}

	// A changed rule: qty at least 10 rejects Q4 (qty 7), which the
	// first definition took.
	text, err := os.ReadFile(qa)
	if err != nil {
		t.Fatal(err)
	}
	changed := filepath.Join(t.TempDir(), "qa.yaml")
	if err := os.WriteFile(changed, []byte(strings.Replace(string(text), `rule: min, value: "1"`, `rule: min, value: "10"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := e.run("apply", "-f", changed); err != nil || !strings.Contains(out, "~ feed qa-trades") {
		t.Fatalf("apply of the changed rule: %v\n%s", err, out)
	}
	e.land("qa/trades/t2.csv", "trade_id,qty\nQ3,50\nQ4,7\n")
	f := e.awaitStatuses(map[string]string{"qa/trades/t2.csv": "PROCESSED"})["qa/trades/t2.csv"]
	if f.RowsWritten != 1 || f.RowsRejected != 1 {
		t.Errorf("t2.csv under min 10: %v, want 1 row written and 1 rejected", f)
	}

	// Retired: a file under the retired feed's pattern is UNMATCHED,
	// naming the retirement.
	retired := filepath.Join(t.TempDir(), "qa.yaml")
	i := strings.Index(string(text), "  - name: qa-orders")
	if err := os.WriteFile(retired, []byte(strings.Replace(string(text[:i]), `rule: min, value: "1"`, `rule: min, value: "10"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := e.run("apply", "-f", retired); err != nil || !strings.Contains(out, "- feed qa-orders") {
		t.Fatalf("apply without qa-orders: %v\n%s", err, out)
	}
	e.land("qa/orders/o2.csv", "order_id,qty\nO2,3\n")
	f = e.awaitStatuses(map[string]string{"qa/orders/o2.csv": "UNMATCHED"})["qa/orders/o2.csv"]
	if !strings.Contains(f.Error, "qa-orders") || !strings.Contains(f.Error, "retired") {
		t.Errorf("the file under the retired feed: reason %q, want it to name qa-orders's retirement", f.Error)
	}
	// The retired feed's table stays readable, marked retired.
	out, err = e.run(append([]string{"tables", "--json"}, e.storeArgs()...)...)
	if err != nil {
		t.Fatal(err)
	}
	var tbls []map[string]any
	if err := json.Unmarshal([]byte(out), &tbls); err != nil {
		t.Fatal(err)
	}
	marked := false
	for _, tb := range tbls {
		if r, _ := tb["retired"].(string); tb["name"] == "qa.orders" && strings.Contains(r, "qa-orders") {
			marked = true
		} else if tb["name"] == "qa.trades" && r != "" {
			t.Errorf("qa.trades is marked retired: %v", tb)
		}
	}
	if !marked {
		t.Errorf("tables --json does not mark qa.orders retired:\n%s", out)
	}
	if got := column(e.query("SELECT count(*) AS n FROM qa.orders"), "n"); got != "1" {
		t.Errorf("rows of the retired feed's table: %s, want 1", got)
	}
	// The example mesh's own domains were not touched by qa's applies.
	if out, err := e.run("products"); err != nil || !strings.Contains(out, "research.exposure") {
		t.Errorf("products after qa's applies: %v\n%s", err, out)
	}
	e.verifyAll()
}

// TestE2ERunFollowsApply: `logmesh run watcher planner loader audit
// pointers definitions` as one process, given no mesh file, loads the
// files of a feed applied after it started.
func TestE2ERunFollowsApply(t *testing.T) {
	cfg := e2eConfig(t, "watcher", "spool", "planner", "loader", "audit", "pointers", "definitions")
	cfg.AdminAddr = ""
	cfg.Landing = filepath.Join(cfg.DataDir, "landing")
	cfg.Warehouse = filepath.Join(cfg.DataDir, "warehouse")
	cfg.S3.Endpoint = ""
	e := startE2E(t, cfg)
	proc := startProc(t, "ingest", "run", "watcher", "planner", "loader", "audit", "pointers", "definitions",
		"--brokers", strings.Join(e.p.Brokers, ","), "--registry", e.p.RegistryURL,
		"--data", filepath.Join(cfg.DataDir, "proc"), "--landing", cfg.Landing, "--warehouse", cfg.Warehouse,
		"--plan-interval", "300ms", "--scan-interval", "200ms")
	proc.Await(proc.On(`logmesh run: watcher, planner, loader, audit, pointers, definitions`), "the processors started")
	if out, err := e.run("apply", "-f", filepath.Join("testdata", "live", "qa.yaml")); err != nil {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	e.land("qa/quotes/late.ndjson", "{\"isin\":\"QA0009\",\"bid\":9.5}\n")
	f := e.awaitStatuses(map[string]string{"qa/quotes/late.ndjson": "PROCESSED"})["qa/quotes/late.ndjson"]
	if f.RowsWritten != 1 || f.Table != "qa.quotes" {
		t.Errorf("the file of the feed applied after the start: %v", f)
	}
	proc.Stop()
}
