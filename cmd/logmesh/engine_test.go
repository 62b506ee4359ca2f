package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkatest"
	"github.com/logmesh/logmesh/processors/runner"
)

// envEngine makes the test binary an external engine (see TestMain).
const envEngine = "LOGMESH_TEST_ENGINE"

// countEngine is an external engine: it reads the job file the runner
// gives it and writes, for each pinned input, its name, version and the
// rows of its data files, which it reads itself.
func countEngine() int {
	b, err := os.ReadFile(os.Getenv(runner.EnvJobFile))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var job runner.Job
	if err := json.Unmarshal(b, &job); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var out strings.Builder
	for _, in := range job.Inputs {
		var rows int64
		for _, f := range in.Files {
			fh, err := os.Open(strings.TrimPrefix(f, "file://"))
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 2
			}
			st, _ := fh.Stat()
			pf, err := parquet.OpenFile(fh, st.Size())
			if err != nil {
				fmt.Fprintln(os.Stderr, f, err)
				return 2
			}
			rows += pf.NumRows()
			fh.Close()
		}
		fmt.Fprintf(&out, "{\"input\": %q, \"version\": %d, \"rows\": %d}\n", in.Name, in.Version, rows)
	}
	if err := os.WriteFile(job.Output, []byte(out.String()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	return 0
}

// engineMesh: a product run by an external engine, the command ENGINE.
const engineMesh = `
domains:
  - name: raw
  - name: wm
engines:
  - name: counter
    command: [ENGINE, -test.run=^$]
feeds:
  - {name: a, table: raw.a, key_pattern: "a/*.csv", format: csv, options: {header: true}, visibility: enterprise,
     schema: {type: record, name: A, fields: [{name: id, type: string}, {name: v, type: long}]}}
products:
  - name: counted
    domain: wm
    inputs: [raw.a]
    engine: counter
    transform: count the rows of each input
    output: {schema: {type: record, name: Counted, fields: [{name: input, type: string}, {name: version, type: long}, {name: rows, type: long}]}}
grants:
  - {product: raw.a, to: wm}
`

// A product on an external engine: the runner starts its command with the
// pinned inputs' files, validates and writes what it returns; the next
// version of the input runs it again, pinned to that version.
func TestEngineCommandEndToEnd(t *testing.T) {
	if os.Getenv(kafkatest.EnvBrokers) != "" {
		kafkatest.New(t).Reset(t, "logmesh.")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(envEngine, "count")
	cfg := meshConfig(t, t.TempDir(), strings.Replace(engineMesh, "ENGINE", exe, 1))
	e := &e2e{cli: &cli{t: t, p: startDev(t, cfg)}, cfg: cfg}

	e.land("a/1.csv", "id,v\nk1,1\nk2,2\n")
	started, finished := e.awaitFinished("wm.counted", 1)
	if started[0].Runner != "counter" || finished[0].Status != events.StatusSucceeded {
		t.Fatalf("wm.counted: runner %s, %+v: %s", started[0].Runner, finished[0], deref(finished[0].Error))
	}
	e.land("a/2.csv", "id,v\nk3,3\n")
	started, finished = e.awaitFinished("wm.counted", 2)
	if pinned(started[1]) != "raw.a@2" || finished[1].Status != events.StatusSucceeded {
		t.Fatalf("second run pinned %s, %+v", pinned(started[1]), finished[1])
	}
	if got := column(e.query("SELECT input, version, rows FROM wm.counted ORDER BY version"), "input", "version", "rows"); got != "raw.a:1:2,raw.a:2:3" {
		t.Errorf("wm.counted = %s", got)
	}
}
