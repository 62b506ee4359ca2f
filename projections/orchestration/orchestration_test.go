package orchestration_test

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/projections/orchestration"
	"github.com/logmesh/logmesh/projections/projectiontest"
)

const inbox = "logmesh.wm.inbox"

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

// flow is a domain's inbox being folded, with the decisions collected.
type flow struct {
	t    *testing.T
	s    projectiontest.MemStore
	log  []events.Event // every fact folded, in order
	seq  int
	outs []events.Event
}

func newFlow(t *testing.T) *flow { return &flow{t: t, s: projectiontest.MemStore{}} }

func (f *flow) at(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }

// fold folds ev and returns its decisions.
func (f *flow) fold(ev events.Event) []events.Event {
	f.t.Helper()
	f.log = append(f.log, ev)
	out, err := orchestration.Decide(f.s, inbox, ev)
	if err != nil {
		f.t.Fatal(err)
	}
	f.outs = append(f.outs, out...)
	return out
}

func (f *flow) env(min int) events.Envelope {
	f.seq++
	return events.Envelope{EventID: fmt.Sprintf("ev-%d", f.seq), OccurredAt: f.at(min), Domain: "x"}
}

// publish defines product wm.book over inputs, with a trigger and options.
func (f *flow) publish(min int, inputs []string, trig string, opts ...func(*events.ProductPublished)) {
	f.t.Helper()
	e := &events.ProductPublished{Envelope: f.env(min), Product: "wm.book", OwnerDomain: "wm", Kind: "consumer-aligned",
		Inputs: inputs, OutputTable: "wm.book", Visibility: "domain", Trigger: trig, Transform: new("SELECT 1"),
		Mode: "append", DefinitionHash: fmt.Sprint(inputs, trig, len(opts))}
	for _, o := range opts {
		o(e)
	}
	if out := f.fold(e); len(out) != 0 {
		f.t.Fatalf("publishing decided %v", out)
	}
}

func (f *flow) refresh(min int, product string, version int64) []events.Event {
	f.t.Helper()
	env := f.env(min)
	return f.fold(&events.ProductRefreshed{Envelope: env, Product: product, OwnerDomain: "raw", Visibility: "enterprise",
		Table: product, Version: version, SnapshotID: version * 10, MetadataLocation: fmt.Sprintf("%s/v%d.json", product, version)})
}

func (f *flow) finish(min int, js *events.JobStarted, status string) []events.Event {
	f.t.Helper()
	e := &events.JobFinished{Envelope: f.env(min), JobID: js.JobID, Product: js.Product, Attempt: js.Attempt, Status: status}
	if status == events.StatusFailed {
		e.Error = new("Binder Error: column x not found")
	} else {
		e.OutputVersion = new(int64(1))
	}
	return f.fold(e)
}

func started(t *testing.T, out []events.Event) *events.JobStarted {
	t.Helper()
	if len(out) != 1 {
		t.Fatalf("decided %d facts %v, want one JobStarted", len(out), out)
	}
	js, ok := out[0].(*events.JobStarted)
	if !ok {
		t.Fatalf("decided %s, want JobStarted", out[0].Name())
	}
	return js
}

func pins(js *events.JobStarted) string {
	var s []string
	for _, in := range js.Inputs {
		s = append(s, fmt.Sprintf("%s@%d", in.Name, in.Version))
	}
	return strings.Join(s, ",")
}

func none(t *testing.T, out []events.Event, what string) {
	t.Helper()
	if len(out) != 0 {
		t.Fatalf("%s decided %v, want nothing", what, out)
	}
}

