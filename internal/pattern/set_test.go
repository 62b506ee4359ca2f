package pattern_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/logmesh/logmesh/internal/pattern"
)

// gen builds random patterns and events over a small vocabulary, so that
// they often match.
type gen struct {
	r         *rand.Rand
	useNumber bool
}

var vocab = map[string][]any{
	"event":   {"A", "B", "C"},
	"product": {"p0", "p1", "p2", "p3", "p4", "p5"},
	"n":       {0, 1, 2, 3, 4},
	"kind":    {"k0", "k1", true, nil},
	"x":       {"a", "b", 1},
	"y":       {"a", "b", 1},
}

func (g *gen) pick(xs []any) any { return xs[g.r.IntN(len(xs))] }

func (g *gen) num(v any) any {
	n, ok := v.(int)
	if !ok {
		return v
	}
	if g.useNumber {
		return json.Number(strconv.Itoa(n))
	}
	return float64(n)
}

func (g *gen) matcher(name string) any {
	vals := vocab[name]
	v := g.num(g.pick(vals))
	switch g.r.IntN(12) {
	case 0:
		if s, ok := v.(string); ok {
			return map[string]any{"prefix": s[:1]}
		}
	case 1:
		if _, ok := v.(string); ok {
			return map[string]any{"anything-but": []any{v}}
		}
		if _, ok := v.(json.Number); ok {
			return map[string]any{"anything-but": v}
		}
	case 2:
		return map[string]any{"numeric": []any{">", g.num(g.r.IntN(4))}}
	case 3:
		return map[string]any{"numeric": []any{">=", g.num(1), "<", g.num(3)}}
	case 4:
		return map[string]any{"exists": g.r.IntN(2) == 0}
	case 5:
		if s, ok := v.(string); ok {
			return map[string]any{"wildcard": "*" + s[len(s)-1:]}
		}
	case 6:
		if s, ok := v.(string); ok {
			return map[string]any{"equals-ignore-case": s}
		}
	}
	return v
}

func (g *gen) leaf(name string) []any {
	n := 1 + g.r.IntN(3)
	out := make([]any, n)
	for i := range out {
		out[i] = g.matcher(name)
	}
	return out
}

func (g *gen) object(fields []string, depth int) map[string]any {
	m := map[string]any{}
	for range 1 + g.r.IntN(3) {
		f := fields[g.r.IntN(len(fields))]
		if f == "detail" {
			m[f] = g.object([]string{"x", "y"}, depth+1)
			continue
		}
		m[f] = g.leaf(f)
	}
	if depth < 2 && g.r.IntN(3) == 0 {
		alts := make([]any, 2+g.r.IntN(2))
		for i := range alts {
			alts[i] = g.object(fields, depth+1)
		}
		m["$or"] = alts
	}
	return m
}

var topFields = []string{"event", "event", "product", "product", "n", "kind", "detail"}

func (g *gen) pattern() *pattern.Pattern {
	for {
		if p, err := pattern.Compile(g.object(topFields, 0)); err == nil {
			return p
		}
	}
}

func (g *gen) value(name string) any {
	switch g.r.IntN(6) {
	case 0:
		arr := make([]any, g.r.IntN(4))
		for i := range arr {
			arr[i] = g.num(g.pick(vocab[name]))
		}
		return arr
	case 1:
		return nil
	}
	return g.num(g.pick(vocab[name]))
}

func (g *gen) event() map[string]any {
	ev := map[string]any{}
	for _, f := range []string{"event", "product", "n", "kind"} {
		if g.r.IntN(10) < 8 {
			ev[f] = g.value(f)
		}
	}
	if g.r.IntN(2) == 0 {
		d := map[string]any{"x": g.value("x"), "y": g.value("y")}
		if g.r.IntN(3) == 0 {
			ev["detail"] = []any{d, map[string]any{"x": g.value("x")}}
		} else {
			ev["detail"] = d
		}
	}
	return ev
}

// brute is the reference: every pattern checked, in the order the ids were
// (last) added.
type brute struct {
	ids []int
	ps  map[int]*pattern.Pattern
}

func (b *brute) add(id int, p *pattern.Pattern) {
	b.remove(id)
	b.ids = append(b.ids, id)
	b.ps[id] = p
}

func (b *brute) remove(id int) {
	if i := slices.Index(b.ids, id); i >= 0 {
		b.ids = slices.Delete(b.ids, i, i+1)
		delete(b.ps, id)
	}
}

func (b *brute) matches(ev any) []int {
	var out []int
	for _, id := range b.ids {
		if b.ps[id].Match(ev) {
			out = append(out, id)
		}
	}
	return out
}

func setMatches(s *pattern.Set[int], ev any) []int {
	var out []int
	s.Matches(ev, func(id int) { out = append(out, id) })
	return out
}

