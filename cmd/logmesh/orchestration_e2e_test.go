package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkatest"
	"github.com/logmesh/logmesh/projections/orchestration"
	"github.com/logmesh/logmesh/projections/projectiontest"
)

// orchMesh: three raw feeds (a, b, c) and wealth's products over them.
const orchMesh = `
domains:
  - name: raw
  - name: wm
feeds:
  - {name: a, table: raw.a, key_pattern: "a/*.csv", format: csv, options: {header: true}, visibility: enterprise,
     schema: {type: record, name: A, fields: [{name: id, type: string}, {name: v, type: long}]}, primary_key: [id], mode: upsert}
  - {name: b, table: raw.b, key_pattern: "b/*.csv", format: csv, options: {header: true}, visibility: enterprise,
     schema: {type: record, name: B, fields: [{name: id, type: string}, {name: w, type: long}]}, primary_key: [id], mode: upsert}
  - {name: c, table: raw.c, key_pattern: "c/*.csv", format: csv, options: {header: true}, visibility: enterprise,
     schema: {type: record, name: C, fields: [{name: id, type: string}, {name: x, type: string}]}, primary_key: [id], mode: upsert}
products:
  - name: totals
    domain: wm
    inputs: [raw.a, raw.b]
    transform: SELECT a.id, a.v + b.w AS total FROM a JOIN b USING (id)
    output: {schema: {type: record, name: Both, fields: [{name: id, type: string}, {name: total, type: long}]}, primary_key: [id], mode: upsert}
  - name: down
    domain: wm
    inputs: [wm.totals]
    transform: SELECT count(*) AS n, sum(total) AS s FROM totals
    output: {schema: {type: record, name: Down, fields: [{name: n, type: long}, {name: s, type: long}]}}
  - name: three
    domain: wm
    inputs: [raw.a, raw.b, raw.c]
    transform: SELECT count(*) AS n FROM a JOIN b USING (id) JOIN c USING (id)
    output: {schema: {type: record, name: Three, fields: [{name: n, type: long}]}}
  - name: strict
    domain: wm
    inputs: [raw.c]
    trigger: any
    transform: SELECT id, CAST(x AS BIGINT) AS x FROM c
    output: {schema: {type: record, name: Strict, fields: [{name: id, type: string}, {name: x, type: long}]}}
    retry: {max_attempts: 2, backoff: 1s}
  - name: recent
    domain: wm
    inputs: [raw.b, raw.c]
    max_input_age: 2s
    transform: SELECT count(*) AS n FROM b JOIN c USING (id)
    output: {schema: {type: record, name: Recent, fields: [{name: n, type: long}]}}
  - name: slow
    domain: wm
    inputs: [raw.c]
    trigger: manual
    transform: SELECT sum(r) AS s FROM range(20000000000) t(r)
    output: {schema: {type: record, name: Slow, fields: [{name: s, type: long}]}}
    timeout: 1s
    retry: {max_attempts: 1}
  - name: ticked
    domain: wm
    inputs: [raw.c]
    trigger: raw.c and schedule
    schedule: '@every 2s'
    transform: SELECT count(*) AS n FROM c
    output: {schema: {type: record, name: Ticked, fields: [{name: n, type: long}]}}
grants:
  - {product: raw.a, to: wm}
  - {product: raw.b, to: wm}
  - {product: raw.c, to: wm}
`

// jobs reads wealth's bus: the JobStarted and JobFinished of product.
func (e *e2e) jobs(product string) (started []*events.JobStarted, finished []*events.JobFinished) {
	e.t.Helper()
	for _, rec := range kafkatest.ReadAll(e.t, e.p.Brokers, events.DomainTopic("wm")) {
		ev, err := e.p.Codec.Decode(context.Background(), rec.Value)
		if err != nil {
			e.t.Fatal(err)
		}
		switch x := ev.(type) {
		case *events.JobStarted:
			if x.Product == product {
				started = append(started, x)
			}
		case *events.JobFinished:
			if x.Product == product {
				finished = append(finished, x)
			}
		}
	}
	return started, finished
}

// awaitFinished waits until product has n JobFinished.
func (e *e2e) awaitFinished(product string, n int) ([]*events.JobStarted, []*events.JobFinished) {
	e.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		s, f := e.jobs(product)
		if len(f) >= n {
			return s, f
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: %d JobStarted, %d JobFinished, want %d finished", product, len(s), len(f), n)
		}
		time.Sleep(150 * time.Millisecond)
	}
}

