package validate_test

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logmesh/logmesh/internal/formats"
	"github.com/logmesh/logmesh/internal/validate"
	"github.com/logmesh/logmesh/mesh"
)

// allTypes has one field of every supported type, non-nullable and without
// default, so each case below can type one field alone.
const allTypes = `{"type":"record","name":"All","fields":[
 {"name":"s","type":"string"},
 {"name":"b","type":"bytes"},
 {"name":"ok","type":"boolean"},
 {"name":"i","type":"int"},
 {"name":"l","type":"long"},
 {"name":"f","type":"float"},
 {"name":"d","type":"double"},
 {"name":"us","type":{"type":"long","logicalType":"timestamp-micros"}},
 {"name":"ms","type":{"type":"long","logicalType":"timestamp-millis"}},
 {"name":"day","type":{"type":"int","logicalType":"date"}},
 {"name":"id","type":{"type":"string","logicalType":"uuid"}}
]}`

func newValidator(t testing.TB, f *mesh.Feed) *validate.Validator {
	t.Helper()
	if f.Name == "" {
		f.Name = "test"
	}
	v, err := validate.New(f)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func slicesIndex(s []string, x string) int {
	for i, e := range s {
		if e == x {
			return i
		}
	}
	return -1
}

func utc(y int, m time.Month, d, h, mi, s, ns int) time.Time {
	return time.Date(y, m, d, h, mi, s, ns, time.UTC)
}

func TestTypes(t *testing.T) {
	v := newValidator(t, &mesh.Feed{Schema: allTypes})
	if got, want := v.Columns(), []string{"s", "b", "ok", "i", "l", "f", "d", "us", "ms", "day", "id"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Columns = %v", got)
	}
	// full gives every field a valid value, then overrides one.
	full := func(name, value string) formats.Record {
		rec := formats.Record{Number: 7, Fields: []formats.Field{
			{Name: "s", Value: "x"}, {Name: "b", Value: "x"}, {Name: "ok", Value: "true"}, {Name: "i", Value: "1"},
			{Name: "l", Value: "1"}, {Name: "f", Value: "1"}, {Name: "d", Value: "1"},
			{Name: "us", Value: "2026-01-01T00:00:00Z"}, {Name: "ms", Value: "2026-01-01T00:00:00Z"},
			{Name: "day", Value: "2026-01-01"}, {Name: "id", Value: "u"},
		}}
		for i := range rec.Fields {
			if rec.Fields[i].Name == name {
				rec.Fields[i].Value = value
			}
		}
		return rec
	}
	for _, tc := range []struct {
		field, text string
		want        any    // when ok
		bad         string // substring of the type violation's reason
	}{
		{"s", "héllo", "héllo", ""},
		{"s", "", "", ""}, // empty is a value for a non-nullable string
		{"s", "\xff", nil, "UTF-8"},
		{"id", "3f2a", "3f2a", ""},
		{"b", "\x00\xff", []byte{0, 0xff}, ""},
		{"ok", "true", true, ""},
		{"ok", "FALSE", false, ""},
		{"ok", "Yes", true, ""},
		{"ok", "n", false, ""},
		{"ok", "1", true, ""},
		{"ok", "0", false, ""},
		{"ok", "2", nil, "not a boolean"},
		{"i", "-2147483648", int32(math.MinInt32), ""},
		{"i", "2147483647", int32(math.MaxInt32), ""},
		{"i", "2147483648", nil, "out of range for int"},
		{"i", "+5", int32(5), ""},
		{"i", "1.0", nil, "not an integer"},
		{"i", " 1", nil, "not an integer"},
		{"l", "9223372036854775807", int64(math.MaxInt64), ""},
		{"l", "-9223372036854775808", int64(math.MinInt64), ""},
		{"l", "9223372036854775808", nil, "out of range for long"},
		{"l", "1e3", nil, "not an integer"},
		{"l", "0x10", nil, "not an integer"},
		{"f", "1.5", float32(1.5), ""},
		{"f", "1e39", nil, "out of range for float"},
		{"f", "1e-50", float32(0), ""}, // underflow is a value
		{"f", "NaN", nil, "finite"},
		{"d", "-0.25", -0.25, ""},
		{"d", "1e308", 1e308, ""},
		{"d", "1e309", nil, "out of range for double"},
		{"d", "Inf", nil, "finite"},
		{"d", "abc", nil, "not a number"},
		{"us", "2026-11-03T10:11:12.123456789+01:00", utc(2026, 11, 3, 9, 11, 12, 123456000), ""},
		{"us", "2026-11-03T10:11:12Z", utc(2026, 11, 3, 10, 11, 12, 0), ""},
		{"us", "2026-11-03 10:11:12", utc(2026, 11, 3, 10, 11, 12, 0), ""},
		{"us", "2026-11-03 10:11:12.5", utc(2026, 11, 3, 10, 11, 12, 500000000), ""},
		{"us", "2026-02-30T00:00:00Z", nil, "not a timestamp"},
		{"us", "1699999999", nil, "not a timestamp"},
		{"ms", "2026-11-03T10:11:12.123456Z", utc(2026, 11, 3, 10, 11, 12, 123000000), ""},
		{"day", "2026-11-03", utc(2026, 11, 3, 0, 0, 0, 0), ""},
		{"day", "2026-13-01", nil, "not a date"},
		{"day", "2026-11-03T00:00:00Z", nil, "not a date"},
	} {
		row, viol := v.Row(full(tc.field, tc.text))
		if tc.bad != "" {
			if row != nil || len(viol) != 1 || viol[0].Field != tc.field || viol[0].Rule != "type" || !strings.Contains(viol[0].Reason, tc.bad) {
				t.Errorf("%s=%q: row %v, violations %v; want one type violation mentioning %q", tc.field, tc.text, row, viol, tc.bad)
			}
			continue
		}
		if len(viol) > 0 || row == nil {
			t.Errorf("%s=%q: violations %v", tc.field, tc.text, viol)
			continue
		}
		got := row[slicesIndex(v.Columns(), tc.field)]
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s=%q: got %#v (%T), want %#v (%T)", tc.field, tc.text, got, got, tc.want, tc.want)
		}
		if tm, ok := got.(time.Time); ok && tm.Location() != time.UTC {
			t.Errorf("%s=%q: location %v, want UTC", tc.field, tc.text, tm.Location())
		}
	}
}

