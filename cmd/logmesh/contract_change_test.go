package main

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkatest"
	"github.com/logmesh/logmesh/platform"
)

// govMesh: equities.positions, read by wealth.book (which uses qty) and
// wealth.names (which does not).
const govMesh = `
domains:
  - name: equities
  - name: wealth
products:
  - name: positions
    domain: equities
    inputs: [topic:upstream.positions]
    transform: SELECT * FROM positions
    output:
      schema: {type: record, name: P, fields: [{name: id, type: string}, {name: qty, type: long}]}
    visibility: enterprise
  - name: book
    domain: wealth
    inputs: [equities.positions]
    transform: SELECT id, sum(qty) AS qty FROM positions GROUP BY id
    output:
      schema: {type: record, name: B, fields: [{name: id, type: string}, {name: qty, type: long}]}
  - name: names
    domain: wealth
    inputs: [equities.positions]
    transform: SELECT DISTINCT id FROM positions
    output:
      schema: {type: record, name: N, fields: [{name: id, type: string}]}
grants:
  - {product: equities.positions, to: wealth}
`

// Contract changes are governed: a breaking one is refused with the
// registry's reason, the fields it breaks and the downstream products that
// read them, and nothing is emitted; a compatible one is applied and is a
// SchemaChanged; a new major version (a product of its own, with its own
// table and subject) takes the breaking change while the old one stays
// until it is retired.
func TestContractGovernance(t *testing.T) {
	c := newCLI(t)
	if _, err := c.run("apply", "-f", writeMesh(t, govMesh)); err != nil {
		t.Fatal(err)
	}
	before := c.logged()
	breaking := strings.Replace(govMesh, "{name: qty, type: long}]}\n    visibility", "{name: qty, type: string}]}\n    visibility", 1)
	out, err := c.run("apply", "-f", writeMesh(t, breaking), "--plan")
	if !errors.Is(err, platform.ErrRefused) {
		t.Fatalf("breaking change: %v\n%s", err, out)
	}
	for _, want := range []string{"! product equities.positions: the registry refuses the contract change of equities.positions",
		"change field qty from long to string", "affected fields: qty", "read by downstream wealth.book.", "publish a new major version"} {
		if !strings.Contains(out, want) {
			t.Errorf("the refusal lacks %q:\n%s", want, out)
		}
	}
	if refusal := out[strings.Index(out, "! product"):]; strings.Contains(refusal, "wealth.names") {
		t.Errorf("wealth.names does not read qty, but is listed:\n%s", out)
	}
	if c.logged() != before {
		t.Fatal("a refused plan emitted events")
	}

	compatible := strings.Replace(govMesh, "{name: qty, type: long}]}\n    visibility",
		`{name: qty, type: long}, {name: note, type: ["null", string], default: null}]}`+"\n    visibility", 1)
	out, err = c.run("apply", "-f", writeMesh(t, compatible))
	if err != nil || !strings.Contains(out, "contract of equities.positions: compatible under BACKWARD: add optional field note") {
		t.Fatalf("compatible change: %v\n%s", err, out)
	}
	var changed []*events.SchemaChanged
	for _, rec := range kafkatest.ReadAll(t, c.p.Brokers, events.DomainTopic("equities")) {
		if ev, err := c.p.Codec.Decode(context.Background(), rec.Value); err == nil {
			if sc, ok := ev.(*events.SchemaChanged); ok {
				changed = append(changed, sc)
			}
		}
	}
	if len(changed) != 1 || changed[0].Table != "equities.positions" || strings.Join(changed[0].Changes, ";") != "add optional field note" ||
		changed[0].PreviousSchemaID == nil || *changed[0].PreviousSchemaID == changed[0].SchemaID {
		t.Fatalf("SchemaChanged %+v", changed)
	}

	// The major-version path: positions_v2 with qty a string, beside v1.
	v2 := strings.Replace(compatible, "grants:\n", `  - name: positions_v2
    domain: equities
    inputs: [topic:upstream.positions]
    transform: SELECT id, CAST(qty AS VARCHAR) AS qty FROM positions
    output:
      schema: {type: record, name: P2, fields: [{name: id, type: string}, {name: qty, type: string}]}
    visibility: enterprise
grants:
  - {product: equities.positions_v2, to: wealth}
`, 1)
	out, err = c.run("apply", "-f", writeMesh(t, v2))
	if err != nil || !strings.Contains(out, "+ product equities.positions_v2") {
		t.Fatalf("v2 beside v1: %v\n%s", err, out)
	}
	// Readers move to v2, then v1 is retired.
	moved := strings.ReplaceAll(v2, "inputs: [equities.positions]", "inputs: [equities.positions_v2]")
	moved = strings.Replace(moved, "  - {product: equities.positions, to: wealth}\n", "", 1)
	i, j := strings.Index(moved, "  - name: positions\n"), strings.Index(moved, "  - name: book\n")
	moved = moved[:i] + moved[j:]
	out, err = c.run("apply", "-f", writeMesh(t, moved))
	if err != nil || !strings.Contains(out, "- product equities.positions (retired") {
		t.Fatalf("retire v1: %v\n%s", err, out)
	}
}
