package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/proctest"
	"github.com/logmesh/logmesh/platform"
	"github.com/logmesh/logmesh/processors/runner"
)

// envAsLogmesh makes the test binary act as the logmesh command, so the
// multi-process tests start real `logmesh run` processes.
const envAsLogmesh = "LOGMESH_TEST_AS_LOGMESH"

func TestMain(m *testing.M) {
	if os.Getenv(envAsLogmesh) == "1" {
		main()
		os.Exit(0)
	}
	if os.Getenv(envEngine) != "" && os.Getenv(runner.EnvJobFile) != "" {
		os.Exit(countEngine())
	}
	os.Exit(m.Run())
}

// startProc starts `logmesh args...` as an OS process.
func startProc(t *testing.T, name string, args ...string) *proctest.Proc {
	t.Helper()
	return proctest.Start(t, name, []string{envAsLogmesh + "=1"}, args...)
}

// incidents is a webhook that records the incident ids it received.
type incidents struct {
	mu  sync.Mutex
	ids map[string]string // incident id → subject
}

func (h *incidents) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var inc struct {
		IncidentID string `json:"incident_id"`
		Subject    string `json:"subject"`
	}
	if err := json.NewDecoder(r.Body).Decode(&inc); err != nil || inc.IncidentID == "" {
		http.Error(w, "bad incident", http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	h.ids[inc.IncidentID] = inc.Subject
	h.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// Watcher, planner, loader, lineage and notifier as separate `logmesh run`
// processes against one cluster (a dev that runs no processor provides the
// registry; with LOGMESH_TEST_BROKERS the cluster is that real Kafka). The
// planner is SIGKILLed once after it planned, the loader while it writes a
// big batch; both are restarted. Every file ends terminal exactly once, no
// row is written twice, each failed file's incident reaches the webhook,
// and the lineage process's live store equals a rebuilt one.
func TestE2ERunProcessesKilledAndRestarted(t *testing.T) {
	cfg := e2eConfig(t, platform.ProcessorNames()...)
	cfg.AdminAddr = ""
	if cfg.Landing == "" || strings.HasPrefix(cfg.Landing, "s3://") {
		// The processes share local landing and warehouse directories.
		cfg.Landing = filepath.Join(cfg.DataDir, "landing")
		cfg.Warehouse = filepath.Join(cfg.DataDir, "warehouse")
		cfg.S3 = platform.S3{}
	}
	e := startE2E(t, cfg)
	meshFile, err := filepath.Abs("testdata/e2e/mesh.yaml")
	if err != nil {
		t.Fatal(err)
	}
	hook := &incidents{ids: map[string]string{}}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	common := func(name string, extra ...string) []string {
		return append([]string{"run", name, "--brokers", strings.Join(e.p.Brokers, ","), "--registry", e.p.RegistryURL,
			"--config", meshFile, "--data", filepath.Join(cfg.DataDir, "proc-"+name),
			"--landing", cfg.Landing, "--warehouse", cfg.Warehouse,
			"--plan-interval", "300ms", "--scan-interval", "200ms", "--session-timeout", "6s"}, extra...)
	}
	procs := map[string]*proctest.Proc{}
	for _, name := range []string{"watcher", "planner", "loader", "notifier"} {
		extra := []string{}
		if name == "notifier" {
			extra = []string{"--webhook", srv.URL}
		}
		procs[name] = startProc(t, name, common(name, extra...)...)
	}
	lineage := startProc(t, "lineage", common("lineage", "--admin-addr", "127.0.0.1:0")...)
	adminLine := lineage.Await(lineage.On(`admin http://`), "its admin endpoint")
	admin := adminLine[strings.Index(adminLine, "http://"):]

	planned := procs["planner"].On(`batch planned`)
	writingBig := procs["loader"].On(`writing rows.*file=trades/big.csv`)
	const bigRows = 200000
	e.land("trades/big.csv", bigTrades(bigRows))
	procs["planner"].Await(planned, "a planned batch")
	procs["planner"].Restart()
	for _, f := range e2eFiles {
		e.land(f.key, f.content)
	}
	procs["loader"].Await(writingBig, "the big batch being written")
	procs["loader"].Restart()

	files := e.files(len(e2eFiles) + 1)
	if len(files) != len(e2eFiles)+1 {
		t.Errorf("%d files in the audit, want %d", len(files), len(e2eFiles)+1)
	}
	if f := files["trades/big.csv"]; f["status"] != "PROCESSED" || f["rows_written"] != float64(bigRows) {
		t.Errorf("big.csv after the kills: %v", f)
	}
	for key, want := range map[string]string{"trades/t1.csv": "PROCESSED", "trades/over-threshold.csv": "FAILED",
		"trades/garbled.csv": "FAILED", "quotes/q1.ndjson": "PROCESSED", "accounts/a.xml": "PROCESSED", "positions/p.txt": "PROCESSED"} {
		if files[key]["status"] != want {
			t.Errorf("%s: %v, want %s", key, files[key]["status"], want)
		}
	}
	rows := e.query("SELECT count(*) AS n, count(DISTINCT trade_id) AS d FROM raw.trades WHERE trade_id LIKE 'B%'")
	if got, want := column(rows, "n", "d"), fmt.Sprintf("%d:%d", bigRows, bigRows); got != want {
		t.Errorf("big rows after the kills: %s, want %s (no row lost, none twice)", got, want)
	}
	if got := column(e.query("SELECT trade_id, qty FROM raw.trades WHERE trade_id LIKE 'T%' ORDER BY trade_id"), "trade_id", "qty"); got != "T1:10,T2:21,T3:30,T4:40,T6:60" {
		t.Errorf("small trades after the kills: %s", got)
	}
	// Exactly one outcome per file on the log, whatever was redelivered.
	outcomes := map[string]int{}
	for _, evs := range readAll(t, e) {
		for _, ev := range evs {
			switch ev := ev.(type) {
			case *events.FileProcessed:
				outcomes[ev.FileKey]++
			case *events.FileFailed:
				outcomes[ev.FileKey]++
			}
		}
	}
	for key, n := range outcomes {
		if n != 1 {
			t.Errorf("%s has %d outcomes on the log, want exactly 1", key, n)
		}
	}
	if len(outcomes) != len(e2eFiles)+1 {
		t.Errorf("%d files have an outcome, want %d", len(outcomes), len(e2eFiles)+1)
	}
	// Each failed file's incident reaches the webhook (at least once).
	deadline := time.Now().Add(2 * time.Minute)
	for {
		hook.mu.Lock()
		subjects := map[string]bool{}
		for _, s := range hook.ids {
			subjects[s] = true
		}
		hook.mu.Unlock()
		if subjects["trades/over-threshold.csv"] && subjects["trades/garbled.csv"] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("incidents delivered for %v, want both failed files", subjects)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The lineage process folded everything; its store equals a rebuilt one.
	waitVerified(t, e, "lineage", admin)
	for _, p := range procs {
		p.Stop()
	}
	lineage.Stop()
}

// bigTrades is a trades CSV of n rows B0000000..., so a batch is still being
// written when a test kills its loader.
func bigTrades(n int) string {
	var b strings.Builder
	b.WriteString("trade_id,side,qty,traded_at\n")
	for i := range n {
		fmt.Fprintf(&b, "B%07d,BUY,%d,2026-11-25T10:00:00Z\n", i, i+1)
	}
	return b.String()
}

// waitVerified runs replay --verify once: whatever the live store has
// folded, up to its offsets, must equal the rebuilt store.
func waitVerified(t *testing.T, e *e2e, projection, admin string) {
	t.Helper()
	out, err := e.run("replay", "--projection", projection, "--verify", "--admin", admin)
	if err != nil || !strings.Contains(out, "every live store equals the rebuilt one") {
		t.Errorf("replay --verify %s at %s: %v\n%s", projection, admin, err, out)
	}
}
