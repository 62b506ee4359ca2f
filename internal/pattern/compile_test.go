package pattern_test

import (
	"encoding/json"
	"errors"
	"math"
	"regexp"
	"strings"
	"testing"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/logmesh/logmesh/internal/pattern"
)

func asError(err error, target **pattern.Error) bool { return errors.As(err, target) }

func parseYAML(src string) (*ast.File, error) { return parser.ParseBytes([]byte(src), 0) }

// globRegexp is the reference semantics of a wildcard: * is .*, \* and \\
// are literal.
func globRegexp(w string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`^`)
	for i := 0; i < len(w); i++ {
		switch w[i] {
		case '*':
			b.WriteString(`(?s:.*)`)
		case '\\':
			i++
			b.WriteString(regexp.QuoteMeta(w[i : i+1]))
		default:
			b.WriteString(regexp.QuoteMeta(w[i : i+1]))
		}
	}
	b.WriteString(`$`)
	return regexp.MustCompile(b.String())
}

func TestCompileErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		pattern string
		path    string
		msg     string // a part of Msg
	}{
		// The pattern and its objects.
		{"not an object", `["x"]`, ``, "a pattern is an object, got an array"},
		{"null pattern", `null`, ``, "got null"},
		{"empty pattern", `{}`, ``, "empty object"},
		{"empty nested object", `{"detail":{}}`, `detail`, "empty object"},
		{"leaf not an array", `{"event":"ProductRefreshed"}`, `event`, `got a string (write ["ProductRefreshed"])`},
		{"leaf number", `{"detail":{"n":5}}`, `detail.n`, "write [5]"},
		{"leaf null", `{"a":null}`, `a`, "got null"},
		{"empty array", `{"detail":{"state":[]}}`, `detail.state`, "empty array"},
		{"nested array", `{"a":["x",["y"]]}`, `a[1]`, "got an array"},
		{"first fault in key order", `{"b":[],"a":"x"}`, `a`, "a field holds"},

		// $or.
		{"$or not an array", `{"$or":{"a":["x"]}}`, `'$or'`, "array of at least two"},
		{"$or empty", `{"$or":[]}`, `'$or'`, "at least two alternatives, got 0"},
		{"$or single", `{"$or":[{"a":["x"]}]}`, `'$or'`, "at least two alternatives, got 1"},
		{"$or alternative not an object", `{"$or":[{"a":["x"]},["b"]]}`, `'$or'[1]`, "is a pattern object, got an array"},
		{"$or alternative empty", `{"$or":[{"a":["x"]},{}]}`, `'$or'[1]`, "empty object"},
		{"$or alternative fault", `{"$or":[{"a":["x"]},{"b":[{"prefix":1}]}]}`, `'$or'[1].b[0].prefix`, "prefix takes a string"},
		{"nested $or fault", `{"detail":{"$or":[{"a":["x"]},{"$or":[{"c":[1]},{"d":[{"numeric":[">",1,"<",1]}]}]}]}}`,
			`detail.'$or'[1].'$or'[1].d[0].numeric[3]`, "not above the lower bound"},

		// Matcher objects.
		{"empty matcher", `{"a":[{}]}`, `a[0]`, "empty matcher object"},
		{"two operators", `{"a":[{"prefix":"x","suffix":"y"}]}`, `a[0]`, "exactly one operator, got 2: prefix, suffix"},
		{"unknown operator", `{"a":["x",{"regex":"x.*"}]}`, `a[1].regex`, `unknown operator "regex"`},
		{"unknown operator, quoted key", `{"a.b":[{"cont$ins":"x"}]}`, `'a.b'[0].'cont$ins'`, `unknown operator "cont$ins"`},
		{"exactly not a string", `{"a":[{"exactly":1}]}`, `a[0].exactly`, "exactly takes a string"},
		{"prefix not a string", `{"a":[{"prefix":["x"]}]}`, `a[0].prefix`, "prefix takes a string"},
		{"prefix unknown sub-operator", `{"a":[{"prefix":{"wildcard":"x"}}]}`, `a[0].prefix.wildcard`, `unknown prefix operator "wildcard"`},
		{"prefix ignore case not a string", `{"a":[{"prefix":{"equals-ignore-case":5}}]}`, `a[0].prefix.equals-ignore-case`, "takes a string, got a number"},
		{"prefix two sub-operators", `{"a":[{"prefix":{"equals-ignore-case":"x","y":"z"}}]}`, `a[0].prefix`, "got 2 keys"},
		{"suffix not a string", `{"a":[{"suffix":null}]}`, `a[0].suffix`, "suffix takes a string"},
		{"equals-ignore-case not a string", `{"a":[{"equals-ignore-case":true}]}`, `a[0].equals-ignore-case`, "takes a string, got a boolean"},
		{"exists not a boolean", `{"a":[{"exists":"true"}]}`, `a[0].exists`, "exists takes true or false"},
		{"cidr not a string", `{"ip":[{"cidr":10}]}`, `ip[0].cidr`, "cidr takes a string"},
		{"cidr malformed", `{"ip":[{"cidr":"10.0.0.0"}]}`, `ip[0].cidr`, "no '/'"},

		// Wildcards.
		{"wildcard not a string", `{"s":[{"wildcard":1}]}`, `s[0].wildcard`, "wildcard takes a string"},
		{"wildcard consecutive stars", `{"s":[{"wildcard":"a**b"}]}`, `s[0].wildcard`, "consecutive wildcard characters at byte 1"},
		{"wildcard star after escaped star", `{"s":[{"wildcard":"\\***"}]}`, `s[0].wildcard`, "consecutive wildcard characters at byte 2"},
		{"wildcard bad escape", `{"s":[{"wildcard":"a\\b"}]}`, `s[0].wildcard`, "invalid escape at byte 1"},
		{"wildcard trailing backslash", `{"s":[{"wildcard":"a\\"}]}`, `s[0].wildcard`, "invalid escape at byte 1"},

		// Numeric.
		{"numeric not an array", `{"n":[{"numeric":">0"}]}`, `n[0].numeric`, "numeric takes an array"},
		{"numeric empty", `{"n":[{"numeric":[]}]}`, `n[0].numeric`, "empty array"},
		{"numeric operand first", `{"n":[{"numeric":[0,"<",5]}]}`, `n[0].numeric[0]`, "starts with an operator"},
		{"numeric unknown operator", `{"n":[{"numeric":["!=",5]}]}`, `n[0].numeric[0]`, `unknown numeric operator "!="`},
		{"numeric missing operand", `{"n":[{"numeric":[">"]}]}`, `n[0].numeric`, `">" needs a number`},
		{"numeric string operand", `{"n":[{"numeric":[">","5"]}]}`, `n[0].numeric[1]`, "is a number, got a string"},
		{"numeric after =", `{"n":[{"numeric":["=",5,"<",6]}]}`, `n[0].numeric[2]`, `nothing may follow "="`},
		{"numeric upper bound first", `{"n":[{"numeric":["<",5,">",0]}]}`, `n[0].numeric[2]`, "lower bound first"},
		{"numeric two lower bounds", `{"n":[{"numeric":[">",0,">",5]}]}`, `n[0].numeric[2]`, "upper bound (< or <=)"},
		{"numeric second not an operator", `{"n":[{"numeric":[">",0,5]}]}`, `n[0].numeric[2]`, "starts with an operator"},
		{"numeric missing second operand", `{"n":[{"numeric":[">",0,"<"]}]}`, `n[0].numeric`, `"<" needs a number`},
		{"numeric bad second operand", `{"n":[{"numeric":[">",0,"<",null]}]}`, `n[0].numeric[3]`, "is a number, got null"},
		{"numeric too long", `{"n":[{"numeric":[">",0,"<",5,"<"]}]}`, `n[0].numeric[4]`, "at most two comparisons"},
		{"numeric empty range", `{"n":[{"numeric":[">=",5,"<=",5]}]}`, `n[0].numeric[3]`, "not above the lower bound"},
		{"numeric inverted range", `{"n":[{"numeric":[">",5,"<",1]}]}`, `n[0].numeric[3]`, "not above the lower bound"},
		{"brief example path", `{"detail":{"price":[{"numeric":[">",0,"=",5]}]}}`, `detail.price[0].numeric[2]`, "upper bound"},

		// anything-but.
		{"anything-but null", `{"s":[{"anything-but":null}]}`, `s[0].anything-but`, "strings or numbers, got null"},
		{"anything-but boolean", `{"s":[{"anything-but":true}]}`, `s[0].anything-but`, "got a boolean"},
		{"anything-but empty list", `{"s":[{"anything-but":[]}]}`, `s[0].anything-but`, "non-empty list"},
		{"anything-but mixed list", `{"s":[{"anything-but":["a",1]}]}`, `s[0].anything-but[1]`, "only strings or only numbers"},
		{"anything-but null in list", `{"s":[{"anything-but":["a",null]}]}`, `s[0].anything-but[1]`, "got null"},
		{"anything-but nested list", `{"s":[{"anything-but":["a",["b"]]}]}`, `s[0].anything-but[1]`, "got an array"},
		{"anything-but unknown operator", `{"s":[{"anything-but":{"numeric":[">",1]}}]}`, `s[0].anything-but.numeric`, `unknown anything-but operator "numeric"`},
		{"anything-but two operators", `{"s":[{"anything-but":{"prefix":"a","suffix":"b"}}]}`, `s[0].anything-but`, "got 2 keys"},
		{"anything-but empty object", `{"s":[{"anything-but":{}}]}`, `s[0].anything-but`, "got 0 keys"},
		{"anything-but prefix number", `{"s":[{"anything-but":{"prefix":1}}]}`, `s[0].anything-but.prefix`, "takes strings, got a number"},
		{"anything-but prefix empty", `{"s":[{"anything-but":{"prefix":""}}]}`, `s[0].anything-but.prefix`, "non-empty string"},
		{"anything-but suffix empty in list", `{"s":[{"anything-but":{"suffix":["x",""]}}]}`, `s[0].anything-but.suffix[1]`, "non-empty string"},
		{"anything-but prefix empty list", `{"s":[{"anything-but":{"prefix":[]}}]}`, `s[0].anything-but.prefix`, "non-empty list"},
		{"anything-but ignore-case number in list", `{"s":[{"anything-but":{"equals-ignore-case":["a",2]}}]}`, `s[0].anything-but.equals-ignore-case[1]`, "got a number"},
		{"anything-but wildcard bad", `{"s":[{"anything-but":{"wildcard":["ok*","z","a**"]}}]}`, `s[0].anything-but.wildcard[2]`, "consecutive wildcard"},
		{"anything-but wildcard bad single", `{"s":[{"anything-but":{"wildcard":"a\\x"}}]}`, `s[0].anything-but.wildcard`, "invalid escape"},

		// Numbers.
		{"number out of range", `{"n":[1e999]}`, `n[0]`, "out of range"},
		{"numeric operand out of range", `{"n":[{"numeric":["<",-1e999]}]}`, `n[0].numeric[1]`, "out of range"},
		{"anything-but number out of range", `{"n":[{"anything-but":[1,1e999]}]}`, `n[0].anything-but[1]`, "out of range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := pattern.Compile(decode(t, tc.pattern, true))
			if err == nil {
				t.Fatalf("Compile(%s) = %s, want an error", tc.pattern, p)
			}
			if !errors.Is(err, pattern.ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			var pe *pattern.Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *pattern.Error", err)
			}
			if pe.Path != tc.path {
				t.Errorf("Path = %q, want %q (msg %q)", pe.Path, tc.path, pe.Msg)
			}
			if !strings.Contains(pe.Msg, tc.msg) {
				t.Errorf("Msg = %q, want it to contain %q", pe.Msg, tc.msg)
			}
			if want := "pattern: " + tc.path + ": " + pe.Msg; tc.path != "" && err.Error() != want {
				t.Errorf("Error() = %q, want %q", err.Error(), want)
			}
		})
	}
}

