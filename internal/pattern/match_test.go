package pattern_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/logmesh/logmesh/internal/pattern"
)

// decode reads JSON text; with useNumber, numbers are json.Number, else
// float64.
func decode(t testing.TB, text string, useNumber bool) any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(text))
	if useNumber {
		d.UseNumber()
	}
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("decode %s: %v", text, err)
	}
	return v
}

func mustCompile(t testing.TB, text string, useNumber bool) *pattern.Pattern {
	t.Helper()
	p, err := pattern.Compile(decode(t, text, useNumber))
	if err != nil {
		t.Fatalf("Compile(%s): %v", text, err)
	}
	return p
}

type matchCase struct {
	name    string
	pattern string
	event   string
	want    bool
}

var matchCases = []matchCase{
	// Exact values.
	{"string equal", `{"a":["x"]}`, `{"a":"x"}`, true},
	{"string differs", `{"a":["x"]}`, `{"a":"y"}`, false},
	{"string case-sensitive", `{"a":["x"]}`, `{"a":"X"}`, false},
	{"OR within a field", `{"a":["x","y"]}`, `{"a":"y"}`, true},
	{"AND across fields", `{"a":["x"],"b":["y"]}`, `{"a":"x","b":"y"}`, true},
	{"AND across fields, one fails", `{"a":["x"],"b":["y"]}`, `{"a":"x","b":"z"}`, false},
	{"other event fields ignored", `{"a":["x"]}`, `{"a":"x","b":1,"c":{"d":[]}}`, true},
	{"number equal", `{"n":[5]}`, `{"n":5}`, true},
	{"number equal across forms", `{"n":[3.018e2]}`, `{"n":301.8}`, true},
	{"integer equals float", `{"n":[3]}`, `{"n":3.0}`, true},
	{"number differs", `{"n":[5]}`, `{"n":6}`, false},
	{"number is not a string", `{"n":[5]}`, `{"n":"5"}`, false},
	{"string is not a number", `{"n":["5"]}`, `{"n":5}`, false},
	{"negative zero", `{"n":[0]}`, `{"n":-0.0}`, true},
	{"true", `{"b":[true]}`, `{"b":true}`, true},
	{"true is not false", `{"b":[true]}`, `{"b":false}`, false},
	{"true is not a string", `{"b":[true]}`, `{"b":"true"}`, false},
	{"null", `{"v":[null]}`, `{"v":null}`, true},
	{"null is not missing", `{"v":[null]}`, `{}`, false},
	{"null is not empty string", `{"v":[null]}`, `{"v":""}`, false},
	{"empty string", `{"v":[""]}`, `{"v":""}`, true},
	{"empty string is not null", `{"v":[""]}`, `{"v":null}`, false},
	{"exactly", `{"a":[{"exactly":"x"}]}`, `{"a":"x"}`, true},
	{"exactly differs", `{"a":[{"exactly":"x"}]}`, `{"a":"xx"}`, false},
	{"many exact values (map lookup)", `{"a":["0","1","2","3","4","5","6","7","8","9","10","11","12","13","14","15","16",17]}`, `{"a":17}`, true},
	{"many exact values, none", `{"a":["0","1","2","3","4","5","6","7","8","9","10","11","12","13","14","15","16",17]}`, `{"a":"17"}`, false},

	// Prefix and suffix.
	{"prefix", `{"a":[{"prefix":"equities."}]}`, `{"a":"equities.eu"}`, true},
	{"prefix whole", `{"a":[{"prefix":"eq"}]}`, `{"a":"eq"}`, true},
	{"prefix no", `{"a":[{"prefix":"equities."}]}`, `{"a":"bonds.eu"}`, false},
	{"prefix empty matches any string", `{"a":[{"prefix":""}]}`, `{"a":"z"}`, true},
	{"prefix not on numbers", `{"a":[{"prefix":"1"}]}`, `{"a":12}`, false},
	{"suffix", `{"f":[{"suffix":".png"}]}`, `{"f":"a.png"}`, true},
	{"suffix no", `{"f":[{"suffix":".png"}]}`, `{"f":"a.PNG"}`, false},
	{"prefix ignoring case", `{"s":[{"prefix":{"equals-ignore-case":"EventB"}}]}`, `{"s":"eventbridge"}`, true},
	{"prefix ignoring case no", `{"s":[{"prefix":{"equals-ignore-case":"EventB"}}]}`, `{"s":"event"}`, false},
	{"prefix ignoring case, multibyte fold", `{"s":[{"prefix":{"equals-ignore-case":"straße"}}]}`, `{"s":"STRAẞE-1"}`, true},
	{"suffix ignoring case", `{"s":[{"suffix":{"equals-ignore-case":"TBRIDGE"}}]}`, `{"s":"EventBridge"}`, true},
	{"suffix ignoring case no", `{"s":[{"suffix":{"equals-ignore-case":"TBRIDGE"}}]}`, `{"s":"bridge"}`, false},
	{"suffix ignoring case, Kelvin sign", `{"s":[{"suffix":{"equals-ignore-case":"k"}}]}`, `{"s":"5\u212a"}`, true},

	// equals-ignore-case.
	{"equals-ignore-case", `{"s":[{"equals-ignore-case":"alice"}]}`, `{"s":"ALICE"}`, true},
	{"equals-ignore-case no", `{"s":[{"equals-ignore-case":"alice"}]}`, `{"s":"ALICES"}`, false},
	{"equals-ignore-case not on numbers", `{"s":[{"equals-ignore-case":"1"}]}`, `{"s":1}`, false},

	// Wildcard.
	{"wildcard middle", `{"s":[{"wildcard":"Simple*Service"}]}`, `{"s":"SimpleQueueService"}`, true},
	{"wildcard empty run", `{"s":[{"wildcard":"Simple*Service"}]}`, `{"s":"SimpleService"}`, true},
	{"wildcard no", `{"s":[{"wildcard":"Simple*Service"}]}`, `{"s":"SimpleServices"}`, false},
	{"wildcard overlapping ends", `{"s":[{"wildcard":"ab*ba"}]}`, `{"s":"aba"}`, false},
	{"wildcard several", `{"s":[{"wildcard":"dir/*/*.png"}]}`, `{"s":"dir/a/b/c.png"}`, true},
	{"wildcard several no", `{"s":[{"wildcard":"dir/*/*.png"}]}`, `{"s":"dir/c.png"}`, false},
	{"wildcard star alone", `{"s":[{"wildcard":"*"}]}`, `{"s":""}`, true},
	{"wildcard star not on numbers", `{"s":[{"wildcard":"*"}]}`, `{"s":1}`, false},
	{"wildcard no star is equality", `{"s":[{"wildcard":"abc"}]}`, `{"s":"abc"}`, true},
	{"wildcard escaped star", `{"s":[{"wildcard":"a\\*b"}]}`, `{"s":"a*b"}`, true},
	{"wildcard escaped star is literal", `{"s":[{"wildcard":"a\\*b"}]}`, `{"s":"axb"}`, false},
	{"wildcard escaped backslash", `{"s":[{"wildcard":"a\\\\*"}]}`, `{"s":"a\\zz"}`, true},
	{"wildcard escaped star then star", `{"s":[{"wildcard":"\\**"}]}`, `{"s":"*abc"}`, true},

	// Numeric.
	{"numeric >", `{"n":[{"numeric":[">",0]}]}`, `{"n":0.5}`, true},
	{"numeric > boundary", `{"n":[{"numeric":[">",0]}]}`, `{"n":0}`, false},
	{"numeric >=", `{"n":[{"numeric":[">=",0]}]}`, `{"n":0}`, true},
	{"numeric <", `{"n":[{"numeric":["<",10]}]}`, `{"n":-1e9}`, true},
	{"numeric < boundary", `{"n":[{"numeric":["<",10]}]}`, `{"n":10}`, false},
	{"numeric <=", `{"n":[{"numeric":["<=",10]}]}`, `{"n":10}`, true},
	{"numeric =", `{"n":[{"numeric":["=",3.018e2]}]}`, `{"n":301.8}`, true},
	{"numeric = no", `{"n":[{"numeric":["=",5]}]}`, `{"n":5.000001}`, false},
	{"numeric range in", `{"n":[{"numeric":[">",0,"<=",5]}]}`, `{"n":5}`, true},
	{"numeric range low end", `{"n":[{"numeric":[">",0,"<=",5]}]}`, `{"n":0}`, false},
	{"numeric range above", `{"n":[{"numeric":[">",0,"<=",5]}]}`, `{"n":5.5}`, false},
	{"numeric range closed", `{"n":[{"numeric":[">=",0,"<",5]}]}`, `{"n":0}`, true},
	{"numeric range open top", `{"n":[{"numeric":[">=",0,"<",5]}]}`, `{"n":5}`, false},
	{"numeric not on strings", `{"n":[{"numeric":[">",0]}]}`, `{"n":"5"}`, false},
	{"numeric not on null", `{"n":[{"numeric":["<",1]}]}`, `{"n":null}`, false},
	{"numeric big", `{"n":[{"numeric":[">",1e300]}]}`, `{"n":1e301}`, true},

	// cidr.
	{"cidr v4", `{"ip":[{"cidr":"10.0.0.0/24"}]}`, `{"ip":"10.0.0.255"}`, true},
	{"cidr v4 no", `{"ip":[{"cidr":"10.0.0.0/24"}]}`, `{"ip":"10.0.1.0"}`, false},
	{"cidr unmasked operand", `{"ip":[{"cidr":"10.0.0.7/24"}]}`, `{"ip":"10.0.0.1"}`, true},
	{"cidr v4-in-v6", `{"ip":[{"cidr":"10.0.0.0/8"}]}`, `{"ip":"::ffff:10.1.2.3"}`, true},
	{"cidr v6", `{"ip":[{"cidr":"2001:db8::/32"}]}`, `{"ip":"2001:db8::1"}`, true},
	{"cidr not an address", `{"ip":[{"cidr":"10.0.0.0/8"}]}`, `{"ip":"ten"}`, false},

	// exists.
	{"exists true", `{"a":[{"exists":true}]}`, `{"a":"x"}`, true},
	{"exists true on null", `{"a":[{"exists":true}]}`, `{"a":null}`, true},
	{"exists true on missing", `{"a":[{"exists":true}]}`, `{}`, false},
	{"exists true on empty array", `{"a":[{"exists":true}]}`, `{"a":[]}`, false},
	{"exists true on object (not a leaf)", `{"a":[{"exists":true}]}`, `{"a":{"b":1}}`, false},
	{"exists false on missing", `{"a":[{"exists":false}]}`, `{"b":1}`, true},
	{"exists false on present", `{"a":[{"exists":false}]}`, `{"a":0}`, false},
	{"exists false on null", `{"a":[{"exists":false}]}`, `{"a":null}`, false},
	{"exists false on object (not a leaf)", `{"a":[{"exists":false}]}`, `{"a":{"b":1}}`, true},
	{"exists false, nested, parent missing", `{"d":{"a":[{"exists":false}]}}`, `{}`, true},
	{"exists false, nested, parent scalar", `{"d":{"a":[{"exists":false}]}}`, `{"d":"s"}`, true},
	{"exists false or value", `{"a":[{"exists":false},"x"]}`, `{"a":"x"}`, true},
	{"exists false or value, other value", `{"a":[{"exists":false},"x"]}`, `{"a":"y"}`, false},

	// anything-but.
	{"anything-but string", `{"s":[{"anything-but":"initializing"}]}`, `{"s":"running"}`, true},
	{"anything-but string excluded", `{"s":[{"anything-but":"initializing"}]}`, `{"s":"initializing"}`, false},
	{"anything-but number", `{"n":[{"anything-but":123}]}`, `{"n":124}`, true},
	{"anything-but number excluded", `{"n":[{"anything-but":123}]}`, `{"n":1.23e2}`, false},
	{"anything-but list", `{"s":[{"anything-but":["stopped","overloaded"]}]}`, `{"s":"overloaded"}`, false},
	{"anything-but list other", `{"s":[{"anything-but":["stopped","overloaded"]}]}`, `{"s":"ok"}`, true},
	{"anything-but number list", `{"n":[{"anything-but":[100,200,300]}]}`, `{"n":200}`, false},
	{"anything-but string list, number value", `{"s":[{"anything-but":["5"]}]}`, `{"s":5}`, true},
	{"anything-but, null value", `{"s":[{"anything-but":"x"}]}`, `{"s":null}`, true},
	{"anything-but missing field", `{"s":[{"anything-but":"x"}]}`, `{}`, false},
	{"anything-but object value", `{"s":[{"anything-but":"x"}]}`, `{"s":{"t":"y"}}`, false},
	{"anything-but prefix", `{"s":[{"anything-but":{"prefix":"init"}}]}`, `{"s":"running"}`, true},
	{"anything-but prefix excluded", `{"s":[{"anything-but":{"prefix":"init"}}]}`, `{"s":"initializing"}`, false},
	{"anything-but prefix list", `{"s":[{"anything-but":{"prefix":["init","err"]}}]}`, `{"s":"error"}`, false},
	{"anything-but prefix, number value", `{"s":[{"anything-but":{"prefix":"1"}}]}`, `{"s":12}`, true},
	{"anything-but suffix", `{"f":[{"anything-but":{"suffix":".png"}}]}`, `{"f":"a.jpg"}`, true},
	{"anything-but suffix excluded", `{"f":[{"anything-but":{"suffix":".png"}}]}`, `{"f":"a.png"}`, false},
	{"anything-but equals-ignore-case", `{"s":[{"anything-but":{"equals-ignore-case":"Stopped"}}]}`, `{"s":"STOPPED"}`, false},
	{"anything-but equals-ignore-case other", `{"s":[{"anything-but":{"equals-ignore-case":["Stopped","x"]}}]}`, `{"s":"running"}`, true},
	{"anything-but wildcard", `{"p":[{"anything-but":{"wildcard":"*/lib/*"}}]}`, `{"p":"/usr/lib/x"}`, false},
	{"anything-but wildcard other", `{"p":[{"anything-but":{"wildcard":["*/lib/*","*.jar"]}}]}`, `{"p":"/usr/bin/x"}`, true},
	{"anything-but missing, prefix", `{"s":[{"anything-but":{"prefix":"x"}}]}`, `{"t":"y"}`, false},

	// Arrays in events.
	{"array any element", `{"r":["b"]}`, `{"r":["a","b"]}`, true},
	{"array no element", `{"r":["c"]}`, `{"r":["a","b"]}`, false},
	{"array of arrays flattened", `{"r":["c"]}`, `{"r":[["a"],["b",["c"]]]}`, true},
	{"array prefix", `{"r":[{"prefix":"arn:"}]}`, `{"r":[1,"arn:x"]}`, true},
	{"array numeric", `{"n":[{"numeric":[">",10]}]}`, `{"n":[1,2,30]}`, true},
	{"array anything-but, one other element", `{"s":[{"anything-but":"a"}]}`, `{"s":["a","b"]}`, true},
	{"array anything-but, all excluded", `{"s":[{"anything-but":"a"}]}`, `{"s":["a","a"]}`, false},
	{"array empty is missing", `{"s":[{"anything-but":"a"}]}`, `{"s":[]}`, false},
	{"array empty, exists false", `{"s":[{"exists":false}]}`, `{"s":[]}`, true},
	{"array of objects is not a leaf", `{"s":[{"exists":true}]}`, `{"s":[{"a":1}]}`, false},
	{"nested over array of objects", `{"e":{"first":["Anna"]}}`, `{"e":[{"first":"John"},{"first":"Anna"}]}`, true},
	{"nested over array, same element", `{"e":{"first":["Anna"],"last":["Smith"]}}`, `{"e":[{"first":"John","last":"Doe"},{"first":"Anna","last":"Smith"}]}`, true},
	{"nested over array, across elements", `{"e":{"first":["Anna"],"last":["Jones"]}}`, `{"e":[{"first":"Anna","last":"Smith"},{"first":"Peter","last":"Jones"}]}`, false},
	{"nested over array of arrays", `{"e":{"first":["Peter"]}}`, `{"e":[[{"first":"John"}],[{"first":"Peter"}]]}`, true},
	{"nested over array, exists false per element", `{"e":{"coupon":[{"exists":false}]}}`, `{"e":[{"coupon":"x"},{"sku":"y"}]}`, true},
	{"nested over empty array", `{"e":{"coupon":[{"exists":false}]}}`, `{"e":[]}`, true},

	// Nested objects.
	{"nested", `{"detail":{"state":["terminated"]}}`, `{"detail":{"state":"terminated"}}`, true},
	{"nested differs", `{"detail":{"state":["terminated"]}}`, `{"detail":{"state":"running"}}`, false},
	{"nested missing", `{"detail":{"state":["terminated"]}}`, `{"state":"terminated"}`, false},
	{"nested over scalar", `{"detail":{"state":["terminated"]}}`, `{"detail":"terminated"}`, false},
	{"deeply nested", `{"a":{"b":{"c":[{"numeric":["<",0]}]}}}`, `{"a":{"b":{"c":-1}}}`, true},
	{"dots are not paths", `{"a.b":["x"]}`, `{"a":{"b":"x"}}`, false},
	{"dotted key", `{"a.b":["x"]}`, `{"a.b":"x"}`, true},

	// $or.
	{"$or first", `{"$or":[{"a":["x"]},{"b":["y"]}]}`, `{"a":"x"}`, true},
	{"$or second", `{"$or":[{"a":["x"]},{"b":["y"]}]}`, `{"b":"y"}`, true},
	{"$or neither", `{"$or":[{"a":["x"]},{"b":["y"]}]}`, `{"a":"y","b":"x"}`, false},
	{"$or and fields", `{"source":["cw"],"$or":[{"m":["cpu"]},{"ns":["ec2"]}]}`, `{"source":"cw","ns":"ec2"}`, true},
	{"$or and fields, field fails", `{"source":["cw"],"$or":[{"m":["cpu"]},{"ns":["ec2"]}]}`, `{"source":"s3","ns":"ec2"}`, false},
	{"$or alternative with AND", `{"$or":[{"a":["x"],"b":["y"]},{"c":["z"]}]}`, `{"a":"x"}`, false},
	{"$or nested in $or", `{"$or":[{"a":["x"],"$or":[{"id":[1]},{"sp":[2]}]},{"c":["z"]}]}`, `{"a":"x","sp":2}`, true},
	{"$or nested in $or, inner fails", `{"$or":[{"a":["x"],"$or":[{"id":[1]},{"sp":[2]}]},{"c":["z"]}]}`, `{"a":"x","sp":3}`, false},
	{"$or in nested object", `{"detail":{"$or":[{"s":["a"]},{"t":["b"]}]}}`, `{"detail":{"t":"b"}}`, true},
	{"$or in nested object, outside", `{"detail":{"$or":[{"s":["a"]},{"t":["b"]}]}}`, `{"t":"b","detail":{}}`, false},
	{"parallel $or", `{"$or":[{"m":["cpu"]},{"ns":["ec2"]}],"detail":{"$or":[{"s":["cw"]},{"t":["alarm"]}]}}`, `{"m":"cpu","detail":{"t":"alarm"}}`, true},
	{"parallel $or, one fails", `{"$or":[{"m":["cpu"]},{"ns":["ec2"]}],"detail":{"$or":[{"s":["cw"]},{"t":["alarm"]}]}}`, `{"m":"cpu","detail":{"t":"ok"}}`, false},
	{"$or with exists false", `{"$or":[{"a":[{"exists":false}]},{"a":["x"]}]}`, `{}`, true},
	{"field beside and inside $or: both apply", `{"a":["x"],"$or":[{"a":["y"]},{"b":[1]}]}`, `{"a":["x","y"]}`, true},
	{"field beside and inside $or: both apply, fails", `{"a":["x"],"$or":[{"a":["y"]},{"b":[1]}]}`, `{"a":"y"}`, false},

	// Events that are not objects.
	{"event not an object", `{"a":["x"]}`, `["x"]`, false},
	{"event not an object, exists false", `{"a":[{"exists":false}]}`, `"x"`, true},

	// The brief's YAML example, in JSON.
	{"mesh route", `{"event":["ProductRefreshed"],"product":[{"prefix":"equities."}],"rows_total":[{"numeric":[">",0]}]}`,
		`{"event":"ProductRefreshed","product":"equities.eu","rows_total":12}`, true},
	{"mesh route, no rows", `{"event":["ProductRefreshed"],"product":[{"prefix":"equities."}],"rows_total":[{"numeric":[">",0]}]}`,
		`{"event":"ProductRefreshed","product":"equities.eu","rows_total":0}`, false},
}