// All inputs: one run when the last arrives, pinned to what was seen;
// one input again does not run it; staggered updates of three inputs give
// one run.
func TestAllInputs(t *testing.T) {
	f := newFlow(t)
	f.publish(0, []string{"raw.a", "raw.b", "raw.c", "topic:upstream.x"}, "all")
	none(t, f.refresh(1, "raw.a", 1), "raw.a")
	none(t, f.refresh(2, "raw.b", 1), "raw.b")
	js := started(t, f.refresh(3, "raw.c", 1))
	if pins(js) != "raw.a@1,raw.b@1,raw.c@1" || js.Attempt != 1 || js.Trigger != "inputs" || *js.Policy != "all" ||
		!slices.Equal(js.TriggeredBy, []string{"ev-2", "ev-3", "ev-4"}) || js.OwnerDomain != "wm" || *js.Transform != "SELECT 1" {
		t.Fatalf("JobStarted %+v (pins %s)", js, pins(js))
	}
	none(t, f.finish(4, js, events.StatusSucceeded), "success")
	none(t, f.refresh(5, "raw.a", 2), "only raw.a again")
	none(t, f.refresh(6, "raw.a", 2), "a repeated refresh")
	none(t, f.refresh(7, "raw.b", 2), "raw.b")
	js2 := started(t, f.refresh(8, "raw.c", 2))
	if pins(js2) != "raw.a@2,raw.b@2,raw.c@2" || js2.JobID == js.JobID {
		t.Fatalf("second run %s, id %s", pins(js2), js2.JobID)
	}
}

// Any input, an expression, max input age, and a product added after
// refreshes.
func TestPolicies(t *testing.T) {
	t.Run("any", func(t *testing.T) {
		f := newFlow(t)
		f.publish(0, []string{"raw.a", "raw.b"}, "any")
		none(t, f.refresh(1, "raw.a", 1), "raw.a before raw.b was ever seen (nothing to pin)")
		js := started(t, f.refresh(2, "raw.b", 1))
		f.finish(3, js, events.StatusSucceeded)
		if js := started(t, f.refresh(4, "raw.a", 2)); pins(js) != "raw.a@2,raw.b@1" {
			t.Fatalf("pins %s", pins(js))
		}
	})
	t.Run("expression", func(t *testing.T) {
		f := newFlow(t)
		f.publish(0, []string{"raw.a", "raw.b", "raw.c"}, "raw.a and (raw.b or raw.c)")
		none(t, f.refresh(1, "raw.b", 1), "raw.b")
		none(t, f.refresh(2, "raw.c", 1), "raw.c without raw.a")
		js := started(t, f.refresh(3, "raw.a", 1))
		if *js.Policy != "raw.a and (raw.b or raw.c)" {
			t.Errorf("policy %q", *js.Policy)
		}
	})
	t.Run("max input age", func(t *testing.T) {
		f := newFlow(t)
		f.publish(0, []string{"raw.a", "raw.b"}, "all", func(p *events.ProductPublished) { p.MaxInputAgeSeconds = new(int64(3600)) })
		none(t, f.refresh(1, "raw.a", 1), "raw.a")
		none(t, f.refresh(122, "raw.b", 1), "raw.b two hours after raw.a (raw.a too old)")
		if js := started(t, f.refresh(130, "raw.a", 2)); pins(js) != "raw.a@2,raw.b@1" {
			t.Fatalf("pins %s", pins(js))
		}
	})
	t.Run("added after refreshes", func(t *testing.T) {
		f := newFlow(t)
		f.refresh(1, "raw.a", 1)
		f.refresh(2, "raw.b", 1)
		f.publish(3, []string{"raw.a", "raw.b"}, "all")
		none(t, f.refresh(4, "raw.a", 2), "raw.a after the product appeared, raw.b only before")
		if js := started(t, f.refresh(5, "raw.b", 2)); pins(js) != "raw.a@2,raw.b@2" {
			t.Fatalf("pins %s", pins(js))
		}
	})
	t.Run("another domain's product", func(t *testing.T) {
		f := newFlow(t)
		e := &events.ProductPublished{Envelope: f.env(0), Product: "eq.other", OwnerDomain: "eq", Kind: "consumer-aligned",
			Inputs: []string{"raw.a"}, OutputTable: "eq.other", Trigger: "any", DefinitionHash: "h"}
		none(t, f.fold(e), "eq's product in wm's inbox")
		none(t, f.refresh(1, "raw.a", 1), "a refresh of its input")
	})
	t.Run("manual", func(t *testing.T) {
		f := newFlow(t)
		f.publish(0, []string{"raw.a"}, "manual")
		none(t, f.refresh(1, "raw.a", 1), "a manual product's input")
		js := started(t, f.fold(&events.RunRequested{Envelope: f.env(2), Product: "wm.book", RequestedBy: "ops"}))
		if js.Trigger != "manual" || pins(js) != "raw.a@1" {
			t.Fatalf("manual run %+v", js)
		}
	})
}

