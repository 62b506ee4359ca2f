package pattern

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// orKey is the key of the alternatives of an object.
const orKey = "$or"

// MaxDepth is how deeply objects may nest in a pattern (nested fields and
// $or alternatives each count a level). Deeper patterns are refused: every
// level costs time and memory in proportion to what it holds.
const MaxDepth = 64

// exactSetMin is the number of exact values from which a field looks values
// up in a map rather than scanning them.
const exactSetMin = 16

func compileObject(m map[string]any, path string, depth int) (*object, error) {
	if depth > MaxDepth {
		return nil, errorf(path, "the pattern nests objects more than %d deep", MaxDepth)
	}
	if len(m) == 0 {
		return nil, errorf(path, "an empty object matches nothing in particular: name at least one field")
	}
	o := &object{}
	for _, k := range sortedKeys(m) {
		v := m[k]
		kp := joinKey(path, k)
		if k == orKey {
			alts, err := compileOr(v, kp, depth)
			if err != nil {
				return nil, err
			}
			o.or = alts
			continue
		}
		switch x := v.(type) {
		case map[string]any:
			sub, err := compileObject(x, kp, depth+1)
			if err != nil {
				return nil, err
			}
			o.fields = append(o.fields, field{name: k, obj: sub})
		case []any:
			f, err := compileLeaf(k, x, kp)
			if err != nil {
				return nil, err
			}
			o.fields = append(o.fields, f)
		case []string:
			arr := make([]any, len(x))
			for i, s := range x {
				arr[i] = s
			}
			f, err := compileLeaf(k, arr, kp)
			if err != nil {
				return nil, err
			}
			o.fields = append(o.fields, f)
		default:
			hint := ""
			switch v.(type) {
			case string, bool, nil, json.Number:
				hint = " (write [" + sample(v) + "])"
			default:
				if _, ok := goNumber(v); ok {
					hint = " (write [" + sample(v) + "])"
				}
			}
			return nil, errorf(kp, "a field holds an array of matchers or a nested object, got %s%s", describe(v), hint)
		}
	}
	o.canon = string(o.appendJSON(nil))
	return o, nil
}

func compileOr(v any, path string, depth int) ([]*object, error) {
	arr, ok := v.([]any)
	if !ok {
		return nil, errorf(path, "$or holds an array of at least two pattern objects, got %s", describe(v))
	}
	if len(arr) < 2 {
		return nil, errorf(path, "$or holds at least two alternatives, got %d", len(arr))
	}
	alts := make([]*object, 0, len(arr))
	for i, a := range arr {
		m, ok := a.(map[string]any)
		if !ok {
			return nil, errorf(indexPath(path, i), "an $or alternative is a pattern object, got %s", describe(a))
		}
		o, err := compileObject(m, indexPath(path, i), depth+1)
		if err != nil {
			return nil, err
		}
		alts = append(alts, o)
	}
	slices.SortStableFunc(alts, func(a, b *object) int { return strings.Compare(a.canon, b.canon) })
	return alts, nil
}

// item is one compiled entry of a leaf array, before deduplication.
type item struct {
	canon  string
	exact  *scalar
	exists *bool
	op     *matcher
}

func compileLeaf(name string, arr []any, path string) (field, error) {
	f := field{name: name}
	if len(arr) == 0 {
		return f, errorf(path, "an empty array matches nothing: give at least one matcher")
	}
	items := make([]item, 0, len(arr))
	for i, v := range arr {
		ip := indexPath(path, i)
		switch x := v.(type) {
		case map[string]any:
			it, err := compileMatcher(x, ip)
			if err != nil {
				return f, err
			}
			items = append(items, it)
		case []any, []string:
			return f, errorf(ip, "a matcher is a value or an object with one operator, got an array")
		default:
			s, err := patternScalar(v, ip)
			if err != nil {
				return f, err
			}
			items = append(items, item{canon: scalarJSON(s), exact: &s})
		}
	}
	slices.SortStableFunc(items, func(a, b item) int { return strings.Compare(a.canon, b.canon) })
	items = slices.CompactFunc(items, func(a, b item) bool { return a.canon == b.canon })
	for _, it := range items {
		f.canon = append(f.canon, it.canon)
		switch {
		case it.exact != nil:
			f.exacts = append(f.exacts, *it.exact)
		case it.exists != nil:
			if *it.exists {
				f.existsTrue = true
			} else {
				f.existsFalse = true
			}
		default:
			f.ops = append(f.ops, *it.op)
		}
	}
	if len(f.exacts) >= exactSetMin {
		f.exactSet = make(map[scalar]struct{}, len(f.exacts))
		for _, s := range f.exacts {
			f.exactSet[s] = struct{}{}
		}
	}
	return f, nil
}

