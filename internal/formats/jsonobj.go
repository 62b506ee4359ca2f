package formats

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// errNotObject is the cause in a *RecordError for a JSON record that is not
// an object.
var errNotObject = errors.New("not a JSON object")

// objectFields appends the members of the JSON object b to dst, in the
// object's order. b must be valid JSON (json.Valid, or a value a json.Decoder
// returned). Strings are unescaped, numbers keep their literal text, true
// and false become "true" and "false", null sets Field.Null, and nested
// objects and arrays become compact JSON. A duplicate key is an error: a
// record never has two fields of one name.
func objectFields(b []byte, dst []Field, scratch *bytes.Buffer) ([]Field, error) {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return dst, fmt.Errorf("%w: %s", errNotObject, jsonKind(b[i:]))
	}
	first := len(dst)
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return dst, nil
	}
	for i < len(b) {
		// Key.
		end := stringEnd(b, i)
		key, err := jsonString(b[i:end])
		if err != nil {
			return dst, err
		}
		i = skipWS(b, end)
		i = skipWS(b, i+1) // ':'
		// Value.
		f := Field{Name: key}
		switch c := b[i]; c {
		case '"':
			end = stringEnd(b, i)
			if f.Value, err = jsonString(b[i:end]); err != nil {
				return dst, err
			}
		case '{', '[':
			end = compositeEnd(b, i)
			scratch.Reset()
			if err := json.Compact(scratch, b[i:end]); err != nil {
				return dst, err
			}
			f.Value = scratch.String()
		case 'n':
			end = i + 4
			f.Null = true
		case 't':
			end = i + 4
			f.Value = "true"
		case 'f':
			end = i + 5
			f.Value = "false"
		default:
			end = i + 1
			for end < len(b) && !isNumberEnd(b[end]) {
				end++
			}
			f.Value = string(b[i:end])
		}
		dst = append(dst, f)
		i = skipWS(b, end)
		if i >= len(b) || b[i] == '}' {
			break
		}
		i = skipWS(b, i+1) // ','
	}
	if name, dup := duplicateName(dst[first:]); dup {
		return dst, fmt.Errorf("duplicate key %q", name)
	}
	return dst, nil
}

// maxStringShown bounds the characters of a string record that its error
// shows.
const maxStringShown = 500

// jsonKind names the kind of JSON value b starts with, for error messages.
func jsonKind(b []byte) string {
	if len(b) == 0 {
		return "empty"
	}
	switch b[0] {
	case '[':
		return "an array"
	case '"':
		// Say what it is: a producer may put its reason there (the
		// spool stages an undecodable upstream record so).
		var text string
		if json.Unmarshal(b, &text) != nil {
			return "a string"
		}
		if r := []rune(text); len(r) > maxStringShown {
			text = string(r[:maxStringShown]) + "…"
		}
		return fmt.Sprintf("a string, %q", text)
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

func skipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}

func isNumberEnd(c byte) bool {
	switch c {
	case ',', '}', ']', ' ', '\t', '\r', '\n':
		return true
	}
	return false
}

// stringEnd returns the index just after the JSON string starting at b[i].
func stringEnd(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(b)
}

// compositeEnd returns the index just after the object or array starting
// at b[i].
func compositeEnd(b []byte, i int) int {
	depth := 0
	for j := i; j < len(b); j++ {
		switch b[j] {
		case '"':
			j = stringEnd(b, j) - 1
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return j + 1
			}
		}
	}
	return len(b)
}

// jsonString unquotes the JSON string s. Without escapes and with valid
// UTF-8 it is a plain copy; otherwise encoding/json decides (it replaces
// invalid UTF-8 with U+FFFD).
func jsonString(s []byte) (string, error) {
	if len(s) >= 2 && bytes.IndexByte(s, '\\') < 0 && utf8.Valid(s) {
		return string(s[1 : len(s)-1]), nil
	}
	var v string
	err := json.Unmarshal(s, &v)
	return v, err
}

// duplicateName reports the first name that occurs twice in fields.
func duplicateName(fields []Field) (string, bool) {
	if len(fields) <= 16 {
		for i := 1; i < len(fields); i++ {
			for j := range i {
				if fields[i].Name == fields[j].Name {
					return fields[i].Name, true
				}
			}
		}
		return "", false
	}
	seen := make(map[string]struct{}, len(fields))
	for _, f := range fields {
		if _, ok := seen[f.Name]; ok {
			return f.Name, true
		}
		seen[f.Name] = struct{}{}
	}
	return "", false
}
