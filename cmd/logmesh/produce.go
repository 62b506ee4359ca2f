package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/logmesh/logmesh/events"
)

// maxProduceLine caps one NDJSON line (and so one record) read by produce.
const maxProduceLine = 16 << 20

// produceTopicPartitions is the partition count of a topic made by
// produce --create.
const produceTopicPartitions = 6

// produceFlags registers the flags of the command that registers an Avro
// schema under a subject and produces NDJSON lines, converted to that
// schema, as Confluent-framed Avro records. Every line is read and
// converted before anything is registered or produced, so a bad line, a
// missing topic or a refused schema leaves the registry and the topic as
// they were. stdin is read when -f is "-" (the default).
func produceFlags(fs *flag.FlagSet) runFunc {
	topic := fs.String("topic", "", "topic to produce to (required)")
	schemaFile := fs.String("schema", "", "Avro schema file, .avsc (required)")
	subject := fs.String("subject", "", "registry subject (default TOPIC-value)")
	keyField := fs.String("key", "", "top-level field whose value is the record key (default: no key)")
	create := fs.Bool("create", false, "create the topic if it does not exist")
	file := fs.String("f", "-", "NDJSON input, one JSON object per line (- for stdin)")
	return func(ctx context.Context, g global, in *cmdInput) error {
		stdin, stdout := in.stdin, in.stdout
		if *topic == "" || *schemaFile == "" {
			return usageError("produce: --topic and --schema are required")
		}
		if *subject == "" {
			*subject = *topic + "-value" // Confluent's TopicNameStrategy
		}

		text, err := os.ReadFile(*schemaFile)
		if err != nil {
			return fmt.Errorf("produce: %w", err)
		}
		schema, err := avro.ParseWithCache(string(text), "", &avro.SchemaCache{})
		if err != nil {
			return fmt.Errorf("produce: schema %s: %w", *schemaFile, err)
		}
		key, err := newKeyField(schema, *keyField)
		if err != nil {
			return fmt.Errorf("produce: --key %s: %w: %w", *keyField, err, errUsage)
		}

		src := stdin
		name := "stdin"
		if *file != "-" {
			f, err := os.Open(*file)
			if err != nil {
				return fmt.Errorf("produce: %w", err)
			}
			defer f.Close()
			src, name = f, *file
		}
		lines, err := readLines(src, schema, key)
		if err != nil {
			return fmt.Errorf("produce: %s: %w", name, err)
		}

		conn, err := g.reach(ctx, "to produce")
		if err != nil {
			return err
		}
		cl, err := conn.Client()
		if err != nil {
			return fmt.Errorf("produce: %w", err)
		}
		defer cl.Close()
		exists, err := topicExists(ctx, cl, *topic)
		if err != nil {
			return fmt.Errorf("produce: %w", err)
		}
		if !exists && !*create {
			return fmt.Errorf("produce: topic %s does not exist (--create creates it)", *topic)
		}

		rcl, err := sr.NewClient(sr.URLs(g.registry))
		if err != nil {
			return fmt.Errorf("registry %s: %w", g.registry, err)
		}
		ss, err := rcl.CreateSchema(ctx, *subject, sr.Schema{Schema: string(text), Type: sr.TypeAvro})
		if err != nil {
			var re *sr.ResponseError
			if errors.As(err, &re) && (re.StatusCode == 409 || re.ErrorCode == 409) {
				return fmt.Errorf("produce: the registry refused %s for subject %s: %w", *schemaFile, *subject, err)
			}
			return fmt.Errorf("produce: register %s under subject %s: %w", *schemaFile, *subject, err)
		}

		if !exists {
			spec := events.TopicSpec{Name: *topic, Partitions: produceTopicPartitions, Configs: map[string]*string{
				"cleanup.policy":  ptrTo("delete"),
				"retention.ms":    ptrTo("-1"),
				"retention.bytes": ptrTo("-1"),
			}}
			if err := conn.EnsureTopics(ctx, spec); err != nil {
				return fmt.Errorf("produce: %w", err)
			}
		}

		recs := make([]*kgo.Record, len(lines))
		for i, l := range lines {
			v := make([]byte, 5, 5+len(l.value))
			binary.BigEndian.PutUint32(v[1:5], uint32(ss.ID))
			recs[i] = &kgo.Record{Topic: *topic, Key: l.key, Value: append(v, l.value...)}
		}
		res := cl.ProduceSync(ctx, recs...)
		produced := 0
		for _, r := range res {
			if r.Err == nil {
				produced++
			}
		}
		if err := res.FirstErr(); err != nil {
			return fmt.Errorf("produce: produced %d of %d records to %s: %w", produced, len(recs), *topic, err)
		}
		fmt.Fprintf(stdout, "produced %d records to %s (subject %s, schema id %d)\n", produced, *topic, *subject, ss.ID)
		return nil
	}
}

