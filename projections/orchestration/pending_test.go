package orchestration_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/projections/orchestration"
)

// once makes a product's first failure final: one attempt, then an
// incident, and no job in flight.
func once(p *events.ProductPublished) { p.RetryMaxAttempts = new(int32(1)) }

func maxAge(s int64) func(*events.ProductPublished) {
	return func(p *events.ProductPublished) { p.MaxInputAgeSeconds = new(s) }
}

func schedule(cron string) func(*events.ProductPublished) {
	return func(p *events.ProductPublished) { p.Schedule = new(cron) }
}

// runAndFail starts a run with the last refresh in out and fails its only
// attempt: the inputs it read count as fresh again, with nothing in flight.
func (f *flow) runAndFail(min int, out []events.Event) {
	f.t.Helper()
	if len(out) != 1 {
		f.t.Fatalf("decided %v, want one JobStarted", out)
	}
	f.finish(min, out[0].(*events.JobStarted), events.StatusFailed)
}

// input is the want of one input of a Pending: versions (-1 for none),
// fresh, excluded by max age.
type input struct {
	seen, pinned    int64
	fresh, excluded bool
}

// "Why not yet": for all, any, an expression, max input age and a
// schedule, waiting and ready, PendingAt gives the policy's open needs, the
// state of each input and the next due time, from the state the
// orchestrator folded its decisions with.
func TestPending(t *testing.T) {
	ab := []string{"raw.a", "raw.b"}
	for _, tc := range []struct {
		name   string
		script func(f *flow)
		// edit changes the folded state before PendingAt, for a state no
		// fold of facts leaves (the orchestrator would have run).
		edit    func(p *orchestration.Product)
		at      int // minute of the moment
		ready   bool
		waiting []string
		inputs  []input
		next    string // next_scheduled, RFC 3339, "" for none
		note    string // in Notes
	}{
		{
			name: "all waiting",
			script: func(f *flow) {
				f.publish(0, ab, "all")
				f.refresh(1, "raw.a", 1)
				f.finish(3, started(f.t, f.refresh(2, "raw.b", 1)), events.StatusSucceeded)
				none(f.t, f.refresh(4, "raw.a", 2), "raw.a again")
			},
			at:      5,
			waiting: []string{"all: raw.b has not refreshed since version 1"},
			inputs:  []input{{seen: 2, pinned: 1, fresh: true}, {seen: 1, pinned: 1}},
		},
		{
			name: "all waiting for an input never seen",
			script: func(f *flow) {
				f.publish(0, ab, "all")
				f.refresh(1, "raw.a", 1)
			},
			at:      5,
			waiting: []string{"all: raw.b has not refreshed since the product appeared"},
			inputs:  []input{{seen: 1, pinned: -1, fresh: true}, {seen: -1, pinned: -1}},
		},
		{
			name: "all waiting for the job in flight",
			script: func(f *flow) {
				f.publish(0, ab, "all")
				f.refresh(1, "raw.a", 1)
				started(f.t, f.refresh(2, "raw.b", 1))
				f.refresh(3, "raw.a", 2)
			},
			at: 5,
			waiting: []string{"all: raw.b has not refreshed since version 1, which the job in flight reads",
				"job ", "(attempt 1) is in flight since 2026-12-01T09:02:00Z"},
			inputs: []input{{seen: 2, pinned: -1, fresh: true}, {seen: 1, pinned: -1}},
		},
		{
			name: "all ready",
			script: func(f *flow) {
				f.publish(0, ab, "all", once)
				f.refresh(1, "raw.a", 1)
				f.runAndFail(3, f.refresh(2, "raw.b", 1))
			},
			at:     5,
			ready:  true,
			inputs: []input{{seen: 1, pinned: -1, fresh: true}, {seen: 1, pinned: -1, fresh: true}},
			note:   "the last attempt ended FAILED",
		},
		{
			name: "any waiting",
			script: func(f *flow) {
				f.publish(0, ab, "any")
				f.refresh(1, "raw.a", 1)
				f.finish(3, started(f.t, f.refresh(2, "raw.b", 1)), events.StatusSucceeded)
			},
			at:      5,
			waiting: []string{"any: none of raw.a, raw.b has refreshed since the last run"},
			inputs:  []input{{seen: 1, pinned: 1}, {seen: 1, pinned: 1}},
		},
		{
			name: "any waiting for a version of every input",
			script: func(f *flow) {
				f.publish(0, ab, "any")
				none(f.t, f.refresh(1, "raw.a", 1), "raw.a without raw.b")
			},
			at:      5,
			waiting: []string{"a run pins a version of every input: raw.b has not refreshed since the product appeared"},
			inputs:  []input{{seen: 1, pinned: -1, fresh: true}, {seen: -1, pinned: -1}},
		},
		{
			name: "any ready",
			script: func(f *flow) {
				f.publish(0, ab, "any", once)
				f.refresh(1, "raw.a", 1)
				f.runAndFail(3, f.refresh(2, "raw.b", 1))
			},
			at:     5,
			ready:  true,
			inputs: []input{{seen: 1, pinned: -1, fresh: true}, {seen: 1, pinned: -1, fresh: true}},
		},
		{
			name: "expression waiting",
			script: func(f *flow) {
				f.publish(0, ab, "raw.a and (raw.b or schedule)", schedule("0 * * * *"))
				f.refresh(1, "raw.a", 1)
				f.finish(3, started(f.t, f.refresh(2, "raw.b", 1)), events.StatusSucceeded)
				none(f.t, f.refresh(4, "raw.a", 2), "raw.a alone")
			},
			at: 5,
			waiting: []string{`expression: "raw.b or schedule" is false: raw.b has not refreshed since version 1; ` +
				"the schedule is not due until 2026-12-01T10:00:00Z (0 * * * *)"},
			inputs: []input{{seen: 2, pinned: 1, fresh: true}, {seen: 1, pinned: 1}},
			next:   "2026-12-01T10:00:00Z",
		},
		{
			name: "expression waiting for two clauses",
			script: func(f *flow) {
				f.publish(0, ab, "raw.a and raw.b", once)
				f.refresh(1, "raw.a", 1)
				f.finish(3, started(f.t, f.refresh(2, "raw.b", 1)), events.StatusSucceeded)
			},
			at: 5,
			waiting: []string{`expression: "raw.a" is false: raw.a has not refreshed since version 1`,
				`expression: "raw.b" is false: raw.b has not refreshed since version 1`},
			inputs: []input{{seen: 1, pinned: 1}, {seen: 1, pinned: 1}},
		},
		{
			name: "expression ready",
			script: func(f *flow) {
				f.publish(0, ab, "raw.a and (raw.b or schedule)", schedule("0 * * * *"), once)
				f.refresh(1, "raw.a", 1)
				f.runAndFail(3, f.refresh(2, "raw.b", 1))
			},
			at:     5,
			ready:  true,
			inputs: []input{{seen: 1, pinned: -1, fresh: true}, {seen: 1, pinned: -1, fresh: true}},
			next:   "2026-12-01T10:00:00Z",
		},
		{
			name: "max age waiting",
			script: func(f *flow) {
				f.publish(0, ab, "all", maxAge(1800))
				f.refresh(1, "raw.a", 1)
				none(f.t, f.refresh(40, "raw.b", 1), "raw.b with raw.a too old")
			},
			at:      45,
			waiting: []string{"all: raw.a version 1 is excluded by the max input age 30m0s: it is 44m0s old"},
			inputs:  []input{{seen: 1, pinned: -1, excluded: true}, {seen: 1, pinned: -1, fresh: true}},
		},
		{
			name: "max age ready",
			script: func(f *flow) {
				f.publish(0, ab, "all", maxAge(1800), once)
				f.refresh(1, "raw.a", 1)
				f.runAndFail(11, f.refresh(10, "raw.b", 1))
			},
			at:     20,
			ready:  true,
			inputs: []input{{seen: 1, pinned: -1, fresh: true}, {seen: 1, pinned: -1, fresh: true}},
		},
		{
			// The same log as "max age ready", a moment later.
			name: "max age waiting later",
			script: func(f *flow) {
				f.publish(0, ab, "all", maxAge(1800), once)
				f.refresh(1, "raw.a", 1)
				f.runAndFail(11, f.refresh(10, "raw.b", 1))
			},
			at:      35,
			waiting: []string{"all: raw.a version 1 is excluded by the max input age 30m0s: it is 34m0s old"},
			inputs:  []input{{seen: 1, pinned: -1, excluded: true}, {seen: 1, pinned: -1, fresh: true}},
		},
		{
			name: "schedule waiting",
			script: func(f *flow) {
				f.publish(0, []string{"raw.a"}, "schedule", schedule("*/15 * * * *"))
				none(f.t, f.refresh(1, "raw.a", 1), "a refresh")
			},
			at:      5,
			waiting: []string{"schedule: the schedule is not due until 2026-12-01T09:15:00Z (*/15 * * * *)"},
			inputs:  []input{{seen: 1, pinned: -1, fresh: true}},
			next:    "2026-12-01T09:15:00Z",
		},
		{
			name: "schedule waiting for the scheduler",
			script: func(f *flow) {
				f.publish(0, []string{"raw.a"}, "schedule", schedule("*/15 * * * *"))
				none(f.t, f.refresh(1, "raw.a", 1), "a refresh")
			},
			at:      20,
			waiting: []string{"schedule: the schedule was due at 2026-12-01T09:15:00Z but no scheduler has said so yet"},
			inputs:  []input{{seen: 1, pinned: -1, fresh: true}},
			next:    "2026-12-01T09:30:00Z",
		},
		{
			name: "schedule due waiting for a version to pin",
			script: func(f *flow) {
				f.publish(0, []string{"raw.a"}, "schedule", schedule("*/15 * * * *"))
				none(f.t, f.tick(15), "a due time without an input")
			},
			at:      20,
			waiting: []string{"a run pins a version of every input: raw.a has not refreshed since the product appeared"},
			inputs:  []input{{seen: -1, pinned: -1}},
			next:    "2026-12-01T09:30:00Z",
		},
		{
			name: "schedule ready",
			script: func(f *flow) {
				f.publish(0, []string{"raw.a"}, "schedule", schedule("*/15 * * * *"))
				none(f.t, f.tick(15), "a due time without an input")
			},
			// A refresh now would start the run (TestSchedule): the state
			// just before it is weighed.
			edit: func(p *orchestration.Product) {
				p.Seen["raw.a"] = orchestration.Seen{Table: "raw.a", Version: 1, At: t0.Add(19 * time.Minute).UnixMicro()}
			},
			at:     20,
			ready:  true,
			inputs: []input{{seen: 1, pinned: -1, fresh: true}},
			next:   "2026-12-01T09:30:00Z",
		},
		{
			name: "manual",
			script: func(f *flow) {
				f.publish(0, []string{"raw.a"}, "manual")
				f.refresh(1, "raw.a", 1)
			},
			at:      5,
			waiting: []string{"manual: it runs only when asked (logmesh run-product)"},
			inputs:  []input{{seen: 1, pinned: -1, fresh: true}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFlow(t)
			tc.script(f)
			p, ok, err := orchestration.Get(f.s, "wm.book")
			if err != nil || !ok {
				t.Fatalf("state: %v %v", ok, err)
			}
			if tc.edit != nil {
				tc.edit(p)
			}
			got := orchestration.PendingAt(p, f.at(tc.at))
			if got.Ready != tc.ready {
				t.Errorf("ready %v, want %v: %q", got.Ready, tc.ready, got.WaitingFor)
			}
			if tc.ready != (len(got.WaitingFor) == 0) {
				t.Errorf("ready %v waiting for %q", got.Ready, got.WaitingFor)
			}
			// Each wanted sentence is in waiting_for, and there is no other
			// (but for the job in flight's, given in parts).
			all := strings.Join(got.WaitingFor, "\n")
			for _, w := range tc.waiting {
				if !strings.Contains(all, w) {
					t.Errorf("waiting for %q lacks %q", got.WaitingFor, w)
				}
			}
			if !slices.ContainsFunc(tc.waiting, func(s string) bool { return strings.HasPrefix(s, "job ") }) && len(got.WaitingFor) != len(tc.waiting) {
				t.Errorf("waiting for %q, want %d sentences", got.WaitingFor, len(tc.waiting))
			}
			if len(got.Inputs) != len(tc.inputs) {
				t.Fatalf("inputs %+v, want %d", got.Inputs, len(tc.inputs))
			}
			for i, w := range tc.inputs {
				g := got.Inputs[i]
				if v(g.LastSeen) != w.seen || v(g.Pinned) != w.pinned || g.Fresh != w.fresh || g.ExcludedByMaxAge != w.excluded || g.Reason == "" {
					t.Errorf("input %s: %+v (seen %d pinned %d), want %+v", g.Name, g, v(g.LastSeen), v(g.Pinned), w)
				}
			}
			next := ""
			if got.NextScheduled != nil {
				next = got.NextScheduled.Format(time.RFC3339)
			}
			if next != tc.next {
				t.Errorf("next scheduled %q, want %q", next, tc.next)
			}
			if tc.note != "" && !strings.Contains(strings.Join(got.Notes, "\n"), tc.note) {
				t.Errorf("notes %q lack %q", got.Notes, tc.note)
			}
			if !got.AsOf.Equal(f.at(tc.at)) || got.Product != "wm.book" {
				t.Errorf("product %s as of %s", got.Product, got.AsOf)
			}
			b, err := json.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			for _, key := range []string{`"product"`, `"as_of"`, `"policy"`, `"ready"`, `"next_scheduled"`, `"inputs"`, `"waiting_for"`,
				`"last_seen_version"`, `"pinned_version"`, `"excluded_by_max_age"`, `"reason"`, `"table"`} {
				if !strings.Contains(string(b), key) {
					t.Errorf("JSON %s lacks %s", b, key)
				}
			}
		})
	}
}

func v(n *int64) int64 {
	if n == nil {
		return -1
	}
	return *n
}
