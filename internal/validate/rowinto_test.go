package validate_test

import (
	"reflect"
	"testing"

	"github.com/logmesh/logmesh/internal/formats"
	"github.com/logmesh/logmesh/mesh"
)

// TestRowIntoReusesItsRow checks that RowInto gives what Row gives, in
// dst's memory when it is large enough, and that nothing of an earlier
// row stays behind: not after a good row, nor after a rejected one, nor
// in a field the record lacks.
func TestRowIntoReusesItsRow(t *testing.T) {
	v := newValidator(t, &mesh.Feed{Schema: `{"type":"record","name":"R","fields":[
	 {"name":"s","type":"string"},
	 {"name":"n","type":["null","long"]},
	 {"name":"b","type":"bytes","default":"d"}
	]}`})
	rec := func(fields ...formats.Field) formats.Record { return formats.Record{Number: 1, Fields: fields} }
	recs := []formats.Record{
		rec(formats.Field{Name: "s", Value: "a"}, formats.Field{Name: "n", Value: "7"}, formats.Field{Name: "b", Value: "xy"}),
		rec(formats.Field{Name: "s", Value: "b"}, formats.Field{Name: "n", Value: "not a number"}),
		rec(formats.Field{Name: "s", Value: "c"}),
		rec(formats.Field{Name: "s", Value: "d"}, formats.Field{Name: "n", Value: "8"}, formats.Field{Name: "b", Value: "z"}),
	}
	dst := make([]any, 0, 3)
	for i, r := range recs {
		want, wantVs := v.Row(r)
		got, vs := v.RowInto(dst, r)
		if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(vs, wantVs) {
			t.Fatalf("record %d: RowInto gave %v %v, Row %v %v", i, got, vs, want, wantVs)
		}
		if got != nil && &got[0] != &dst[:1][0] {
			t.Fatalf("record %d: RowInto did not use dst", i)
		}
	}
	if got, _ := v.RowInto(make([]any, 0, 1), recs[0]); len(got) != 3 {
		t.Fatalf("RowInto with a short dst gave %v", got)
	}
}