func ptrTo(s string) *string { return &s }

// topicExists reports whether topic is in the cluster's metadata.
func topicExists(ctx context.Context, cl *kgo.Client, topic string) (bool, error) {
	details, err := kadm.NewClient(cl).ListTopics(ctx, topic)
	if err != nil {
		return false, fmt.Errorf("topic %s: %w", topic, err)
	}
	d, ok := details[topic]
	switch {
	case !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition):
		return false, nil
	case d.Err != nil:
		return false, fmt.Errorf("topic %s: %w", topic, d.Err)
	}
	return true, nil
}

// line is one converted input line: its Avro body and its key.
type line struct {
	key, value []byte
}

// readLines reads NDJSON from r, converts each line to schema and encodes
// it. It stops at the first line that does not fit, with its number.
// Blank lines are skipped (and counted).
func readLines(r io.Reader, schema avro.Schema, key keyField) ([]line, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxProduceLine)
	var out []line
	n := 0
	for sc.Scan() {
		n++
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		l, err := convertLine(text, schema, key)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("line %d: longer than %d bytes", n+1, maxProduceLine)
		}
		return nil, err
	}
	return out, nil
}

// convertLine converts one JSON text to schema's Go shape and encodes it.
func convertLine(text []byte, schema avro.Schema, key keyField) (line, error) {
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil {
		return line{}, fmt.Errorf("not JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return line{}, errors.New("more than one JSON value on the line")
	}
	v, err := toAvro(schema, raw)
	if err != nil {
		return line{}, err
	}
	body, err := avro.Marshal(schema, v)
	if err != nil {
		return line{}, err
	}
	k, err := key.of(raw)
	if err != nil {
		return line{}, err
	}
	return line{key: k, value: body}, nil
}

// fieldError is a value that does not fit its schema, at path (a field
// name, dotted for nested records, with [i] for array items and ["k"] for
// map values).
type fieldError struct {
	path string
	err  error
}

func (e *fieldError) Error() string { return "field " + e.path + ": " + e.err.Error() }
func (e *fieldError) Unwrap() error { return e.err }

// at prefixes err's path with elem, making err a fieldError if it is not.
func at(elem string, err error) error {
	var fe *fieldError
	if errors.As(err, &fe) {
		sep := "."
		if strings.HasPrefix(fe.path, "[") {
			sep = ""
		}
		return &fieldError{path: elem + sep + fe.path, err: fe.err}
	}
	return &fieldError{path: elem, err: err}
}

// toAvro converts v, decoded from JSON with UseNumber, to the Go value
// hamba/avro encodes for s: map[string]any for records and maps, []any for
// arrays, int32/int64/float32/float64/bool/string/[]byte for primitives,
// [N]byte for fixed, time.Time and time.Duration for the date and time
// logical types, *big.Rat for decimals, and map[string]any{branch: value}
// (nil for null) for unions, so the branch is the one chosen here rather
// than one hamba/avro guesses from the Go type.
func toAvro(s avro.Schema, v any) (any, error) {
	if ref, ok := s.(*avro.RefSchema); ok {
		s = ref.Schema()
	}
	switch s := s.(type) {
	case *avro.RecordSchema:
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("want a JSON object for record %s, got %s", s.FullName(), jsonKind(v))
		}
		out := make(map[string]any, len(s.Fields()))
		for _, f := range s.Fields() {
			fv, ok := obj[f.Name()]
			if !ok {
				if f.HasDefault() {
					continue // hamba/avro writes the default
				}
				return nil, at(f.Name(), errors.New("missing, and it has no default"))
			}
			cv, err := toAvro(f.Type(), fv)
			if err != nil {
				return nil, at(f.Name(), err)
			}
			out[f.Name()] = cv
		}
		if len(obj) > len(out) {
			for name := range obj {
				if !hasField(s, name) {
					return nil, at(name, fmt.Errorf("not in record %s", s.FullName()))
				}
			}
		}
		return out, nil
	case *avro.UnionSchema:
		return unionToAvro(s, v)
	case *avro.EnumSchema:
		str, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("want a string (a symbol of enum %s), got %s", s.FullName(), jsonKind(v))
		}
		for _, sym := range s.Symbols() {
			if sym == str {
				return str, nil
			}
		}
		return nil, fmt.Errorf("%q is not a symbol of enum %s (%s)", str, s.FullName(), strings.Join(s.Symbols(), ", "))
	case *avro.ArraySchema:
		arr, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("want a JSON array, got %s", jsonKind(v))
		}
		out := make([]any, len(arr))
		for i, item := range arr {
			cv, err := toAvro(s.Items(), item)
			if err != nil {
				return nil, at(fmt.Sprintf("[%d]", i), err)
			}
			out[i] = cv
		}
		return out, nil
	case *avro.MapSchema:
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("want a JSON object (an Avro map), got %s", jsonKind(v))
		}
		out := make(map[string]any, len(obj))
		for k, item := range obj {
			cv, err := toAvro(s.Values(), item)
			if err != nil {
				return nil, at(fmt.Sprintf("[%q]", k), err)
			}
			out[k] = cv
		}
		return out, nil
	case *avro.FixedSchema:
		return fixedToAvro(s, v)
	case *avro.PrimitiveSchema:
		return primitiveToAvro(s, v)
	case *avro.NullSchema:
		if v != nil {
			return nil, fmt.Errorf("want null, got %s", jsonKind(v))
		}
		return nil, nil
	default:
		return nil, fmt.Errorf("schema type %s is not supported", s.Type())
	}
}