// TestSetAgainstBruteForce adds, replaces and removes random patterns and
// checks that Matches gives exactly what checking every pattern gives, in
// the same order, for random events.
func TestSetAgainstBruteForce(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			g := &gen{r: rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)), useNumber: seed%2 == 0}
			keys := [][]string{{"event", "product", "n"}, {"product"}, {"kind", "event"}, nil}[seed]
			s := pattern.NewSet[int](keys...)
			ref := &brute{ps: map[int]*pattern.Pattern{}}
			check := func(step int) {
				for range 50 {
					ev := g.event()
					got, want := setMatches(s, ev), ref.matches(ev)
					if !slices.Equal(got, want) {
						evText, _ := json.Marshal(ev)
						t.Fatalf("step %d: Matches(%s) = %v, want %v", step, evText, got, want)
					}
				}
			}
			matched := 0
			for step := range 600 {
				id := g.r.IntN(200)
				if g.r.IntN(5) == 0 {
					s.Remove(id)
					ref.remove(id)
				} else {
					p := g.pattern()
					s.Add(id, p)
					ref.add(id, p)
				}
				if s.Len() != len(ref.ids) {
					t.Fatalf("step %d: Len() = %d, want %d", step, s.Len(), len(ref.ids))
				}
				if step%20 == 0 {
					check(step)
				}
			}
			for range 2000 {
				ev := g.event()
				got, want := setMatches(s, ev), ref.matches(ev)
				if !slices.Equal(got, want) {
					evText, _ := json.Marshal(ev)
					t.Fatalf("Matches(%s) = %v, want %v", evText, got, want)
				}
				matched += len(got)
			}
			if matched == 0 {
				t.Fatal("no event matched any pattern: the generator is useless")
			}
			// Remove everything: the set is empty again.
			for _, id := range slices.Clone(ref.ids) {
				s.Remove(id)
			}
			if s.Len() != 0 || len(setMatches(s, g.event())) != 0 {
				t.Fatal("the set is not empty after removing every id")
			}
		})
	}
}

func TestSetOrderAndReplace(t *testing.T) {
	s := pattern.NewSet[string]("event", "product")
	any1 := mustCompile(t, `{"event":[{"exists":true}]}`, true) // fallback
	byEvent := mustCompile(t, `{"event":["A","B"]}`, true)
	byProduct := mustCompile(t, `{"event":[{"prefix":"A"}],"product":["p1"]}`, true)
	byOr := mustCompile(t, `{"$or":[{"event":["A"]},{"product":["p1","p2"]}]}`, true)
	s.Add("z-fallback", any1)
	s.Add("y-event", byEvent)
	s.Add("x-product", byProduct)
	s.Add("w-or", byOr)
	ev := map[string]any{"event": "A", "product": "p1"}
	want := []string{"z-fallback", "y-event", "x-product", "w-or"}
	var got []string
	s.Matches(ev, func(id string) { got = append(got, id) })
	if !slices.Equal(got, want) {
		t.Fatalf("Matches = %v, want %v", got, want)
	}
	// Replacing moves an id to the end; replacing with a pattern that no
	// longer matches drops it.
	s.Add("z-fallback", any1)
	s.Add("y-event", mustCompile(t, `{"event":["C"]}`, true))
	got = got[:0]
	s.Matches(ev, func(id string) { got = append(got, id) })
	if want := []string{"x-product", "w-or", "z-fallback"}; !slices.Equal(got, want) {
		t.Fatalf("after replacing: Matches = %v, want %v", got, want)
	}
	s.Add("w-or", nil)
	s.Remove("absent")
	if s.Len() != 3 {
		t.Fatalf("Len() = %d, want 3", s.Len())
	}
}

// TestSetZeroValue uses a Set that NewSet did not make: no key fields.
func TestSetZeroValue(t *testing.T) {
	var s pattern.Set[int]
	s.Add(1, mustCompile(t, `{"a":["x"]}`, true))
	s.Add(2, mustCompile(t, `{"a":["y"]}`, true))
	if got := setMatches(&s, map[string]any{"a": "y"}); !slices.Equal(got, []int{2}) {
		t.Fatalf("Matches = %v, want [2]", got)
	}
}

func TestSetMatchesDoesNotAllocate(t *testing.T) {
	s := pattern.NewSet[int]("event", "product")
	for i := range 1000 {
		s.Add(i, mustCompile(t, fmt.Sprintf(`{"event":["ProductRefreshed"],"product":["p%d"],"rows_total":[{"numeric":[">",0]}]}`, i), true))
	}
	s.Add(-1, mustCompile(t, `{"rows_total":[{"numeric":[">",10]}]}`, true))
	ev := decode(t, `{"event":"ProductRefreshed","product":["p7","p8"],"rows_total":12}`, true)
	var n int
	fn := func(int) { n++ }
	if s.Matches(ev, fn); n != 3 {
		t.Fatalf("%d matches, want 3", n)
	}
	if a := testing.AllocsPerRun(100, func() { s.Matches(ev, fn) }); a != 0 {
		t.Errorf("Matches allocates %v times per call", a)
	}
}

// TestSetConcurrent runs Matches beside Add and Remove (for the race
// detector) and checks each answer is one the set could have given.
func TestSetConcurrent(t *testing.T) {
	s := pattern.NewSet[int]("product")
	stable := mustCompile(t, `{"product":["p1"]}`, true)
	s.Add(0, stable)
	ev := map[string]any{"product": "p1"}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				if w == 0 {
					p, _ := pattern.Compile(map[string]any{"product": []any{"p1", fmt.Sprint("q", i)}})
					s.Add(1+i%10, p)
					s.Remove(1 + (i+5)%10)
					continue
				}
				got := setMatches(s, ev)
				if len(got) == 0 || got[0] != 0 {
					errs <- fmt.Errorf("Matches = %v, want id 0 first", got)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
