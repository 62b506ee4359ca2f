package pattern

import (
	"encoding/json"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// matchMap matches the object against the event object m (nil: an absent or
// non-object value, which has no fields).
func (o *object) matchMap(m map[string]any) bool {
	for i := range o.fields {
		f := &o.fields[i]
		v, present := m[f.name]
		if f.obj != nil {
			if !f.obj.matchValue(v) {
				return false
			}
		} else if !f.matchLeaf(v, present) {
			return false
		}
	}
	if o.or == nil {
		return true
	}
	for _, a := range o.or {
		if a.matchMap(m) {
			return true
		}
	}
	return false
}

// matchValue matches a nested object against the event's value at its
// place: an array matches if one of its elements does (each element is
// matched whole, so fields matched together come from the same element); an
// empty array, a scalar or an absent value is an object without fields.
func (o *object) matchValue(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		return o.matchMap(x)
	case []any:
		if len(x) == 0 {
			return o.matchMap(nil)
		}
		for _, e := range x {
			if o.matchValue(e) {
				return true
			}
		}
		return false
	}
	return o.matchMap(nil)
}

// matchLeaf matches a leaf field against the event's value v (present: the
// event has the field). The leaf values of v are v itself if it is a
// scalar, or the scalars among the elements of an array, arrays within
// flattened; objects are not leaf values.
func (f *field) matchLeaf(v any, present bool) bool {
	if f.existsTrue || f.existsFalse {
		has := present && hasLeaf(v)
		if (has && f.existsTrue) || (!has && f.existsFalse) {
			return true
		}
	}
	if !present || (len(f.exacts) == 0 && len(f.ops) == 0) {
		return false
	}
	return f.anyLeaf(v)
}

func hasLeaf(v any) bool {
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			if hasLeaf(e) {
				return true
			}
		}
		return false
	case map[string]any:
		return false
	}
	_, ok := eventScalar(v)
	return ok
}

func (f *field) anyLeaf(v any) bool {
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			if f.anyLeaf(e) {
				return true
			}
		}
		return false
	case map[string]any:
		return false
	}
	s, ok := eventScalar(v)
	return ok && f.matchScalar(s)
}

func (f *field) matchScalar(s scalar) bool {
	if f.exactSet != nil {
		if _, ok := f.exactSet[s]; ok {
			return true
		}
	} else {
		for i := range f.exacts {
			if f.exacts[i] == s {
				return true
			}
		}
	}
	for i := range f.ops {
		if f.ops[i].match(s) {
			return true
		}
	}
	return false
}

// eventScalar converts an event's leaf value. A json.Number that does not
// parse is a number equal to nothing (NaN); one out of float64's range is
// an infinity.
func eventScalar(v any) (scalar, bool) {
	switch x := v.(type) {
	case nil:
		return scalar{k: kNull}, true
	case string:
		return scalar{k: kString, s: x}, true
	case bool:
		return scalar{k: kBool, b: x}, true
	case json.Number:
		n, err := strconv.ParseFloat(string(x), 64)
		if err != nil && !math.IsInf(n, 0) {
			n = math.NaN()
		}
		return numberScalar(n), true
	}
	if n, ok := goNumber(v); ok {
		return numberScalar(n), true
	}
	return scalar{}, false
}

func (m *matcher) match(s scalar) bool {
	switch m.kind {
	case opPrefix:
		return s.k == kString && strings.HasPrefix(s.s, m.str)
	case opSuffix:
		return s.k == kString && strings.HasSuffix(s.s, m.str)
	case opPrefixFold:
		return s.k == kString && hasPrefixFold(s.s, m.str)
	case opSuffixFold:
		return s.k == kString && hasSuffixFold(s.s, m.str)
	case opEqualFold:
		return s.k == kString && strings.EqualFold(s.s, m.str)
	case opWildcard:
		return s.k == kString && m.wc[0].match(s.s)
	case opNumeric:
		return s.k == kNumber && m.rng.contains(s.n)
	case opCIDR:
		if s.k != kString {
			return false
		}
		if !maybeIP(s.s) {
			return false // spare ParseAddr's error, which allocates
		}
		a, err := netip.ParseAddr(s.s)
		return err == nil && m.cidr.Contains(a.Unmap())
	case opNotValues:
		for i := range m.vals {
			if m.vals[i] == s {
				return false
			}
		}
		return true
	}
	// The anything-but string operators: a value that is not a string is
	// none of the excluded strings.
	if s.k != kString {
		return true
	}
	switch m.kind {
	case opNotPrefix:
		for _, p := range m.strs {
			if strings.HasPrefix(s.s, p) {
				return false
			}
		}
	case opNotSuffix:
		for _, p := range m.strs {
			if strings.HasSuffix(s.s, p) {
				return false
			}
		}
	case opNotEqualFold:
		for _, p := range m.strs {
			if strings.EqualFold(s.s, p) {
				return false
			}
		}
	case opNotWildcard:
		for i := range m.wc {
			if m.wc[i].match(s.s) {
				return false
			}
		}
	}
	return true
}

// hasPrefixFold reports whether s begins with a string equal to prefix
// under simple Unicode case folding (strings.EqualFold's rule), rune by
// rune.
func hasPrefixFold(s, prefix string) bool {
	for prefix != "" {
		if s == "" {
			return false
		}
		r1, n1 := utf8.DecodeRuneInString(s)
		r2, n2 := utf8.DecodeRuneInString(prefix)
		if !runeEqualFold(r1, n1, s, r2, n2, prefix) {
			return false
		}
		s, prefix = s[n1:], prefix[n2:]
	}
	return true
}

// hasSuffixFold is hasPrefixFold from the end.
func hasSuffixFold(s, suffix string) bool {
	for suffix != "" {
		if s == "" {
			return false
		}
		r1, n1 := utf8.DecodeLastRuneInString(s)
		r2, n2 := utf8.DecodeLastRuneInString(suffix)
		if !runeEqualFold(r1, n1, s[len(s)-n1:], r2, n2, suffix[len(suffix)-n2:]) {
			return false
		}
		s, suffix = s[:len(s)-n1], suffix[:len(suffix)-n2]
	}
	return true
}

// runeEqualFold compares two decoded runes; a and b start with their bytes,
// so that two different invalid bytes (both utf8.RuneError) differ.
func runeEqualFold(r1 rune, n1 int, a string, r2 rune, n2 int, b string) bool {
	if r1 == utf8.RuneError && n1 == 1 || r2 == utf8.RuneError && n2 == 1 {
		return n1 == n2 && a[0] == b[0]
	}
	if r1 == r2 {
		return true
	}
	for r := unicode.SimpleFold(r1); r != r1; r = unicode.SimpleFold(r) {
		if r == r2 {
			return true
		}
	}
	return false
}

// maybeIP reports whether s is made of the characters of an IP address
// without zone (netip.Prefix.Contains is false for zoned addresses).
func maybeIP(s string) bool {
	if len(s) < 2 || len(s) > 45 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f', c >= 'A' && c <= 'F', c == '.', c == ':':
		default:
			return false
		}
	}
	return true
}