func TestLayouts(t *testing.T) {
	v := newValidator(t, &mesh.Feed{
		Schema: `{"type":"record","name":"R","fields":[{"name":"ts","type":{"type":"long","logicalType":"timestamp-micros"}},{"name":"d","type":{"type":"int","logicalType":"date"}}]}`,
		Options: mesh.FormatOptions{
			TimestampLayouts: []string{"02/01/2006 15:04", "2006-01-02T15:04:05Z07:00"},
			DateLayouts:      []string{"02.01.2006", "20060102"},
		},
	})
	row, viol := v.Row(formats.Record{Fields: []formats.Field{{Name: "ts", Value: "03/11/2026 10:11"}, {Name: "d", Value: "20261103"}}})
	want := []any{utc(2026, 11, 3, 10, 11, 0, 0), utc(2026, 11, 3, 0, 0, 0, 0)}
	if !reflect.DeepEqual(row, want) || viol != nil {
		t.Errorf("Row = %v, %v; want %v", row, viol, want)
	}
	// The default layouts no longer apply.
	_, viol = v.Row(formats.Record{Fields: []formats.Field{{Name: "ts", Value: "2026-11-03 10:11:12"}, {Name: "d", Value: "2026-11-03"}}})
	if len(viol) != 2 {
		t.Errorf("default layouts accepted: %v", viol)
	}
}

const nullSchema = `{"type":"record","name":"N","fields":[
 {"name":"req","type":"long"},
 {"name":"reqs","type":"string"},
 {"name":"opt","type":["null","long"],"default":null},
 {"name":"opts","type":["null","string"]},
 {"name":"def","type":"long","default":42},
 {"name":"defs","type":"string","default":"dflt"},
 {"name":"tnull","type":["string","null"],"default":"first"},
 {"name":"defts","type":{"type":"long","logicalType":"timestamp-millis"},"default":1000},
 {"name":"defday","type":{"type":"int","logicalType":"date"},"default":1},
 {"name":"defb","type":"bytes","default":"ab"},
 {"name":"deff","type":"float","default":1.5},
 {"name":"defok","type":"boolean","default":true}
]}`

