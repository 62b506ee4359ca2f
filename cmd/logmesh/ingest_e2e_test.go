package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkatest"
	"github.com/logmesh/logmesh/mesh"
	"github.com/logmesh/logmesh/platform"
)

// The ingestion end-to-end suite. It runs on the embedded Kafka and a local
// warehouse by default; with LOGMESH_TEST_BROKERS it runs on that Kafka, and
// with LOGMESH_TEST_S3_ENDPOINT (+ _ACCESS_KEY, _SECRET_KEY) its landing area
// and warehouse are in that S3 (MinIO).

// e2e is one running platform of the suite.
type e2e struct {
	*cli
	cfg platform.DevConfig
}

func e2eConfig(t *testing.T, skip ...string) platform.DevConfig {
	t.Helper()
	m, err := mesh.Load("testdata/e2e/mesh.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := platform.DevConfig{Config: platform.Config{
		DataDir: dir, Mesh: m, AdminAddr: "127.0.0.1:0",
		PlanInterval: 300 * time.Millisecond, ScanInterval: 200 * time.Millisecond,
	}, KafkaPort: -1, RegistryPort: -1, Skip: skip}
	if os.Getenv(kafkatest.EnvBrokers) != "" {
		c := kafkatest.New(t)
		c.Reset(t, "logmesh.")
		cfg.Kafka.Brokers = c.Brokers
	}
	if ep := os.Getenv("LOGMESH_TEST_S3_ENDPOINT"); ep != "" {
		run := kafkatest.Unique("e2e")
		cfg.S3 = platform.S3{Endpoint: ep, AccessKey: os.Getenv("LOGMESH_TEST_S3_ACCESS_KEY"),
			SecretKey: os.Getenv("LOGMESH_TEST_S3_SECRET_KEY"), Insecure: true}
		cfg.Landing = "s3://logmesh-e2e/" + run + "/landing"
		cfg.Warehouse = "s3://logmesh-e2e/" + run + "/warehouse"
	}
	return cfg
}

func startE2E(t *testing.T, cfg platform.DevConfig) *e2e {
	t.Helper()
	return &e2e{cli: &cli{t: t, p: startDev(t, cfg)}, cfg: cfg}
}

// land puts a file into the landing area.
func (e *e2e) land(key, content string) {
	e.t.Helper()
	if err := e.p.Landing.Put(context.Background(), key, strings.NewReader(content), int64(len(content))); err != nil {
		e.t.Fatalf("land %s: %v", key, err)
	}
}

// storeArgs are the flags that point tables/query at the suite's warehouse.
func (e *e2e) storeArgs() []string {
	wh := e.cfg.Warehouse
	if wh == "" {
		wh = filepath.Join(e.cfg.DataDir, "warehouse")
	}
	args := []string{"--warehouse", wh}
	if e.cfg.S3.Endpoint != "" {
		args = append(args, "--s3-endpoint", e.cfg.S3.Endpoint, "--s3-access-key", e.cfg.S3.AccessKey,
			"--s3-secret-key", e.cfg.S3.SecretKey, "--s3-insecure")
	}
	return args
}

