package pattern

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func compileText(t *testing.T, text string) *Pattern {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(text))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatal(err)
	}
	p, err := Compile(v)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// candidates counts the patterns Matches would check for ev.
func (s *Set[K]) candidates(ev any) int {
	n := 0
	seen := map[*entry[K]]bool{}
	count := func(l []*entry[K]) {
		for _, e := range l {
			if !seen[e] {
				seen[e] = true
				n++
			}
		}
	}
	count(s.fallback)
	m, _ := ev.(map[string]any)
	for i, name := range s.keys {
		if v, ok := m[name]; ok {
			for _, l := range collect(nil, s.index[i], v) {
				count(l)
			}
		}
	}
	return n
}

// TestSetPlacement checks where patterns are filed: the candidates for an
// event are the patterns that constrain its key values, plus the fallback.
func TestSetPlacement(t *testing.T) {
	s := NewSet[int]("event", "product")
	for i := range 10_000 {
		s.Add(i, compileText(t, fmt.Sprintf(`{"event":["ProductRefreshed"],"product":["p%d"],"rows_total":[{"numeric":[">",0]}]}`, i)))
	}
	if len(s.fallback) != 0 {
		t.Fatalf("%d patterns in the fallback list, want 0", len(s.fallback))
	}
	// Both key fields are exact; the first pattern took event (all buckets
	// empty, event named first), every later one the emptier product bucket.
	if n := len(s.index[0][scalar{k: kString, s: "ProductRefreshed"}]); n != 1 {
		t.Errorf("%d patterns under event=ProductRefreshed, want 1", n)
	}
	ev := map[string]any{"event": "ProductRefreshed", "product": "p4242", "rows_total": json.Number("3")}
	if n := s.candidates(ev); n != 2 {
		t.Errorf("%d candidates for one product, want 2 (its own and the one under event)", n)
	}

	// $or files under each alternative's key; a branch without an exact key
	// value sends the pattern to the fallback list.
	s = NewSet[int]("event", "product")
	s.Add(1, compileText(t, `{"$or":[{"event":["A"]},{"product":["p1","p2"]}]}`))
	s.Add(2, compileText(t, `{"$or":[{"event":["A"]},{"product":[{"prefix":"p"}]}]}`))
	s.Add(3, compileText(t, `{"event":["A",{"prefix":"B"}]}`))
	s.Add(4, compileText(t, `{"event":[{"exists":false},"A"]}`))
	s.Add(5, compileText(t, `{"kind":["x"],"$or":[{"event":["A"],"$or":[{"a":[1]},{"b":[2]}]},{"$or":[{"product":["p3"]},{"event":["B"]}]}]}`))
	s.Add(6, compileText(t, `{"detail":{"event":["A"]}}`))
	for _, tc := range []struct {
		id   int
		locs string // "fallback" or key=value list
	}{
		{1, "event=A product=p1 product=p2"},
		{2, "fallback"},
		{3, "fallback"},
		{4, "fallback"},
		{5, "event=A event=B product=p3"},
		{6, "fallback"},
	} {
		e := s.byID[tc.id]
		got := "fallback"
		if e.locs != nil {
			var parts []string
			for _, l := range e.locs {
				parts = append(parts, s.keys[l.key]+"="+l.val.s)
			}
			got = strings.Join(parts, " ")
		}
		if got != tc.locs {
			t.Errorf("pattern %d filed under %s, want %s", tc.id, got, tc.locs)
		}
	}
}