func TestAbsentValues(t *testing.T) {
	v := newValidator(t, &mesh.Feed{Schema: nullSchema})
	type res struct {
		val  any
		rule string // "" when no violation
	}
	missing := formats.Field{}
	null := func(name string) formats.Field { return formats.Field{Name: name, Null: true} }
	empty := func(name string) formats.Field { return formats.Field{Name: name} }
	for _, tc := range []struct {
		name  string
		field string
		given formats.Field // Name "" means the record lacks the field
		want  res
	}{
		{"missing required long", "req", missing, res{nil, "required"}},
		{"null required long", "req", null("req"), res{nil, "required"}},
		{"empty required long", "req", empty("req"), res{nil, "required"}},
		{"missing required string", "reqs", missing, res{nil, "required"}},
		{"null required string", "reqs", null("reqs"), res{nil, "required"}},
		{"empty non-nullable string is a value", "reqs", empty("reqs"), res{"", ""}},
		{"missing nullable", "opt", missing, res{nil, ""}},
		{"null nullable", "opt", null("opt"), res{nil, ""}},
		{"empty nullable long", "opt", empty("opt"), res{nil, ""}},
		{"empty nullable string", "opts", empty("opts"), res{nil, ""}},
		{"missing nullable without default", "opts", missing, res{nil, ""}},
		{"missing with default", "def", missing, res{int64(42), ""}},
		{"null with default", "def", null("def"), res{int64(42), ""}},
		{"empty long with default", "def", empty("def"), res{int64(42), ""}},
		{"missing string default", "defs", missing, res{"dflt", ""}},
		{"empty string with default is a value", "defs", empty("defs"), res{"", ""}},
		{"missing [T,null] default", "tnull", missing, res{"first", ""}},
		{"null [T,null] is nil", "tnull", null("tnull"), res{nil, ""}},
		{"timestamp default", "defts", missing, res{time.UnixMilli(1000).UTC(), ""}},
		{"date default", "defday", missing, res{utc(1970, 1, 2, 0, 0, 0, 0), ""}},
		{"bytes default", "defb", missing, res{[]byte("ab"), ""}},
		{"float default", "deff", missing, res{float32(1.5), ""}},
		{"bool default", "defok", missing, res{true, ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Every other required field is given so only tc.field matters.
			fields := []formats.Field{{Name: "req", Value: "1"}, {Name: "reqs", Value: "x"}}
			fields = slicesDeleteName(fields, tc.field)
			if tc.given.Name != "" {
				fields = append(fields, tc.given)
			}
			fields = append(fields, formats.Field{Name: "not_in_schema", Value: "ignored"})
			row, viol := v.Row(formats.Record{Fields: fields})
			if tc.want.rule != "" {
				if row != nil || len(viol) != 1 || viol[0].Rule != tc.want.rule || viol[0].Field != tc.field {
					t.Errorf("row %v, violations %v; want one %s violation on %s", row, viol, tc.want.rule, tc.field)
				}
				return
			}
			if viol != nil {
				t.Fatalf("violations %v", viol)
			}
			if got := row[slicesIndex(v.Columns(), tc.field)]; !reflect.DeepEqual(got, tc.want.val) {
				t.Errorf("got %#v, want %#v", got, tc.want.val)
			}
		})
	}
}

func slicesDeleteName(fields []formats.Field, name string) []formats.Field {
	var out []formats.Field
	for _, f := range fields {
		if f.Name != name {
			out = append(out, f)
		}
	}
	return out
}

func TestDefaultNotShared(t *testing.T) {
	v := newValidator(t, &mesh.Feed{Schema: nullSchema})
	rec := formats.Record{Fields: []formats.Field{{Name: "req", Value: "1"}, {Name: "reqs", Value: "x"}}}
	row1, _ := v.Row(rec)
	i := slicesIndex(v.Columns(), "defb")
	row1[i].([]byte)[0] = 'Z'
	row2, _ := v.Row(rec)
	if string(row2[i].([]byte)) != "ab" {
		t.Errorf("a row's bytes default is shared with later rows: %q", row2[i])
	}
}