// patternScalar converts an exact value of a pattern.
func patternScalar(v any, path string) (scalar, error) {
	switch x := v.(type) {
	case nil:
		return scalar{k: kNull}, nil
	case bool:
		return scalar{k: kBool, b: x}, nil
	case string:
		return scalar{k: kString, s: x}, nil
	}
	n, ok, err := patternNumber(v)
	if err != nil {
		return scalar{}, errorf(path, "%v", err)
	}
	if !ok {
		return scalar{}, errorf(path, "a matcher is a string, number, boolean, null or an operator object, got %s", describe(v))
	}
	return numberScalar(n), nil
}

func numberScalar(n float64) scalar {
	if n == 0 {
		n = 0 // fold -0
	}
	return scalar{k: kNumber, n: n}
}

// patternNumber converts a number of a pattern: ok is false when v is not a
// number; err is set when it is one but not a finite float64.
func patternNumber(v any) (n float64, ok bool, err error) {
	switch x := v.(type) {
	case json.Number:
		n, err = strconv.ParseFloat(string(x), 64)
		if err != nil {
			if errors.Is(err, strconv.ErrRange) {
				return 0, true, fmt.Errorf("number %s is out of range", x)
			}
			return 0, true, fmt.Errorf("%q is not a number", string(x))
		}
	default:
		n, ok = goNumber(v)
		if !ok {
			return 0, false, nil
		}
	}
	if math.IsNaN(n) || math.IsInf(n, 0) {
		return 0, true, fmt.Errorf("a number must be finite, got %v", n)
	}
	if n == 0 {
		n = 0 // fold -0
	}
	return n, true, nil
}

// goNumber converts Go's number types (not json.Number).
func goNumber(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int8:
		return float64(x), true
	case int16:
		return float64(x), true
	case int32:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint:
		return float64(x), true
	case uint8:
		return float64(x), true
	case uint16:
		return float64(x), true
	case uint32:
		return float64(x), true
	case uint64:
		return float64(x), true
	case uintptr:
		return float64(x), true
	}
	return 0, false
}

const operators = "anything-but, cidr, equals-ignore-case, exactly, exists, numeric, prefix, suffix, wildcard"

func compileMatcher(m map[string]any, path string) (item, error) {
	if len(m) != 1 {
		if len(m) == 0 {
			return item{}, errorf(path, "an empty matcher object: give one operator (%s)", operators)
		}
		return item{}, errorf(path, "a matcher object holds exactly one operator, got %d: %s", len(m), strings.Join(sortedKeys(m), ", "))
	}
	var op string
	var v any
	for op, v = range m {
	}
	opPath := joinKey(path, op)
	mk := func(mt matcher) (item, error) {
		return item{canon: matcherJSON(&mt), op: &mt}, nil
	}
	switch op {
	case "exactly":
		s, ok := v.(string)
		if !ok {
			return item{}, errorf(opPath, "exactly takes a string, got %s", describe(v))
		}
		sc := scalar{k: kString, s: s}
		return item{canon: scalarJSON(sc), exact: &sc}, nil
	case "prefix", "suffix":
		plain, fold := opPrefix, opPrefixFold
		if op == "suffix" {
			plain, fold = opSuffix, opSuffixFold
		}
		switch x := v.(type) {
		case string:
			return mk(matcher{kind: plain, str: x})
		case map[string]any:
			s, err := foldOperand(x, opPath, op)
			if err != nil {
				return item{}, err
			}
			return mk(matcher{kind: fold, str: s})
		}
		return item{}, errorf(opPath, "%s takes a string or {\"equals-ignore-case\": string}, got %s", op, describe(v))
	case "equals-ignore-case":
		s, ok := v.(string)
		if !ok {
			return item{}, errorf(opPath, "equals-ignore-case takes a string, got %s", describe(v))
		}
		return mk(matcher{kind: opEqualFold, str: s})
	case "wildcard":
		s, ok := v.(string)
		if !ok {
			return item{}, errorf(opPath, "wildcard takes a string, got %s", describe(v))
		}
		w, err := compileWildcard(s)
		if err != nil {
			return item{}, errorf(opPath, "%v", err)
		}
		return mk(matcher{kind: opWildcard, wc: []wildcard{w}})
	case "numeric":
		r, err := compileNumeric(v, opPath)
		if err != nil {
			return item{}, err
		}
		return mk(matcher{kind: opNumeric, rng: r})
	case "exists":
		b, ok := v.(bool)
		if !ok {
			return item{}, errorf(opPath, "exists takes true or false, got %s", describe(v))
		}
		return item{canon: `{"exists":` + strconv.FormatBool(b) + `}`, exists: &b}, nil
	case "cidr":
		s, ok := v.(string)
		if !ok {
			return item{}, errorf(opPath, "cidr takes a string such as \"10.0.0.0/24\", got %s", describe(v))
		}
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			return item{}, errorf(opPath, "%v", err)
		}
		return mk(matcher{kind: opCIDR, cidr: pfx.Masked()})
	case "anything-but":
		mt, err := compileAnythingBut(v, opPath)
		if err != nil {
			return item{}, err
		}
		return mk(mt)
	}
	return item{}, errorf(opPath, "unknown operator %q (want one of %s)", op, operators)
}

