// Package validate turns parsed records into typed rows: a feed's Avro
// contract and rules are compiled once into a Validator, which types every
// field of a record from its text and checks the rules, giving either a row
// or the reasons the record is rejected.
//
// # Typing
//
// Rows are []any aligned with the schema's fields, in schema order, with
// the Go types docs/ingestion.md fixes:
//
//	string                         string (must be valid UTF-8, without control characters; see below)
//	bytes                          []byte (the text's bytes, no decoding)
//	boolean                        bool: true/false, t/f, yes/no, y/n, 1/0, any case
//	int, long                      int32, int64: base-10 integers (strconv, sign allowed), range-checked
//	float, double                  float32, float64: strconv syntax, finite only (no NaN, Inf or overflow)
//	long timestamp-micros/-millis  time.Time in UTC, truncated to the type's precision,
//	                               read with the feed's timestamp_layouts (default RFC 3339 with
//	                               optional fractional seconds, and "2006-01-02 15:04:05";
//	                               a layout without a zone reads UTC)
//	int date                       time.Time at midnight UTC, read with the feed's date_layouts
//	                               (default "2006-01-02")
//	["null", T] or [T, "null"]     nil or the T value
//
// Other types (decimal, enum, fixed, arrays, maps, records, other unions and
// logical types) are refused by New. Numbers are not trimmed: a feed whose
// files pad values sets trim_space.
//
// A string value may not hold a C0 control character (U+0000 to U+001F)
// other than tab, line feed and carriage return: the record gets a
// control_character violation naming the first one and its position (in
// characters, from 1), unless the feed sets allow_control_characters.
// Bytes fields hold any bytes.
//
// # Absent values
//
// A field is absent when the record lacks it. It is null when the record
// marks it Null, or when its text is empty and the field is nullable or not
// a string or bytes field (an empty CSV cell in a long column is null, in a
// non-nullable string column it is the empty string). Then:
//
//	absent: the field's default, else nil if nullable, else a "required" violation
//	null:   nil if nullable, else the field's default, else a "required" violation
//
// The required rule is stricter: the record must give the field a non-empty,
// non-null value. Fields of the record that are not in the schema are
// ignored. Rules other than required only run on values the record gave.
//
// # Rules
//
// min and max compare typed values (numbers, timestamps, dates);
// max_length counts a string's runes (a bytes field's bytes); regex and
// enum look at the field's text as the record gave it. A field that fails
// typing is not checked against its rules.
package validate

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hamba/avro/v2"

	"github.com/logmesh/logmesh/internal/formats"
	"github.com/logmesh/logmesh/mesh"
)

// ErrUnsupported is wrapped by New's error when the schema has a field type
// rows cannot hold yet (see the package documentation).
var ErrUnsupported = errors.New("validate: unsupported field type")

// Violation rules besides the mesh.Rule* rule names.
const (
	// RuleType: the text is not a value of the field's type.
	RuleType = "type"
	// RuleUnique: the primary key was already seen in the file.
	RuleUnique = "unique"
	// RuleControlCharacter: a string holds a C0 control character other
	// than tab, line feed and carriage return, and the feed does not set
	// allow_control_characters.
	RuleControlCharacter = "control_character"
)

// Violation is one reason a record is rejected.
type Violation struct {
	// Field is the offending field (the primary key fields joined with ","
	// for a unique violation).
	Field string
	// Rule is required, type, control_character, regex, min, max, enum,
	// max_length or unique.
	Rule string
	// Reason is a human-readable explanation.
	Reason string
}

func (v Violation) String() string { return v.Field + ": " + v.Rule + ": " + v.Reason }

type kind int

const (
	kString kind = iota
	kBytes
	kBool
	kInt
	kLong
	kFloat
	kDouble
	kTimestampMicros
	kTimestampMillis
	kDate
)

func (k kind) String() string {
	return [...]string{"string", "bytes", "boolean", "int", "long", "float", "double",
		"timestamp-micros", "timestamp-millis", "date"}[k]
}

type column struct {
	name       string
	kind       kind
	nullable   bool
	hasDefault bool
	def        any
	required   bool
	checks     []check
}

// check is one compiled rule other than required.
type check struct {
	rule   string
	text   string // the rule's argument as written, for reasons
	re     *regexp.Regexp
	enum   []string
	isInt  bool // bound is an integer (exact comparison for int and long)
	i      int64
	f      float64
	t      time.Time
	maxLen int
}

