package main

import (
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"
)

// asOfNow returns a moment for --at between the facts on the log and the
// facts to come. Facts are stamped with this machine's wall clock and kept
// to the microsecond (Avro timestamp-micros): every fact produced before
// the call occurred at or before the moment, and the call returns once the
// clock is past it at that resolution (a microsecond at most), so every
// fact produced after the call occurred after it.
func asOfNow() time.Time {
	at := time.Now().Round(0) // the wall clock alone, as facts have it
	for !time.Now().Truncate(time.Microsecond).After(at) {
		runtime.Gosched()
	}
	return at
}

// --at answers a listing as the log stood at that moment: a grant made
// after it is not there.
func TestListingsAt(t *testing.T) {
	c := newCLI(t)
	if _, err := c.run("apply", "-f", writeMesh(t, shareMesh)); err != nil {
		t.Fatal(err)
	}
	before := asOfNow().UTC().Format(time.RFC3339Nano)
	if _, err := c.run("grant", "equities.positions", "--to", "raw", "--purpose", "audit"); err != nil {
		t.Fatal(err)
	}
	grantees := func(args ...string) string {
		t.Helper()
		out, err := c.run(append(args, "products", "--json")...)
		if err != nil {
			t.Fatal(err)
		}
		i := strings.Index(out, `"grants": [`)
		if i < 0 {
			t.Fatalf("no grants in %s", out)
		}
		return strings.Join(strings.Fields(out[i:i+strings.Index(out[i:], "]")+1]), " ")
	}
	if now, then := grantees(), grantees("--at", before); !strings.Contains(now, `"raw"`) || strings.Contains(then, `"raw"`) || !strings.Contains(then, `"wealth"`) {
		t.Errorf("grants now %s, at %s: %s", now, before, then)
	}
	if _, err := c.run("--at", "yesterday", "products"); !errors.Is(err, errUsage) {
		t.Errorf("--at yesterday: %v", err)
	}
}
