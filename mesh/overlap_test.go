package mesh

import (
	"math/rand/v2"
	"strings"
	"testing"
)

func TestOverlap(t *testing.T) {
	for _, tc := range []struct {
		a, b    string
		overlap bool
	}{
		{"trades/*.csv", "trades/*.csv", true},
		{"trades/*.csv", "trades/2026*.csv", true},
		{"trades/*.csv", "quotes/*.csv", false},
		{"trades/*.csv", "trades/*.json", false},
		{"trades/*.csv", "trades/**", true},
		{"trades/*.csv", "**/*.csv", true},
		{"trades/*.csv", "**", true},
		{"trades/*.csv", "trades/*/*.csv", false}, // * stays in one segment
		{"trades/**/*.csv", "trades/2026/11/*.csv", true},
		{"trades/**/*.csv", "trades/a.csv", true}, // ** may be no segment
		{"trades/**/*.csv", "trades/**/*.json", false},
		{"a/**", "a", true},
		{"a/**", "b/**", false},
		{"**/x", "**/y", false},
		{"**/x/**", "**/y/**", true}, // x/y
		{"t/[a-c]*.csv", "t/[d-f]*.csv", false},
		{"t/[a-c]*.csv", "t/[c-f]*.csv", true},
		{"t/[^a-c]*", "t/a*", false},
		{"t/[^a-c]*", "t/ab", false},
		{"t/[^a-c]*", "t/d", true},
		{"t/?", "t/??", false},
		{"t/?*", "t/??", true},
		{"t/\\*.csv", "t/x.csv", false},
		{"t/\\*.csv", "t/*.csv", true},
		{"t/a*b*c", "t/*c*a", false},  // ends in c, ends in a
		{"t/a*b*c", "t/*c*b*c", true}, // acbc
		{"x*", "*y", true},
		{"*.CSV", "*.csv", false},
	} {
		for _, pair := range [][2]string{{tc.a, tc.b}, {tc.b, tc.a}} {
			key, ok, err := Overlap(pair[0], pair[1])
			if err != nil {
				t.Fatalf("Overlap(%q, %q): %v", pair[0], pair[1], err)
			}
			if ok != tc.overlap {
				t.Errorf("Overlap(%q, %q) = %v (%q), want %v", pair[0], pair[1], ok, key, tc.overlap)
				continue
			}
			if ok && (!matchKey(pair[0], key) || !matchKey(pair[1], key)) {
				t.Errorf("Overlap(%q, %q) example %q does not match both", pair[0], pair[1], key)
			}
		}
	}
	if _, _, err := Overlap("t/[", "t/x"); err == nil {
		t.Error("a malformed pattern is not an error")
	}
}

// The check is exact: over random patterns and keys of a small alphabet,
// a key both patterns match means Overlap finds one, and every example
// Overlap gives matches both.
func TestOverlapAgreesWithMatch(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	segs := []string{"**", "*", "a", "b", "a*", "*b", "?", "[ab]", "[^a]", "ab", "?b*"}
	pattern := func() string {
		n := 1 + rng.IntN(3)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = segs[rng.IntN(len(segs))]
		}
		return strings.Join(parts, "/")
	}
	keySegs := []string{"a", "b", "ab", "ba", "c", "aab", ""}
	var keys []string
	for range 400 {
		n := 1 + rng.IntN(4)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = keySegs[rng.IntN(len(keySegs))]
		}
		keys = append(keys, strings.Join(parts, "/"))
	}
	for range 600 {
		a, b := pattern(), pattern()
		key, ok, err := Overlap(a, b)
		if err != nil {
			t.Fatal(err)
		}
		if ok && (!matchKey(a, key) || !matchKey(b, key)) {
			t.Fatalf("Overlap(%q, %q) example %q does not match both", a, b, key)
		}
		if ok {
			continue
		}
		for _, k := range keys {
			if matchKey(a, k) && matchKey(b, k) {
				t.Fatalf("Overlap(%q, %q) found none, but %q matches both", a, b, k)
			}
		}
	}
}
