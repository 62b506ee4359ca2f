package pattern

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"
)

// ErrInvalid is the sentinel every Compile error wraps: errors.Is(err,
// ErrInvalid) tells a refused pattern from other failures. It is a value, not
// state: it is never modified.
var ErrInvalid = errors.New("pattern: invalid pattern")

// Error is a refused pattern: what is wrong and where. It unwraps to
// ErrInvalid. An Error is immutable once returned and safe to share between
// goroutines.
type Error struct {
	// Path is the position of the deepest offending element inside the
	// pattern: keys joined with ".", array indexes in brackets, as in
	// detail.price[0].numeric[2]. A key that holds any of . [ ] * $ ' \ (or
	// is empty) is written in single quotes, with ' and \ escaped by a
	// backslash ('$or'[1].event[0]), so "$." + Path is a YAML path for
	// github.com/goccy/go-yaml's PathString relative to the pattern's node.
	// Path is "" when the pattern itself is at fault (not an object).
	Path string
	// Msg describes the problem.
	Msg string
}

// Error returns "pattern: Path: Msg", or "pattern: Msg" when Path is empty.
func (e *Error) Error() string {
	if e.Path == "" {
		return "pattern: " + e.Msg
	}
	return "pattern: " + e.Path + ": " + e.Msg
}

// Unwrap returns ErrInvalid.
func (e *Error) Unwrap() error { return ErrInvalid }

func errorf(path, format string, args ...any) error {
	return &Error{Path: path, Msg: fmt.Sprintf(format, args...)}
}

// Pattern is a compiled event pattern. It is immutable: Match and String are
// safe for concurrent use by any number of goroutines. The zero value and a
// nil *Pattern match nothing.
type Pattern struct {
	root  *object
	canon string
}

// Compile checks and compiles a decoded pattern: a map[string]any whose
// values are nested objects (map[string]any) or arrays ([]any, or []string)
// of matchers, as encoding/json (with or without UseNumber) or a YAML decoder
// produce. Numbers may be json.Number or any Go integer or float type. The
// pattern is only read, never retained or modified. Keys and strings must be
// valid UTF-8.
//
// A refused pattern gives an *Error naming the deepest offending element,
// which wraps ErrInvalid. Keys are visited in sorted order, so the error for
// a pattern with several faults is always the same one.
func Compile(p any) (*Pattern, error) {
	m, ok := p.(map[string]any)
	if !ok {
		return nil, errorf("", "a pattern is an object, got %s", describe(p))
	}
	if err := checkUTF8(m, ""); err != nil {
		return nil, err
	}
	root, err := compileObject(m, "", 1)
	if err != nil {
		return nil, err
	}
	pat := &Pattern{root: root, canon: root.canon}
	root.dropCanon()
	return pat, nil
}

// dropCanon frees the canonical texts of the objects, needed only while
// compiling (each holds its children's).
func (o *object) dropCanon() {
	o.canon = ""
	for i := range o.fields {
		o.fields[i].canon = nil
		if f := o.fields[i].obj; f != nil {
			f.dropCanon()
		}
	}
	for _, a := range o.or {
		a.dropCanon()
	}
}

// String returns the pattern's canonical JSON form: keys sorted, each
// field's matchers deduplicated and sorted, $or alternatives sorted,
// anything-but operands always as lists, numbers in shortest form and
// "exactly" written as the plain string. Patterns that differ only in those
// respects have equal Strings, and Compile of the decoded String gives the
// same String again, so it serves as a definition hash input. A nil Pattern
// gives "".
func (p *Pattern) String() string {
	if p == nil {
		return ""
	}
	return p.canon
}

// Match reports whether the event matches the pattern. The event is a
// decoded JSON-like value (map[string]any at the top; []any, string,
// json.Number or any Go number type, bool and nil below); anything else is a
// value no matcher takes. Match only reads ev and is deterministic. It does
// not allocate for events of those types, except when a cidr matcher meets a
// string that looks like an address but does not parse.
func (p *Pattern) Match(ev any) bool {
	if p == nil || p.root == nil {
		return false
	}
	m, _ := ev.(map[string]any)
	return p.root.matchMap(m)
}

