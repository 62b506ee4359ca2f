package mesh

import (
	"strings"
	"testing"
)

func TestUnmatched(t *testing.T) {
	m := &Mesh{Feeds: []Feed{{Name: "trades", KeyPattern: "trades/*.csv"}, {Name: "quotes", KeyPattern: "quotes/*.ndjson"}}}
	for _, c := range []struct{ key, want string }{
		{"other/x.csv", `no feed matches key "other/x.csv"; patterns: trades/*.csv (feed trades), quotes/*.ndjson (feed quotes)`},
		{"trades/UPPER.CSV", "hint: trades/*.csv would match if case were ignored"},
		{"trades/2026/11/a.csv", `hint: trades/*.csv does not match across "/"`},
	} {
		if got := m.Unmatched(c.key); !strings.Contains(got, c.want) {
			t.Errorf("Unmatched(%q) = %q, want it to contain %q", c.key, got, c.want)
		}
	}
	if got := (&Mesh{}).Unmatched("a"); !strings.Contains(got, "no feeds") {
		t.Errorf("empty mesh: %q", got)
	}
}