func hasField(s *avro.RecordSchema, name string) bool {
	for _, f := range s.Fields() {
		if f.Name() == name {
			return true
		}
	}
	return false
}

// unionToAvro picks the union's branch for v: null for JSON null; the
// branch named by a one-key object in Avro's JSON encoding
// ({"string": "x"}, {"long": 3}, {"com.example.Rec": {...}}); else the first
// branch v fits, in the union's order.
func unionToAvro(u *avro.UnionSchema, v any) (any, error) {
	types := u.Types()
	if v == nil {
		if u.Contains(avro.Null) {
			return map[string]any(nil), nil
		}
		return nil, fmt.Errorf("null is not allowed (union of %s)", branchNames(types))
	}
	if obj, ok := v.(map[string]any); ok && len(obj) == 1 {
		for tag, inner := range obj {
			for _, b := range types {
				if b.Type() != avro.Null && (tag == avroTypeName(b) || tag == hambaTypeName(b)) {
					cv, err := toAvro(b, inner)
					if err != nil {
						return nil, err
					}
					return map[string]any{hambaTypeName(b): cv}, nil
				}
			}
		}
	}
	var nonNull []avro.Schema
	for _, b := range types {
		if b.Type() != avro.Null {
			nonNull = append(nonNull, b)
		}
	}
	var errs []error
	for _, b := range nonNull {
		cv, err := toAvro(b, v)
		if err == nil {
			return map[string]any{hambaTypeName(b): cv}, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 1 {
		return nil, errs[0] // a nullable T: T's own reason
	}
	return nil, fmt.Errorf("fits none of the union's types (%s)", branchNames(types))
}

// avroTypeName is the name Avro's JSON encoding gives a union branch: the
// full name of a named type, else the type.
func avroTypeName(s avro.Schema) string {
	if ref, ok := s.(*avro.RefSchema); ok {
		s = ref.Schema()
	}
	if n, ok := s.(avro.NamedSchema); ok {
		return n.FullName()
	}
	return string(s.Type())
}

// hambaTypeName is the name hamba/avro gives a union branch in the
// map[string]any form: avroTypeName, with ".logicalType" for an unnamed
// type that has one.
func hambaTypeName(s avro.Schema) string {
	name := avroTypeName(s)
	if ref, ok := s.(*avro.RefSchema); ok {
		s = ref.Schema()
	}
	if _, named := s.(avro.NamedSchema); named {
		return name
	}
	if ls, ok := s.(avro.LogicalTypeSchema); ok && ls.Logical() != nil {
		name += "." + string(ls.Logical().Type())
	}
	return name
}

func branchNames(types avro.Schemas) string {
	names := make([]string, len(types))
	for i, t := range types {
		names[i] = hambaTypeName(t)
	}
	return strings.Join(names, ", ")
}

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func primitiveToAvro(s *avro.PrimitiveSchema, v any) (any, error) {
	var lt avro.LogicalType
	var ls avro.LogicalSchema
	if ls = s.Logical(); ls != nil {
		lt = ls.Type()
	}
	switch s.Type() {
	case avro.Boolean:
		b, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("want true or false, got %s", jsonKind(v))
		}
		return b, nil
	case avro.String:
		str, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("want a string, got %s", jsonKind(v))
		}
		if lt == avro.UUID && !uuidPattern.MatchString(str) {
			return nil, fmt.Errorf("%q is not a UUID", str)
		}
		return str, nil
	case avro.Bytes:
		if lt == avro.Decimal {
			return decimalToAvro(ls.(*avro.DecimalLogicalSchema), v)
		}
		return bytesOf(v)
	case avro.Int:
		switch lt {
		case avro.Date:
			if str, ok := v.(string); ok {
				t, err := time.Parse(time.DateOnly, str)
				if err != nil {
					return nil, fmt.Errorf("%q is not a date (2006-01-02)", str)
				}
				return t, nil
			}
			days, err := integer(v, 32, "a date (2006-01-02) or days since 1970-01-01")
			if err != nil {
				return nil, err
			}
			return time.Unix(days*86400, 0).UTC(), nil
		case avro.TimeMillis:
			return timeOfDay(v, time.Millisecond, 32)
		}
		i, err := integer(v, 32, "an integer")
		if err != nil {
			return nil, err
		}
		return int32(i), nil
	case avro.Long:
		switch lt {
		case avro.TimestampMillis, avro.TimestampMicros, avro.LocalTimestampMillis, avro.LocalTimestampMicros:
			return timestampToAvro(lt, v)
		case avro.TimeMicros:
			return timeOfDay(v, time.Microsecond, 64)
		}
		i, err := integer(v, 64, "an integer")
		if err != nil {
			return nil, err
		}
		return i, nil
	case avro.Float:
		n, ok := v.(json.Number)
		if !ok {
			return nil, fmt.Errorf("want a number, got %s", jsonKind(v))
		}
		f, err := strconv.ParseFloat(string(n), 32)
		if err != nil {
			return nil, fmt.Errorf("%s is out of range for a float", n)
		}
		return float32(f), nil
	case avro.Double:
		n, ok := v.(json.Number)
		if !ok {
			return nil, fmt.Errorf("want a number, got %s", jsonKind(v))
		}
		f, err := strconv.ParseFloat(string(n), 64)
		if err != nil {
			return nil, fmt.Errorf("%s is out of range for a double", n)
		}
		return f, nil
	}
	return nil, fmt.Errorf("schema type %s is not supported", s.Type())
}

