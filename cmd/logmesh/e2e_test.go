package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/logmesh/logmesh/internal/platform"
)

// The example mesh end to end: `logmesh dev` lands the example files, plans,
// loads and commits them; `files`, `tables` and `query` show the result.
func TestExampleMeshEndToEnd(t *testing.T) {
	dir := t.TempDir()
	p, err := platform.Start(context.Background(), platform.Config{
		DataDir: dir, KafkaPort: -1, RegistryPort: -1,
		PlanInterval: 300 * time.Millisecond, ScanInterval: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	c := &cli{t: t, p: p}

	var files []map[string]any
	deadline := time.Now().Add(2 * time.Minute)
	for {
		out, err := c.run("files", "--json")
		if err != nil {
			t.Fatal(err)
		}
		files = nil
		if err := json.Unmarshal([]byte(out), &files); err != nil {
			t.Fatalf("files --json: %v\n%s", err, out)
		}
		done := len(files) == 5
		for _, f := range files {
			if s := f["status"]; s != "PROCESSED" && s != "FAILED" {
				done = false
			}
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("files not all loaded: %v", files)
		}
		select {
		case err := <-p.Err():
			t.Fatalf("a processor stopped: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
	want := map[string][3]any{ // status, rows written, rows rejected
		"trades/trades-2026-11-24.csv":       {"PROCESSED", 4.0, 2.0},
		"trades/trades-2026-11-25.csv":       {"PROCESSED", 2.0, 0.0},
		"securities/securities.json":         {"PROCESSED", 4.0, 1.0},
		"accounts/accounts.xml":              {"PROCESSED", 4.0, 0.0},
		"positions/positions-2026-11-24.txt": {"PROCESSED", 4.0, 0.0},
	}
	seen := 0
	for _, f := range files {
		w, ok := want[f["key"].(string)]
		if !ok {
			continue
		}
		seen++
		if f["status"] != w[0] || f["rows_written"] != w[1] || f["rows_rejected"] != w[2] {
			t.Errorf("%s: status %v written %v rejected %v (error %v); want %v", f["key"], f["status"], f["rows_written"], f["rows_rejected"], f["error"], w)
		}
	}
	if seen != len(want) {
		t.Errorf("saw %d of the %d example files: %v", seen, len(want), files)
	}

	out, err := c.run("query", "--json", "--warehouse", dir+"/warehouse",
		"SELECT trade_id, qty FROM raw.trades ORDER BY trade_id")
	if err != nil {
		t.Fatal(err)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("query --json: %v\n%s", err, out)
	}
	wantRows := []string{"T0001:100", "T0002:60", "T0003:20", "T0006:75", "T0007:15"}
	if len(rows) != len(wantRows) {
		t.Fatalf("raw.trades = %v, want %v", rows, wantRows)
	}
	for i, r := range rows {
		if got := r["trade_id"].(string) + ":" + jsonNum(r["qty"]); got != wantRows[i] {
			t.Errorf("row %d = %s, want %s", i, got, wantRows[i])
		}
	}
	for _, proj := range []string{"audit", "lineage"} {
		out, err := c.run("replay", "--projection", proj, "--twice")
		if err != nil || !strings.Contains(out, "deterministic") || strings.Contains(out, "folded 0 records") {
			t.Errorf("replay %s: %q, %v", proj, out, err)
		}
	}
	out, err = c.run("tables", "--json", "--warehouse", dir+"/warehouse")
	if err != nil {
		t.Fatal(err)
	}
	var tbls []map[string]any
	if err := json.Unmarshal([]byte(out), &tbls); err != nil {
		t.Fatal(err)
	}
	if len(tbls) != 4 {
		t.Errorf("tables: %v, want 4 raw tables", tbls)
	}
}

func jsonNum(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
