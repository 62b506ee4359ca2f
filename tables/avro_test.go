package tables

import (
	"errors"
	"testing"

	"github.com/apache/iceberg-go"
)

// AvroSchema inverts the contract's mapping: a contract's Iceberg schema
// turned back into Avro compiles to the same Iceberg schema.
func TestAvroSchemaRoundTrip(t *testing.T) {
	c := Contract{Schema: `{"type":"record","name":"All","namespace":"x","fields":[
		{"name":"s","type":"string"},{"name":"l","type":"long"},{"name":"i","type":["null","int"],"default":null},
		{"name":"d","type":"double"},{"name":"f","type":"float"},{"name":"b","type":"boolean"},{"name":"y","type":"bytes"},
		{"name":"ts","type":{"type":"long","logicalType":"timestamp-micros"}},{"name":"day","type":["null",{"type":"int","logicalType":"date"}],"default":null}]}`}
	l, err := compile(c)
	if err != nil {
		t.Fatal(err)
	}
	as, err := AvroSchema(l.ice, "x.All")
	if err != nil {
		t.Fatal(err)
	}
	back, err := compile(Contract{Schema: as})
	if err != nil {
		t.Fatalf("compile(%s): %v", as, err)
	}
	if err := back.sameSchema(l.ice); err != nil {
		t.Errorf("round trip: %v\n%s", err, as)
	}
	nested := iceberg.NewSchema(0, iceberg.NestedField{ID: 1, Name: "m", Required: true,
		Type: &iceberg.ListType{ElementID: 2, Element: iceberg.PrimitiveTypes.String, ElementRequired: true}})
	if _, err := AvroSchema(nested, "N"); !errors.Is(err, ErrNoAvroType) {
		t.Errorf("a list field: %v, want ErrNoAvroType", err)
	}
	if _, err := AvroSchema(iceberg.NewSchema(0, iceberg.NestedField{ID: 1, Name: "t", Type: iceberg.PrimitiveTypes.Timestamp}), "N"); !errors.Is(err, ErrNoAvroType) {
		t.Errorf("a timestamp without zone: %v, want ErrNoAvroType", err)
	}
}