// object is a compiled pattern object: every field must match (AND), and if
// there are alternatives, at least one of them must match too.
type object struct {
	fields []field   // sorted by name
	or     []*object // nil, or at least two alternatives sorted by canon
	canon  string    // canonical JSON, while compiling
}

// field is one named field of an object: a nested object, or a leaf holding
// matchers.
type field struct {
	name string
	obj  *object // nested object; nil for a leaf

	// Leaf matchers: any of them matching is enough (OR).
	exacts      []scalar // exact values
	exactSet    map[scalar]struct{}
	ops         []matcher
	existsTrue  bool
	existsFalse bool
	canon       []string // each matcher's canonical JSON, sorted, deduplicated, while compiling
}

// exactOnly reports whether the field is a leaf whose matchers are all exact
// values: an event can match it only through one of those values.
func (f *field) exactOnly() bool {
	return f.obj == nil && len(f.exacts) > 0 && len(f.ops) == 0 && !f.existsTrue && !f.existsFalse
}

// leaf returns the object's leaf field called name, or nil.
func (o *object) leaf(name string) *field {
	i, ok := slices.BinarySearchFunc(o.fields, name, func(f field, n string) int { return strings.Compare(f.name, n) })
	if !ok || o.fields[i].obj != nil {
		return nil
	}
	return &o.fields[i]
}

type scalarKind uint8

const (
	kNull scalarKind = iota + 1
	kBool
	kNumber
	kString
)

// scalar is a JSON leaf value, comparable so that it can key a map. Unused
// fields are zero; numbers are float64 with -0 folded into 0.
type scalar struct {
	k scalarKind
	b bool
	n float64
	s string
}

type opKind uint8

const (
	opPrefix opKind = iota
	opSuffix
	opPrefixFold
	opSuffixFold
	opEqualFold
	opWildcard
	opNumeric
	opCIDR
	opNotValues // anything-but: a list of exact values (all strings or all numbers)
	opNotPrefix
	opNotSuffix
	opNotEqualFold
	opNotWildcard
)

// matcher is a compiled operator other than an exact value or exists.
type matcher struct {
	kind opKind
	str  string     // prefix, suffix, equals-ignore-case operand
	strs []string   // anything-but prefix/suffix/equals-ignore-case operands
	wc   []wildcard // wildcard (one) or anything-but wildcard (several) operands
	vals []scalar   // anything-but values
	rng  numRange
	cidr netip.Prefix
}

// numRange is lo (<|<=) v (<|<=) hi; an absent bound is an infinity.
type numRange struct {
	lo, hi         float64
	loIncl, hiIncl bool
}

func (r *numRange) contains(v float64) bool {
	if v < r.lo || (v == r.lo && !r.loIncl) || math.IsNaN(v) {
		return false
	}
	return v < r.hi || (v == r.hi && r.hiIncl)
}

// wildcard is a compiled wildcard operand: the literal parts between its
// unescaped stars (one part: no star).
type wildcard struct {
	src   string
	parts []string
}

func (w *wildcard) match(s string) bool {
	p := w.parts
	if len(p) == 1 {
		return s == p[0]
	}
	first, last := p[0], p[len(p)-1]
	if len(s) < len(first)+len(last) || !strings.HasPrefix(s, first) || !strings.HasSuffix(s, last) {
		return false
	}
	s = s[len(first) : len(s)-len(last)]
	// Leftmost placement of each middle part leaves the most room for the
	// next: with * as the only wildcard, greedy search is exact.
	for _, mid := range p[1 : len(p)-1] {
		i := strings.Index(s, mid)
		if i < 0 {
			return false
		}
		s = s[i+len(mid):]
	}
	return true
}