func TestMatch(t *testing.T) {
	for _, tc := range matchCases {
		for _, useNumber := range []bool{true, false} {
			name := tc.name + "/float64"
			if useNumber {
				name = tc.name + "/json.Number"
			}
			t.Run(name, func(t *testing.T) {
				p := mustCompile(t, tc.pattern, useNumber)
				ev := decode(t, tc.event, useNumber)
				if got := p.Match(ev); got != tc.want {
					t.Errorf("Compile(%s).Match(%s) = %v, want %v", tc.pattern, tc.event, got, tc.want)
				}
				// The canonical form matches the same events.
				q := mustCompile(t, p.String(), useNumber)
				if got := q.Match(ev); got != tc.want {
					t.Errorf("canonical %s: Match(%s) = %v, want %v", p.String(), tc.event, got, tc.want)
				}
				// And so does a set holding it, keyed or not.
				for _, keys := range [][]string{nil, {"a", "n", "s", "event", "r"}} {
					s := pattern.NewSet[int](keys...)
					s.Add(1, p)
					got := false
					s.Matches(ev, func(int) { got = true })
					if got != tc.want {
						t.Errorf("Set(%v).Matches(%s) = %v, want %v", keys, tc.event, got, tc.want)
					}
				}
			})
		}
	}
}

