package tables

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/apache/iceberg-go"
	"github.com/hamba/avro/v2"
	"github.com/parquet-go/parquet-go"
)

// Write modes of a Contract.
const (
	// ModeAppend adds every row of a batch to the table.
	ModeAppend = "append"
	// ModeUpsert replaces rows by primary key, keeping the row with the
	// greatest ordering value (copy-on-write).
	ModeUpsert = "upsert"
)

// Contract is a table's contract as a feed defines it: an Avro record
// schema, a primary key, an ordering field and a write mode. Rows passed to
// Catalog.Write are aligned with Schema's fields (see docs/ingestion.md,
// "Typed rows").
type Contract struct {
	// Schema is the Avro record schema (JSON) of the rows. Its fields, in
	// order, are the Iceberg schema's fields (ids 1, 2, ...) and the data
	// files' Parquet columns (same order, same field ids).
	Schema string
	// PrimaryKey names the key fields; required for ModeUpsert. For an
	// upsert table they become the Iceberg schema's identifier-field-ids,
	// unless one of them is nullable or a float or double: Iceberg allows
	// only required, non-floating-point identifier fields, so such a key
	// leaves identifier-field-ids empty (logmesh still upserts by it, a
	// null key value being one key). Append tables declare no identifier
	// fields, since their key does not make rows unique.
	PrimaryKey []string
	// Ordering names the field whose greatest value wins on upsert ("" means
	// the latest row wins).
	Ordering string
	// Mode is ModeAppend ("" means append) or ModeUpsert.
	Mode string
}

// kind is the Go/Iceberg/Parquet type family of a contract field.
type kind int

const (
	kString kind = iota
	kLong
	kInt
	kDouble
	kFloat
	kBool
	kBytes
	kTimestamp
	kDate
)

func (k kind) String() string {
	return [...]string{"string", "long", "int", "double", "float", "boolean", "bytes", "timestamp", "date"}[k]
}

// field is one compiled contract field.
type field struct {
	name     string
	kind     kind
	optional bool
	col      int // Parquet leaf column index
}

// layout is a compiled Contract: field types, the Iceberg schema, the
// Parquet schema and the key/ordering positions. Immutable once built, so
// safe for concurrent use.
type layout struct {
	fields []field
	byName map[string]int
	ice    *iceberg.Schema
	pq     *parquet.Schema
	key    []int // field positions of the primary key
	ord    int   // field position of the ordering field, -1 if none
	mode   string
}

// compile checks a contract and builds its layout.
func compile(c Contract) (*layout, error) {
	sch, err := avro.ParseWithCache(c.Schema, "", &avro.SchemaCache{})
	if err != nil {
		return nil, fmt.Errorf("%w: schema: %w", ErrContract, err)
	}
	rec, ok := sch.(*avro.RecordSchema)
	if !ok {
		return nil, fmt.Errorf("%w: schema is a %s, not a record", ErrContract, sch.Type())
	}
	l := &layout{byName: map[string]int{}, ord: -1, mode: c.Mode}
	if l.mode == "" {
		l.mode = ModeAppend
	}
	if l.mode != ModeAppend && l.mode != ModeUpsert {
		return nil, fmt.Errorf("%w: mode %q (want %q or %q)", ErrContract, c.Mode, ModeAppend, ModeUpsert)
	}
	var (
		iceFields []iceberg.NestedField
		group     = parquet.Group{}
	)
	for i, f := range rec.Fields() {
		fd := field{name: f.Name()}
		t := f.Type()
		if u, ok := t.(*avro.UnionSchema); ok {
			if !u.Nullable() {
				return nil, fmt.Errorf("%w: field %q: only [\"null\", T] unions are supported", ErrContract, f.Name())
			}
			fd.optional = true
			for _, m := range u.Types() {
				if m.Type() != avro.Null {
					t = m
				}
			}
		}
		if fd.kind, err = kindOf(t); err != nil {
			return nil, fmt.Errorf("%w: field %q: %w", ErrContract, f.Name(), err)
		}
		if _, dup := l.byName[fd.name]; dup {
			return nil, fmt.Errorf("%w: duplicate field %q", ErrContract, fd.name)
		}
		l.byName[fd.name] = i
		l.fields = append(l.fields, fd)
		id := i + 1
		iceFields = append(iceFields, iceberg.NestedField{ID: id, Name: fd.name, Type: fd.kind.iceberg(), Required: !fd.optional})
		node := fd.kind.parquet()
		if fd.optional {
			node = parquet.Optional(node)
		} else {
			node = parquet.Required(node)
		}
		group[fd.name] = parquet.FieldID(node, id)
	}
	if len(l.fields) == 0 {
		return nil, fmt.Errorf("%w: record has no fields", ErrContract)
	}
	l.pq = parquet.NewSchema(rec.Name(), newRecordNode(group, l.fields))
	for ci, path := range l.pq.Columns() {
		l.fields[l.byName[path[0]]].col = ci
	}
	for _, k := range c.PrimaryKey {
		i, ok := l.byName[k]
		if !ok {
			return nil, fmt.Errorf("%w: primary key field %q is not in the schema", ErrContract, k)
		}
		l.key = append(l.key, i)
	}
	if c.Ordering != "" {
		i, ok := l.byName[c.Ordering]
		if !ok {
			return nil, fmt.Errorf("%w: ordering field %q is not in the schema", ErrContract, c.Ordering)
		}
		l.ord = i
	}
	if l.mode == ModeUpsert && len(l.key) == 0 {
		return nil, fmt.Errorf("%w: upsert needs a primary key", ErrContract)
	}
	l.ice = iceberg.NewSchemaWithIdentifiers(0, l.identifierIDs(iceFields), iceFields...)
	return l, nil
}