// One run at a time: a trigger while a job is in flight is one pending
// run, started when the job ends.
func TestPendingRun(t *testing.T) {
	f := newFlow(t)
	f.publish(0, []string{"raw.a"}, "any")
	js := started(t, f.refresh(1, "raw.a", 1))
	none(t, f.refresh(2, "raw.a", 2), "while in flight")
	none(t, f.refresh(3, "raw.a", 3), "again while in flight")
	next := started(t, f.finish(4, js, events.StatusSucceeded))
	if pins(next) != "raw.a@3" || next.Trigger != "inputs" {
		t.Fatalf("pending run %s %s", pins(next), next.Trigger)
	}
	none(t, f.finish(5, next, events.StatusSucceeded), "the pending run's end")
}

// Failures are retried with backoff up to the policy's attempts, then one
// incident opens; the next success resolves it.
func TestRetriesAndIncident(t *testing.T) {
	f := newFlow(t)
	f.publish(0, []string{"raw.a"}, "any", func(p *events.ProductPublished) {
		p.RetryMaxAttempts, p.RetryBackoffSeconds = new(int32(3)), new(int64(30))
	})
	js := started(t, f.refresh(1, "raw.a", 1))
	r2 := started(t, f.finish(2, js, events.StatusFailed))
	if r2.Attempt != 2 || r2.JobID != js.JobID || r2.Trigger != "retry" || pins(r2) != pins(js) ||
		r2.NotBefore == nil || !r2.NotBefore.Equal(f.at(2).Add(30*time.Second)) {
		t.Fatalf("second attempt %+v", r2)
	}
	none(t, f.finish(2, js, events.StatusFailed), "a repeated JobFinished of attempt 1")
	r3 := started(t, f.finish(3, r2, events.StatusFailed))
	if r3.Attempt != 3 || !r3.NotBefore.Equal(f.at(3).Add(60*time.Second)) {
		t.Fatalf("third attempt %d, not before %v", r3.Attempt, r3.NotBefore)
	}
	out := f.finish(4, r3, events.StatusFailed)
	if len(out) != 1 {
		t.Fatalf("after the last attempt: %v", out)
	}
	inc, ok := out[0].(*events.IncidentOpened)
	if !ok || *inc.Product != "wm.book" || *inc.JobID != js.JobID || !strings.Contains(*inc.Detail, "column x") {
		t.Fatalf("incident %+v", out[0])
	}
	// A fixed input runs again and fails: no second incident.
	again := started(t, f.refresh(5, "raw.a", 2))
	a2 := started(t, f.finish(6, again, events.StatusFailed))
	a3 := started(t, f.finish(7, a2, events.StatusFailed))
	none(t, f.finish(8, a3, events.StatusFailed), "the last attempt while an incident is open")
	fixed := started(t, f.refresh(9, "raw.a", 3))
	out = f.finish(10, fixed, events.StatusSucceeded)
	if len(out) != 1 {
		t.Fatalf("success decided %v", out)
	}
	if res, ok := out[0].(*events.IncidentResolved); !ok || res.IncidentID != inc.IncidentID {
		t.Fatalf("resolution %+v", out[0])
	}
}

// The same inbox folded again gives the same state and the same decisions.
func TestDeterministic(t *testing.T) {
	f := newFlow(t)
	f.publish(0, []string{"raw.a", "raw.b"}, "all")
	f.refresh(1, "raw.a", 1)
	js := started(t, f.refresh(2, "raw.b", 1))
	f.refresh(3, "raw.a", 2)
	f.finish(4, js, events.StatusFailed)
	g := projectiontest.MemStore{}
	var outs []events.Event
	for _, ev := range f.log {
		out, err := orchestration.Decide(g, inbox, ev)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, out...)
	}
	if g.Digest() != f.s.Digest() {
		t.Error("the refold's state differs")
	}
	if !reflect.DeepEqual(outs, f.outs) {
		t.Errorf("the refold decided %v, the fold %v", outs, f.outs)
	}
	if p, ok, err := orchestration.Get(g, "wm.book"); err != nil || !ok || p.Job == nil || p.Job.Attempt != 2 || p.Runs != 1 {
		t.Errorf("state %+v %v %v", p, ok, err)
	}
}

