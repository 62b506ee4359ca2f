// Package formats turns landed files into records: CSV, JSON (an array of
// objects), NDJSON, XML and fixed-width, plus parsers a deployment registers
// itself. Every parser streams: memory stays bounded whatever the file's
// size.
//
// A parser reports two kinds of trouble. A *RecordError is one bad record
// (a CSV row with the wrong number of fields, an NDJSON line that is not an
// object): the caller rejects that record and calls Next again. Any other
// error means the file itself is broken (truncated, garbled, not the declared
// format): the caller fails the whole file.
package formats

import (
	"fmt"
)

// Field is one named value of a record, as text, the way it appeared in the
// file. JSON numbers keep their literal text, booleans are "true"/"false",
// nested objects and arrays are compact JSON.
type Field struct {
	Name  string
	Value string
	// Null is true for a JSON null, an XML element with xsi:nil="true", or
	// a field the format marks as absent. Value is "" then.
	Null bool
}

// Record is one record of a file.
type Record struct {
	// Number is the 1-based position of the record in the file, counting
	// bad records too.
	Number int64
	// Line is the 1-based line where the record starts, or 0 for formats
	// that are not line-based.
	Line int64
	// Fields in the order the file gave them.
	Fields []Field
	// Raw is the record's text, truncated to Options.MaxRawBytes, for
	// rejection reports.
	Raw []byte
}

// Get returns the value of the named field; ok is false if the record has no
// such field.
func (r *Record) Get(name string) (f Field, ok bool) {
	for _, f := range r.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// RecordError is one bad record. The reader has skipped it; Next can be
// called again.
type RecordError struct {
	Number int64  // 1-based record number
	Line   int64  // 1-based line, or 0
	Raw    []byte // the record's text, truncated
	Err    error
}

func (e *RecordError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("formats: record %d (line %d): %v", e.Number, e.Line, e.Err)
	}
	return fmt.Sprintf("formats: record %d: %v", e.Number, e.Err)
}

func (e *RecordError) Unwrap() error { return e.Err }

// Clone returns a deep copy of r that stays valid after the reader's next
// call to Next.
func (r Record) Clone() Record {
	r.Fields = append([]Field(nil), r.Fields...)
	if r.Raw != nil {
		r.Raw = append([]byte(nil), r.Raw...)
	}
	return r
}