// TestCompileGoValueErrors covers values only Go (or YAML) can give.
func TestCompileGoValueErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		pattern any
		path    string
		msg     string
	}{
		{"NaN", map[string]any{"n": []any{math.NaN()}}, "n[0]", "finite"},
		{"Inf operand", map[string]any{"n": []any{map[string]any{"numeric": []any{">", math.Inf(1)}}}}, "n[0].numeric[1]", "finite"},
		{"bad json.Number", map[string]any{"n": []any{json.Number("12x")}}, "n[0]", `"12x" is not a number`},
		{"Go struct value", map[string]any{"n": []any{struct{}{}}}, "n[0]", "Go type struct {}"},
		{"Go map type", map[string]any{"n": map[string]string{"a": "b"}}, "n", "Go type map[string]string"},
		{"typed map pattern", map[string][]any{"a": {"x"}}, "", "a pattern is an object"},
		{"empty []string", map[string]any{"n": []string{}}, "n", "empty array"},
		{"quoted key with quote", map[string]any{`it's`: "x"}, `'it\'s'`, "a field holds"},
		{"quoted key with backslash", map[string]any{`a\b`: "x"}, `'a\\b'`, "a field holds"},
		{"empty key", map[string]any{"": "x"}, `''`, "a field holds"},
		{"invalid UTF-8 string", map[string]any{"a": []any{"ok", map[string]any{"prefix": "\xff"}}}, "a[1].prefix", "valid UTF-8"},
		{"invalid UTF-8 key", map[string]any{"d": map[string]any{"\xfe": []any{1}}}, "d.\xfe", "key must be valid UTF-8"},
		{"invalid UTF-8 in []string", map[string]any{"a": []string{"x", "\xc0"}}, "a[1]", "valid UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := pattern.Compile(tc.pattern)
			var pe *pattern.Error
			if !errors.As(err, &pe) || !errors.Is(err, pattern.ErrInvalid) {
				t.Fatalf("Compile: %v, want a *pattern.Error wrapping ErrInvalid", err)
			}
			if pe.Path != tc.path || !strings.Contains(pe.Msg, tc.msg) {
				t.Errorf("error %q at %q, want %q at %q", pe.Msg, pe.Path, tc.msg, tc.path)
			}
		})
	}
}

