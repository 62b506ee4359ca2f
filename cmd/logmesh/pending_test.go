package main

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/logmesh/logmesh/events"
)

// pendingMesh: two raw feeds and wealth's products over them, one on all
// its inputs, one on an input and an hourly schedule.
const pendingMesh = `
domains:
  - name: raw
  - name: wm
feeds:
  - {name: a, table: raw.a, key_pattern: "a/*.csv", format: csv, options: {header: true}, visibility: enterprise,
     schema: {type: record, name: A, fields: [{name: id, type: string}, {name: v, type: long}]}, primary_key: [id], mode: upsert}
  - {name: b, table: raw.b, key_pattern: "b/*.csv", format: csv, options: {header: true}, visibility: enterprise,
     schema: {type: record, name: B, fields: [{name: id, type: string}, {name: w, type: long}]}, primary_key: [id], mode: upsert}
products:
  - name: both
    domain: wm
    inputs: [raw.a, raw.b]
    transform: SELECT a.id, a.v + b.w AS total FROM a JOIN b USING (id)
    output: {schema: {type: record, name: Both, fields: [{name: id, type: string}, {name: total, type: long}]}, primary_key: [id], mode: upsert}
  - name: hourly
    domain: wm
    inputs: [raw.a]
    trigger: raw.a and schedule
    schedule: '0 * * * *'
    transform: SELECT count(*) AS n FROM a
    output: {schema: {type: record, name: Hourly, fields: [{name: n, type: long}]}}
grants:
  - {product: raw.a, to: wm}
  - {product: raw.b, to: wm}
`

// why --pending reads the owner's inbox: a product no input has refreshed
// waits for all of them, one on a schedule says when it is next due, in
// text and JSON; as of before the apply there is no such product.
func TestWhyPending(t *testing.T) {
	e := &e2e{cli: newCLI(t)}
	before := asOfNow().UTC().Format(time.RFC3339Nano)
	if _, err := e.run("apply", "-f", writeMesh(t, pendingMesh)); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"wm.both", "wm.hourly"} {
		e.awaitInboxFact(func(ev events.Event) bool {
			pp, ok := ev.(*events.ProductPublished)
			return ok && pp.Product == name
		})
	}
	out, err := e.run("why", "wm.both", "--pending")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"wm.both as of ", `: waiting, policy "all"`, "waiting for:",
		"  all: raw.a has not refreshed since the product appeared\n", "  all: raw.b has not refreshed since the product appeared\n",
		"raw.a  last seen none, pinned none"} {
		if !strings.Contains(out, want) {
			t.Errorf("why wm.both --pending lacks %q:\n%s", want, out)
		}
	}
	now := time.Now().UTC()
	out, err = e.run("why", "wm.hourly", "--pending", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Product    string     `json:"product"`
		Policy     string     `json:"policy"`
		Ready      bool       `json:"ready"`
		Next       *time.Time `json:"next_scheduled"`
		WaitingFor []string   `json:"waiting_for"`
		Inputs     []struct {
			Name     string `json:"name"`
			LastSeen *int64 `json:"last_seen_version"`
		} `json:"inputs"`
	}
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	next := now.Truncate(time.Hour).Add(time.Hour)
	if p.Product != "wm.hourly" || p.Policy != "raw.a and schedule" || p.Ready || p.Next == nil ||
		(!p.Next.Equal(next) && !p.Next.Equal(next.Add(time.Hour))) || len(p.Inputs) != 1 || p.Inputs[0].LastSeen != nil {
		t.Errorf("why wm.hourly --pending --json: %+v (next %v), want next %s\n%s", p, p.Next, next, out)
	}
	if len(p.WaitingFor) != 2 || !strings.HasPrefix(p.WaitingFor[0], `expression: "raw.a" is false: raw.a has not refreshed`) ||
		!strings.HasPrefix(p.WaitingFor[1], `expression: "schedule" is false: the schedule is not due until `) {
		t.Errorf("waiting for %q", p.WaitingFor)
	}

	if _, err := e.run("--at", before, "why", "wm.both", "--pending"); !errors.Is(err, errMesh) {
		t.Errorf("why --pending before the product: %v", err)
	}
	if _, err := e.run("why", "wm.both", "--pending", "--job", "x"); !errors.Is(err, errUsage) {
		t.Errorf("why --pending --job: %v", err)
	}
}