// integer parses v as a JSON integer of bits bits; want says what is
// expected, for the error.
func integer(v any, bits int, want string) (int64, error) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, fmt.Errorf("want %s, got %s", want, jsonKind(v))
	}
	i, err := strconv.ParseInt(string(n), 10, bits)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, fmt.Errorf("%s is out of range for a %d-bit integer", n, bits)
		}
		return 0, fmt.Errorf("want %s, got %s", want, n)
	}
	return i, nil
}

// timestampToAvro converts an RFC 3339 time (for local timestamps, also
// one without a zone) or a number of the schema's unit since the epoch. A
// time more precise than the unit is refused rather than truncated.
func timestampToAvro(lt avro.LogicalType, v any) (any, error) {
	unit, unitName := time.Millisecond, "milliseconds"
	if lt == avro.TimestampMicros || lt == avro.LocalTimestampMicros {
		unit, unitName = time.Microsecond, "microseconds"
	}
	local := lt == avro.LocalTimestampMillis || lt == avro.LocalTimestampMicros
	switch v := v.(type) {
	case string:
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil && local {
			t, err = time.Parse("2006-01-02T15:04:05.999999999", v)
		}
		if err != nil {
			return nil, fmt.Errorf("%q is not an RFC 3339 time", v)
		}
		if t.Nanosecond()%int(unit) != 0 {
			return nil, fmt.Errorf("%q is more precise than the schema's %s", v, unitName)
		}
		if local {
			// Wall-clock time: keep the clock reading, drop the zone.
			return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC), nil
		}
		return t.UTC(), nil
	case json.Number:
		i, err := integer(v, 64, "an RFC 3339 time or "+unitName+" since the epoch")
		if err != nil {
			return nil, err
		}
		if unit == time.Millisecond {
			return time.UnixMilli(i).UTC(), nil
		}
		return time.UnixMicro(i).UTC(), nil
	}
	return nil, fmt.Errorf("want an RFC 3339 time or %s since the epoch, got %s", unitName, jsonKind(v))
}