const ruleSchema = `{"type":"record","name":"T","fields":[
 {"name":"id","type":"string"},
 {"name":"account","type":["null","string"],"default":null},
 {"name":"side","type":["null","string"],"default":null},
 {"name":"qty","type":["null","long"],"default":null},
 {"name":"px","type":["null","double"],"default":null},
 {"name":"n","type":["null","int"],"default":null},
 {"name":"at","type":["null",{"type":"long","logicalType":"timestamp-micros"}],"default":null},
 {"name":"day","type":["null",{"type":"int","logicalType":"date"}],"default":null},
 {"name":"note","type":["null","string"],"default":null},
 {"name":"raw","type":["null","bytes"],"default":null}
]}`

func TestRules(t *testing.T) {
	v := newValidator(t, &mesh.Feed{
		Schema: ruleSchema,
		Rules: []mesh.Rule{
			{Field: "qty", Rule: "min", Value: "1"},
			{Field: "qty", Rule: "max", Value: "9007199254740993"}, // 2^53+1: exact integer comparison
			{Field: "px", Rule: "min", Value: "0.5"},
			{Field: "px", Rule: "max", Value: "100"},
			{Field: "n", Rule: "max", Value: "2.5"},
			{Field: "at", Rule: "min", Value: "2020-01-01T00:00:00Z"},
			{Field: "day", Rule: "max", Value: "2030-12-31"},
			{Field: "account", Rule: "regex", Value: "^[A-Z]{2}[0-9]{4}$"},
			{Field: "account", Rule: "required"},
			{Field: "side", Rule: "enum", Values: []string{"BUY", "SELL"}},
			{Field: "note", Rule: "max_length", Value: "3"},
			{Field: "raw", Rule: "max_length", Value: "3"},
		},
	})
	for _, tc := range []struct {
		field, text string
		rule        string // expected violation, "" for none
	}{
		{"qty", "1", ""},
		{"qty", "0", "min"},
		{"qty", "-5", "min"},
		{"qty", "9007199254740993", ""},
		{"qty", "9007199254740994", "max"},
		{"px", "0.5", ""},
		{"px", "0.49", "min"},
		{"px", "100.0001", "max"},
		{"n", "2", ""},
		{"n", "3", "max"},
		{"at", "2020-01-01T00:00:00Z", ""},
		{"at", "2019-12-31T23:59:59.999999Z", "min"},
		{"at", "2020-01-01T01:00:00+02:00", "min"}, // 2019-12-31T23:00Z
		{"day", "2030-12-31", ""},
		{"day", "2031-01-01", "max"},
		{"account", "AB1234", ""},
		{"account", "ab1234", "regex"},
		{"account", "AB12345", "regex"},
		{"account", "", "required"},
		{"side", "BUY", ""},
		{"side", "buy", "enum"},
		{"side", "", ""}, // null: rules other than required do not run
		{"note", "äöü", ""},
		{"note", "abcd", "max_length"},
		{"raw", "äö", "max_length"}, // 4 bytes
		{"qty", "x", "type"},        // typing fails first; min does not run
	} {
		fields := []formats.Field{{Name: "id", Value: "1"}}
		if tc.field != "account" {
			fields = append(fields, formats.Field{Name: "account", Value: "AB1234"})
		}
		fields = append(fields, formats.Field{Name: tc.field, Value: tc.text})
		row, viol := v.Row(formats.Record{Fields: fields})
		if tc.rule == "" {
			if viol != nil || row == nil {
				t.Errorf("%s=%q: violations %v", tc.field, tc.text, viol)
			}
			continue
		}
		if row != nil || len(viol) != 1 || viol[0].Rule != tc.rule || viol[0].Field != tc.field || viol[0].Reason == "" {
			t.Errorf("%s=%q: row %v, violations %v; want one %s violation", tc.field, tc.text, row, viol, tc.rule)
		}
	}

	// Every violation is reported, in schema order.
	_, viol := v.Row(formats.Record{Fields: []formats.Field{{Name: "qty", Value: "0"}, {Name: "side", Value: "HOLD"}, {Name: "note", Value: "long"}}})
	var got []string
	for _, x := range viol {
		got = append(got, x.Field+":"+x.Rule)
	}
	want := []string{"id:required", "account:required", "side:enum", "qty:min", "note:max_length"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("violations %v, want %v", got, want)
	}
}

