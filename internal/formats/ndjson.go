package formats

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"unicode/utf8"
)

// openNDJSON opens an NDJSON reader; see ndjsonReader.
func openNDJSON(r io.Reader, opts Options) (Reader, error) {
	opts = opts.withDefaults()
	in, utf8In, err := decodeInput(r, opts.Encoding)
	if err != nil {
		return nil, err
	}
	return &ndjsonReader{opts: opts, utf8In: utf8In, lr: newLineReader(in, opts.MaxRecordBytes)}, nil
}

// ndjsonReader implements FormatNDJSON; the rules are documented there.
type ndjsonReader struct {
	opts    Options
	utf8In  bool
	lr      *lineReader
	n       int64
	rec     Record
	scratch bytes.Buffer
	err     error // sticky
}

func (d *ndjsonReader) Next() (Record, error) {
	if d.err != nil {
		return Record{}, d.err
	}
	for {
		line, tooLong, err := d.lr.next()
		if err == io.EOF {
			d.err = io.EOF
			return Record{}, io.EOF
		}
		if err != nil {
			d.err = fmt.Errorf("formats: ndjson: line %d: %w", d.lr.n+1, err)
			return Record{}, d.err
		}
		if !tooLong && len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		d.n++
		bad := func(err error) (Record, error) {
			return Record{}, &RecordError{Number: d.n, Line: d.lr.n, Raw: d.opts.rawCopy(line), Err: err}
		}
		if tooLong {
			return bad(fmt.Errorf("%w: line over %d bytes", ErrTooLarge, d.opts.MaxRecordBytes))
		}
		if d.utf8In && !utf8.Valid(line) {
			return bad(ErrInvalidUTF8)
		}
		if !json.Valid(line) {
			var v json.RawMessage
			err := json.Unmarshal(line, &v)
			if err == nil { // cannot happen; keep the error non-nil
				err = fmt.Errorf("invalid JSON")
			}
			return bad(err)
		}
		d.rec.Fields, err = objectFields(line, d.rec.Fields[:0], &d.scratch)
		if err != nil {
			return bad(err)
		}
		d.rec.Number, d.rec.Line = d.n, d.lr.n
		d.rec.Raw = d.opts.rawLimit(line)
		return d.rec, nil
	}
}
