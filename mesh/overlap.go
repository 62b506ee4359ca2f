package mesh

import (
	"errors"
	"slices"
	"strings"
	"unicode/utf8"
)

// Overlap reports whether some landing key matches both key patterns, and
// returns the shortest such key it finds as the example: two feeds whose
// patterns overlap both claim that file, so which one takes it would depend
// on the order the feeds are tried in.
//
// The check is exact, not a heuristic: a pattern is a regular language over
// the key's characters ("/"-separated segments, each a path.Match pattern,
// or "**" for any number of whole segments), and Overlap searches the
// product of the two patterns for a key both accept — segment by segment,
// and within a segment character by character, where a character class,
// "?" or "*" stands for a set of runes and two sets meet if they share one.
// So disjoint patterns never report an overlap, and overlapping ones always
// do, with an example key that matches both (FeedFor takes it). A malformed
// pattern is an error.
func Overlap(a, b string) (key string, ok bool, err error) {
	// First with every "*" taking at least one rune, for an example that
	// reads like a file name ("trades/a.csv", not "trades/.csv"); those
	// keys match the patterns too. Then the patterns as they are, which
	// decides.
	for _, nonEmpty := range []bool{true, false} {
		pa, err := compileKeyPattern(a, nonEmpty)
		if err != nil {
			return "", false, err
		}
		pb, err := compileKeyPattern(b, nonEmpty)
		if err != nil {
			return "", false, err
		}
		if segs, ok := overlapSegments(pa, pb); ok {
			return strings.Join(segs, "/"), true, nil
		}
	}
	return "", false, nil
}

// keySegment is one compiled segment of a key pattern; any is set for
// "**".
type keySegment struct {
	any   bool
	atoms []atom
}

// atom is one element of a segment pattern: star (any run of runes), or
// one rune of set.
type atom struct {
	star bool
	set  runeSet
}

// compileKeyPattern compiles a key pattern; with nonEmpty, a "*" matches
// one rune or more.
func compileKeyPattern(p string, nonEmpty bool) ([]keySegment, error) {
	if err := checkPattern(p); err != nil {
		return nil, err
	}
	var out []keySegment
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "**" {
			out = append(out, keySegment{any: true})
			continue
		}
		atoms, err := compileSegment(seg)
		if err != nil {
			return nil, err
		}
		if nonEmpty {
			var plus []atom
			for _, a := range atoms {
				if a.star {
					plus = append(plus, atom{set: anyRune})
				}
				plus = append(plus, a)
			}
			atoms = plus
		}
		out = append(out, keySegment{atoms: atoms})
	}
	return out, nil
}

var errBadPattern = errors.New("mesh: malformed key pattern")

// compileSegment compiles one path.Match pattern (no "/").
func compileSegment(s string) ([]atom, error) {
	var out []atom
	for len(s) > 0 {
		switch s[0] {
		case '*':
			out = append(out, atom{star: true})
			s = s[1:]
		case '?':
			out = append(out, atom{set: anyRune})
			s = s[1:]
		case '[':
			set, rest, err := compileClass(s[1:])
			if err != nil {
				return nil, err
			}
			out = append(out, atom{set: set})
			s = rest
		case '\\':
			if len(s) < 2 {
				return nil, errBadPattern
			}
			r, n := utf8.DecodeRuneInString(s[1:])
			out = append(out, atom{set: runeSet{{r, r}}.minusSlash()})
			s = s[1+n:]
		default:
			r, n := utf8.DecodeRuneInString(s)
			out = append(out, atom{set: runeSet{{r, r}}})
			s = s[n:]
		}
	}
	return out, nil
}

// compileClass compiles a character class after its "[", as path.Match
// reads it: an optional "^", then one or more ranges lo-hi or single
// runes ("\" escaping), then "]"; it returns the rest of the pattern.
func compileClass(s string) (runeSet, string, error) {
	negate := strings.HasPrefix(s, "^")
	if negate {
		s = s[1:]
	}
	var set runeSet
	for len(set) == 0 || !strings.HasPrefix(s, "]") {
		lo, rest, err := classRune(s)
		if err != nil {
			return nil, "", err
		}
		hi := lo
		if strings.HasPrefix(rest, "-") {
			if hi, rest, err = classRune(rest[1:]); err != nil {
				return nil, "", err
			}
			if hi < lo {
				return nil, "", errBadPattern
			}
		}
		set = append(set, runeRange{lo, hi})
		s = rest
	}
	s = s[1:]
	if negate {
		return set.complement().minusSlash(), s, nil
	}
	return set.normalize().minusSlash(), s, nil
}

// classRune reads one rune of a class, "\" escaping.
func classRune(s string) (rune, string, error) {
	if len(s) == 0 || s[0] == '-' || s[0] == ']' {
		return 0, "", errBadPattern
	}
	if s[0] == '\\' {
		s = s[1:]
		if len(s) == 0 {
			return 0, "", errBadPattern
		}
	}
	r, n := utf8.DecodeRuneInString(s)
	return r, s[n:], nil
}

// runeRange is the inclusive range lo..hi.
type runeRange struct{ lo, hi rune }

// runeSet is a union of rune ranges; normalized, they are sorted and
// disjoint.
type runeSet []runeRange

// anyRune is every rune a key segment can hold: any but "/".
var anyRune = runeSet{{0, utf8.MaxRune}}.minusSlash()

func (s runeSet) normalize() runeSet {
	out := slices.Clone(s)
	slices.SortFunc(out, func(a, b runeRange) int { return int(a.lo - b.lo) })
	var merged runeSet
	for _, r := range out {
		if n := len(merged); n > 0 && r.lo <= merged[n-1].hi+1 {
			merged[n-1].hi = max(merged[n-1].hi, r.hi)
			continue
		}
		merged = append(merged, r)
	}
	return merged
}

