package validate

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/logmesh/logmesh/internal/formats"
)

// FileCheck holds the per-file state of a feed's unique_key check: a
// 16-byte hash of every distinct primary key seen in the file and the
// record that first had it. Memory grows with the file's distinct keys, at
// roughly 40 bytes per key (16-byte hash, 8-byte record number, map
// overhead): about 400 MB for 10 million keys. That is the price of
// unique_key, which the feed's owner chooses. Two different keys share a
// 128-bit hash with negligible probability (about 1e-20 for 10^9 keys).
//
// A FileCheck is not safe for concurrent use; use one per file.
type FileCheck struct {
	v    *Validator
	seen map[[16]byte]int64
	buf  []byte
}

// NewFile returns the uniqueness state for a new file. If the feed does
// not ask for unique keys, its Check always returns nil.
func (v *Validator) NewFile() *FileCheck {
	c := &FileCheck{v: v}
	if v.unique {
		c.seen = make(map[[16]byte]int64)
	}
	return c
}

// Check records row's primary key and returns a unique violation if the
// file already had it. row is a row Row returned for rec; a nil row (a
// rejected record) is not recorded and gets nil.
func (c *FileCheck) Check(row []any, rec formats.Record) *Violation {
	if c.seen == nil || row == nil || len(row) != len(c.v.cols) {
		return nil
	}
	c.buf = c.buf[:0]
	for _, i := range c.v.key {
		c.buf = appendKey(c.buf, row[i])
	}
	sum := sha256.Sum256(c.buf)
	var h [16]byte
	copy(h[:], sum[:16])
	if first, dup := c.seen[h]; dup {
		return &Violation{
			Field:  c.v.keyField,
			Rule:   RuleUnique,
			Reason: fmt.Sprintf("duplicate key %s first seen in record %d", c.keyText(row), first),
		}
	}
	c.seen[h] = rec.Number
	return nil
}

// keyText formats the primary key of row for a reason.
func (c *FileCheck) keyText(row []any) string {
	parts := make([]string, len(c.v.key))
	for j, i := range c.v.key {
		var s string
		switch t := row[i].(type) {
		case nil:
			s = "null"
		case string:
			s = quote(t)
		case []byte:
			s = quote(string(t))
		case time.Time:
			s = t.Format(time.RFC3339Nano)
		default:
			s = fmt.Sprint(t)
		}
		parts[j] = c.v.cols[i].name + "=" + s
	}
	return strings.Join(parts, ", ")
}

// appendKey appends an unambiguous encoding of one key value: a type tag,
// then a fixed-size value or a length-prefixed one.
func appendKey(b []byte, v any) []byte {
	switch t := v.(type) {
	case nil:
		return append(b, 0)
	case string:
		b = binary.BigEndian.AppendUint64(append(b, 1), uint64(len(t)))
		return append(b, t...)
	case []byte:
		b = binary.BigEndian.AppendUint64(append(b, 2), uint64(len(t)))
		return append(b, t...)
	case bool:
		if t {
			return append(b, 3, 1)
		}
		return append(b, 3, 0)
	case int32:
		return binary.BigEndian.AppendUint64(append(b, 4), uint64(t))
	case int64:
		return binary.BigEndian.AppendUint64(append(b, 4), uint64(t))
	case float32:
		return binary.BigEndian.AppendUint64(append(b, 5), math.Float64bits(float64(t)))
	case float64:
		return binary.BigEndian.AppendUint64(append(b, 5), math.Float64bits(t))
	case time.Time:
		return binary.BigEndian.AppendUint64(append(b, 6), uint64(t.UnixMicro())) // rows hold at most microsecond precision
	}
	s := fmt.Sprint(v)
	b = binary.BigEndian.AppendUint64(append(b, 7), uint64(len(s)))
	return append(b, s...)
}