// TestMatchGoNumbers matches events holding Go integer and float types, as a
// YAML decoder or hand-built events give them.
func TestMatchGoNumbers(t *testing.T) {
	p := mustCompile(t, `{"n":[5, {"numeric":[">",100,"<",200]}], "m":[{"anything-but":[1,2]}]}`, true)
	for _, tc := range []struct {
		ev   map[string]any
		want bool
	}{
		{map[string]any{"n": 5, "m": 3}, true},
		{map[string]any{"n": int8(5), "m": uint64(3)}, true},
		{map[string]any{"n": float32(150.5), "m": int64(-1)}, true},
		{map[string]any{"n": uint16(150), "m": int32(2)}, false},
		{map[string]any{"n": 200.0, "m": 3}, false},
		{map[string]any{"n": json.Number("5e0"), "m": json.Number("3")}, true},
		{map[string]any{"n": json.Number("not a number"), "m": 3}, false},
		{map[string]any{"n": json.Number("1e999"), "m": 3}, false},
		{map[string]any{"n": []any{int64(1), uint(150)}, "m": 3}, true},
		{map[string]any{"n": struct{}{}, "m": 3}, false},
	} {
		if got := p.Match(tc.ev); got != tc.want {
			t.Errorf("Match(%v) = %v, want %v", tc.ev, got, tc.want)
		}
	}
}