// Validator types and checks the records of one feed. It is immutable after
// New; Row is safe for concurrent use. Per-file uniqueness state lives in a
// FileCheck.
type Validator struct {
	feed       string
	cols       []column
	names      []string
	tsLayouts  []string
	dayLayouts []string
	key        []int // primary key columns
	keyField   string
	unique     bool
	allowCtl   bool // strings may hold control characters
}

// New compiles f's schema and rules. It fails if the schema is not an Avro
// record, has a field type rows cannot hold (wrapping ErrUnsupported), or a
// rule, primary key or ordering field does not fit the schema.
func New(f *mesh.Feed) (*Validator, error) {
	if f == nil {
		return nil, errors.New("validate: New: nil feed")
	}
	fail := func(format string, args ...any) (*Validator, error) {
		return nil, fmt.Errorf("validate: feed %s: "+format, append([]any{f.Name}, args...)...)
	}
	sch, err := avro.ParseWithCache(f.Schema, "", &avro.SchemaCache{})
	if err != nil {
		return fail("schema: %v", err)
	}
	rec, ok := sch.(*avro.RecordSchema)
	if !ok {
		return fail("schema is a %s, not a record", sch.Type())
	}
	v := &Validator{
		feed:       f.Name,
		tsLayouts:  f.Options.EffectiveTimestampLayouts(),
		dayLayouts: f.Options.EffectiveDateLayouts(),
		unique:     f.UniqueKey,
		allowCtl:   f.AllowControlCharacters,
	}
	index := map[string]int{}
	for i, fl := range rec.Fields() {
		c := column{name: fl.Name()}
		typ := fl.Type()
		if u, ok := typ.(*avro.UnionSchema); ok {
			if !u.Nullable() {
				return fail("field %s: %w: union %s (only [\"null\", T] is)", fl.Name(), ErrUnsupported, typ)
			}
			_, ti := u.Indices()
			typ = u.Types()[ti]
			c.nullable = true
		}
		if c.kind, err = kindOf(typ); err != nil {
			return fail("field %s: %w", fl.Name(), err)
		}
		if fl.HasDefault() {
			c.hasDefault = true
			if c.def, err = typedDefault(c.kind, fl.Default()); err != nil {
				return fail("field %s: default: %v", fl.Name(), err)
			}
		}
		index[c.name] = i
		v.cols = append(v.cols, c)
		v.names = append(v.names, c.name)
	}
	for _, r := range f.Rules {
		i, ok := index[r.Field]
		if !ok {
			return fail("rule %s: field %s not in schema", r.Rule, r.Field)
		}
		c := &v.cols[i]
		if r.Rule == mesh.RuleRequired {
			c.required = true
			continue
		}
		ch, err := v.compile(c, r)
		if err != nil {
			return fail("rule %s on %s: %v", r.Rule, r.Field, err)
		}
		c.checks = append(c.checks, ch)
	}
	for _, k := range f.PrimaryKey {
		i, ok := index[k]
		if !ok {
			return fail("primary key field %s not in schema", k)
		}
		v.key = append(v.key, i)
	}
	if f.OrderingField != "" {
		if _, ok := index[f.OrderingField]; !ok {
			return fail("ordering field %s not in schema", f.OrderingField)
		}
	}
	v.keyField = strings.Join(f.PrimaryKey, ",")
	if v.unique && len(v.key) == 0 {
		return fail("unique_key needs a primary key")
	}
	return v, nil
}

func kindOf(s avro.Schema) (kind, error) {
	logical := ""
	if p, ok := s.(*avro.PrimitiveSchema); ok && p.Logical() != nil {
		logical = string(p.Logical().Type())
	}
	switch {
	case s.Type() == avro.String && (logical == "" || logical == "uuid"):
		return kString, nil
	case s.Type() == avro.Bytes && logical == "":
		return kBytes, nil
	case s.Type() == avro.Boolean:
		return kBool, nil
	case s.Type() == avro.Int && logical == "":
		return kInt, nil
	case s.Type() == avro.Int && logical == "date":
		return kDate, nil
	case s.Type() == avro.Long && logical == "":
		return kLong, nil
	case s.Type() == avro.Long && logical == "timestamp-micros":
		return kTimestampMicros, nil
	case s.Type() == avro.Long && logical == "timestamp-millis":
		return kTimestampMillis, nil
	case s.Type() == avro.Float:
		return kFloat, nil
	case s.Type() == avro.Double:
		return kDouble, nil
	}
	if logical != "" {
		return 0, fmt.Errorf("%w: %s with logicalType %s", ErrUnsupported, s.Type(), logical)
	}
	return 0, fmt.Errorf("%w: %s", ErrUnsupported, s.Type())
}

