package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logmesh/logmesh/internal/kafkatest"
	"github.com/logmesh/logmesh/mesh"
	"github.com/logmesh/logmesh/platform"
)

// A mesh whose only domain is not raw, given to dev with no apply.
const labMesh = `
domains:
  - name: lab
feeds:
  - name: trades
    table: lab.trades
    key_pattern: "trades/*.csv"
    format: csv
    options: {header: true}
    schema:
      type: record
      name: LabTrade
      fields:
        - {name: trade_id, type: string}
        - {name: qty, type: long}
    primary_key: [trade_id]
    mode: upsert
`

// labConfig is a dev on its own data directory with the lab mesh; with
// LOGMESH_TEST_BROKERS it runs on that Kafka.
func labConfig(t *testing.T, dir string) platform.DevConfig {
	t.Helper()
	return meshConfig(t, dir, labMesh)
}

// meshConfig is a dev on its own data directory with the given mesh
// (written to dir/mesh.yaml); with LOGMESH_TEST_BROKERS it runs on that
// Kafka.
func meshConfig(t *testing.T, dir, meshText string) platform.DevConfig {
	t.Helper()
	meshFile := filepath.Join(dir, "mesh.yaml")
	if err := os.WriteFile(meshFile, []byte(meshText), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := mesh.Load(meshFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg := platform.DevConfig{Config: platform.Config{
		DataDir: dir, Mesh: m, AdminAddr: "127.0.0.1:0",
		PlanInterval: 200 * time.Millisecond, ScanInterval: 100 * time.Millisecond,
	}, KafkaPort: -1, RegistryPort: -1}
	if os.Getenv(kafkatest.EnvBrokers) != "" {
		cfg.Kafka.Brokers = kafkatest.New(t).Brokers
	}
	return cfg
}

// A feed into a domain other than raw, on a dev that was given the mesh and
// nothing else: the first file commits version 1 of lab.trades; after a
// restart on the same data a second file commits version 2; tables lists
// it, query returns both files' rows, and every projection's live store
// equals one rebuilt from the log.
func TestE2ENonRawDomainAcrossRestart(t *testing.T) {
	if os.Getenv(kafkatest.EnvBrokers) != "" {
		kafkatest.New(t).Reset(t, "logmesh.")
	}
	dir := t.TempDir()
	cfg := labConfig(t, dir)

	first := &e2e{cli: &cli{t: t, p: startDev(t, cfg)}, cfg: cfg}
	first.land("trades/one.csv", "trade_id,qty\nA1,1\nA2,2\n")
	if f := first.files(1)["trades/one.csv"]; f["status"] != "PROCESSED" || f["table_version"] != float64(1) {
		t.Fatalf("first file: %v", f)
	}
	if err := first.p.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	second := &e2e{cli: &cli{t: t, p: startDev(t, cfg)}, cfg: cfg}
	second.land("trades/two.csv", "trade_id,qty\nB1,10\nA2,20\n")
	files := second.files(2)
	if f := files["trades/two.csv"]; f["status"] != "PROCESSED" || f["table_version"] != float64(2) {
		t.Fatalf("second file after the restart: %v, want version 2", f)
	}
	if got, want := column(second.query("SELECT trade_id, qty FROM lab.trades ORDER BY trade_id"), "trade_id", "qty"),
		"A1:1,A2:20,B1:10"; got != want {
		t.Errorf("lab.trades = %s, want %s (both files' rows, A2 upserted)", got, want)
	}
	out, err := second.run("tables", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var tbls []map[string]any
	if err := json.Unmarshal([]byte(out), &tbls); err != nil {
		t.Fatal(err)
	}
	if len(tbls) != 1 || tbls[0]["name"] != "lab.trades" || tbls[0]["version"] != float64(2) {
		t.Errorf("tables: %s, want lab.trades at version 2", out)
	}
	second.verifyAll()
}

// verifyAll runs `replay --verify` for every projection against the dev's
// admin endpoint, once the live stores have caught up with the log.
func (e *e2e) verifyAll() {
	e.t.Helper()
	out, err := e.run("replay", "--projection", "all", "--verify", "--progress", "--admin", e.p.AdminURL)
	for _, proj := range platform.Projections() {
		if err != nil || !strings.Contains(out, proj.Name()+": every live store equals the rebuilt one") {
			e.t.Errorf("replay --projection all --verify, %s: %v\n%s", proj.Name(), err, out)
		}
	}
	out, err = e.run("replay", "--list")
	if err != nil {
		e.t.Fatal(err)
	}
	for _, proj := range platform.Projections() {
		if !strings.Contains(out, proj.Name()) {
			e.t.Errorf("replay --list lacks %s:\n%s", proj.Name(), out)
		}
	}
}

// The CLI finds the platform's warehouse and landing area from the log:
// tables, query and land need no location flags.
func TestE2ELocationsFromTheLog(t *testing.T) {
	if os.Getenv(kafkatest.EnvBrokers) != "" {
		kafkatest.New(t).Reset(t, "logmesh.")
	}
	cfg := labConfig(t, t.TempDir())
	e := &e2e{cli: &cli{t: t, p: startDev(t, cfg)}, cfg: cfg}
	src := filepath.Join(t.TempDir(), "mine.csv")
	if err := os.WriteFile(src, []byte("trade_id,qty\nZ9,9\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := e.run("land", src, "--key", "trades/mine.csv")
	if err != nil || !strings.HasPrefix(out, "landed 1 file (18 bytes) as ") || !strings.HasSuffix(strings.TrimSpace(out), "/trades/mine.csv") {
		t.Fatalf("land without --landing: %q %v", out, err)
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "landing", "trades", "mine.csv")); err != nil {
		t.Fatalf("the file did not go to the platform's landing area: %v", err)
	}
	e.files(1)
	out, err = e.run("query", "--json", "SELECT trade_id FROM lab.trades")
	if err != nil || !strings.Contains(out, "Z9") {
		t.Fatalf("query without --warehouse: %q %v", out, err)
	}
}

// replay --verify fails, naming the partition, when a live store differs
// from the rebuilt one, and when there is no live store to compare.
func TestReplayVerifyFindsADifference(t *testing.T) {
	if os.Getenv(kafkatest.EnvBrokers) != "" {
		kafkatest.New(t).Reset(t, "logmesh.")
	}
	cfg := labConfig(t, t.TempDir())
	e := &e2e{cli: &cli{t: t, p: startDev(t, cfg)}, cfg: cfg}
	e.land("trades/one.csv", "trade_id,qty\nA1,1\n")
	e.files(1)
	// A live store that is one partition's digest off.
	var cp platform.Checkpoints
	if err := getJSON(t.Context(), http.DefaultClient, e.p.AdminURL+"/v1/stores/audit/checkpoints", &cp); err != nil {
		t.Fatal(err)
	}
	tampered := false
	for i, p := range cp.Partitions {
		if p.HasOffset && p.Next > 0 && !tampered {
			cp.Partitions[i].Digest = strings.Repeat("0", 64)
			tampered = true
		}
	}
	if !tampered {
		t.Fatalf("no partition with records in %+v", cp)
	}
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/stores":
			_ = json.NewEncoder(w).Encode([]platform.StoreInfo{{Processor: "audit", Projection: "audit"}})
		case "/v1/stores/audit/checkpoints":
			_ = json.NewEncoder(w).Encode(cp)
		default:
			http.NotFound(w, r)
		}
	}))
	defer fake.Close()
	out, err := e.run("replay", "--projection", "audit", "--verify", "--admin", fake.URL)
	if !errors.Is(err, errDiffers) || !strings.Contains(out, "DIFFERS") {
		t.Fatalf("a tampered live store: %v\n%s", err, out)
	}
	if _, err := e.run("replay", "--projection", "notifier-has-none", "--verify", "--admin", fake.URL); !errors.Is(err, errUsage) {
		t.Errorf("an unknown projection: %v, want a usage error", err)
	}
	if _, err := e.run("replay", "--projection", "lineage", "--verify", "--admin", fake.URL); err == nil {
		t.Error("verify with no live store of the projection passed")
	}
}
