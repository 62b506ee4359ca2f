package platform_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/logmesh/logmesh/platform"
)

// An apply reports its progress: each stage starts at 0 of its total and
// counts up to it one unit at a time, in the order of the stages; the
// units emitted are the definitions the report says it applied; a plan
// only checks the contracts (of the two feeds' products and the two
// products).
func TestApplyProgress(t *testing.T) {
	r := newApplyRig(t)
	var got []platform.ApplyProgress
	record := func(in *platform.ApplyInput) { in.Progress = func(p platform.ApplyProgress) { got = append(got, p) } }
	files := map[string]string{"raw.yaml": rawYAML, "research.yaml": researchYAML, "qa.yaml": qaYAML}

	plan := r.mustApply(files, record, func(in *platform.ApplyInput) { in.PlanOnly = true })
	if s := stages(t, got); s != platform.StageContracts+" 4" {
		t.Errorf("a plan's progress: %s (%s)", s, lines(plan))
	}

	got = nil
	rep := r.mustApply(files, record)
	want := fmt.Sprintf("%s 4, %s 3, %s 4, %s %d", platform.StageContracts, platform.StageClaims, platform.StageRegister,
		platform.StageEmit, rep.Applied-3)
	if s := stages(t, got); s != want {
		t.Errorf("progress %s, want %s\n%s", s, want, lines(rep))
	}
	if rep.Applied <= 3 {
		t.Errorf("applied %d", rep.Applied)
	}

	got = nil
	r.mustApply(files, record)
	if len(got) != 0 {
		t.Errorf("no changes, progress %v", got)
	}
}

// stages checks that each stage of ps counts 0, 1, ... total and returns
// "stage total, ..." in order.
func stages(t *testing.T, ps []platform.ApplyProgress) string {
	t.Helper()
	var out []string
	for i := 0; i < len(ps); {
		p := ps[i]
		if p.Done != 0 || p.Total <= 0 {
			t.Fatalf("stage %s starts at %d of %d", p.Stage, p.Done, p.Total)
		}
		for n := 0; n <= p.Total; n++ {
			if i+n >= len(ps) || ps[i+n].Stage != p.Stage || ps[i+n].Done != n || ps[i+n].Total != p.Total {
				t.Fatalf("stage %s: %v", p.Stage, ps[i:])
			}
		}
		out = append(out, fmt.Sprintf("%s %d", p.Stage, p.Total))
		i += p.Total + 1
	}
	return strings.Join(out, ", ")
}
