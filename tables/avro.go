package tables

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/apache/iceberg-go"
)

// ErrNoAvroType reports an Iceberg type that no contract field maps to.
var ErrNoAvroType = errors.New("tables: the Iceberg type has no contract (Avro) type")

// AvroSchema returns the Avro record schema (JSON) named record whose
// fields are s's top-level fields, in order, typed as a Contract maps
// Avro types to Iceberg's (the inverse of that mapping): string, long,
// int, double, float, boolean, bytes, timestamptz (long,
// timestamp-micros) and date (int, date); an optional field is
// ["null", T] with a null default. It fails with ErrNoAvroType for any
// other type (nested types, decimals, timestamps without a zone, ...),
// which a contract cannot declare. The result is what the registry
// judges against a table's contract.
func AvroSchema(s *iceberg.Schema, record string) (string, error) {
	var fields []json.RawMessage
	for _, f := range s.Fields() {
		var t any
		switch f.Type {
		case iceberg.PrimitiveTypes.String:
			t = "string"
		case iceberg.PrimitiveTypes.Int64:
			t = "long"
		case iceberg.PrimitiveTypes.Int32:
			t = "int"
		case iceberg.PrimitiveTypes.Float64:
			t = "double"
		case iceberg.PrimitiveTypes.Float32:
			t = "float"
		case iceberg.PrimitiveTypes.Bool:
			t = "boolean"
		case iceberg.PrimitiveTypes.Binary:
			t = "bytes"
		case iceberg.PrimitiveTypes.TimestampTz:
			t = map[string]string{"type": "long", "logicalType": "timestamp-micros"}
		case iceberg.PrimitiveTypes.Date:
			t = map[string]string{"type": "int", "logicalType": "date"}
		default:
			return "", fmt.Errorf("%w: field %q is %s", ErrNoAvroType, f.Name, f.Type)
		}
		var b []byte
		var err error
		if f.Required {
			b, err = json.Marshal(map[string]any{"name": f.Name, "type": t})
		} else {
			// A null default must be written out: omitempty would drop it.
			b, err = json.Marshal(map[string]any{"name": f.Name, "type": []any{"null", t}, "default": nil})
		}
		if err != nil {
			return "", err
		}
		fields = append(fields, b)
	}
	if len(fields) == 0 {
		return "", fmt.Errorf("%w: the schema has no fields", ErrNoAvroType)
	}
	b, err := json.Marshal(map[string]any{"type": "record", "name": record, "fields": fields})
	return string(b), err
}