// TestMatchYAML compiles patterns in YAML form, as the mesh file holds them.
func TestMatchYAML(t *testing.T) {
	src := `
event: [ProductRefreshed, ProductRestated]
product: [{prefix: "equities."}]
rows_total: [{numeric: [">", 0, "<=", 1000000]}]
detail:
  source: [{anything-but: [test, staging]}]
  late: [{exists: false}, false]
`
	var v any
	if err := yaml.Unmarshal([]byte(src), &v); err != nil {
		t.Fatal(err)
	}
	p, err := pattern.Compile(v)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"detail":{"late":[false,{"exists":false}],"source":[{"anything-but":["staging","test"]}]},` +
		`"event":["ProductRefreshed","ProductRestated"],"product":[{"prefix":"equities."}],"rows_total":[{"numeric":[">",0,"<=",1000000]}]}`
	if got := p.String(); got != want {
		t.Errorf("String() =\n%s\nwant\n%s", got, want)
	}
	for _, tc := range []struct {
		ev   string
		want bool
	}{
		{`{event: ProductRestated, product: equities.us, rows_total: 3, detail: {source: prod}}`, true},
		{`{event: ProductRestated, product: equities.us, rows_total: 3, detail: {source: prod, late: false}}`, true},
		{`{event: ProductRestated, product: equities.us, rows_total: 3, detail: {source: prod, late: true}}`, false},
		{`{event: ProductRestated, product: equities.us, rows_total: 3, detail: {source: test}}`, false},
		{`{event: ProductRestated, product: equities.us, rows_total: 0, detail: {source: prod}}`, false},
		{`{event: ProductRestated, product: equities.us, rows_total: 2.5e6, detail: {source: prod}}`, false},
		{`{event: ProductRemoved, product: equities.us, rows_total: 3, detail: {source: prod}}`, false},
	} {
		var ev any
		if err := yaml.Unmarshal([]byte(tc.ev), &ev); err != nil {
			t.Fatal(err)
		}
		if got := p.Match(ev); got != tc.want {
			t.Errorf("Match(%s) = %v, want %v", tc.ev, got, tc.want)
		}
	}
}

// TestMatchGoValues compiles a pattern built in Go, with []string leaves.
func TestMatchGoValues(t *testing.T) {
	p, err := pattern.Compile(map[string]any{
		"event":  []string{"A", "B"},
		"detail": map[string]any{"n": []any{map[string]any{"numeric": []any{">=", 1}}}},
		"kind":   []any{map[string]any{"anything-but": []string{"x", "y"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Match(map[string]any{"event": "B", "detail": map[string]any{"n": 1}, "kind": "z"}) {
		t.Error("no match")
	}
	if p.Match(map[string]any{"event": "B", "detail": map[string]any{"n": 1}, "kind": "y"}) {
		t.Error("anything-but []string did not exclude y")
	}
}

func TestMatchNil(t *testing.T) {
	var p *pattern.Pattern
	if p.Match(map[string]any{}) || p.String() != "" {
		t.Error("a nil pattern matches or has a String")
	}
	if (&pattern.Pattern{}).Match(map[string]any{}) {
		t.Error("the zero pattern matches")
	}
}

func TestString(t *testing.T) {
	for _, tc := range []struct {
		name string
		a, b string // equal patterns, written differently
		want string
	}{
		{"key order", `{"b":["y"],"a":["x"]}`, `{"a":["x"],"b":["y"]}`, `{"a":["x"],"b":["y"]}`},
		{"matcher order and duplicates", `{"a":["y","x",{"prefix":"p"},"x"]}`, `{"a":[{"prefix":"p"},"x","y"]}`, `{"a":["x","y",{"prefix":"p"}]}`},
		{"numbers", `{"a":[3.0e2, 5]}`, `{"a":[300,5.0,300]}`, `{"a":[300,5]}`},
		{"exactly is the plain string", `{"a":[{"exactly":"x"}]}`, `{"a":["x"]}`, `{"a":["x"]}`},
		{"anything-but as list", `{"a":[{"anything-but":"x"}]}`, `{"a":[{"anything-but":["x","x"]}]}`, `{"a":[{"anything-but":["x"]}]}`},
		{"anything-but prefix as sorted list", `{"a":[{"anything-but":{"prefix":["b","a"]}}]}`, `{"a":[{"anything-but":{"prefix":["a","b"]}}]}`, `{"a":[{"anything-but":{"prefix":["a","b"]}}]}`},
		{"$or order", `{"$or":[{"b":[1]},{"a":[1]}]}`, `{"$or":[{"a":[1]},{"b":[1]}]}`, `{"$or":[{"a":[1]},{"b":[1]}]}`},
		{"$or sorted among keys", `{"z":[1],"$or":[{"b":[1]},{"a":[1]}],"#":[2]}`, `{"#":[2],"$or":[{"a":[1]},{"b":[1]}],"z":[1]}`, `{"#":[2],"$or":[{"a":[1]},{"b":[1]}],"z":[1]}`},
		{"numeric", `{"n":[{"numeric":[">=",1e0,"<",2.50]}]}`, `{"n":[{"numeric":[">=",1,"<",2.5]}]}`, `{"n":[{"numeric":[">=",1,"<",2.5]}]}`},
		{"negative zero operand", `{"n":[{"numeric":["<",-0.0]},-0]}`, `{"n":[0,{"numeric":["<",0]}]}`, `{"n":[0,{"numeric":["<",0]}]}`},
		{"cidr masked", `{"ip":[{"cidr":"10.1.2.3/8"}]}`, `{"ip":[{"cidr":"10.0.0.0/8"}]}`, `{"ip":[{"cidr":"10.0.0.0/8"}]}`},
		{"nested", `{"d":{"y":[{"exists":true}],"x":[{"suffix":{"equals-ignore-case":"Z"}}]}}`, `{"d":{"x":[{"suffix":{"equals-ignore-case":"Z"}}],"y":[{"exists":true}]}}`,
			`{"d":{"x":[{"suffix":{"equals-ignore-case":"Z"}}],"y":[{"exists":true}]}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := mustCompile(t, tc.a, true), mustCompile(t, tc.b, true)
			if a.String() != tc.want || b.String() != tc.want {
				t.Errorf("String() = %s and %s, want %s", a, b, tc.want)
			}
			if again := mustCompile(t, a.String(), true).String(); again != a.String() {
				t.Errorf("recompiled String() = %s, want %s", again, a)
			}
		})
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	p := mustCompile(t, `{"event":["ProductRefreshed"],"product":[{"prefix":"equities."},{"wildcard":"bonds.*.eu"}],
		"rows_total":[{"numeric":[">",0]}],"detail":{"$or":[{"s":[{"anything-but":{"suffix":"x"}}]},{"t":[{"exists":false}]}]},
		"tags":[{"equals-ignore-case":"HOT"},{"cidr":"10.0.0.0/8"}]}`, true)
	ev := decode(t, `{"event":"ProductRefreshed","product":"equities.eu","rows_total":12,"detail":[{"s":"ax"},{"u":1}],"tags":["cold","hot"]}`, true)
	if !p.Match(ev) {
		t.Fatal("no match")
	}
	if n := testing.AllocsPerRun(100, func() { p.Match(ev) }); n != 0 {
		t.Errorf("Match allocates %v times per call", n)
	}
}