// typedDefault converts a default as hamba/avro gives it to the row type.
func typedDefault(k kind, d any) (any, error) {
	if d == nil {
		return nil, nil
	}
	var i int64
	var isInt bool
	var fl float64
	switch t := d.(type) {
	case int:
		i, isInt = int64(t), true
	case int32:
		i, isInt = int64(t), true
	case int64:
		i, isInt = t, true
	case float32:
		fl = float64(t)
	case float64:
		fl = t
	}
	switch k {
	case kString:
		if s, ok := d.(string); ok {
			return s, nil
		}
	case kBytes:
		switch t := d.(type) {
		case []byte:
			return slices.Clone(t), nil
		case string:
			return []byte(t), nil
		}
	case kBool:
		if b, ok := d.(bool); ok {
			return b, nil
		}
	case kInt:
		if isInt && i >= math.MinInt32 && i <= math.MaxInt32 {
			return int32(i), nil
		}
	case kLong:
		if isInt {
			return i, nil
		}
	case kFloat:
		if isInt {
			return float32(i), nil
		}
		return float32(fl), nil
	case kDouble:
		if isInt {
			return float64(i), nil
		}
		return fl, nil
	case kTimestampMicros:
		if isInt {
			return time.UnixMicro(i).UTC(), nil
		}
	case kTimestampMillis:
		if isInt {
			return time.UnixMilli(i).UTC(), nil
		}
	case kDate:
		if isInt {
			return time.Unix(0, 0).UTC().AddDate(0, 0, int(i)), nil
		}
	}
	return nil, fmt.Errorf("%v (%T) is not a %s", d, d, k)
}

func (v *Validator) compile(c *column, r mesh.Rule) (check, error) {
	ch := check{rule: r.Rule, text: r.Value}
	switch r.Rule {
	case mesh.RuleRegex:
		re, err := regexp.Compile(r.Value)
		if err != nil {
			return ch, err
		}
		ch.re = re
	case mesh.RuleEnum:
		if len(r.Values) == 0 {
			return ch, errors.New("no values")
		}
		ch.enum = slices.Clone(r.Values)
		ch.text = strings.Join(r.Values, ", ")
	case mesh.RuleMaxLength:
		n, err := strconv.Atoi(r.Value)
		if err != nil || n < 0 {
			return ch, fmt.Errorf("value %q is not a non-negative integer", r.Value)
		}
		if c.kind != kString && c.kind != kBytes {
			return ch, fmt.Errorf("applies to strings and bytes, not %s", c.kind)
		}
		ch.maxLen = n
	case mesh.RuleMin, mesh.RuleMax:
		switch c.kind {
		case kInt, kLong, kFloat, kDouble:
			if i, err := strconv.ParseInt(r.Value, 10, 64); err == nil {
				ch.isInt, ch.i, ch.f = true, i, float64(i)
				break
			}
			f, err := strconv.ParseFloat(r.Value, 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				return ch, fmt.Errorf("value %q is not a number", r.Value)
			}
			ch.f = f
		case kTimestampMicros, kTimestampMillis, kDate:
			val, bad := v.convert(c.kind, r.Value)
			if bad != "" {
				return ch, fmt.Errorf("value: %s", bad)
			}
			ch.t = val.(time.Time)
		default:
			return ch, fmt.Errorf("applies to numbers, timestamps and dates, not %s", c.kind)
		}
	default:
		return ch, fmt.Errorf("unknown rule %q", r.Rule)
	}
	return ch, nil
}

// Columns returns the schema's field names in order: the names of a row's
// values. A new slice on every call; safe for concurrent use.
func (v *Validator) Columns() []string { return slices.Clone(v.names) }

