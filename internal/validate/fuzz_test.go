package validate_test

import (
	"strings"
	"testing"
	"time"

	"github.com/logmesh/logmesh/internal/formats"
	"github.com/logmesh/logmesh/internal/validate"
	"github.com/logmesh/logmesh/mesh"
)

// FuzzRow feeds random texts to every field type and rule. Invariants: Row
// never panics; it returns either a row or violations, never both or
// neither; a row has one value per column, each nil or of the documented
// Go type; times are UTC; strings hold no C0 control character other than
// tab, line feed and carriage return; the unique check never panics.
func FuzzRow(f *testing.F) {
	feed := &mesh.Feed{
		Name: "fuzz",
		Schema: `{"type":"record","name":"F","fields":[
 {"name":"s","type":"string"},
 {"name":"b","type":["null","bytes"]},
 {"name":"ok","type":["null","boolean"],"default":null},
 {"name":"i","type":"int","default":0},
 {"name":"l","type":["null","long"]},
 {"name":"f","type":["null","float"]},
 {"name":"d","type":"double","default":1.5},
 {"name":"us","type":["null",{"type":"long","logicalType":"timestamp-micros"}]},
 {"name":"ms","type":["null",{"type":"long","logicalType":"timestamp-millis"}]},
 {"name":"day","type":["null",{"type":"int","logicalType":"date"}]}
]}`,
		PrimaryKey: []string{"s", "l", "us"},
		UniqueKey:  true,
		Rules: []mesh.Rule{
			{Field: "s", Rule: "regex", Value: "^[a-z]*$"},
			{Field: "s", Rule: "max_length", Value: "5"},
			{Field: "l", Rule: "min", Value: "-10"},
			{Field: "d", Rule: "max", Value: "1e10"},
			{Field: "us", Rule: "min", Value: "2000-01-01T00:00:00Z"},
			{Field: "day", Rule: "max", Value: "2100-01-01"},
			{Field: "ok", Rule: "enum", Values: []string{"true", "false"}},
			{Field: "b", Rule: "required"},
		},
	}
	v, err := validate.New(feed)
	if err != nil {
		f.Fatal(err)
	}
	cols := v.Columns()
	check := v.NewFile()
	f.Add("abc|x|true|1|2|1.5|2.5|2026-01-01T00:00:00Z|2026-01-01 00:00:00.123|2026-01-01", uint16(0))
	f.Add("|||||||||", uint16(0xffff))
	f.Add("ab\x00|x|true|1|2|1.5|2.5|2026-01-01T00:00:00Z|2026-01-01 00:00:00.123|2026-01-01", uint16(0))
	f.Add("\xff|\x00|yes|2147483648|-9223372036854775809|1e39|NaN|9999-12-31T23:59:59.999999999Z|0000-01-01T00:00:00Z|0000-01-01", uint16(3))
	f.Fuzz(func(t *testing.T, joined string, nullMask uint16) {
		texts := strings.Split(joined, "|")
		var fields []formats.Field
		for i, text := range texts {
			name := "extra"
			if i < len(cols) {
				name = cols[i]
			}
			fields = append(fields, formats.Field{Name: name, Value: text, Null: nullMask&(1<<i) != 0 && text == ""})
		}
		rec := formats.Record{Number: 1, Fields: fields}
		row, viol := v.Row(rec)
		if (row == nil) == (len(viol) == 0) {
			t.Fatalf("row %v with violations %v", row, viol)
		}
		for _, x := range viol {
			if x.Field == "" || x.Rule == "" || x.Reason == "" {
				t.Fatalf("incomplete violation %+v", x)
			}
		}
		if row == nil {
			return
		}
		if len(row) != len(cols) {
			t.Fatalf("row has %d values for %d columns", len(row), len(cols))
		}
		want := []string{"string", "[]uint8", "bool", "int32", "int64", "float32", "float64", "time", "time", "time"}
		for i, val := range row {
			if val == nil {
				continue
			}
			ok := false
			switch val.(type) {
			case string:
				ok = want[i] == "string"
				if j := strings.IndexFunc(val.(string), func(r rune) bool { return r < 0x20 && r != '\t' && r != '\n' && r != '\r' }); j >= 0 {
					t.Fatalf("column %s: %q holds a control character at byte %d", cols[i], val, j)
				}
			case []byte:
				ok = want[i] == "[]uint8"
			case bool:
				ok = want[i] == "bool"
			case int32:
				ok = want[i] == "int32"
			case int64:
				ok = want[i] == "int64"
			case float32:
				ok = want[i] == "float32"
			case float64:
				ok = want[i] == "float64"
			case time.Time:
				ok = want[i] == "time" && val.(time.Time).Location() == time.UTC
			}
			if !ok {
				t.Fatalf("column %s: %#v (%T), want %s", cols[i], val, val, want[i])
			}
		}
		_ = check.Check(row, rec)
	})
}
