package main

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkatest"
	"github.com/logmesh/logmesh/platform"
)

// The example mesh end to end: `logmesh dev` lands the example files, plans,
// loads and commits them; `files`, `tables`, `query` and `replay` show the
// result.
func TestExampleMeshEndToEnd(t *testing.T) {
	cfg := platform.DevConfig{Config: platform.Config{
		DataDir: t.TempDir(), AdminAddr: "127.0.0.1:0",
		PlanInterval: 300 * time.Millisecond, ScanInterval: 200 * time.Millisecond,
	}, KafkaPort: -1, RegistryPort: -1}
	if err := withExample(&cfg.Config); err != nil {
		t.Fatal(err)
	}
	e := startE2E(t, cfg)
	files := e.files(5)
	want := map[string]struct {
		status            string
		written, rejected float64
	}{
		"trades/trades-2026-11-24.csv":       {"PROCESSED", 4, 2},
		"trades/trades-2026-11-25.csv":       {"PROCESSED", 2, 0},
		"securities/securities.json":         {"PROCESSED", 4, 1},
		"accounts/accounts.xml":              {"PROCESSED", 4, 0},
		"positions/positions-2026-11-24.txt": {"PROCESSED", 4, 0},
	}
	if len(files) != len(want) {
		t.Errorf("%d files in the audit, want the %d example files: %v", len(files), len(want), files)
	}
	for key, w := range want {
		f := files[key]
		if f == nil || f["status"] != w.status || loaded(f) != w.written || f["rows_rejected"] != w.rejected {
			t.Errorf("%s: %v; want %s written %v rejected %v", key, f, w.status, w.written, w.rejected)
		}
	}

	if got, want := column(e.query("SELECT trade_id, qty FROM raw.trades ORDER BY trade_id"), "trade_id", "qty"),
		"T0001:100,T0002:60,T0003:20,T0006:75,T0007:15"; got != want {
		t.Errorf("raw.trades = %s, want %s", got, want)
	}
	for _, proj := range []string{"audit", "lineage"} {
		out, err := e.run("replay", "--projection", proj, "--twice")
		if err != nil || !strings.Contains(out, "deterministic") || strings.Contains(out, "folded 0 records") {
			t.Errorf("replay %s: %q, %v", proj, out, err)
		}
	}
	out, err := e.run(append([]string{"tables", "--json"}, e.storeArgs()...)...)
	if err != nil {
		t.Fatal(err)
	}
	var tbls []map[string]any
	if err := json.Unmarshal([]byte(out), &tbls); err != nil {
		t.Fatal(err)
	}
	if len(tbls) < 4 {
		t.Errorf("tables: %v, want the 4 raw tables", tbls)
	}

	// The products: research.exposure once both its inputs have a version,
	// research.top_issuers after it, wealth.client_activity from trades.
	for _, p := range []struct{ product, sql, want string }{
		{"research.exposure", "SELECT isin, net_qty FROM research.exposure ORDER BY isin", ""},
		{"research.top_issuers", "SELECT isin FROM research.top_issuers ORDER BY isin", ""},
		{"wealth.client_activity", "SELECT account, trades, qty FROM wealth.client_activity ORDER BY account", ""},
	} {
		e.awaitProduct(p.product)
		if rows := e.query(p.sql); len(rows) == 0 {
			t.Errorf("%s has no rows", p.product)
		}
	}
	if got := column(e.query("SELECT account, trades, qty FROM wealth.client_activity ORDER BY account"), "account", "trades", "qty"); got != "AC1001:2:120,AC1002:1:60,AC1003:1:15,AC1004:1:75" {
		t.Errorf("wealth.client_activity = %s", got)
	}
	out, err = e.run("products", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var prods []map[string]any
	if err := json.Unmarshal([]byte(out), &prods); err != nil {
		t.Fatal(err)
	}
	for _, p := range prods {
		if v, _ := p["version"].(float64); p["name"] == "research.exposure" && (p["status"] != "SUCCEEDED" && p["status"] != "RUNNING" || p["last_run"] == nil ||
			p["freshness"] != "ok" || v < 1) {
			t.Errorf("products: research.exposure %v, want a version, SUCCEEDED, fresh", p)
		}
	}

	// The mesh bus: research gets the refreshes of trades and securities
	// (granted, subscribed), wealth those of trades (granted; securities is
	// not granted to it); accounts and positions are the raw domain's own.
	for domain, want := range map[string][]string{
		"research": {"raw.securities", "raw.trades", "research.exposure"}, // exposure: top_issuers reads it
		"wealth":   {"raw.trades"},
	} {
		if got := e.inboxProducts(domain, len(want)); !slices.Equal(got, want) {
			t.Errorf("%s inbox: refreshes of %v, want %v", domain, got, want)
		}
	}
}

// inboxProducts waits until domain's inbox holds refreshes of at least n
// products, and returns the products, sorted and once each.
func (e *e2e) inboxProducts(domain string, n int) []string {
	e.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		seen := map[string]bool{}
		for _, r := range kafkatest.ReadAll(e.t, e.p.Brokers, events.InboxTopic(domain)) {
			if ev, err := e.p.Codec.Decode(context.Background(), r.Value); err == nil {
				if pr, ok := ev.(*events.ProductRefreshed); ok {
					seen[pr.Product] = true
				}
			}
		}
		if len(seen) >= n || time.Now().After(deadline) {
			return slices.Sorted(maps.Keys(seen))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// awaitProduct waits until product's first job succeeded.
func (e *e2e) awaitProduct(product string) {
	e.t.Helper()
	owner, _, _ := strings.Cut(product, ".")
	deadline := time.Now().Add(2 * time.Minute)
	for {
		for _, r := range kafkatest.ReadAll(e.t, e.p.Brokers, events.DomainTopic(owner)) {
			if ev, err := e.p.Codec.Decode(context.Background(), r.Value); err == nil {
				if jf, ok := ev.(*events.JobFinished); ok && jf.Product == product {
					if jf.Status == events.StatusSucceeded {
						return
					}
					e.t.Fatalf("%s failed: %s", product, deref(jf.Error))
				}
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s never ran", product)
		}
		time.Sleep(150 * time.Millisecond)
	}
}