// decided waits until the orchestrator has decided on every fact in
// wealth's inbox so far.
func (e *e2e) decided() {
	e.t.Helper()
	recs := kafkatest.ReadAll(e.t, e.p.Brokers, events.InboxTopic("wm"))
	want := map[int32]int64{}
	for _, r := range recs {
		want[r.Partition] = max(want[r.Partition], r.Offset+1)
	}
	st, err := e.p.Env.Store("orchestrator")
	if err != nil {
		e.t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for p, off := range want {
		for {
			got, _, err := st.Offset(events.InboxTopic("wm"), p)
			if err != nil {
				e.t.Fatal(err)
			}
			if got >= off {
				break
			}
			if time.Now().After(deadline) {
				e.t.Fatalf("the orchestrator is at %d of wm's inbox partition %d, want %d", got, p, off)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func pinned(js *events.JobStarted) string {
	var s []string
	for _, in := range js.Inputs {
		s = append(s, fmt.Sprintf("%s@%d", in.Name, in.Version))
	}
	return strings.Join(s, ",")
}

// Event-driven orchestration end to end: two raw tables trigger the
// product over both once, and its downstream product after it; one input
// alone does not; three staggered inputs give one run; a failing SQL is
// retried, then opens one incident, and fixing the input resolves it; a
// job past its timeout fails. Every projection's live store equals one
// rebuilt from the log.
func TestE2EOrchestration(t *testing.T) {
	if os.Getenv(kafkatest.EnvBrokers) != "" {
		kafkatest.New(t).Reset(t, "logmesh.")
	}
	cfg := meshConfig(t, t.TempDir(), orchMesh)
	e := &e2e{cli: &cli{t: t, p: startDev(t, cfg)}, cfg: cfg}

	e.land("a/1.csv", "id,v\nk1,1\nk2,2\n")
	e.land("b/1.csv", "id,w\nk1,10\nk2,20\n")
	started, finished := e.awaitFinished("wm.totals", 1)
	if len(started) != 1 || finished[0].Status != events.StatusSucceeded || pinned(started[0]) != "raw.a@1,raw.b@1" {
		t.Fatalf("wm.totals: %d runs, first pinned %s, finished %+v", len(started), pinned(started[0]), finished[0])
	}
	if got := column(e.query("SELECT id, total FROM wm.totals ORDER BY id"), "id", "total"); got != "k1:11,k2:22" {
		t.Errorf("wm.totals = %s", got)
	}
	// The cascade: wm.down reads wm.totals's new version.
	ds, df := e.awaitFinished("wm.down", 1)
	if df[0].Status != events.StatusSucceeded || pinned(ds[0]) != "wm.totals@1" {
		t.Fatalf("wm.down: pinned %s, %+v: %s", pinned(ds[0]), df[0], deref(df[0].Error))
	}
	if got := column(e.query("SELECT n, s FROM wm.down"), "n", "s"); got != "2:33" {
		t.Errorf("wm.down = %s", got)
	}

	// Only raw.a again: wm.totals does not run.
	e.land("a/2.csv", "id,v\nk1,5\n")
	e.awaitTable("raw.a", 2)
	e.awaitInbox("raw.a", 2)
	e.decided()
	if s, _ := e.jobs("wm.totals"); len(s) != 1 {
		t.Fatalf("wm.totals ran %d times after raw.a alone changed, want once", len(s))
	}
	// Why not yet: raw.b.
	if out, err := e.run("why", "wm.totals", "--pending"); err != nil || !strings.Contains(out, "  all: raw.b has not refreshed since version 1\n") ||
		!strings.Contains(out, "* raw.a  last seen version 2, pinned version 1") {
		t.Errorf("why wm.totals --pending: %v\n%s", err, out)
	}

	// raw.c: wm.three has all three inputs (staggered over minutes of log)
	// and runs once; wm.strict fails on "x" twice, then opens an incident.
	e.awaitOlder("raw.b", 1, 2*time.Second) // older than wm.recent's max input age
	e.land("c/1.csv", "id,x\nk1,7\nk2,oops\n")
	ts, tf := e.awaitFinished("wm.three", 1)
	if len(ts) != 1 || tf[0].Status != events.StatusSucceeded || pinned(ts[0]) != "raw.a@2,raw.b@1,raw.c@1" {
		t.Fatalf("wm.three: %d runs, pinned %s, %+v", len(ts), pinned(ts[0]), tf[0])
	}
	ss, sf := e.awaitFinished("wm.strict", 2)
	if len(ss) != 2 || ss[1].Attempt != 2 || sf[0].Status != events.StatusFailed || sf[1].Status != events.StatusFailed ||
		!strings.Contains(*sf[1].Error, "oops") {
		t.Fatalf("wm.strict: %d attempts, %+v", len(ss), sf)
	}
	// The incident follows the last JobFinished through the router and
	// the orchestrator: wait for it, then for every fact to be decided.
	for deadline := time.Now().Add(2 * time.Minute); len(e.incidents()) == 0 && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	e.awaitInboxFinished(sf[1])
	e.decided()
	incidents := e.incidents()
	if len(incidents) != 1 || incidents[0].JobID == nil || *incidents[0].JobID != ss[0].JobID {
		t.Fatalf("incidents %+v, want one for job %s", incidents, ss[0].JobID)
	}
	// Fixing the input: the next run succeeds and resolves the incident.
	e.land("c/2.csv", "id,x\nk1,7\nk2,8\n")
	ss, sf = e.awaitFinished("wm.strict", 3)
	if sf[2].Status != events.StatusSucceeded || pinned(ss[2]) != "raw.c@2" {
		t.Fatalf("wm.strict after the fix: %+v pinned %s", sf[2], pinned(ss[2]))
	}
	e.awaitResolved(incidents[0].IncidentID)

	// The CLI: jobs, incidents, why.
	out, err := e.run("why", "wm.three")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"job " + ts[0].JobID + " of wm.three", `trigger inputs, policy "all"`,
		"ProductRefreshed raw.a version 2", "ProductRefreshed raw.b version 1", "ProductRefreshed raw.c version 1",
		"raw.a  table raw.a version 2", "1  SUCCEEDED"} {
		if !strings.Contains(out, want) {
			t.Errorf("why wm.three lacks %q:\n%s", want, out)
		}
	}
	if a, b := strings.Index(out, "raw.b version 1"), strings.Index(out, "raw.c version 1"); a > b {
		t.Errorf("why lists raw.c's refresh before raw.b's, out of inbox order:\n%s", out)
	}
	out, err = e.run("why", "wm.strict", "--job", ss[0].JobID[:8])
	if err != nil || !strings.Contains(out, "2  FAILED") || !strings.Contains(out, "incident "+incidents[0].IncidentID+" opened") {
		t.Errorf("why wm.strict --job: %v\n%s", err, out)
	}
	out, err = e.run("jobs", "--product", "wm.strict", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var jobs []map[string]any
	if err := json.Unmarshal([]byte(out), &jobs); err != nil || len(jobs) != 3 || jobs[0]["status"] != "FAILED" || jobs[2]["status"] != "SUCCEEDED" {
		t.Errorf("jobs --product wm.strict: %v\n%s", err, out)
	}
	out, err = e.run("incidents", "--json")
	if err != nil || !strings.Contains(out, incidents[0].IncidentID) || !strings.Contains(out, `"resolved"`) {
		t.Errorf("incidents: %v\n%s", err, out)
	}
	if out, err := e.run("incidents", "--open"); err != nil || strings.Contains(out, "wm.strict") {
		t.Errorf("incidents --open lists the resolved one: %v\n%s", err, out)
	}

	// raw.c came long after raw.b: wm.recent, whose max input age is 2s,
	// did not run; a fresh raw.b runs it.
	if s, _ := e.jobs("wm.recent"); len(s) != 0 {
		t.Errorf("wm.recent ran on raw.b and raw.c %d times; raw.b was older than its max input age", len(s))
	}
	e.land("b/2.csv", "id,w\nk1,10\nk2,20\n")
	rs, _ := e.awaitFinished("wm.recent", 1)
	if pinned(rs[0]) != "raw.b@2,raw.c@2" {
		t.Errorf("wm.recent pinned %s", pinned(rs[0]))
	}

	// A product added now does not fire on the refreshes before it.
	late := filepath.Join(t.TempDir(), "mesh.yaml")
	if err := os.WriteFile(late, []byte(strings.Replace(orchMesh, "grants:\n", `  - {name: late, domain: wm, inputs: [raw.a, raw.b], transform: "SELECT count(*) AS n FROM a",
     output: {schema: {type: record, name: Late, fields: [{name: n, type: long}]}}}
grants:
`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := e.run("apply", "-f", late); err != nil {
		t.Fatal(err)
	}
	e.awaitInboxFact(func(ev events.Event) bool {
		pp, ok := ev.(*events.ProductPublished)
		return ok && pp.Product == "wm.late"
	})
	e.decided()
	e.land("a/3.csv", "id,v\nk1,6\n")
	e.awaitTable("raw.a", 3)
	e.awaitInbox("raw.a", 3)
	e.decided()
	if s, _ := e.jobs("wm.late"); len(s) != 0 {
		t.Fatalf("wm.late ran on raw.b's refresh from before it existed")
	}
	e.land("b/3.csv", "id,w\nk1,11\n")
	ls, _ := e.awaitFinished("wm.late", 1)
	if pinned(ls[0]) != "raw.a@3,raw.b@3" {
		t.Errorf("wm.late pinned %s", pinned(ls[0]))
	}

	// A job past its timeout fails.
	if _, err := e.run("run-product", "wm.slow", "--reason", "test"); err != nil {
		t.Fatal(err)
	}
	_, slow := e.awaitFinished("wm.slow", 1)
	if slow[0].Status != events.StatusFailed || !strings.Contains(*slow[0].Error, "timed out") {
		t.Fatalf("wm.slow: %+v", slow[0])
	}
	// wm.ticked runs when the schedule is due and raw.c is new: once for
	// each version of raw.c, however many times the schedule came due.
	ks, kf := e.awaitFinished("wm.ticked", 2)
	e.decided()
	ks, _ = e.jobs("wm.ticked")
	if len(ks) != 2 || pinned(ks[0]) != "raw.c@1" || pinned(ks[1]) != "raw.c@2" || *ks[0].Policy != "raw.c and schedule" ||
		kf[1].Status != events.StatusSucceeded {
		t.Errorf("wm.ticked: %d runs, pinned %s, %s, finished %+v", len(ks), pinned(ks[0]), pinned(ks[len(ks)-1]), kf)
	}
	// The schedule comes due every 2s whatever the test does: await a
	// third due time rather than expect it at one moment.
	var ticks map[time.Time]bool
	for deadline := time.Now().Add(time.Minute); ; {
		ticks = map[time.Time]bool{}
		for _, rec := range kafkatest.ReadAll(t, e.p.Brokers, events.InboxTopic("wm")) {
			ev, err := e.p.Codec.Decode(context.Background(), rec.Value)
			if err != nil {
				t.Fatal(err)
			}
			if rr, ok := ev.(*events.RunRequested); ok && rr.RequestedBy == events.RequestedBySchedule {
				if ticks[rr.Envelope.OccurredAt] {
					t.Errorf("the schedule was due at %s twice", rr.Envelope.OccurredAt)
				}
				ticks[rr.Envelope.OccurredAt] = true
			}
		}
		if len(ticks) >= 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(ticks) < 3 {
		t.Errorf("%d due times of wm.ticked's schedule in the inbox after a minute, want one every 2s", len(ticks))
	}
	e.verifyAll()

	// The orchestrator's decisions are the fold of wealth's inbox: folded
	// again from offset 0, it decides exactly the JobStarted on the log.
	refold := projectiontest.MemStore{}
	var decided []string
	for _, rec := range kafkatest.ReadAll(t, e.p.Brokers, events.InboxTopic("wm")) {
		ev, err := e.p.Codec.Decode(context.Background(), rec.Value)
		if err != nil {
			t.Fatal(err)
		}
		out, err := orchestration.Decide(refold, rec.Topic, ev)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range out {
			if js, ok := d.(*events.JobStarted); ok {
				decided = append(decided, js.Envelope.EventID+" "+js.Product+" "+pinned(js))
			}
		}
	}
	var logged []string
	for _, rec := range kafkatest.ReadAll(t, e.p.Brokers, events.DomainTopic("wm")) {
		if ev, err := e.p.Codec.Decode(context.Background(), rec.Value); err == nil {
			if js, ok := ev.(*events.JobStarted); ok {
				logged = append(logged, js.Envelope.EventID+" "+js.Product+" "+pinned(js))
			}
		}
	}
	slices.Sort(decided)
	slices.Sort(logged)
	if !slices.Equal(decided, logged) || len(logged) < 8 {
		t.Errorf("refolded decisions:\n%s\nJobStarted on the log:\n%s", strings.Join(decided, "\n"), strings.Join(logged, "\n"))
	}
}

// awaitInboxFact waits until wealth's inbox holds a fact match accepts.
func (e *e2e) awaitInboxFact(match func(events.Event) bool) {
	e.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		for _, rec := range kafkatest.ReadAll(e.t, e.p.Brokers, events.InboxTopic("wm")) {
			if ev, err := e.p.Codec.Decode(context.Background(), rec.Value); err == nil && match(ev) {
				return
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatal("the fact never reached wm's inbox")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// awaitOlder waits until the refresh of input to version in wm's inbox is
// older than age by this machine's clock. A max input age is weighed at
// the time of the fact that would fire the product (projections/
// orchestration), and the loader stamps that fact with this clock (the
// platform takes no injected one): once awaitOlder returns, a file landed
// next is committed, and refreshed, after input's refresh has aged past
// age. It waits only for what is left of age, often nothing.
func (e *e2e) awaitOlder(input string, version int64, age time.Duration) {
	e.t.Helper()
	var at time.Time
	for _, rec := range kafkatest.ReadAll(e.t, e.p.Brokers, events.InboxTopic("wm")) {
		ev, err := e.p.Codec.Decode(context.Background(), rec.Value)
		if err != nil {
			continue
		}
		if pr, ok := ev.(*events.ProductRefreshed); ok && pr.Product == input && pr.Version == version {
			at = pr.Envelope.OccurredAt
			if pr.DataAsOf != nil {
				at = *pr.DataAsOf // what the orchestration weighs
			}
		}
	}
	if at.IsZero() {
		e.t.Fatalf("wm's inbox has no refresh of %s version %d", input, version)
	}
	// Older than age: strictly, at the log's microseconds.
	if left := time.Until(at.Add(age + time.Microsecond)); left > 0 {
		aged := time.NewTimer(left)
		defer aged.Stop()
		<-aged.C
	}
}

func (e *e2e) awaitTable(table string, version int64) {
	e.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		for _, f := range e.files(0) {
			if f["table"] == table && f["table_version"] == float64(version) {
				return
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s never reached version %d", table, version)
		}
		time.Sleep(150 * time.Millisecond)
	}
}

// awaitInbox waits until wealth's inbox holds product's refresh version.
func (e *e2e) awaitInbox(product string, version int64) {
	e.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		for _, rec := range kafkatest.ReadAll(e.t, e.p.Brokers, events.InboxTopic("wm")) {
			ev, err := e.p.Codec.Decode(context.Background(), rec.Value)
			if err == nil {
				if pr, ok := ev.(*events.ProductRefreshed); ok && pr.Product == product && pr.Version == version {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("wm's inbox never got %s version %d", product, version)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// awaitInboxFinished waits until jf is in wealth's inbox.
func (e *e2e) awaitInboxFinished(jf *events.JobFinished) {
	e.t.Helper()
	e.awaitInboxFact(func(ev events.Event) bool {
		f, ok := ev.(*events.JobFinished)
		return ok && f.Envelope.EventID == jf.Envelope.EventID
	})
}

func (e *e2e) incidents() []*events.IncidentOpened {
	e.t.Helper()
	var out []*events.IncidentOpened
	for _, rec := range kafkatest.ReadAll(e.t, e.p.Brokers, events.DomainTopic("wm")) {
		if ev, err := e.p.Codec.Decode(context.Background(), rec.Value); err == nil {
			if io, ok := ev.(*events.IncidentOpened); ok {
				out = append(out, io)
			}
		}
	}
	return out
}

func (e *e2e) awaitResolved(incident string) {
	e.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		for _, rec := range kafkatest.ReadAll(e.t, e.p.Brokers, events.DomainTopic("wm")) {
			if ev, err := e.p.Codec.Decode(context.Background(), rec.Value); err == nil {
				if r, ok := ev.(*events.IncidentResolved); ok && r.IncidentID == incident {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("incident %s never resolved", incident)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// killMesh: one product that runs on every new version of raw.a.
const killMesh = `
domains:
  - name: raw
  - name: wm
feeds:
  - {name: a, table: raw.a, key_pattern: "a/*.csv", format: csv, options: {header: true}, visibility: enterprise,
     schema: {type: record, name: A, fields: [{name: id, type: string}, {name: v, type: long}]}, primary_key: [id], mode: upsert}
products:
  - name: p
    domain: wm
    inputs: [raw.a]
    trigger: any
    transform: SELECT id, v FROM a
    output: {schema: {type: record, name: P, fields: [{name: id, type: string}, {name: v, type: long}]}, primary_key: [id], mode: upsert}
grants:
  - {product: raw.a, to: wm}
`

// The orchestrator and the runner as `logmesh run` processes, each
// SIGKILLed mid-stream and restarted while raw.a gets version after
// version: no JobStarted twice, every job finished once, and the last
// version of raw.a gets its run (no trigger lost); the orchestrator's live
// store equals a rebuilt one.
func TestE2EOrchestratorAndRunnerKilled(t *testing.T) {
	if os.Getenv(kafkatest.EnvBrokers) != "" {
		kafkatest.New(t).Reset(t, "logmesh.")
	}
	dir := t.TempDir()
	cfg := meshConfig(t, dir, killMesh)
	cfg.Skip = []string{"orchestrator", "runner"}
	cfg.Warehouse = filepath.Join(dir, "warehouse")
	e := &e2e{cli: &cli{t: t, p: startDev(t, cfg)}, cfg: cfg}
	common := func(name string, extra ...string) []string {
		return append([]string{"run", name, "--brokers", strings.Join(e.p.Brokers, ","), "--registry", e.p.RegistryURL,
			"--data", filepath.Join(dir, "proc-"+name), "--warehouse", cfg.Warehouse, "--session-timeout", "6s",
			// Restarts take over at once; on kfake, SIGKILLed dynamic
			// members can stay in the group for good (1 run in ~5).
			"--static-membership"}, extra...)
	}
	orch := startProc(t, "orchestrator", common("orchestrator", "--admin-addr", "127.0.0.1:0")...)
	adminLine := orch.Await(orch.On(`admin http://`), "its admin endpoint")
	run := startProc(t, "runner", common("runner")...)

	const versions = 12
	orchKill := orch.On(`job started`)
	runKill := run.On(`job succeeded`)
	for i := 1; i <= versions; i++ {
		e.land(fmt.Sprintf("a/%02d.csv", i), fmt.Sprintf("id,v\nk%d,%d\nk0,%d\n", i, i, i))
		e.awaitTable("raw.a", int64(i))
		switch i {
		case 3:
			orch.Await(orchKill, "a job started")
			orch.Restart()
			adminLine = orch.Await(orch.On(`admin http://`), "its admin endpoint after the restart")
		case 6:
			run.Await(runKill, "a job succeeded")
			run.Restart()
		case 9:
			orch.Kill()
			run.Kill()
			orch.Restart()
			adminLine = orch.Await(orch.On(`admin http://`), "its admin endpoint after the restart")
			run.Restart()
		}
	}
	// The last version's run.
	deadline := time.Now().Add(3 * time.Minute)
	var started []*events.JobStarted
	var finished []*events.JobFinished
	for {
		started, finished = e.jobs("wm.p")
		if len(started) > 0 && pinned(started[len(started)-1]) == fmt.Sprintf("raw.a@%d", versions) && len(finished) == len(started) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d started, %d finished; last pinned %v", len(started), len(finished), pinned(started[len(started)-1]))
		}
		time.Sleep(200 * time.Millisecond)
	}
	ids := map[string]int{}
	for _, js := range started {
		ids[js.Envelope.EventID]++
	}
	for id, n := range ids {
		if n != 1 {
			t.Errorf("JobStarted %s on the log %d times", id, n)
		}
	}
	fins := map[string]int{}
	for _, jf := range finished {
		fins[fmt.Sprintf("%s/%d", jf.JobID, jf.Attempt)]++
		if jf.Status != events.StatusSucceeded {
			t.Errorf("job %s attempt %d: %s %s", jf.JobID, jf.Attempt, jf.Status, deref(jf.Error))
		}
	}
	for _, js := range started {
		if n := fins[fmt.Sprintf("%s/%d", js.JobID, js.Attempt)]; n != 1 {
			t.Errorf("job %s attempt %d finished %d times", js.JobID, js.Attempt, n)
		}
	}
	if got := column(e.query("SELECT count(*) AS n, max(v) AS m FROM wm.p"), "n", "m"); got != fmt.Sprintf("%d:%d", versions+1, versions) {
		t.Errorf("wm.p = %s", got)
	}
	waitVerified(t, e, "orchestration", adminLine[strings.Index(adminLine, "http://"):])
	orch.Stop()
	run.Stop()
}
