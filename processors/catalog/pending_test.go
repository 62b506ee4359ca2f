package catalog_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/mesh"
	"github.com/logmesh/logmesh/processors/catalog"
	"github.com/logmesh/logmesh/projections/orchestration"
	"github.com/logmesh/logmesh/projections/projectiontest"
)

// toInbox produces evs on domain's inbox, as the router delivers them.
func (r *rig) toInbox(domain string, evs ...events.Event) {
	r.t.Helper()
	cl := r.cluster.Client(r.t)
	for _, ev := range evs {
		rec, err := r.codec.Record(ev)
		if err != nil {
			r.t.Fatal(err)
		}
		rec.Topic = r.names.Inbox(domain)
		if err := cl.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
			r.t.Fatal(err)
		}
	}
}

// pendingView is the JSON of GET /v1/products/{product}/pending.
type pendingView struct {
	Product    string     `json:"product"`
	AsOf       time.Time  `json:"as_of"`
	Policy     string     `json:"policy"`
	Ready      bool       `json:"ready"`
	Next       *time.Time `json:"next_scheduled"`
	WaitingFor []string   `json:"waiting_for"`
	Job        string     `json:"job_in_flight"`
	Inputs     []struct {
		Name     string `json:"name"`
		Table    string `json:"table"`
		LastSeen *int64 `json:"last_seen_version"`
		Pinned   *int64 `json:"pinned_version"`
		Excluded bool   `json:"excluded_by_max_age"`
		MaxAge   string `json:"max_age"`
		Reason   string `json:"reason"`
	} `json:"inputs"`
}

// GET /v1/products/{product}/pending: own.priv (as own's inbox has it:
// on own.pub) ran on own.pub version 1; now it waits for a newer one, as
// of the job it waited for the job; who may not see the product gets the
// answer GET /v1/products/{product} gives, and a feed's product has none.
func TestPendingAPI(t *testing.T) {
	r := newRig(t, catalog.Rules{})
	m, err := mesh.Parse([]byte(authMesh), "mesh.yaml", ".")
	if err != nil {
		t.Fatal(err)
	}
	var pp *events.ProductPublished
	for _, ev := range m.Definitions(t0) {
		if p, ok := ev.(*events.ProductPublished); ok && p.Product == "own.priv" {
			pp = p
		}
	}
	if pp == nil {
		t.Fatal("no ProductPublished of own.priv")
	}
	pp.Inputs = []string{"own.pub"}
	refreshed := &events.ProductRefreshed{Envelope: events.Envelope{EventID: "refresh-1", OccurredAt: t0.Add(3 * time.Minute), Domain: "own"},
		Product: "own.pub", OwnerDomain: "own", Visibility: "enterprise", Table: "own.pub", Version: 1, SnapshotID: 100,
		MetadataLocation: "v1.json"}
	// The job the orchestrator starts for the refresh, by the same fold.
	ms := projectiontest.MemStore{}
	var js *events.JobStarted
	for _, ev := range []events.Event{pp, refreshed} {
		out, err := orchestration.Decide(ms, r.names.Inbox("own"), ev)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range out {
			js, _ = d.(*events.JobStarted)
		}
	}
	if js == nil {
		t.Fatal("no run of own.priv")
	}
	finished := &events.JobFinished{Envelope: events.Envelope{EventID: "done-1", OccurredAt: t0.Add(5 * time.Minute), Domain: "own"},
		JobID: js.JobID, Product: "own.priv", Attempt: 1, Status: events.StatusSucceeded, OutputVersion: new(int64(1))}
	r.toInbox("own", pp, refreshed, finished)

	get := func(principal, path string) (int, pendingView, string) {
		t.Helper()
		status, body, _ := r.call(principal, "GET", path, "")
		var v pendingView
		if status == 200 {
			if err := json.Unmarshal([]byte(body), &v); err != nil {
				t.Fatalf("%s: %v\n%s", path, err, body)
			}
		}
		return status, v, body
	}
	status, now, body := get("own", "/v1/products/own.priv/pending")
	if status != 200 || now.Product != "own.priv" || now.Policy != "all" || now.Ready || now.Next != nil || len(now.Inputs) != 1 ||
		now.Inputs[0].Name != "own.pub" || now.Inputs[0].LastSeen == nil || *now.Inputs[0].LastSeen != 1 ||
		now.Inputs[0].Pinned == nil || *now.Inputs[0].Pinned != 1 || now.Inputs[0].Excluded || now.Job != "" ||
		len(now.WaitingFor) != 1 || now.WaitingFor[0] != "all: own.pub has not refreshed since version 1" || !now.AsOf.Equal(judgedAt) {
		t.Errorf("pending now: %d %+v\n%s", status, now, body)
	}
	// Governance sees it too; as of the job in flight, it waited for it.
	status, then, body := get("governance", "/v1/products/own.priv/pending?as_of="+t0.Add(4*time.Minute).Format(time.RFC3339))
	if status != 200 || then.Job != js.JobID || then.Ready || then.Inputs[0].Pinned != nil ||
		len(then.WaitingFor) != 2 || !then.AsOf.Equal(t0.Add(4*time.Minute)) {
		t.Errorf("pending as of the job: %d %+v\n%s", status, then, body)
	}
	// Before the refresh, nothing to pin.
	status, early, body := get("own", "/v1/products/own.priv/pending?as_of="+t0.Add(2*time.Minute).Format(time.RFC3339))
	if status != 200 || len(early.WaitingFor) != 1 || early.WaitingFor[0] != "all: own.pub has not refreshed since the product appeared" {
		t.Errorf("pending before the refresh: %d %+v\n%s", status, early, body)
	}

	// The same answer as the product's own route for who may not see it,
	// an unknown product, no token.
	for _, c := range []struct{ principal, product string }{
		{"a", "own.priv"}, {"d", "own.priv"}, {"own", "own.nope"}, {catalog.Anonymous, "own.priv"},
	} {
		ps, pb, _ := r.call(c.principal, "GET", "/v1/products/"+c.product+"/pending", "")
		ds, db, _ := r.call(c.principal, "GET", "/v1/products/"+c.product, "")
		if ps != ds || pb != db || ps == 200 {
			t.Errorf("%s on %s: pending %d %s, product %d %s", c.principal, c.product, ps, pb, ds, db)
		}
	}
	// own.pub's inbox has no definition of it: 404, not an empty answer.
	if status, body, _ := r.call("own", "GET", "/v1/products/own.pub/pending", ""); status != 404 {
		t.Errorf("own.pub pending: %d %s", status, body)
	}
	if status, body, _ := r.call("own", "GET", "/v1/products/own.priv/pending?as_of=yesterday", ""); status != 400 {
		t.Errorf("a bad as_of: %d %s", status, body)
	}
}
