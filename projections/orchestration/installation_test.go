package orchestration_test

import (
	"testing"

	"github.com/logmesh/logmesh/events"
)

// TestJobIDsPerInstallation: the same facts give the same job ids within
// an installation (a replay decides the same), other job ids in another
// installation (one lineage server fed by two never merges their runs),
// and a product defined before installations had ids keeps its old ids.
func TestJobIDsPerInstallation(t *testing.T) {
	run := func(installation *string) string {
		f := newFlow(t)
		f.publish(0, []string{"raw.trades"}, "all", func(e *events.ProductPublished) { e.InstallationID = installation })
		out := f.refresh(1, "raw.trades", 1)
		if len(out) != 1 {
			t.Fatalf("a refresh of the only input decided %v, want one JobStarted", out)
		}
		js, ok := out[0].(*events.JobStarted)
		if !ok {
			t.Fatalf("decided %T, want a JobStarted", out[0])
		}
		return js.JobID
	}
	a, b := "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"
	idA, idA2, idB, idNone := run(&a), run(&a), run(&b), run(nil)
	if idA != idA2 {
		t.Errorf("one installation, the same facts: job ids %s and %s", idA, idA2)
	}
	if idA == idB {
		t.Errorf("two installations derived the same job id %s", idA)
	}
	if idNone == idA || idNone == idB {
		t.Errorf("a product without an installation got an installation's job id %s", idNone)
	}
	// Without an installation the id is what it always was: the product,
	// its run number and the fact that triggered it (the flow's second).
	if old := events.DeriveID("job", "wm.book", "1", "ev-2"); idNone != old {
		t.Errorf("job id without an installation %s, want the old derivation %s", idNone, old)
	}
}