// foldOperand reads {"equals-ignore-case": "s"} under prefix or suffix.
func foldOperand(m map[string]any, path, op string) (string, error) {
	if len(m) != 1 {
		return "", errorf(path, "%s takes a string or an object with the one key equals-ignore-case, got %d keys", op, len(m))
	}
	var k string
	var v any
	for k, v = range m {
	}
	if k != "equals-ignore-case" {
		return "", errorf(joinKey(path, k), "unknown %s operator %q (want equals-ignore-case)", op, k)
	}
	s, ok := v.(string)
	if !ok {
		return "", errorf(joinKey(path, k), "equals-ignore-case takes a string, got %s", describe(v))
	}
	return s, nil
}

// compileNumeric reads [op, n] or [lower-op, n, upper-op, m] (lower-op one
// of > >=, upper-op one of < <=), as EventBridge does: = and an upper bound
// stand alone, and a range names its lower bound first.
func compileNumeric(v any, path string) (numRange, error) {
	r := numRange{lo: math.Inf(-1), hi: math.Inf(1), loIncl: true, hiIncl: true}
	arr, ok := v.([]any)
	if !ok {
		return r, errorf(path, "numeric takes an array such as [\">\", 0, \"<=\", 5], got %s", describe(v))
	}
	if len(arr) == 0 {
		return r, errorf(path, "numeric takes one or two comparisons, got an empty array")
	}
	operand := func(i int, op string) (float64, error) {
		if i >= len(arr) {
			return 0, errorf(path, "%q needs a number after it", op)
		}
		n, ok, err := patternNumber(arr[i])
		if err != nil {
			return 0, errorf(indexPath(path, i), "%v", err)
		}
		if !ok {
			return 0, errorf(indexPath(path, i), "the operand of %q is a number, got %s", op, describe(arr[i]))
		}
		return n, nil
	}
	op, ok := arr[0].(string)
	if !ok {
		return r, errorf(indexPath(path, 0), "a comparison starts with an operator (=, <, <=, >, >=), got %s", describe(arr[0]))
	}
	n, err := func() (float64, error) {
		switch op {
		case "=", "<", "<=", ">", ">=":
			return operand(1, op)
		}
		return 0, errorf(indexPath(path, 0), "unknown numeric operator %q (want =, <, <=, >, >=)", op)
	}()
	if err != nil {
		return r, err
	}
	switch op {
	case "=":
		r.lo, r.hi = n, n
	case "<", "<=":
		r.hi, r.hiIncl = n, op == "<="
	case ">", ">=":
		r.lo, r.loIncl = n, op == ">="
	}
	if len(arr) == 2 {
		return r, nil
	}
	if op == "=" || op == "<" || op == "<=" {
		return r, errorf(indexPath(path, 2), "nothing may follow %q: a range names its lower bound first, as in [\">\", 0, \"<=\", 5]", op)
	}
	op2, ok := arr[2].(string)
	if !ok {
		return r, errorf(indexPath(path, 2), "the second comparison starts with an operator (< or <=), got %s", describe(arr[2]))
	}
	if op2 != "<" && op2 != "<=" {
		return r, errorf(indexPath(path, 2), "the second comparison of a range is an upper bound (< or <=), got %q", op2)
	}
	top, err := operand(3, op2)
	if err != nil {
		return r, err
	}
	if len(arr) > 4 {
		return r, errorf(indexPath(path, 4), "numeric takes at most two comparisons, got %d elements", len(arr))
	}
	if top <= r.lo {
		return r, errorf(indexPath(path, 3), "the upper bound %v is not above the lower bound %v", top, r.lo)
	}
	r.hi, r.hiIncl = top, op2 == "<="
	return r, nil
}

