package odcs

import (
	"fmt"
	"strings"

	"github.com/hamba/avro/v2"
)

// recordProperties parses an Avro record schema and returns its fields as
// properties, and the record's doc.
func recordProperties(schema string) ([]Property, string, error) {
	s, err := avro.ParseWithCache(schema, "", &avro.SchemaCache{})
	if err != nil {
		return nil, "", fmt.Errorf("schema: %w", err)
	}
	rec, ok := s.(*avro.RecordSchema)
	if !ok {
		return nil, "", fmt.Errorf("schema is a %s, not a record", s.Type())
	}
	m := mapper{seen: map[string]bool{}}
	props, _ := m.fields(rec)
	return props, rec.Doc(), nil
}

// mapper maps Avro types to properties; seen holds the records being
// mapped, so that a recursive record is cut rather than followed forever.
type mapper struct{ seen map[string]bool }

// fields maps a record's fields, and returns the physical type of the
// record.
func (m mapper) fields(rec *avro.RecordSchema) ([]Property, string) {
	if m.seen[rec.FullName()] {
		return nil, "struct"
	}
	m.seen[rec.FullName()] = true
	defer delete(m.seen, rec.FullName())
	props := make([]Property, 0, len(rec.Fields()))
	for _, f := range rec.Fields() {
		p := m.property(f.Type())
		p.Name = f.Name()
		if f.Doc() != "" {
			p.Description = f.Doc()
		}
		props = append(props, p)
	}
	return props, "struct"
}

// property maps one Avro type. A union with null is the other type, not
// required; every other type is required.
func (m mapper) property(s avro.Schema) Property {
	if u, ok := s.(*avro.UnionSchema); ok {
		if !u.Nullable() {
			names := make([]string, 0, len(u.Types()))
			for _, t := range u.Types() {
				names = append(names, m.property(t).PhysicalType)
			}
			return Property{PhysicalType: "union<" + strings.Join(names, ",") + ">", Required: !u.Contains(avro.Null)}
		}
		for _, t := range u.Types() {
			if t.Type() != avro.Null {
				p := m.property(t)
				p.Required = false
				return p
			}
		}
	}
	p := Property{Required: true}
	switch s := s.(type) {
	case *avro.RefSchema:
		p = m.property(s.Schema())
	case *avro.PrimitiveSchema:
		p.LogicalType, p.PhysicalType, p.LogicalTypeOptions = primitive(s)
	case *avro.FixedSchema:
		p.LogicalType, p.PhysicalType = "string", fmt.Sprintf("fixed[%d]", s.Size())
		p.LogicalTypeOptions = &TypeOptions{Format: "binary"}
		if d, ok := s.Logical().(*avro.DecimalLogicalSchema); ok {
			p.LogicalType, p.PhysicalType, p.LogicalTypeOptions = "number", fmt.Sprintf("decimal(%d,%d)", d.Precision(), d.Scale()), nil
		}
	case *avro.EnumSchema:
		p.LogicalType, p.PhysicalType = "string", "string"
		if p.Description == "" {
			p.Description = "one of " + strings.Join(s.Symbols(), ", ")
		}
	case *avro.ArraySchema:
		items := m.property(s.Items())
		p.LogicalType, p.PhysicalType, p.Items = "array", "list<"+items.PhysicalType+">", &items
	case *avro.MapSchema:
		values := m.property(s.Values())
		p.LogicalType, p.PhysicalType = "object", "map<string,"+values.PhysicalType+">"
	case *avro.RecordSchema:
		p.LogicalType = "object"
		p.Properties, p.PhysicalType = m.fields(s)
	default:
		p.PhysicalType = string(s.Type())
	}
	return p
}

// primitive maps a primitive type with its logical type.
func primitive(s *avro.PrimitiveSchema) (logical, physical string, opts *TypeOptions) {
	var lt avro.LogicalType
	if ls := s.Logical(); ls != nil {
		lt = ls.Type()
	}
	switch {
	case lt == avro.Date:
		return "date", "date", nil
	case lt == avro.TimestampMillis || lt == avro.TimestampMicros:
		return "date", "timestamptz", nil
	case lt == avro.LocalTimestampMillis || lt == avro.LocalTimestampMicros:
		return "date", "timestamp", nil
	case lt == avro.TimeMillis || lt == avro.TimeMicros:
		return "date", "time", nil
	case lt == avro.UUID:
		return "string", "uuid", &TypeOptions{Format: "uuid"}
	case lt == avro.Decimal:
		d := s.Logical().(*avro.DecimalLogicalSchema)
		return "number", fmt.Sprintf("decimal(%d,%d)", d.Precision(), d.Scale()), nil
	}
	switch s.Type() {
	case avro.String:
		return "string", "string", nil
	case avro.Bytes:
		return "string", "binary", &TypeOptions{Format: "binary"}
	case avro.Boolean:
		return "boolean", "boolean", nil
	case avro.Int:
		return "integer", "int", &TypeOptions{Format: "i32"}
	case avro.Long:
		return "integer", "long", &TypeOptions{Format: "i64"}
	case avro.Float:
		return "number", "float", &TypeOptions{Format: "f32"}
	case avro.Double:
		return "number", "double", &TypeOptions{Format: "f64"}
	}
	return "", string(s.Type()), nil // null
}