// timeOfDay converts "15:04:05[.fraction]" or a number of unit since
// midnight to a time.Duration.
func timeOfDay(v any, unit time.Duration, bits int) (any, error) {
	var d time.Duration
	if str, ok := v.(string); ok {
		t, err := time.Parse("15:04:05.999999999", str)
		if err != nil {
			return nil, fmt.Errorf("%q is not a time of day (15:04:05.000)", str)
		}
		d = time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute +
			time.Duration(t.Second())*time.Second + time.Duration(t.Nanosecond())
		if d%unit != 0 {
			return nil, fmt.Errorf("%q is more precise than the schema's unit (%s)", str, unit)
		}
		return d, nil
	}
	i, err := integer(v, bits, "a time of day (15:04:05.000) or a count since midnight")
	if err != nil {
		return nil, err
	}
	d = time.Duration(i) * unit
	if i < 0 || d >= 24*time.Hour {
		return nil, fmt.Errorf("%d is not a time of day", i)
	}
	return d, nil
}

// bytesOf converts a JSON string to bytes as Avro's JSON encoding does:
// each character, U+0000 to U+00FF, is one byte.
func bytesOf(v any) ([]byte, error) {
	str, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("want a string (one character per byte, \\u0000 to \\u00ff), got %s", jsonKind(v))
	}
	b := make([]byte, 0, len(str))
	for _, r := range str {
		if r > 0xff {
			return nil, fmt.Errorf("character %q is not a byte (want \\u0000 to \\u00ff)", r)
		}
		b = append(b, byte(r))
	}
	return b, nil
}