// compileAnythingBut reads the operand of anything-but: a string or number,
// a list of strings or of numbers, or an object {prefix|suffix|
// equals-ignore-case|wildcard: string or list of strings}.
func compileAnythingBut(v any, path string) (matcher, error) {
	if m, ok := v.(map[string]any); ok {
		return compileAnythingButOp(m, path)
	}
	var vals []scalar
	addOne := func(x any, p string) error {
		switch x.(type) {
		case nil, bool:
			return errorf(p, "anything-but takes strings or numbers, got %s", describe(x))
		case string:
			vals = append(vals, scalar{k: kString, s: x.(string)})
			return nil
		}
		n, ok, err := patternNumber(x)
		if err != nil {
			return errorf(p, "%v", err)
		}
		if !ok {
			return errorf(p, "anything-but takes strings or numbers, got %s", describe(x))
		}
		vals = append(vals, numberScalar(n))
		return nil
	}
	switch x := v.(type) {
	case []any:
		if len(x) == 0 {
			return matcher{}, errorf(path, "anything-but takes a non-empty list, got an empty one")
		}
		for i, e := range x {
			if err := addOne(e, indexPath(path, i)); err != nil {
				return matcher{}, err
			}
			if vals[len(vals)-1].k != vals[0].k {
				return matcher{}, errorf(indexPath(path, i), "an anything-but list holds only strings or only numbers, not both")
			}
		}
	case []string:
		if len(x) == 0 {
			return matcher{}, errorf(path, "anything-but takes a non-empty list, got an empty one")
		}
		for _, s := range x {
			vals = append(vals, scalar{k: kString, s: s})
		}
	default:
		if err := addOne(v, path); err != nil {
			return matcher{}, err
		}
	}
	slices.SortFunc(vals, compareScalar)
	vals = slices.Compact(vals)
	return matcher{kind: opNotValues, vals: vals}, nil
}

func compileAnythingButOp(m map[string]any, path string) (matcher, error) {
	if len(m) != 1 {
		return matcher{}, errorf(path, "an anything-but object holds exactly one of prefix, suffix, equals-ignore-case, wildcard; got %d keys", len(m))
	}
	var k string
	var v any
	for k, v = range m {
	}
	kp := joinKey(path, k)
	var kind opKind
	switch k {
	case "prefix":
		kind = opNotPrefix
	case "suffix":
		kind = opNotSuffix
	case "equals-ignore-case":
		kind = opNotEqualFold
	case "wildcard":
		kind = opNotWildcard
	default:
		return matcher{}, errorf(kp, "unknown anything-but operator %q (want prefix, suffix, equals-ignore-case or wildcard)", k)
	}
	var strs []string
	one := func(x any, p string) error {
		s, ok := x.(string)
		if !ok {
			return errorf(p, "anything-but %s takes strings, got %s", k, describe(x))
		}
		if s == "" && (kind == opNotPrefix || kind == opNotSuffix) {
			return errorf(p, "anything-but %s takes a non-empty string (an empty one excludes every string)", k)
		}
		if kind == opNotWildcard {
			if _, err := compileWildcard(s); err != nil {
				return errorf(p, "%v", err)
			}
		}
		strs = append(strs, s)
		return nil
	}
	switch x := v.(type) {
	case []any:
		if len(x) == 0 {
			return matcher{}, errorf(kp, "anything-but %s takes a non-empty list, got an empty one", k)
		}
		for i, e := range x {
			if err := one(e, indexPath(kp, i)); err != nil {
				return matcher{}, err
			}
		}
	case []string:
		if len(x) == 0 {
			return matcher{}, errorf(kp, "anything-but %s takes a non-empty list, got an empty one", k)
		}
		for i, e := range x {
			if err := one(e, indexPath(kp, i)); err != nil {
				return matcher{}, err
			}
		}
	default:
		if err := one(v, kp); err != nil {
			return matcher{}, err
		}
	}
	slices.Sort(strs)
	strs = slices.Compact(strs)
	mt := matcher{kind: kind, strs: strs}
	if kind == opNotWildcard {
		for _, s := range strs {
			w, _ := compileWildcard(s) // checked by one
			mt.wc = append(mt.wc, w)
		}
		mt.strs = nil
	}
	return mt, nil
}

