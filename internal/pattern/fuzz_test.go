package pattern_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/logmesh/logmesh/internal/pattern"
)

func decodeJSON(text string, useNumber bool) (any, bool) {
	d := json.NewDecoder(strings.NewReader(text))
	if useNumber {
		d.UseNumber()
	}
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, false
	}
	return v, true
}

// FuzzCompile compiles arbitrary JSON patterns and matches them against
// arbitrary JSON events. Invariants: Compile never panics; it either
// refuses the pattern with a *pattern.Error wrapping ErrInvalid or compiles
// it, and then String() is JSON that compiles again to an equal String();
// Match never panics, and the recompiled canonical pattern and a Set
// holding the pattern agree with Match on every event, with numbers decoded
// as json.Number and as float64.
func FuzzCompile(f *testing.F) {
	for _, tc := range matchCases {
		f.Add(tc.pattern, tc.event)
	}
	f.Add(`{"a":[{"numeric":[">",0,"<",1e308]}],"$or":[{"b":[null]},{"c":{"d":[{"exists":true}]}}]}`, `{"a":[0.5,[{"b":1}]],"c":{"d":null}}`)
	f.Add(`{"s":[{"wildcard":"\\\\*\\**"}]}`, `{"s":"\\x*"}`)
	f.Fuzz(func(t *testing.T, patText, evText string) {
		for _, useNumber := range []bool{true, false} {
			pv, ok := decodeJSON(patText, useNumber)
			if !ok {
				return
			}
			p, err := pattern.Compile(pv)
			if err != nil {
				var pe *pattern.Error
				if !errors.As(err, &pe) || !errors.Is(err, pattern.ErrInvalid) {
					t.Fatalf("Compile(%s): %v is not a *pattern.Error wrapping ErrInvalid", patText, err)
				}
				continue
			}
			canon := p.String()
			cv, ok := decodeJSON(canon, useNumber)
			if !ok {
				t.Fatalf("String() of %s is not JSON: %s", patText, canon)
			}
			q, err := pattern.Compile(cv)
			if err != nil {
				t.Fatalf("String() of %s = %s does not compile: %v", patText, canon, err)
			}
			if q.String() != canon {
				t.Fatalf("String() is not stable: %s, then %s", canon, q.String())
			}
			ev, ok := decodeJSON(evText, useNumber)
			if !ok {
				continue
			}
			got := p.Match(ev)
			if q.Match(ev) != got {
				t.Fatalf("pattern %s and its canonical form %s disagree on %s", patText, canon, evText)
			}
			s := pattern.NewSet[int]("a", "event", "product")
			s.Add(1, p)
			inSet := false
			s.Matches(ev, func(int) { inSet = true })
			if inSet != got {
				t.Fatalf("Set.Matches = %v, Match = %v for %s on %s", inSet, got, patText, evText)
			}
		}
	})
}