func fixedToAvro(s *avro.FixedSchema, v any) (any, error) {
	if ls := s.Logical(); ls != nil {
		if ls.Type() == avro.Decimal {
			return decimalToAvro(ls.(*avro.DecimalLogicalSchema), v)
		}
		return nil, fmt.Errorf("logical type %s is not supported", ls.Type())
	}
	b, err := bytesOf(v)
	if err != nil {
		return nil, err
	}
	if len(b) != s.Size() {
		return nil, fmt.Errorf("want %d bytes for fixed %s, got %d", s.Size(), s.FullName(), len(b))
	}
	arr := reflect.New(reflect.ArrayOf(s.Size(), reflect.TypeFor[byte]())).Elem()
	reflect.Copy(arr, reflect.ValueOf(b))
	return arr.Interface(), nil
}

// decimalToAvro converts a JSON number or a decimal string, refusing one
// with more digits after the point than the scale or more in all than the
// precision (hamba/avro would truncate it).
func decimalToAvro(d *avro.DecimalLogicalSchema, v any) (any, error) {
	var text string
	switch v := v.(type) {
	case json.Number:
		text = string(v)
	case string:
		text = v
	default:
		return nil, fmt.Errorf("want a decimal number or string, got %s", jsonKind(v))
	}
	r, ok := new(big.Rat).SetString(text)
	if !ok {
		return nil, fmt.Errorf("%q is not a decimal", text)
	}
	scaled := new(big.Rat).Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(d.Scale())), nil)))
	if !scaled.IsInt() {
		return nil, fmt.Errorf("%s has more than %d digits after the point", text, d.Scale())
	}
	if digits := len(new(big.Int).Abs(scaled.Num()).String()); scaled.Num().Sign() != 0 && digits > d.Precision() {
		return nil, fmt.Errorf("%s has more than %d digits", text, d.Precision())
	}
	return r, nil
}

func jsonKind(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(v)
	case json.Number:
		return "the number " + string(v)
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// keyField is the top-level field whose value keys each record; the zero
// value means no key.
type keyField struct {
	name string
}

// newKeyField checks that name (empty: no key) is a top-level field of
// record schema s holding a string, an enum, an int or a long (or null or
// one of those).
func newKeyField(s avro.Schema, name string) (keyField, error) {
	if name == "" {
		return keyField{}, nil
	}
	rec, ok := s.(*avro.RecordSchema)
	if !ok {
		return keyField{}, fmt.Errorf("the schema is a %s, not a record", s.Type())
	}
	var field *avro.Field
	var names []string
	for _, f := range rec.Fields() {
		names = append(names, f.Name())
		if f.Name() == name {
			field = f
		}
	}
	if field == nil {
		return keyField{}, fmt.Errorf("not a top-level field of %s (fields: %s)", rec.FullName(), strings.Join(names, ", "))
	}
	types := avro.Schemas{field.Type()}
	if u, ok := field.Type().(*avro.UnionSchema); ok {
		types = u.Types()
	}
	for _, t := range types {
		if ref, ok := t.(*avro.RefSchema); ok {
			t = ref.Schema()
		}
		switch t.Type() {
		case avro.String, avro.Enum, avro.Int, avro.Long, avro.Null:
		default:
			return keyField{}, fmt.Errorf("field of type %s cannot be a key (want a string, an enum, an int or a long)", hambaTypeName(t))
		}
	}
	return keyField{name: name}, nil
}

// of returns the key of a line that converted: the field's string, or its
// number as written.
func (k keyField) of(raw any) ([]byte, error) {
	if k.name == "" {
		return nil, nil
	}
	v, ok := raw.(map[string]any)[k.name] // the line converted: raw is an object
	if !ok {
		return nil, at(k.name, errors.New("missing, and it is the key"))
	}
	if obj, ok := v.(map[string]any); ok && len(obj) == 1 {
		for _, inner := range obj { // a union in Avro's JSON encoding
			v = inner
		}
	}
	switch v := v.(type) {
	case string:
		return []byte(v), nil
	case json.Number:
		i, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return nil, at(k.name, err)
		}
		return strconv.AppendInt(nil, i, 10), nil
	}
	return nil, at(k.name, fmt.Errorf("the key is %s", jsonKind(v)))
}