func (s runeSet) complement() runeSet {
	var out runeSet
	next := rune(0)
	for _, r := range s.normalize() {
		if r.lo > next {
			out = append(out, runeRange{next, r.lo - 1})
		}
		next = r.hi + 1
	}
	if next <= utf8.MaxRune {
		out = append(out, runeRange{next, utf8.MaxRune})
	}
	return out
}

// minusSlash removes "/", which no segment holds.
func (s runeSet) minusSlash() runeSet {
	var out runeSet
	for _, r := range s.normalize() {
		switch {
		case r.hi < '/' || r.lo > '/':
			out = append(out, r)
		default:
			if r.lo < '/' {
				out = append(out, runeRange{r.lo, '/' - 1})
			}
			if r.hi > '/' {
				out = append(out, runeRange{'/' + 1, r.hi})
			}
		}
	}
	return out
}

// meet returns a rune in both sets, preferring a readable one (a lower
// case letter or a digit, then the lowest); ok is false if they are
// disjoint.
func (s runeSet) meet(t runeSet) (rune, bool) {
	var common runeSet
	for _, a := range s {
		for _, b := range t {
			if lo, hi := max(a.lo, b.lo), min(a.hi, b.hi); lo <= hi {
				common = append(common, runeRange{lo, hi})
			}
		}
	}
	if len(common) == 0 {
		return 0, false
	}
	for _, want := range []runeRange{{'a', 'z'}, {'0', '9'}} {
		for _, c := range common {
			if lo, hi := max(c.lo, want.lo), min(c.hi, want.hi); lo <= hi {
				return lo, true
			}
		}
	}
	return common.normalize()[0].lo, true
}

// overlapSegments searches the product of two compiled patterns, breadth
// first, for a sequence of segments both accept; it returns the first one
// found.
func overlapSegments(a, b []keySegment) ([]string, bool) {
	type state struct{ i, j int }
	type from struct {
		prev state
		seg  string
		eps  bool // no segment consumed
	}
	seen := map[state]from{{0, 0}: {}}
	queue := []state{{0, 0}}
	step := func(cur, next state, seg string, eps bool) {
		if _, ok := seen[next]; !ok {
			seen[next] = from{prev: cur, seg: seg, eps: eps}
			queue = append(queue, next)
		}
	}
	end := state{len(a), len(b)}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		if cur == end {
			var segs []string
			for s := cur; s != (state{0, 0}); s = seen[s].prev {
				if f := seen[s]; !f.eps {
					segs = append(segs, f.seg)
				}
			}
			slices.Reverse(segs)
			return segs, true
		}
		var sa, sb *keySegment
		if cur.i < len(a) {
			sa = &a[cur.i]
		}
		if cur.j < len(b) {
			sb = &b[cur.j]
		}
		// "**" may match no segment at all.
		if sa != nil && sa.any {
			step(cur, state{cur.i + 1, cur.j}, "", true)
		}
		if sb != nil && sb.any {
			step(cur, state{cur.i, cur.j + 1}, "", true)
		}
		switch {
		case sa == nil || sb == nil:
		case sa.any && !sb.any:
			// "**" takes one segment the other's segment matches.
			if seg, ok := overlapAtoms(sb.atoms, sb.atoms); ok {
				step(cur, state{cur.i, cur.j + 1}, seg, false)
			}
		case sb.any && !sa.any:
			if seg, ok := overlapAtoms(sa.atoms, sa.atoms); ok {
				step(cur, state{cur.i + 1, cur.j}, seg, false)
			}
		case !sa.any && !sb.any:
			if seg, ok := overlapAtoms(sa.atoms, sb.atoms); ok {
				step(cur, state{cur.i + 1, cur.j + 1}, seg, false)
			}
		}
	}
	return nil, false
}

// overlapAtoms searches the product of two segment patterns for a segment
// both match; it returns the first (shortest) one found.
func overlapAtoms(a, b []atom) (string, bool) {
	type state struct{ i, j int }
	type from struct {
		prev state
		r    rune
		eps  bool
	}
	seen := map[state]from{{0, 0}: {}}
	queue := []state{{0, 0}}
	step := func(cur, next state, r rune, eps bool) {
		if _, ok := seen[next]; !ok {
			seen[next] = from{prev: cur, r: r, eps: eps}
			queue = append(queue, next)
		}
	}
	end := state{len(a), len(b)}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		if cur == end {
			var rs []rune
			for s := cur; s != (state{0, 0}); s = seen[s].prev {
				if f := seen[s]; !f.eps {
					rs = append(rs, f.r)
				}
			}
			slices.Reverse(rs)
			return string(rs), true
		}
		// A star may match nothing.
		if cur.i < len(a) && a[cur.i].star {
			step(cur, state{cur.i + 1, cur.j}, 0, true)
		}
		if cur.j < len(b) && b[cur.j].star {
			step(cur, state{cur.i, cur.j + 1}, 0, true)
		}
		if cur.i == len(a) || cur.j == len(b) {
			continue
		}
		// Both take one rune: a star stays where it is, anything else
		// moves on.
		setA, nextI := a[cur.i].set, cur.i+1
		if a[cur.i].star {
			setA, nextI = anyRune, cur.i
		}
		setB, nextJ := b[cur.j].set, cur.j+1
		if b[cur.j].star {
			setB, nextJ = anyRune, cur.j
		}
		if r, ok := setA.meet(setB); ok {
			step(cur, state{nextI, nextJ}, r, false)
		}
	}
	return "", false
}
