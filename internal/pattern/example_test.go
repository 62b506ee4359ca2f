package pattern_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/goccy/go-yaml"

	"github.com/logmesh/logmesh/internal/pattern"
)

func ExampleCompile() {
	var v any
	_ = yaml.Unmarshal([]byte(`{event: [ProductRefreshed], product: [{prefix: "equities."}], rows_total: [{numeric: [">", 0]}]}`), &v)
	p, err := pattern.Compile(v)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p)

	for _, text := range []string{
		`{"event": "ProductRefreshed", "product": "equities.eu", "rows_total": 12}`,
		`{"event": "ProductRefreshed", "product": "equities.eu", "rows_total": 0}`,
		`{"event": "ProductRefreshed", "product": ["bonds.eu", "equities.eu"], "rows_total": 3}`,
		`{"event": "ProductRefreshed", "product": "bonds.eu", "rows_total": 3}`,
	} {
		d := json.NewDecoder(strings.NewReader(text))
		d.UseNumber()
		var ev any
		_ = d.Decode(&ev)
		fmt.Println(p.Match(ev))
	}
	// Output:
	// {"event":["ProductRefreshed"],"product":[{"prefix":"equities."}],"rows_total":[{"numeric":[">",0]}]}
	// true
	// false
	// true
	// false
}

func ExampleCompile_error() {
	var v any
	_ = json.Unmarshal([]byte(`{"detail": {"price": [{"numeric": [">", 0, ">=", 5]}]}}`), &v)
	_, err := pattern.Compile(v)
	var pe *pattern.Error
	if errors.As(err, &pe) {
		fmt.Println(pe.Path)
		fmt.Println(errors.Is(err, pattern.ErrInvalid))
	}
	fmt.Println(err)
	// Output:
	// detail.price[0].numeric[2]
	// true
	// pattern: detail.price[0].numeric[2]: the second comparison of a range is an upper bound (< or <=), got ">="
}

func ExampleSet() {
	s := pattern.NewSet[string]("event", "product")
	for _, r := range []struct{ id, pattern string }{
		{"eu-equities", `{"event": ["ProductRefreshed"], "product": ["equities.eu"]}`},
		{"us-equities", `{"event": ["ProductRefreshed"], "product": ["equities.us"]}`},
		{"big-loads", `{"rows_total": [{"numeric": [">", 1000]}]}`},
	} {
		var v any
		_ = json.Unmarshal([]byte(r.pattern), &v)
		p, err := pattern.Compile(v)
		if err != nil {
			fmt.Println(err)
			return
		}
		s.Add(r.id, p)
	}
	ev := map[string]any{"event": "ProductRefreshed", "product": "equities.eu", "rows_total": 5000.0}
	s.Matches(ev, func(id string) { fmt.Println(id) })
	// Output:
	// eu-equities
	// big-loads
}