// identifierIDs returns the Iceberg identifier field ids of a table with
// the layout's fields (fields[i] is contract field i; sameSchema checked
// that): the primary key's field ids, sorted, for an upsert contract. It
// returns nil when the key cannot be an Iceberg identifier — a nullable
// field, or a float or double (the Iceberg spec forbids both, and Iceberg
// Java refuses to load such a schema) — or for an append contract, whose
// key does not make rows unique.
func (l *layout) identifierIDs(fields []iceberg.NestedField) []int {
	if l.mode != ModeUpsert || len(l.key) == 0 {
		return nil
	}
	ids := make([]int, 0, len(l.key))
	for _, k := range l.key {
		f := l.fields[k]
		if f.optional || f.kind == kDouble || f.kind == kFloat {
			return nil
		}
		if !slices.Contains(ids, fields[k].ID) {
			ids = append(ids, fields[k].ID)
		}
	}
	slices.Sort(ids)
	return ids
}

// recordNode is the Parquet root group of a contract: a parquet.Group
// whose Fields are in the contract's field order rather than by name (the
// order parquet.Group imposes), so that a data file's columns come in
// schema order, as plain Parquet readers and SELECT * show them.
// parquet-go orders its VARIANT groups the same way (orderedGroup). Only
// Fields is reordered: GoType and String still follow the name order,
// which matters to struct-based readers and writers only, and logmesh
// uses neither with this schema.
type recordNode struct {
	parquet.Group
	fields []parquet.Field
}

func newRecordNode(g parquet.Group, order []field) recordNode {
	byName := make(map[string]parquet.Field, len(g))
	for _, f := range g.Fields() {
		byName[f.Name()] = f
	}
	fields := make([]parquet.Field, len(order))
	for i, f := range order {
		fields[i] = byName[f.name]
	}
	return recordNode{Group: g, fields: fields}
}

// Fields returns the fields in contract order.
func (r recordNode) Fields() []parquet.Field { return r.fields }

func kindOf(t avro.Schema) (kind, error) {
	p, ok := t.(*avro.PrimitiveSchema)
	if !ok {
		return 0, fmt.Errorf("type %s is not supported", t.Type())
	}
	var logical avro.LogicalType
	if ls := p.Logical(); ls != nil {
		logical = ls.Type()
	}
	switch {
	case p.Type() == avro.Long && (logical == avro.TimestampMicros || logical == avro.TimestampMillis):
		return kTimestamp, nil
	case p.Type() == avro.Int && logical == avro.Date:
		return kDate, nil
	case logical != "":
		return 0, fmt.Errorf("logical type %s is not supported", logical)
	}
	switch p.Type() {
	case avro.String:
		return kString, nil
	case avro.Long:
		return kLong, nil
	case avro.Int:
		return kInt, nil
	case avro.Double:
		return kDouble, nil
	case avro.Float:
		return kFloat, nil
	case avro.Boolean:
		return kBool, nil
	case avro.Bytes:
		return kBytes, nil
	}
	return 0, fmt.Errorf("type %s is not supported", p.Type())
}