// files waits until n files are PROCESSED or FAILED and returns them by key.
func (e *e2e) files(n int) map[string]map[string]any {
	e.t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	errc := e.p.Err()
	for {
		out, err := e.run("files", "--json")
		if err != nil {
			e.t.Fatal(err)
		}
		var files []map[string]any
		if err := json.Unmarshal([]byte(out), &files); err != nil {
			e.t.Fatalf("files --json: %v\n%s", err, out)
		}
		byKey := map[string]map[string]any{}
		terminal := 0
		for _, f := range files {
			byKey[f["key"].(string)] = f
			if s := f["status"]; s == "PROCESSED" || s == "FAILED" {
				terminal++
			}
		}
		if terminal >= n {
			return byKey
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%d of %d files loaded before the deadline: %s", terminal, n, out)
		}
		select {
		case err, ok := <-errc:
			if ok {
				e.t.Fatalf("a processor stopped: %v", err)
			}
			errc = nil // none runs here
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// query runs SQL through `logmesh query --json`.
func (e *e2e) query(sql string) []map[string]any {
	e.t.Helper()
	out, err := e.run(append(append([]string{"query", "--json"}, e.storeArgs()...), sql)...)
	if err != nil {
		e.t.Fatalf("query %q: %v", sql, err)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		e.t.Fatalf("query --json: %v\n%s", err, out)
	}
	return rows
}

// column renders one column of rows as "a,b,c".
func column(rows []map[string]any, cols ...string) string {
	var parts []string
	for _, r := range rows {
		var vs []string
		for _, c := range cols {
			b, _ := json.Marshal(r[c])
			vs = append(vs, strings.Trim(string(b), `"`))
		}
		parts = append(parts, strings.Join(vs, ":"))
	}
	return strings.Join(parts, ",")
}

// The suite's files. trades/t2.csv upserts: T2 is newer (wins), T3 is older
// (loses), T6 is new.
var e2eFiles = []struct{ key, content string }{
	{"trades/t1.csv", "trade_id,side,qty,traded_at\nT1,BUY,10,2026-11-24T09:00:00Z\nT2,SELL,20,2026-11-24T09:00:00Z\nT3,BUY,30,2026-11-24T09:00:00Z\nT4,BUY,40,2026-11-24T09:00:00Z\nT5,BUY,0,2026-11-24T09:00:00Z\n"},
	{"trades/t2.csv", "trade_id,side,qty,traded_at\nT2,SELL,21,2026-11-25T09:00:00Z\nT3,BUY,31,2026-11-23T09:00:00Z\nT6,SELL,60,2026-11-25T09:00:00Z\n"},
	{"trades/over-threshold.csv", "trade_id,side,qty,traded_at\nT9,BUY,90,2026-11-25T09:00:00Z\nT10,HOLD,1,2026-11-25T09:00:00Z\nT11,BUY,-1,2026-11-25T09:00:00Z\n"},
	{"trades/garbled.csv", "trade_id,side,qty,traded_at\nT12,BUY,5,\"2026-11-25T09:0"},
	{"quotes/q1.ndjson", "{\"isin\":\"US0378331005\",\"bid\":189.1,\"ask\":189.3}\nnot json at all\n{\"isin\":\"DE0007164600\",\"bid\":171.0,\"ask\":171.2}\n{\"isin\":\"GB0002634946\",\"bid\":16.1,\"ask\":16.2}\n"},
	{"securities/s.json", `[{"isin":"US0378331005","name":"Apple","listed_on":"1980-12-12"},{"isin":"DE0007164600","name":"SAP","listed_on":null},{"isin":"GB0002634946","name":"BAE"}]`},
	{"accounts/a.xml", `<?xml version="1.0"?><accounts><account id="AC1"><owner>Ada</owner></account><account id="AC2"><owner>Alan</owner></account></accounts>`},
	{"positions/p.txt", "AC1      10\nAC2      20\nAC\n"},
}

// loaded is a file's rows written plus superseded, from files --json.
func loaded(f map[string]any) float64 {
	w, _ := f["rows_written"].(float64)
	s, _ := f["rows_superseded"].(float64)
	return w + s
}

// checkE2E asserts the suite's outcome: audit, tables, rejections, incidents.
func checkE2E(t *testing.T, e *e2e) {
	t.Helper()
	files := e.files(len(e2eFiles))
	want := map[string]struct {
		status            string
		written, rejected float64
	}{
		"trades/t1.csv":             {"PROCESSED", 4, 1},
		"trades/t2.csv":             {"PROCESSED", 3, 0},
		"trades/over-threshold.csv": {"FAILED", 0, 2},
		"trades/garbled.csv":        {"FAILED", 0, 0},
		"quotes/q1.ndjson":          {"PROCESSED", 3, 1},
		"securities/s.json":         {"PROCESSED", 3, 0},
		"accounts/a.xml":            {"PROCESSED", 2, 0},
		"positions/p.txt":           {"PROCESSED", 2, 1},
	}
	if len(files) != len(want) {
		t.Errorf("%d files in the audit, want %d (a duplicate landed twice?)", len(files), len(want))
	}
	for key, w := range want {
		f := files[key]
		if f == nil {
			t.Errorf("%s: not in the audit", key)
			continue
		}
		// Loaded rows are written (in the version) or superseded (lost an
		// upsert to a newer row); which of t1's rows lose depends on
		// whether t2 came in the same batch.
		if f["status"] != w.status || loaded(f) != w.written || f["rows_rejected"] != w.rejected {
			t.Errorf("%s: %v loaded %v rejected %v (error %q); want %s %v %v", key, f["status"],
				loaded(f), f["rows_rejected"], f["error"], w.status, w.written, w.rejected)
		}
		if key == "trades/t2.csv" && f["rows_superseded"] != float64(1) {
			t.Errorf("%s: rows_superseded %v, want 1 (its T3 is older than t1.csv's)", key, f["rows_superseded"])
		}
		if w.status == "FAILED" && f["error"] == "" {
			t.Errorf("%s: FAILED without an error", key)
		}
	}

	for _, c := range []struct{ sql, cols, want string }{
		{"SELECT trade_id, qty FROM raw.trades ORDER BY trade_id", "trade_id,qty", "T1:10,T2:21,T3:30,T4:40,T6:60"},
		{"SELECT count(*) AS n, count(DISTINCT trade_id) AS d FROM raw.trades", "n,d", "5:5"},
		{"SELECT isin, ask FROM raw.quotes ORDER BY isin", "isin,ask", "DE0007164600:171.2,GB0002634946:16.2,US0378331005:189.3"},
		{"SELECT isin, CAST(listed_on AS VARCHAR) AS l FROM raw.securities ORDER BY isin", "isin,l", "DE0007164600:null,GB0002634946:null,US0378331005:1980-12-12"},
		{"SELECT id, owner FROM raw.accounts ORDER BY id", "id,owner", "AC1:Ada,AC2:Alan"},
		{"SELECT account, qty FROM raw.positions ORDER BY account", "account,qty", "AC1:10,AC2:20"},
	} {
		if got := column(e.query(c.sql), strings.Split(c.cols, ",")...); got != c.want {
			t.Errorf("%s\n got %s\nwant %s", c.sql, got, c.want)
		}
	}

	// Every bad record has a RecordRejected with a reason; each FAILED file
	// has an incident.
	evs := readAll(t, e)
	var rejected []string
	for _, ev := range evs[events.NameRecordRejected] {
		rr := ev.(*events.RecordRejected)
		if rr.Reason == "" || rr.Rule == "" {
			t.Errorf("RecordRejected without a reason: %+v", rr)
		}
		rejected = append(rejected, fmt.Sprintf("%s#%d", rr.FileKey, rr.RecordNumber))
	}
	sort.Strings(rejected)
	wantRejected := "positions/p.txt#3,quotes/q1.ndjson#2,trades/over-threshold.csv#2,trades/over-threshold.csv#3,trades/t1.csv#5"
	if got := strings.Join(rejected, ","); got != wantRejected {
		t.Errorf("rejected records %s, want %s", got, wantRejected)
	}
	incidents := map[string]bool{}
	for _, ev := range evs[events.NameIncidentOpened] {
		incidents[ev.(*events.IncidentOpened).Subject] = true
	}
	for _, key := range []string{"trades/over-threshold.csv", "trades/garbled.csv"} {
		if !incidents[key] {
			t.Errorf("no incident for the FAILED file %s (incidents: %v)", key, incidents)
		}
	}
	if len(incidents) != 2 {
		t.Errorf("incidents for %v, want exactly the 2 FAILED files", incidents)
	}
}

// readAll reads every committed event of the raw and central buses,
// dropping repeated event ids as consumers do.
func readAll(t *testing.T, e *e2e) map[string][]events.Event {
	t.Helper()
	out := map[string][]events.Event{}
	seen := map[string]bool{}
	for _, r := range kafkatest.ReadAll(t, e.p.Brokers, events.DomainTopic("raw"), events.CentralTopic) {
		ev, err := e.p.Codec.Decode(context.Background(), r.Value)
		if err != nil {
			t.Errorf("undecodable event on %s: %v", r.Topic, err)
			continue
		}
		if !seen[ev.Meta().EventID] {
			seen[ev.Meta().EventID] = true
			out[ev.Name()] = append(out[ev.Name()], ev)
		}
	}
	return out
}

func TestE2EIngestion(t *testing.T) {
	e := startE2E(t, e2eConfig(t))
	// The same file again (same key, same content) is not landed twice.
	// An absence is awaited through a presence: trades/t2.csv lands last,
	// after trades/t1.csv is put again. A scan lists the landing area in
	// key order (a put is atomic) and reconciles the keys one by one, so
	// the scan that lands t2.csv has looked at t1.csv's second copy before.
	const last = "trades/t2.csv"
	for _, f := range e2eFiles {
		if f.key != last {
			e.land(f.key, f.content)
		}
	}
	e.files(len(e2eFiles) - 1)
	e.land(e2eFiles[0].key, e2eFiles[0].content)
	for _, f := range e2eFiles {
		if f.key == last {
			e.land(f.key, f.content)
		}
	}
	checkE2E(t, e) // awaits t2.csv's outcome
	if out, err := e.run("files", "--json"); err != nil || strings.Count(out, `"key": "trades/t1.csv"`) != 1 {
		t.Errorf("trades/t1.csv landed again: %v", err)
	}
	// On the log too: one FileLanded, not a second one with the same id
	// (which readers drop as a repeat).
	landings := 0
	for _, r := range kafkatest.ReadAll(t, e.p.Brokers, events.DomainTopic("raw")) {
		if ev, err := e.p.Codec.Decode(context.Background(), r.Value); err == nil {
			if fl, ok := ev.(*events.FileLanded); ok && fl.Key == e2eFiles[0].key {
				landings++
			}
		}
	}
	if landings != 1 {
		t.Errorf("%d FileLanded of %s on the log, want 1", landings, e2eFiles[0].key)
	}

	// Another engine reads the same table with no logmesh code.
	if e.cfg.S3.Endpoint != "" {
		t.Log("the iceberg-go reader check needs iceberg-go's S3 IO, which is not in the module graph; skipped on S3")
		return
	}
	out, err := e.run(append([]string{"tables", "--json"}, e.storeArgs()...)...)
	if err != nil {
		t.Fatal(err)
	}
	var tbls []map[string]any
	if err := json.Unmarshal([]byte(out), &tbls); err != nil {
		t.Fatal(err)
	}
	var loc string
	for _, tb := range tbls {
		if tb["name"] == "raw.trades" {
			loc, _ = tb["metadata_location"].(string)
		}
	}
	if loc == "" {
		t.Fatalf("no raw.trades in %s", out)
	}
	if got, want := readWithIceberg(t, loc), "T1:10,T2:21,T3:30,T4:40,T6:60"; got != want {
		t.Errorf("iceberg-go scan in a fresh process: %s, want %s", got, want)
	}
}
