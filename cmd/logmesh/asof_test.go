package main

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// --at answers a listing as the log stood at that moment: a grant made
// after it is not there.
func TestListingsAt(t *testing.T) {
	c := newCLI(t)
	if _, err := c.run("apply", "-f", writeMesh(t, shareMesh)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	before := time.Now().UTC().Format(time.RFC3339Nano)
	time.Sleep(20 * time.Millisecond)
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