// TestErrorPathIsYAMLPath checks the promise of Error.Path: "$." + Path is a
// goccy/go-yaml path to the offending node of the pattern's YAML.
func TestErrorPathIsYAMLPath(t *testing.T) {
	src := `event: [ProductRefreshed]
$or:
  - product: [{prefix: "equities."}]
  - product: [x]
    detail:
      price: [{numeric: [">", 0, ">", 5]}]
`
	var v any
	if err := yaml.Unmarshal([]byte(src), &v); err != nil {
		t.Fatal(err)
	}
	_, err := pattern.Compile(v)
	var pe *pattern.Error
	if !asError(err, &pe) {
		t.Fatalf("Compile: %v, want a *pattern.Error", err)
	}
	if want := `'$or'[1].detail.price[0].numeric[2]`; pe.Path != want {
		t.Fatalf("Path = %s, want %s", pe.Path, want)
	}
	path, err := yaml.PathString("$." + pe.Path)
	if err != nil {
		t.Fatalf("PathString: %v", err)
	}
	file, err := parseYAML(src)
	if err != nil {
		t.Fatal(err)
	}
	node, err := path.FilterFile(file)
	if err != nil {
		t.Fatalf("FilterFile: %v", err)
	}
	if tok := node.GetToken(); tok.Position.Line != 6 || tok.Value != ">" {
		t.Errorf("the path leads to %q on line %d, want \">\" on line 6", tok.Value, tok.Position.Line)
	}
}

func TestWildcardAgainstRegexp(t *testing.T) {
	// Every wildcard over {a, b, *} up to 5 characters without "**",
	// against every string over {a, b} up to 6 characters.
	var wilds, strs []string
	var gen func(prefix string, alphabet string, n int, out *[]string)
	gen = func(prefix, alphabet string, n int, out *[]string) {
		*out = append(*out, prefix)
		if n == 0 {
			return
		}
		for _, c := range alphabet {
			gen(prefix+string(c), alphabet, n-1, out)
		}
	}
	gen("", "ab*", 5, &wilds)
	gen("", "ab", 6, &strs)
	for _, w := range wilds {
		if strings.Contains(w, "**") {
			continue
		}
		p := mustCompile(t, `{"s":[{"wildcard":`+quote(w)+`}]}`, true)
		re := globRegexp(w)
		for _, s := range strs {
			if got, want := p.Match(map[string]any{"s": s}), re.MatchString(s); got != want {
				t.Fatalf("wildcard %q on %q = %v, want %v", w, s, got, want)
			}
		}
	}
}

func quote(s string) string {
	var b bytes.Buffer
	_ = json.NewEncoder(&b).Encode(s)
	return strings.TrimSpace(b.String())
}