func TestNewErrors(t *testing.T) {
	rec := func(fields string) string { return `{"type":"record","name":"R","fields":[` + fields + `]}` }
	for _, tc := range []struct {
		name        string
		feed        mesh.Feed
		unsupported bool
	}{
		{"bad schema", mesh.Feed{Schema: "{"}, false},
		{"not a record", mesh.Feed{Schema: `"string"`}, false},
		{"decimal", mesh.Feed{Schema: rec(`{"name":"x","type":{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}}`)}, true},
		{"array", mesh.Feed{Schema: rec(`{"name":"x","type":{"type":"array","items":"long"}}`)}, true},
		{"union", mesh.Feed{Schema: rec(`{"name":"x","type":["long","string"]}`)}, true},
		{"time-millis", mesh.Feed{Schema: rec(`{"name":"x","type":{"type":"int","logicalType":"time-millis"}}`)}, true},
		{"enum", mesh.Feed{Schema: rec(`{"name":"x","type":{"type":"enum","name":"E","symbols":["A"]}}`)}, true},
		{"rule field", mesh.Feed{Schema: rec(`{"name":"x","type":"long"}`), Rules: []mesh.Rule{{Field: "y", Rule: "min", Value: "1"}}}, false},
		{"rule name", mesh.Feed{Schema: rec(`{"name":"x","type":"long"}`), Rules: []mesh.Rule{{Field: "x", Rule: "between"}}}, false},
		{"regex", mesh.Feed{Schema: rec(`{"name":"x","type":"string"}`), Rules: []mesh.Rule{{Field: "x", Rule: "regex", Value: "("}}}, false},
		{"min on string", mesh.Feed{Schema: rec(`{"name":"x","type":"string"}`), Rules: []mesh.Rule{{Field: "x", Rule: "min", Value: "1"}}}, false},
		{"min not number", mesh.Feed{Schema: rec(`{"name":"x","type":"long"}`), Rules: []mesh.Rule{{Field: "x", Rule: "min", Value: "a"}}}, false},
		{"max_length on long", mesh.Feed{Schema: rec(`{"name":"x","type":"long"}`), Rules: []mesh.Rule{{Field: "x", Rule: "max_length", Value: "1"}}}, false},
		{"enum empty", mesh.Feed{Schema: rec(`{"name":"x","type":"string"}`), Rules: []mesh.Rule{{Field: "x", Rule: "enum"}}}, false},
		{"primary key", mesh.Feed{Schema: rec(`{"name":"x","type":"long"}`), PrimaryKey: []string{"y"}}, false},
		{"unique without key", mesh.Feed{Schema: rec(`{"name":"x","type":"long"}`), UniqueKey: true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.feed.Name = "f"
			_, err := validate.New(&tc.feed)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), "feed f") {
				t.Errorf("error does not name the feed: %v", err)
			}
			if errors.Is(err, validate.ErrUnsupported) != tc.unsupported {
				t.Errorf("errors.Is(ErrUnsupported) = %v: %v", !tc.unsupported, err)
			}
		})
	}
	if _, err := validate.New(nil); err == nil {
		t.Error("New(nil) succeeded")
	}
}

