package main

import (
	"errors"

	"github.com/logmesh/logmesh/platform"
	"reflect"
	"strings"
	"testing"
)

// shareMesh is a small mesh with an enterprise product, a grant and a
// subscription.
const shareMesh = `domains:
  - name: raw
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
grants:
  - {product: equities.positions, to: wealth, purpose: reporting}
subscriptions:
  - domain: wealth
    name: positions
    pattern: {event: [ProductRefreshed], product: [equities.positions]}
`

func TestApplyProductsGrantsSubscriptions(t *testing.T) {
	c := newCLI(t)
	out, err := c.run("apply", "-f", writeMesh(t, shareMesh), "--plan")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := planLines(out, '+'), []string{"+ domain raw", "+ domain equities", "+ domain wealth",
		"+ product equities.positions", "+ grant equities.positions→wealth", "+ subscription wealth/positions"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("plan %q, want %q\n%s", got, want, out)
	}
	if out, err = c.run("apply", "-f", writeMesh(t, shareMesh)); err != nil || !strings.Contains(out, "applied 6 definitions") {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	if out, err = c.run("apply", "-f", writeMesh(t, shareMesh)); err != nil || !strings.Contains(out, "no changes") {
		t.Fatalf("apply again: %v\n%s", err, out)
	}

	// The grant and the subscription leave the file: revoked and removed.
	gone := shareMesh[:strings.Index(shareMesh, "grants:")]
	out, err = c.run("apply", "-f", writeMesh(t, gone))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := planLines(out, '-'), []string{"- grant equities.positions→wealth (revoked: not in the file)",
		"- subscription wealth/positions (removed: not in the file)"}; !reflect.DeepEqual(got, want) || !strings.Contains(out, "applied 2 definitions") {
		t.Fatalf("plan %q, want %q\n%s", got, want, out)
	}
	// Granting again is an add.
	if out, err = c.run("apply", "-f", writeMesh(t, shareMesh)); err != nil || !strings.Contains(out, "+ grant equities.positions→wealth") {
		t.Fatalf("grant again: %v\n%s", err, out)
	}

	// A breaking contract change (a new field without default) is refused
	// with the registry's reason, and nothing is emitted.
	before := c.logged()
	breaking := strings.Replace(shareMesh, "{name: qty, type: long}]", "{name: qty, type: long}, {name: price, type: double}]", 1)
	out, err = c.run("apply", "-f", writeMesh(t, breaking))
	if !errors.Is(err, platform.ErrRefused) || !strings.Contains(out, "! product equities.positions: the registry refuses the contract change") ||
		!strings.Contains(out, "price") {
		t.Fatalf("breaking change: %v\n%s", err, out)
	}
	if c.logged() != before {
		t.Fatal("a refused apply emitted events")
	}
	// A compatible one (an optional field) is applied.
	compatible := strings.Replace(shareMesh, "{name: qty, type: long}]", `{name: qty, type: long}, {name: note, type: ["null", string], default: null}]`, 1)
	if out, err = c.run("apply", "-f", writeMesh(t, compatible)); err != nil || !strings.Contains(out, "~ product equities.positions (changed)") {
		t.Fatalf("compatible change: %v\n%s", err, out)
	}
}