// TestCompileDoesNotModify checks that Compile only reads its input.
func TestCompileDoesNotModify(t *testing.T) {
	text := `{"b":["y","x","x"],"$or":[{"z":[1]},{"a":[{"anything-but":["q","p"]}]}]}`
	v := decode(t, text, true)
	if _, err := pattern.Compile(v); err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(v)
	want, _ := json.Marshal(decode(t, text, true))
	if string(got) != string(want) {
		t.Errorf("Compile modified its input: %s, was %s", got, want)
	}
}

// TestCompileDepth refuses patterns nested more than MaxDepth objects deep,
// counting nested fields and $or alternatives alike.
func TestCompileDepth(t *testing.T) {
	nest := func(depth int, viaOr bool) any {
		var v any = map[string]any{"leaf": []any{"x"}}
		for range depth - 1 {
			if viaOr {
				v = map[string]any{"$or": []any{v, map[string]any{"b": []any{1}}}}
			} else {
				v = map[string]any{"a": v}
			}
		}
		return v
	}
	for _, viaOr := range []bool{false, true} {
		if _, err := pattern.Compile(nest(pattern.MaxDepth, viaOr)); err != nil {
			t.Errorf("depth %d (or: %v): %v", pattern.MaxDepth, viaOr, err)
		}
		_, err := pattern.Compile(nest(pattern.MaxDepth+1, viaOr))
		var pe *pattern.Error
		if !errors.As(err, &pe) || !strings.Contains(pe.Msg, "more than 64 deep") {
			t.Fatalf("depth %d (or: %v): %v, want a depth error", pattern.MaxDepth+1, viaOr, err)
		}
		want := strings.TrimSuffix(strings.Repeat("a.", pattern.MaxDepth), ".")
		if viaOr {
			want = strings.TrimSuffix(strings.Repeat("'$or'[0].", pattern.MaxDepth), ".")
		}
		if pe.Path != want {
			t.Errorf("Path = %s, want %s", pe.Path, want)
		}
	}
}