func TestUnique(t *testing.T) {
	feed := &mesh.Feed{
		Schema:     `{"type":"record","name":"T","fields":[{"name":"a","type":"string"},{"name":"b","type":["null","long"]},{"name":"v","type":"string"}]}`,
		PrimaryKey: []string{"a", "b"},
		UniqueKey:  true,
	}
	v := newValidator(t, feed)
	c := v.NewFile()
	check := func(n int64, a, b string, null bool) *validate.Violation {
		rec := formats.Record{Number: n, Fields: []formats.Field{{Name: "a", Value: a}, {Name: "b", Value: b, Null: null}, {Name: "v", Value: "x"}}}
		row, viol := v.Row(rec)
		if viol != nil {
			t.Fatalf("record %d: %v", n, viol)
		}
		return c.Check(row, rec)
	}
	if x := check(1, "A", "1", false); x != nil {
		t.Errorf("first key: %v", x)
	}
	if x := check(2, "A", "2", false); x != nil {
		t.Errorf("other key: %v", x)
	}
	if x := check(3, "A1", "", true); x != nil {
		t.Errorf("(A1, null): %v", x)
	}
	x := check(4, "A", "1", false)
	if x == nil || x.Rule != "unique" || x.Field != "a,b" || !strings.Contains(x.Reason, "first seen in record 1") || !strings.Contains(x.Reason, `a="A", b=1`) {
		t.Errorf("duplicate: %+v", x)
	}
	if x := check(5, "A1", "", true); x == nil || !strings.Contains(x.Reason, "record 3") {
		t.Errorf("duplicate null key: %+v", x)
	}
	if x := c.Check(nil, formats.Record{Number: 6}); x != nil {
		t.Errorf("nil row: %v", x)
	}
	// A new file forgets.
	c = v.NewFile()
	if x := check(7, "A", "1", false); x != nil {
		t.Errorf("new file: %v", x)
	}
	// unique_key off: never a violation.
	feed.UniqueKey = false
	v = newValidator(t, feed)
	c = v.NewFile()
	check(8, "A", "1", false)
	if x := check(9, "A", "1", false); x != nil {
		t.Errorf("unique_key off: %v", x)
	}
}

func TestExceeds(t *testing.T) {
	for _, tc := range []struct {
		rejected, total int64
		threshold       float64
		want            bool
	}{
		{0, 0, 0, false},
		{0, 10, 0, false},
		{1, 10, 0, true},
		{1, 10, 0.1, false}, // equal is not above
		{2, 10, 0.1, true},
		{10, 10, 1, false},
		{5, 0, 0.1, false},
	} {
		if got := validate.Exceeds(tc.rejected, tc.total, tc.threshold); got != tc.want {
			t.Errorf("Exceeds(%d, %d, %v) = %v", tc.rejected, tc.total, tc.threshold, got)
		}
	}
}

