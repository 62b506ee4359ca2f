package pattern_test

import (
	"fmt"
	"testing"

	"github.com/logmesh/logmesh/internal/pattern"
)

// routeRules returns n patterns keyed by product, the shape of the mesh's
// routes: {event: [ProductRefreshed], product: [p<i>], rows_total: [{numeric: [">", 0]}]}.
func routeRules(b *testing.B, n int) []*pattern.Pattern {
	ps := make([]*pattern.Pattern, n)
	for i := range ps {
		ps[i] = mustCompile(b, fmt.Sprintf(`{"event":["ProductRefreshed"],"product":["equities.p%d"],"rows_total":[{"numeric":[">",0]}]}`, i), true)
	}
	return ps
}

var benchEvent = `{"event":"ProductRefreshed","product":"equities.p7","rows_total":1200,"detail":{"source":"loader","late":false}}`

// BenchmarkSetMatches matches one event against sets of 10 and 10,000
// product-keyed patterns: the cost per event stays close, because only the
// patterns filed under the event's product are checked.
func BenchmarkSetMatches(b *testing.B) {
	for _, n := range []int{10, 10_000} {
		b.Run(fmt.Sprint("rules=", n), func(b *testing.B) {
			s := pattern.NewSet[int]("event", "product")
			for i, p := range routeRules(b, n) {
				s.Add(i, p)
			}
			ev := decode(b, benchEvent, true)
			matched := 0
			fn := func(int) { matched++ }
			b.ReportAllocs()
			for b.Loop() {
				s.Matches(ev, fn)
			}
			if matched == 0 {
				b.Fatal("no match")
			}
		})
	}
}

// BenchmarkBruteForce is the baseline the index avoids: every pattern's
// Match for one event.
func BenchmarkBruteForce(b *testing.B) {
	for _, n := range []int{10, 10_000} {
		b.Run(fmt.Sprint("rules=", n), func(b *testing.B) {
			ps := routeRules(b, n)
			ev := decode(b, benchEvent, true)
			b.ReportAllocs()
			for b.Loop() {
				for _, p := range ps {
					p.Match(ev)
				}
			}
		})
	}
}

// BenchmarkMatch is one pattern with several operators against one event.
func BenchmarkMatch(b *testing.B) {
	p := mustCompile(b, `{"event":["ProductRefreshed","ProductRestated"],"product":[{"prefix":"equities."}],
		"rows_total":[{"numeric":[">",0,"<=",1000000]}],"detail":{"source":[{"anything-but":["test","staging"]}],"late":[{"exists":false},false]}}`, true)
	ev := decode(b, benchEvent, true)
	if !p.Match(ev) {
		b.Fatal("no match")
	}
	b.ReportAllocs()
	for b.Loop() {
		p.Match(ev)
	}
}