// tick folds the scheduler's RunRequested for a due time at minute min.
func (f *flow) tick(min int) []events.Event {
	f.t.Helper()
	env := f.env(min)
	env.EventID = fmt.Sprintf("tick-%d", min)
	return f.fold(&events.RunRequested{Envelope: env, Product: "wm.book", RequestedBy: events.RequestedBySchedule})
}

// Schedules: "schedule" runs on each new due time with the latest inputs;
// a due time seen already (a restarted scheduler) or from before the
// product appeared does nothing; "inputs and schedule" waits for both, in
// either order; "inputs or schedule" runs on either; a policy without the
// schedule ignores it.
func TestSchedule(t *testing.T) {
	t.Run("schedule", func(t *testing.T) {
		f := newFlow(t)
		f.refresh(0, "raw.a", 1)
		f.publish(1, []string{"raw.a"}, "schedule")
		none(t, f.tick(0), "a due time before the product")
		none(t, f.refresh(2, "raw.a", 2), "a refresh")
		js := started(t, f.tick(5))
		if pins(js) != "raw.a@2" || js.Trigger != "schedule" || *js.Policy != "schedule" ||
			!slices.Equal(js.TriggeredBy, []string{"ev-4", "tick-5"}) {
			t.Fatalf("pins %s trigger %s policy %s by %v", pins(js), js.Trigger, *js.Policy, js.TriggeredBy)
		}
		none(t, f.finish(6, js, events.StatusSucceeded), "success")
		none(t, f.tick(5), "the same due time again")
		js = started(t, f.tick(10))
		if pins(js) != "raw.a@2" || !slices.Equal(js.TriggeredBy, []string{"tick-10"}) {
			t.Fatalf("second run: pins %s by %v", pins(js), js.TriggeredBy)
		}
		none(t, f.tick(15), "a due time while the job runs")
		js2 := started(t, f.finish(16, js, events.StatusSucceeded))
		if js2.JobID == js.JobID || !slices.Equal(js2.TriggeredBy, []string{"tick-15"}) {
			t.Fatalf("pending run %+v", js2)
		}
	})
	t.Run("inputs and schedule", func(t *testing.T) {
		f := newFlow(t)
		f.publish(0, []string{"raw.a"}, "raw.a and schedule")
		none(t, f.refresh(1, "raw.a", 1), "the input alone")
		js := started(t, f.tick(5))
		none(t, f.finish(6, js, events.StatusSucceeded), "success")
		none(t, f.tick(10), "the schedule alone")
		js = started(t, f.refresh(11, "raw.a", 2))
		if pins(js) != "raw.a@2" || !slices.Equal(js.TriggeredBy, []string{"ev-6"}) {
			t.Fatalf("pins %s by %v", pins(js), js.TriggeredBy)
		}
		none(t, f.finish(12, js, events.StatusSucceeded), "success")
		none(t, f.refresh(13, "raw.a", 3), "the input without a new due time")
		js = started(t, f.tick(15))
		// Due again while that run reads raw.a@3: no second run of the
		// same version when it ends; the next version runs at once.
		none(t, f.tick(20), "a due time while the job runs")
		none(t, f.finish(21, js, events.StatusSucceeded), "the end of the run that read raw.a@3")
		js = started(t, f.refresh(22, "raw.a", 4))
		if pins(js) != "raw.a@4" {
			t.Fatalf("after the due time in flight: pins %s", pins(js))
		}
	})
	t.Run("inputs or schedule", func(t *testing.T) {
		f := newFlow(t)
		f.publish(0, []string{"raw.a"}, "raw.a or schedule")
		js := started(t, f.refresh(1, "raw.a", 1))
		none(t, f.finish(2, js, events.StatusSucceeded), "success")
		js = started(t, f.tick(5))
		if pins(js) != "raw.a@1" {
			t.Fatalf("pins %s", pins(js))
		}
	})
	t.Run("no schedule in the policy", func(t *testing.T) {
		f := newFlow(t)
		f.publish(0, []string{"raw.a"}, "all")
		f.refresh(1, "raw.a", 1)
		f.outs = nil
		none(t, f.tick(5), "a due time for an all-inputs product")
	})
}