func TestRowConcurrent(t *testing.T) {
	v := newValidator(t, &mesh.Feed{Schema: ruleSchema, Rules: []mesh.Rule{{Field: "account", Rule: "regex", Value: "^[A-Z]+$"}}})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				acct := "ABC"
				if (g+i)%2 == 0 {
					acct = "abc"
				}
				row, viol := v.Row(formats.Record{Fields: []formats.Field{{Name: "id", Value: "1"}, {Name: "account", Value: acct}}})
				if (row == nil) == (viol == nil) {
					t.Errorf("row %v and violations %v", row, viol)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestWithLoadedMesh(t *testing.T) {
	m, err := mesh.Load("../../mesh/testdata/mesh.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for i := range m.Feeds {
		if _, err := validate.New(&m.Feeds[i]); err != nil {
			t.Errorf("feed %s: %v", m.Feeds[i].Name, err)
		}
	}
}

func TestFieldLookup(t *testing.T) {
	v := newValidator(t, &mesh.Feed{Schema: `{"type":"record","name":"R","fields":[{"name":"a","type":"long"},{"name":"b","type":"long"},{"name":"c","type":"long"}]}`})
	for _, tc := range []struct {
		name   string
		fields []formats.Field
		want   []any
	}{
		{"in order", []formats.Field{{Name: "a", Value: "1"}, {Name: "b", Value: "2"}, {Name: "c", Value: "3"}}, []any{int64(1), int64(2), int64(3)}},
		{"shuffled", []formats.Field{{Name: "c", Value: "3"}, {Name: "a", Value: "1"}, {Name: "b", Value: "2"}}, []any{int64(1), int64(2), int64(3)}},
		{"repeated name: first wins", []formats.Field{{Name: "a", Value: "1"}, {Name: "c", Value: "9"}, {Name: "c", Value: "3"}, {Name: "b", Value: "2"}}, []any{int64(1), int64(2), int64(9)}},
		{"extra fields", []formats.Field{{Name: "x", Value: "?"}, {Name: "a", Value: "1"}, {Name: "b", Value: "2"}, {Name: "c", Value: "3"}}, []any{int64(1), int64(2), int64(3)}},
	} {
		row, viol := v.Row(formats.Record{Fields: tc.fields})
		if !reflect.DeepEqual(row, tc.want) || viol != nil {
			t.Errorf("%s: Row = %v, %v; want %v", tc.name, row, viol, tc.want)
		}
	}
}

func TestControlCharacters(t *testing.T) {
	const schema = `{"type":"record","name":"C","fields":[
 {"name":"s","type":"string"},
 {"name":"n","type":["null","string"],"default":null},
 {"name":"b","type":["null","bytes"],"default":null}
]}`
	strict := newValidator(t, &mesh.Feed{Schema: schema})
	lenient := newValidator(t, &mesh.Feed{Schema: schema, AllowControlCharacters: true})
	for _, tc := range []struct {
		name   string
		fields []formats.Field
		want   []string // "field: rule: reason" of strict's violations; none means a row
	}{
		{"NUL", []formats.Field{{Name: "s", Value: "a\x00b"}},
			[]string{`s: control_character: control character U+0000 at position 2 in "a\x00b"; set allow_control_characters: true on the feed to accept them`}},
		{"position counts characters, not bytes", []formats.Field{{Name: "s", Value: "héllo\x1f"}},
			[]string{`s: control_character: control character U+001F at position 6 in "héllo\x1f"; set allow_control_characters: true on the feed to accept them`}},
		{"the first one and a count of the rest", []formats.Field{{Name: "s", Value: "\x01\x02x\x1b"}},
			[]string{`s: control_character: control character U+0001 at position 1 (and 2 more) in "\x01\x02x\x1b"; set allow_control_characters: true on the feed to accept them`}},
		{"nullable string, every field reported", []formats.Field{{Name: "s", Value: "\x07"}, {Name: "n", Value: "x\x08"}},
			[]string{
				`s: control_character: control character U+0007 at position 1 in "\a"; set allow_control_characters: true on the feed to accept them`,
				`n: control_character: control character U+0008 at position 2 in "x\b"; set allow_control_characters: true on the feed to accept them`,
			}},
		{"tab, line feed and carriage return are text", []formats.Field{{Name: "s", Value: "a\tb\r\nc\n"}}, nil},
		{"DEL and C1 controls are not C0", []formats.Field{{Name: "s", Value: "\x7f\u0085\u009f"}}, nil},
		{"bytes hold any bytes", []formats.Field{{Name: "s", Value: "x"}, {Name: "b", Value: "\x00\x01"}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := formats.Record{Number: 1, Fields: tc.fields}
			row, viol := strict.Row(rec)
			var got []string
			for _, v := range viol {
				got = append(got, v.String())
			}
			if !reflect.DeepEqual(got, tc.want) || (row == nil) == (len(tc.want) == 0) {
				t.Errorf("strict: row %q, violations\n%q\nwant\n%q", row, got, tc.want)
			}
			// Allowed, the same record is a row holding the text as given.
			row, viol = lenient.Row(rec)
			if len(viol) > 0 || row == nil {
				t.Fatalf("lenient: violations %v", viol)
			}
			if row[0] != tc.fields[0].Value {
				t.Errorf("lenient: s = %q, want %q", row[0], tc.fields[0].Value)
			}
		})
	}
}

// TestControlCharactersFromMesh: the feed key reaches the validator.
func TestControlCharactersFromMesh(t *testing.T) {
	const src = `domains: [{name: raw}]
feeds:
  - name: notes
    table: raw.notes
    key_pattern: "notes/*"
    format: ndjson
    schema: {type: record, name: N, fields: [{name: text, type: string}]}
`
	rec := formats.Record{Number: 1, Fields: []formats.Field{{Name: "text", Value: "a\x00"}}}
	for _, tc := range []struct {
		extra string
		rule  string // "" for a row
	}{
		{"", validate.RuleControlCharacter},
		{"    allow_control_characters: false\n", validate.RuleControlCharacter},
		{"    allow_control_characters: true\n", ""},
	} {
		m, err := mesh.Parse([]byte(src+tc.extra), "mesh.yaml", ".")
		if err != nil {
			t.Fatal(err)
		}
		v := newValidator(t, &m.Feeds[0])
		_, viol := v.Row(rec)
		switch {
		case tc.rule == "" && len(viol) > 0:
			t.Errorf("%q: violations %v, want a row", tc.extra, viol)
		case tc.rule != "" && (len(viol) != 1 || viol[0].Rule != tc.rule):
			t.Errorf("%q: violations %v, want one %s", tc.extra, viol, tc.rule)
		}
	}
}