// Row types rec's fields by the schema and checks the rules. It returns the
// row and no violations, or a nil row and every violation found, in schema
// field order then rule order. Safe for concurrent use; rec is not kept.
// The row's strings may share memory with rec's field values (Go strings
// are immutable, so a record's text is kept alive, not changed); its byte
// slices never do.
func (v *Validator) Row(rec formats.Record) (row []any, violations []Violation) {
	return v.RowInto(nil, rec)
}

// RowInto is Row writing the row into dst when dst has the capacity (a row
// of an earlier call the caller is done with), so that a stream of rows
// does not allocate a slice per row.
func (v *Validator) RowInto(dst []any, rec formats.Record) (row []any, violations []Violation) {
	if cap(dst) >= len(v.cols) {
		row = dst[:len(v.cols)]
		clear(row)
	} else {
		row = make([]any, len(v.cols))
	}
	aligned := true
	for i := range v.cols {
		c := &v.cols[i]
		f, present := field(&rec, i, c.name, &aligned)
		null := present && (f.Null || f.Value == "" && (c.nullable || c.kind != kString && c.kind != kBytes))
		if c.required && (!present || f.Null || f.Value == "") {
			violations = append(violations, Violation{Field: c.name, Rule: mesh.RuleRequired, Reason: absentReason(present, f)})
			continue
		}
		switch {
		case !present && c.hasDefault:
			row[i] = cloneDefault(c.def)
		case !present && c.nullable, null && c.nullable:
			row[i] = nil
		case null && c.hasDefault:
			row[i] = cloneDefault(c.def)
		case !present || null:
			violations = append(violations, Violation{Field: c.name, Rule: mesh.RuleRequired, Reason: absentReason(present, f)})
		default:
			val, bad := v.convert(c.kind, f.Value)
			if bad != "" {
				violations = append(violations, Violation{Field: c.name, Rule: RuleType, Reason: bad})
				continue
			}
			if c.kind == kString && !v.allowCtl {
				if reason := controlReason(f.Value); reason != "" {
					violations = append(violations, Violation{Field: c.name, Rule: RuleControlCharacter, Reason: reason})
					continue
				}
			}
			row[i] = val
			for j := range c.checks {
				if reason := c.checks[j].apply(c.kind, f.Value, val); reason != "" {
					violations = append(violations, Violation{Field: c.name, Rule: c.checks[j].rule, Reason: reason})
				}
			}
		}
	}
	if len(violations) > 0 {
		return nil, violations
	}
	return row, nil
}

// field finds the named field. While the record's fields line up with the
// schema (the usual case: files give fields in schema order), field i is
// the column's, and no earlier field can have its name; otherwise it falls
// back to Record.Get, where the first field of that name wins.
func field(rec *formats.Record, i int, name string, aligned *bool) (formats.Field, bool) {
	if *aligned && i < len(rec.Fields) && rec.Fields[i].Name == name {
		return rec.Fields[i], true
	}
	*aligned = false
	return rec.Get(name)
}

func absentReason(present bool, f formats.Field) string {
	switch {
	case !present:
		return "missing"
	case f.Null:
		return "null"
	default:
		return "empty"
	}
}

func cloneDefault(d any) any {
	if b, ok := d.([]byte); ok {
		return slices.Clone(b)
	}
	return d
}