func (k kind) iceberg() iceberg.Type {
	switch k {
	case kString:
		return iceberg.PrimitiveTypes.String
	case kLong:
		return iceberg.PrimitiveTypes.Int64
	case kInt:
		return iceberg.PrimitiveTypes.Int32
	case kDouble:
		return iceberg.PrimitiveTypes.Float64
	case kFloat:
		return iceberg.PrimitiveTypes.Float32
	case kBool:
		return iceberg.PrimitiveTypes.Bool
	case kBytes:
		return iceberg.PrimitiveTypes.Binary
	case kTimestamp:
		return iceberg.PrimitiveTypes.TimestampTz
	default:
		return iceberg.PrimitiveTypes.Date
	}
}

// parquet returns the Parquet leaf of a kind, PLAIN-encoded. parquet-go's
// default for byte arrays (string, bytes), DELTA_LENGTH_BYTE_ARRAY, is not
// readable by Iceberg's vectorized Parquet reader (Spark), which supports
// PLAIN and dictionary encodings only. Dictionary encoding (parquet-mr's
// default) was measured and not chosen: with parquet-go v0.32 it cut the
// write rate by about a fifth, made files bigger on high-cardinality
// strings (parquet-go has no parquet-mr-style fallback when a dictionary
// does not pay), and threw off the writer's size estimate, so files
// rolled at about half the target size. zstd already takes most of what a
// dictionary would on repetitive columns.
func (k kind) parquet() parquet.Node {
	var n parquet.Node
	switch k {
	case kString:
		n = parquet.String()
	case kBytes:
		n = parquet.Leaf(parquet.ByteArrayType)
	case kLong:
		n = parquet.Int(64)
	case kInt:
		n = parquet.Int(32)
	case kDouble:
		n = parquet.Leaf(parquet.DoubleType)
	case kFloat:
		n = parquet.Leaf(parquet.FloatType)
	case kBool:
		n = parquet.Leaf(parquet.BooleanType)
	case kTimestamp:
		n = parquet.Timestamp(parquet.Microsecond)
	default:
		n = parquet.Date()
	}
	return parquet.Encoded(n, &parquet.Plain)
}

// sameSchema reports whether a table schema matches the contract's by
// field names, types and optionality (ids may differ).
func (l *layout) sameSchema(s *iceberg.Schema) error {
	fs := s.Fields()
	if len(fs) != len(l.fields) {
		return fmt.Errorf("%w: table has %d fields, contract %d", ErrSchemaMismatch, len(fs), len(l.fields))
	}
	for i, f := range fs {
		want := l.fields[i]
		if f.Name != want.name || !f.Type.Equals(want.kind.iceberg()) || f.Required == want.optional {
			return fmt.Errorf("%w: table field %d is %s %s (required=%v), contract has %s %s (required=%v)",
				ErrSchemaMismatch, i+1, f.Name, f.Type, f.Required, want.name, want.kind.iceberg(), !want.optional)
		}
	}
	return nil
}

const microsPerDay = 86400 * 1_000_000

