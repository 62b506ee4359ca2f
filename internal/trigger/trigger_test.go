package trigger

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestPolicies(t *testing.T) {
	inputs := []string{"raw.a", "raw.b", "raw.c"}
	fresh := func(names ...string) func(string) bool {
		return func(n string) bool { return slices.Contains(names, n) }
	}
	for _, tc := range []struct {
		policy    string
		fresh     []string
		refreshed string
		schedule  bool
		want      bool
	}{
		{"all", []string{"raw.a", "raw.b"}, "raw.b", false, false},
		{"", []string{"raw.a", "raw.b", "raw.c"}, "raw.c", false, true},
		{"any", []string{"raw.a"}, "raw.a", false, true},
		{"any", nil, "raw.a", false, false},
		{"manual", []string{"raw.a", "raw.b", "raw.c"}, "raw.a", true, false},
		{"schedule", nil, "", true, true},
		{"schedule", []string{"raw.a", "raw.b", "raw.c"}, "raw.a", false, false},
		{"raw.a and (raw.b or raw.c)", []string{"raw.a", "raw.c"}, "raw.c", false, true},
		{"raw.a and (raw.b or raw.c)", []string{"raw.b", "raw.c"}, "raw.c", false, false},
		{"raw.a or raw.b and raw.c", []string{"raw.a"}, "raw.a", false, true},
		{"raw.a or raw.b and raw.c", []string{"raw.b"}, "raw.b", false, false},
		{"raw.a and schedule", []string{"raw.a"}, "", true, true},
		{"raw.a and schedule", []string{"raw.a"}, "raw.a", false, false},
		{"raw.a OR schedule", nil, "", true, true},
	} {
		p, err := Parse(tc.policy, inputs)
		if err != nil {
			t.Fatalf("%q: %v", tc.policy, err)
		}
		if got := p.Fires(inputs, fresh(tc.fresh...), tc.refreshed, tc.schedule); got != tc.want {
			t.Errorf("%q with fresh %v, refreshed %q, schedule %v: %v, want %v", tc.policy, tc.fresh, tc.refreshed, tc.schedule, got, tc.want)
		}
		// Explain weighs the same, for no refresh in particular: "any"
		// fires for any fresh input; it needs something iff it does not fire.
		want := tc.want
		if tc.policy == "any" {
			want = len(tc.fresh) > 0
		}
		fires, needs := p.Explain(inputs, fresh(tc.fresh...), tc.schedule, nil)
		if fires != want || fires != (len(needs) == 0) {
			t.Errorf("%q with fresh %v, schedule %v: Explain %v %q, want %v", tc.policy, tc.fresh, tc.schedule, fires, needs, want)
		}
	}
	if p, _ := Parse("(raw.a or raw.b) and raw.c", inputs); p.String() != "(raw.a or raw.b) and raw.c" {
		t.Errorf("String: %s", p)
	}
}

func TestParseErrors(t *testing.T) {
	inputs := []string{"raw.a", "raw.b"}
	for policy, says := range map[string]string{
		"raw.a and":         "ends where",
		"raw.a and raw.x":   `"raw.x" is not an input`,
		"(raw.a or raw.b":   "not closed",
		"raw.a raw.b":       `unexpected "raw.b"`,
		"and raw.a":         `unexpected "and"`,
		"raw.a or (raw.b))": `unexpected ")"`,
	} {
		_, err := Parse(policy, inputs)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), says) {
			t.Errorf("%q: %v, want an error saying %q", policy, err, says)
		}
	}
}
