package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/logmesh/logmesh/schemas"
)

// JSON returns ev as one JSON object, for `logmesh tail --json` and other
// human-facing output: {"event": <full name>, "envelope": {...}, <fields>}.
// Keys are the Avro field names in schema order, timestamps are RFC 3339
// strings with nanoseconds in UTC, absent optional fields are null, and
// bytes are base64. The output is deterministic. Safe for concurrent use.
func JSON(ev Event) ([]byte, error) {
	if isNil(ev) {
		return nil, errors.New("events: JSON: nil event")
	}
	var buf bytes.Buffer
	buf.WriteString(`{"event":`)
	name, _ := json.Marshal(ev.Name())
	buf.Write(name)
	v := reflect.ValueOf(ev).Elem()
	if v.Kind() != reflect.Struct {
		return nil, fmt.Errorf("events: JSON: %T is not a pointer to a struct", ev)
	}
	if err := writeFields(&buf, v, false); err != nil {
		return nil, fmt.Errorf("events: JSON %s: %w", ev.Name(), err)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

var timeType = reflect.TypeFor[time.Time]()

// writeFields writes the avro-tagged fields of struct v as JSON members.
// If first, no comma precedes the first member.
func writeFields(buf *bytes.Buffer, v reflect.Value, first bool) error {
	t := v.Type()
	for i := range t.NumField() {
		tag, ok := t.Field(i).Tag.Lookup("avro")
		if !ok || tag == "-" {
			continue
		}
		tag, _, _ = strings.Cut(tag, ",")
		if !first {
			buf.WriteByte(',')
		}
		first = false
		key, _ := json.Marshal(tag)
		buf.Write(key)
		buf.WriteByte(':')
		if err := writeValue(buf, v.Field(i)); err != nil {
			return fmt.Errorf("%s: %w", tag, err)
		}
	}
	return nil
}

func writeValue(buf *bytes.Buffer, v reflect.Value) error {
	switch {
	case v.Type() == timeType:
		buf.WriteByte('"')
		buf.WriteString(v.Interface().(time.Time).UTC().Format(time.RFC3339Nano))
		buf.WriteByte('"')
		return nil
	case v.Kind() == reflect.Pointer:
		if v.IsNil() {
			buf.WriteString("null")
			return nil
		}
		return writeValue(buf, v.Elem())
	case v.Kind() == reflect.Struct:
		buf.WriteByte('{')
		if err := writeFields(buf, v, true); err != nil {
			return err
		}
		buf.WriteByte('}')
		return nil
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() != reflect.Uint8:
		buf.WriteByte('[')
		for i := range v.Len() {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeValue(buf, v.Index(i)); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
		return nil
	case v.Kind() == reflect.Map:
		return errors.New("maps are not supported (their order is not deterministic)")
	}
	b, err := json.Marshal(v.Interface())
	if err != nil {
		return err
	}
	buf.Write(b)
	return nil
}

// Document returns ev as the document content patterns match against
// (internal/pattern: router subscriptions, the SDK's filter): its JSON form
// (see JSON) decoded into maps, numbers as json.Number, with "event" its
// short name (ProductRefreshed rather than logmesh.events.ProductRefreshed).
func Document(ev Event) (map[string]any, error) {
	b, err := JSON(ev)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("events: %s as JSON: %w", ev.Name(), err)
	}
	m["event"] = strings.TrimPrefix(ev.Name(), schemas.Namespace+".")
	return m, nil
}
