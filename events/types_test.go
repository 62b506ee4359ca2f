package events_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/hamba/avro/v2"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/schemas"
)

// TestTypesMatchSchemas checks that every Go event type and its .avsc agree
// field by field, in both directions, with compatible kinds.
func TestTypesMatchSchemas(t *testing.T) {
	all, err := schemas.All()
	if err != nil {
		t.Fatal(err)
	}
	var schemaNames []string
	for _, s := range all {
		schemaNames = append(schemaNames, s.Name)
		t.Run(shortName(s.Name), func(t *testing.T) {
			ev, err := events.New(s.Name)
			if err != nil {
				t.Fatal(err)
			}
			if ev.Name() != s.Name {
				t.Errorf("New(%q).Name() = %q", s.Name, ev.Name())
			}
			if ev.Meta() == nil {
				t.Fatal("Meta() is nil")
			}
			parsed, err := schemas.Parse(s.Text)
			if err != nil {
				t.Fatal(err)
			}
			checkType(t, "", parsed, reflect.TypeOf(ev).Elem())
		})
	}
	if names := events.Names(); !slices.Equal(names, schemaNames) {
		t.Errorf("Names() = %v\nschemas  = %v", names, schemaNames)
	}
	if !slices.IsSorted(events.Names()) {
		t.Error("Names() is not sorted")
	}
	if _, err := events.New("logmesh.events.Envelope"); err == nil {
		t.Error("New accepted the envelope, which is not a fact")
	}
}

func checkType(t *testing.T, path string, s avro.Schema, typ reflect.Type) {
	t.Helper()
	if ref, ok := s.(*avro.RefSchema); ok {
		s = ref.Schema()
	}
	switch s := s.(type) {
	case *avro.PrimitiveSchema:
		if l := s.Logical(); l != nil {
			if l.Type() != avro.TimestampMicros {
				t.Errorf("%s: logical type %s not supported by this test", path, l.Type())
				return
			}
			if typ != timeType {
				t.Errorf("%s: timestamp-micros needs time.Time, Go has %s", path, typ)
			}
			return
		}
		want := map[avro.Type]reflect.Type{
			avro.String:  reflect.TypeFor[string](),
			avro.Long:    reflect.TypeFor[int64](),
			avro.Int:     reflect.TypeFor[int32](),
			avro.Boolean: reflect.TypeFor[bool](),
			avro.Double:  reflect.TypeFor[float64](),
			avro.Float:   reflect.TypeFor[float32](),
			avro.Bytes:   reflect.TypeFor[[]byte](),
		}[s.Type()]
		if want == nil {
			t.Errorf("%s: Avro type %s not supported by this test", path, s.Type())
		} else if typ != want {
			t.Errorf("%s: Avro %s needs Go %s, has %s", path, s.Type(), want, typ)
		}
	case *avro.UnionSchema:
		types := s.Types()
		if len(types) != 2 || types[0].Type() != avro.Null {
			t.Errorf("%s: only [\"null\", T] unions are used", path)
			return
		}
		if typ.Kind() != reflect.Pointer {
			t.Errorf("%s: optional field needs a pointer, Go has %s", path, typ)
			return
		}
		checkType(t, path, types[1], typ.Elem())
	case *avro.ArraySchema:
		if typ.Kind() != reflect.Slice {
			t.Errorf("%s: array needs a slice, Go has %s", path, typ)
			return
		}
		checkType(t, path+"[]", s.Items(), typ.Elem())
	case *avro.MapSchema:
		if typ.Kind() != reflect.Map || typ.Key().Kind() != reflect.String {
			t.Errorf("%s: map needs map[string]T, Go has %s", path, typ)
			return
		}
		checkType(t, path+"{}", s.Values(), typ.Elem())
	case *avro.RecordSchema:
		if typ.Kind() != reflect.Struct {
			t.Errorf("%s: record %s needs a struct, Go has %s", path, s.FullName(), typ)
			return
		}
		goFields := map[string]reflect.StructField{}
		for i := range typ.NumField() {
			f := typ.Field(i)
			tag, ok := f.Tag.Lookup("avro")
			if !ok {
				t.Errorf("%s.%s: exported field without avro tag", path, f.Name)
				continue
			}
			goFields[tag] = f
		}
		for _, sf := range s.Fields() {
			f, ok := goFields[sf.Name()]
			if !ok {
				t.Errorf("%s: schema field %q has no Go field in %s", path, sf.Name(), typ)
				continue
			}
			delete(goFields, sf.Name())
			checkType(t, strings.TrimPrefix(path+"."+sf.Name(), "."), sf.Type(), f.Type)
		}
		for tag := range goFields {
			t.Errorf("%s: Go field with tag %q has no schema field in %s", path, tag, s.FullName())
		}
	default:
		t.Errorf("%s: schema type %s not supported by this test", path, s.Type())
	}
}

// TestOptionalFieldsHaveDefaults: every optional field must be absent-able
// in older data, which needs a default (null), or adding it later is an
// incompatible change.
func TestOptionalFieldsHaveDefaults(t *testing.T) {
	all, err := schemas.All()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range all {
		parsed, err := schemas.Parse(s.Text)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range parsed.(*avro.RecordSchema).Fields() {
			if _, ok := f.Type().(*avro.UnionSchema); ok && (!f.HasDefault() || f.Default() != nil) {
				t.Errorf("%s.%s: optional field without default null", s.Name, f.Name())
			}
		}
	}
}

// TestPopulatedIsFull guards the golden data: every field of every event
// must be set, or a field could silently drop out of the round trip.
func TestPopulatedIsFull(t *testing.T) {
	for _, name := range events.Names() {
		v := reflect.ValueOf(populated(t, name)).Elem()
		var walk func(path string, v reflect.Value)
		walk = func(path string, v reflect.Value) {
			if v.IsZero() {
				t.Errorf("%s: %s is zero", name, path)
				return
			}
			switch v.Kind() {
			case reflect.Pointer:
				walk(path, v.Elem())
			case reflect.Struct:
				if v.Type() == timeType {
					return
				}
				for i := range v.NumField() {
					walk(path+"."+v.Type().Field(i).Name, v.Field(i))
				}
			case reflect.Slice:
				for i := range v.Len() {
					walk(path+"[]", v.Index(i))
				}
			}
		}
		walk("", v)
	}
}