// toParquet converts a typed row into dst (reused when long enough), one
// value per Parquet column.
func (l *layout) toParquet(dst parquet.Row, row []any) (parquet.Row, error) {
	if len(row) != len(l.fields) {
		return dst, fmt.Errorf("%w: %d values, contract has %d fields", ErrBadRow, len(row), len(l.fields))
	}
	if cap(dst) < len(l.fields) {
		dst = make(parquet.Row, len(l.fields))
	}
	dst = dst[:len(l.fields)]
	for i := range l.fields {
		f := &l.fields[i]
		v := row[i]
		if v == nil {
			if !f.optional {
				return dst, fmt.Errorf("%w: field %q is required but nil", ErrBadRow, f.name)
			}
			dst[f.col] = parquet.NullValue().Level(0, 0, f.col)
			continue
		}
		var pv parquet.Value
		ok := true
		switch f.kind {
		case kString:
			var s string
			if s, ok = v.(string); ok {
				// The string's bytes, not a copy: parquet-go copies the
				// values it writes and never modifies them (ValueOf(s)
				// would allocate an interface per value).
				pv = parquet.ByteArrayValue(unsafe.Slice(unsafe.StringData(s), len(s)))
			}
		case kLong:
			var n int64
			if n, ok = v.(int64); ok {
				pv = parquet.Int64Value(n)
			}
		case kInt:
			var n int32
			if n, ok = v.(int32); ok {
				pv = parquet.Int32Value(n)
			}
		case kDouble:
			var x float64
			if x, ok = v.(float64); ok {
				pv = parquet.DoubleValue(x)
			}
		case kFloat:
			var x float32
			if x, ok = v.(float32); ok {
				pv = parquet.FloatValue(x)
			}
		case kBool:
			var b bool
			if b, ok = v.(bool); ok {
				pv = parquet.BooleanValue(b)
			}
		case kBytes:
			var b []byte
			if b, ok = v.([]byte); ok {
				pv = parquet.ByteArrayValue(b)
			}
		case kTimestamp:
			var t time.Time
			if t, ok = v.(time.Time); ok {
				pv = parquet.Int64Value(t.UnixMicro())
			}
		case kDate:
			var t time.Time
			if t, ok = v.(time.Time); ok {
				pv = parquet.Int32Value(int32(floorDiv(t.UnixMicro(), microsPerDay)))
			}
		}
		if !ok {
			return dst, fmt.Errorf("%w: field %q wants %s, got %T", ErrBadRow, f.name, f.kind, v)
		}
		def := 0
		if f.optional {
			def = 1
		}
		dst[f.col] = pv.Level(0, def, f.col)
	}
	return dst, nil
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// fromParquet converts a Parquet row (columns as in the file, mapped by
// colOf: field position → column index in that row) into a typed row.
// Byte slices and strings are copied.
func (l *layout) fromParquet(dst []any, row parquet.Row, colOf []int) []any {
	dst = dst[:0]
	for i := range l.fields {
		dst = append(dst, l.value(i, row[colOf[i]]))
	}
	return dst
}

// value converts the Parquet value of field i to its Go type.
func (l *layout) value(i int, v parquet.Value) any {
	if v.IsNull() {
		return nil
	}
	switch l.fields[i].kind {
	case kString:
		return string(v.ByteArray())
	case kLong:
		return v.Int64()
	case kInt:
		return v.Int32()
	case kDouble:
		return v.Double()
	case kFloat:
		return v.Float()
	case kBool:
		return v.Boolean()
	case kBytes:
		return append([]byte{}, v.ByteArray()...)
	case kTimestamp:
		return time.UnixMicro(v.Int64()).UTC()
	default:
		return time.UnixMicro(int64(v.Int32()) * microsPerDay).UTC()
	}
}

// appendKey appends a canonical encoding of the primary key of a typed row
// to b: each value type-tagged and length-prefixed, so distinct keys never
// collide.
func (l *layout) appendKey(b []byte, row []any) []byte {
	for _, i := range l.key {
		b = appendValue(b, row[i])
	}
	return b
}

func appendValue(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, 0)
	case string:
		b = append(b, 1)
		b = binary.AppendUvarint(b, uint64(len(x)))
		return append(b, x...)
	case []byte:
		b = append(b, 2)
		b = binary.AppendUvarint(b, uint64(len(x)))
		return append(b, x...)
	case int64:
		return binary.BigEndian.AppendUint64(append(b, 3), uint64(x))
	case int32:
		return binary.BigEndian.AppendUint64(append(b, 3), uint64(int64(x)))
	case float64:
		return binary.BigEndian.AppendUint64(append(b, 4), math.Float64bits(x))
	case float32:
		return binary.BigEndian.AppendUint64(append(b, 4), math.Float64bits(float64(x)))
	case bool:
		if x {
			return append(b, 5, 1)
		}
		return append(b, 5, 0)
	case time.Time:
		return binary.BigEndian.AppendUint64(append(b, 6), uint64(x.UnixMicro()))
	}
	return append(b, fmt.Sprintf("?%T:%v", v, v)...)
}

// compareOrdering compares two values of the ordering field; nil sorts
// first. Values of one field always share a Go type.
func compareOrdering(a, b any) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	switch x := a.(type) {
	case string:
		return strings.Compare(x, b.(string))
	case []byte:
		return strings.Compare(string(x), string(b.([]byte)))
	case int64:
		return cmp3(x, b.(int64))
	case int32:
		return cmp3(x, b.(int32))
	case float64:
		return cmp3(x, b.(float64))
	case float32:
		return cmp3(x, b.(float32))
	case bool:
		y := b.(bool)
		switch {
		case x == y:
			return 0
		case !x:
			return -1
		}
		return 1
	case time.Time:
		return x.Compare(b.(time.Time))
	}
	return 0
}

func cmp3[T int64 | int32 | float64 | float32](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Errors of this package. Each is wrapped with context; test with errors.Is.
var (
	// ErrContract reports an invalid or unsupported contract.
	ErrContract = errors.New("tables: invalid contract")
	// ErrBadRow reports a row that does not match its contract.
	ErrBadRow = errors.New("tables: row does not match the contract")
	// ErrSchemaMismatch reports a contract whose schema differs from the
	// table's current schema (schema evolution is not supported yet).
	ErrSchemaMismatch = errors.New("tables: contract schema differs from the table schema")
)