// convert types text as kind k; bad is the reason it cannot, or "".
func (v *Validator) convert(k kind, text string) (val any, bad string) {
	switch k {
	case kString:
		if !utf8.ValidString(text) {
			return nil, "not valid UTF-8"
		}
		return text, "" // immutable: no copy (see Row)
	case kBytes:
		return []byte(text), ""
	case kBool:
		switch strings.ToLower(text) {
		case "true", "t", "yes", "y", "1":
			return true, ""
		case "false", "f", "no", "n", "0":
			return false, ""
		}
		return nil, quote(text) + " is not a boolean"
	case kInt, kLong:
		bits := 64
		if k == kInt {
			bits = 32
		}
		i, err := strconv.ParseInt(text, 10, bits)
		if errors.Is(err, strconv.ErrRange) {
			return nil, quote(text) + " is out of range for " + k.String()
		}
		if err != nil {
			return nil, quote(text) + " is not an integer"
		}
		if k == kInt {
			return int32(i), ""
		}
		return i, ""
	case kFloat, kDouble:
		bits := 64
		if k == kFloat {
			bits = 32
		}
		f, err := strconv.ParseFloat(text, bits)
		if errors.Is(err, strconv.ErrRange) && !math.IsInf(f, 0) {
			err = nil // underflow to zero or a denormal: a value, just less precise
		}
		if errors.Is(err, strconv.ErrRange) {
			return nil, quote(text) + " is out of range for " + k.String()
		}
		if err != nil {
			return nil, quote(text) + " is not a number"
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, quote(text) + " is not a finite number"
		}
		if k == kFloat {
			return float32(f), ""
		}
		return f, ""
	case kTimestampMicros, kTimestampMillis:
		t, ok := parseTime(v.tsLayouts, text)
		if !ok {
			return nil, quote(text) + " is not a timestamp in layouts " + strings.Join(v.tsLayouts, " | ")
		}
		if k == kTimestampMicros {
			return t.UTC().Truncate(time.Microsecond), ""
		}
		return t.UTC().Truncate(time.Millisecond), ""
	case kDate:
		t, ok := parseTime(v.dayLayouts, text)
		if !ok {
			return nil, quote(text) + " is not a date in layouts " + strings.Join(v.dayLayouts, " | ")
		}
		y, m, d := t.Date()
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC), ""
	}
	return nil, "unsupported type"
}

func parseTime(layouts []string, text string) (time.Time, bool) {
	for _, l := range layouts {
		if t, err := time.Parse(l, text); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// apply checks a typed value; it returns the reason it fails, or "".
func (ch *check) apply(k kind, text string, val any) string {
	switch ch.rule {
	case mesh.RuleRegex:
		if !ch.re.MatchString(text) {
			return quote(text) + " does not match " + ch.text
		}
	case mesh.RuleEnum:
		if !slices.Contains(ch.enum, text) {
			return quote(text) + " is not one of " + ch.text
		}
	case mesh.RuleMaxLength:
		n := len(text)
		if k == kString {
			n = utf8.RuneCountInString(text)
		}
		if n > ch.maxLen {
			return fmt.Sprintf("length %d is more than %d", n, ch.maxLen)
		}
	case mesh.RuleMin, mesh.RuleMax:
		c := ch.compare(val)
		if ch.rule == mesh.RuleMin && c < 0 {
			return quote(text) + " is less than the minimum " + ch.text
		}
		if ch.rule == mesh.RuleMax && c > 0 {
			return quote(text) + " is more than the maximum " + ch.text
		}
	}
	return ""
}

// compare returns -1, 0 or +1 as val is less than, equal to or greater
// than the bound.
func (ch *check) compare(val any) int {
	var f float64
	switch t := val.(type) {
	case time.Time:
		return t.Compare(ch.t)
	case int64:
		if ch.isInt {
			return cmpInt(t, ch.i)
		}
		f = float64(t)
	case int32:
		if ch.isInt {
			return cmpInt(int64(t), ch.i)
		}
		f = float64(t)
	case float32:
		f = float64(t)
	case float64:
		f = t
	}
	switch {
	case f < ch.f:
		return -1
	case f > ch.f:
		return 1
	}
	return 0
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// controlReason returns why s may not be a string value, "" if it may: it
// names the first C0 control character other than tab, line feed and
// carriage return, as U+0000, with its position in characters (from 1) and
// how many more there are. s is valid UTF-8, in which bytes below 0x20 are
// always whole characters.
func controlReason(s string) string {
	first, n := -1, 0
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
			if first < 0 {
				first = i
			}
			n++
		}
	}
	if first < 0 {
		return ""
	}
	reason := fmt.Sprintf("control character %U at position %d", rune(s[first]), utf8.RuneCountInString(s[:first])+1)
	if n > 1 {
		reason += fmt.Sprintf(" (and %d more)", n-1)
	}
	return reason + " in " + quote(s) + "; set allow_control_characters: true on the feed to accept them"
}

// quote quotes s for a reason, cut to 64 bytes.
func quote(s string) string {
	if len(s) > 64 {
		cut := 64
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return strconv.Quote(s[:cut]) + "..."
	}
	return strconv.Quote(s)
}

// Exceeds reports whether rejected out of total records is more than the
// threshold fraction: rejected/total > threshold. With total 0 it is false.
func Exceeds(rejected, total int64, threshold float64) bool {
	if total <= 0 {
		return false
	}
	return float64(rejected)/float64(total) > threshold
}