// compileWildcard reads a wildcard operand: * matches any run of characters
// (none included); \* is a literal star and \\ a literal backslash; two
// stars in a row and any other backslash are refused, as in EventBridge.
func compileWildcard(src string) (wildcard, error) {
	w := wildcard{src: src}
	var cur strings.Builder
	for i := 0; i < len(src); i++ {
		switch c := src[i]; c {
		case '*':
			if i+1 < len(src) && src[i+1] == '*' {
				return w, fmt.Errorf("consecutive wildcard characters at byte %d of %q", i, src)
			}
			w.parts = append(w.parts, cur.String())
			cur.Reset()
		case '\\':
			if i+1 < len(src) && (src[i+1] == '*' || src[i+1] == '\\') {
				cur.WriteByte(src[i+1])
				i++
				continue
			}
			return w, fmt.Errorf("invalid escape at byte %d of %q: a backslash escapes only * or \\", i, src)
		default:
			cur.WriteByte(c)
		}
	}
	w.parts = append(w.parts, cur.String())
	return w, nil
}

func compareScalar(a, b scalar) int {
	if a.k != b.k {
		return int(a.k) - int(b.k)
	}
	switch a.k {
	case kBool:
		switch {
		case a.b == b.b:
			return 0
		case !a.b:
			return -1
		}
		return 1
	case kNumber:
		switch {
		case a.n < b.n:
			return -1
		case a.n > b.n:
			return 1
		}
		return 0
	case kString:
		return strings.Compare(a.s, b.s)
	}
	return 0
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// joinKey appends key k to path; see Error.Path for the quoting.
func joinKey(path, k string) string {
	if k == "" || strings.ContainsAny(k, ".[]*$'\\") {
		r := strings.NewReplacer(`\`, `\\`, `'`, `\'`)
		k = "'" + r.Replace(k) + "'"
	}
	if path == "" {
		return k
	}
	return path + "." + k
}

func indexPath(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// checkUTF8 refuses keys and strings that are not valid UTF-8 anywhere in
// the pattern: the canonical JSON form could not hold them.
func checkUTF8(v any, path string) error {
	switch x := v.(type) {
	case string:
		if !utf8.ValidString(x) {
			return errorf(path, "a string must be valid UTF-8, got %q", x)
		}
	case []string:
		for i, s := range x {
			if err := checkUTF8(s, indexPath(path, i)); err != nil {
				return err
			}
		}
	case []any:
		for i, e := range x {
			if err := checkUTF8(e, indexPath(path, i)); err != nil {
				return err
			}
		}
	case map[string]any:
		for _, k := range sortedKeys(x) {
			if !utf8.ValidString(k) {
				return errorf(joinKey(path, k), "a key must be valid UTF-8, got %q", k)
			}
			if err := checkUTF8(x[k], joinKey(path, k)); err != nil {
				return err
			}
		}
	}
	return nil
}

// describe names the JSON type of v for an error message.
func describe(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case []any, []string:
		return "an array"
	case map[string]any:
		return "an object"
	}
	if _, ok := goNumber(v); ok {
		return "a number"
	}
	return fmt.Sprintf("a value of Go type %T", v)
}

// sample renders a scalar for a "write [x]" hint.
func sample(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case nil:
		return "null"
	}
	return fmt.Sprint(v)
}
