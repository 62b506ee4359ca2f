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

// products, subscriptions, grant and revoke over what apply published;
// errors name what is wrong; a grant made with the CLI survives the next
// apply of the file.
func TestProductsGrantRevoke(t *testing.T) {
	c := newCLI(t)
	file := writeMesh(t, shareMesh)
	if _, err := c.run("apply", "-f", file); err != nil {
		t.Fatal(err)
	}
	out, err := c.run("products", "--json")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `"name": "equities.positions"`) || !strings.Contains(out, `"visibility": "enterprise"`) ||
		!strings.Contains(out, `"grants": [`+"\n"+`      "wealth"`) {
		t.Errorf("products:\n%s", out)
	}
	if out, err := c.run("subscriptions"); err != nil || !strings.Contains(out, "wealth/positions") || !strings.Contains(out, `"equities.positions"`) {
		t.Errorf("subscriptions: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		args []string
		says string
	}{
		{[]string{"grant", "equities.nope", "--to", "raw"}, `unknown product "equities.nope"`},
		{[]string{"grant", "equities.positions", "--to", "wealth"}, "already granted to wealth"},
		{[]string{"grant", "equities.positions", "--to", "raw", "--by", "wealth"}, "wealth is not the owner of equities.positions"},
		{[]string{"grant", "equities.positions", "--to", "nowhere"}, `unknown domain "nowhere"`},
		{[]string{"revoke", "equities.positions", "--from", "raw"}, "not granted to raw"},
	} {
		if _, err := c.run(tc.args...); !errors.Is(err, errMesh) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("logmesh %v: %v, want an error saying %q", tc.args, err, tc.says)
		}
	}
	if out, err := c.run("grant", "equities.positions", "--to", "raw", "--purpose", "audit", "--by", "equities"); err != nil || !strings.Contains(out, "granted") {
		t.Fatalf("grant: %v %s", err, out)
	}
	if out, _ := c.run("products", "--json"); !strings.Contains(out, `"raw"`) {
		t.Errorf("the CLI grant is not listed:\n%s", out)
	}
	// The file does not revoke what the CLI granted.
	if out, err := c.run("apply", "-f", file); err != nil || !strings.Contains(out, "no changes") {
		t.Errorf("apply after a CLI grant: %v\n%s", err, out)
	}
	if out, err := c.run("revoke", "equities.positions", "--from", "raw"); err != nil || !strings.Contains(out, "revoked") {
		t.Fatalf("revoke: %v %s", err, out)
	}
	if _, err := c.run("revoke", "equities.positions", "--from", "raw"); !errors.Is(err, errMesh) {
		t.Errorf("revoking twice: %v", err)
	}
}
