package formats

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// openJSON opens a JSON reader; see jsonReader. It reads up to the opening
// bracket of the record array.
func openJSON(r io.Reader, opts Options) (Reader, error) {
	opts = opts.withDefaults()
	in, _, err := decodeInput(r, opts.Encoding, FormatJSON, opts.AllowControl)
	if err != nil {
		return nil, err
	}
	j := &jsonReader{opts: opts, win: newWindow(in, opts.MaxRecordBytes, true)}
	j.dec = json.NewDecoder(j.win)
	j.dec.UseNumber()
	var path []string
	if opts.RecordPath != "" {
		path = strings.Split(strings.Trim(opts.RecordPath, "/"), "/")
	}
	tok, err := j.token()
	if err != nil {
		if err == io.EOF {
			return nil, errors.New("formats: json: the file is empty")
		}
		return nil, j.fatal(err)
	}
	for i, key := range path {
		if tok != json.Delim('{') {
			return nil, fmt.Errorf("formats: json: want an object holding %q, found %s", key, tokenKind(tok))
		}
		j.depth++
		if err := j.seek(key); err != nil {
			return nil, err
		}
		if tok, err = j.token(); err != nil {
			return nil, j.fatal(err)
		}
		if i == len(path)-1 && tok != json.Delim('[') {
			return nil, fmt.Errorf("formats: json: %q holds %s, not an array", opts.RecordPath, tokenKind(tok))
		}
	}
	if tok != json.Delim('[') {
		if tok == json.Delim('{') {
			return nil, errors.New("formats: json: the file is an object; set RecordPath to the key of its record array")
		}
		return nil, fmt.Errorf("formats: json: want an array of records, found %s", tokenKind(tok))
	}
	return j, nil
}

// jsonReader implements FormatJSON; the rules are documented there.
type jsonReader struct {
	opts    Options
	dec     *json.Decoder
	win     *window
	depth   int // objects around the record array
	n       int64
	raw     json.RawMessage
	rec     Record
	scratch bytes.Buffer
	err     error // sticky
}

// token reads one token and moves the window's mark past it.
func (j *jsonReader) token() (json.Token, error) {
	tok, err := j.dec.Token()
	if err == nil {
		j.win.mark(j.dec.InputOffset())
	}
	return tok, err
}

// skip reads and discards one value.
func (j *jsonReader) skip() error {
	err := j.dec.Decode(&j.raw)
	if err == nil {
		j.win.mark(j.dec.InputOffset())
	}
	return err
}

// seek reads the members of the current object up to key.
func (j *jsonReader) seek(key string) error {
	for j.dec.More() {
		tok, err := j.token()
		if err != nil {
			return j.fatal(err)
		}
		if tok == key {
			return nil
		}
		if err := j.skip(); err != nil {
			return j.fatal(err)
		}
	}
	if _, err := j.token(); err != nil {
		return j.fatal(err)
	}
	return fmt.Errorf("formats: json: no key %q in the object (RecordPath %q)", key, j.opts.RecordPath)
}

// fatal describes a decoding error with the line it happened on.
func (j *jsonReader) fatal(err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	off := min(j.dec.InputOffset(), j.win.pos)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		off = j.win.pos // the file ends before the decoder's position
	}
	return fmt.Errorf("formats: json: line %d: %w", j.win.lineAt(max(off, j.win.base)), err)
}

func (j *jsonReader) Next() (Record, error) {
	if j.err != nil {
		return Record{}, j.err
	}
	if !j.dec.More() {
		j.err = j.finish()
		return Record{}, j.err
	}
	if err := j.dec.Decode(&j.raw); err != nil {
		j.err = j.fatal(err)
		return Record{}, j.err
	}
	end := j.dec.InputOffset()
	start := end - int64(len(j.raw))
	line := j.win.lineAt(start)
	j.win.mark(end)
	j.n++
	var err error
	j.rec.Fields, err = objectFields(j.raw, j.rec.Fields[:0], &j.scratch)
	if err != nil {
		return Record{}, &RecordError{Number: j.n, Line: line, Raw: j.opts.rawCopy(j.raw), Err: err}
	}
	j.rec.Number, j.rec.Line = j.n, line
	j.rec.Raw = j.opts.rawLimit(j.raw)
	return j.rec, nil
}

// finish reads the end of the array, the rest of the enclosing objects and
// the end of the input. It returns io.EOF when all is well.
func (j *jsonReader) finish() error {
	if _, err := j.token(); err != nil { // ']'
		return j.fatal(err)
	}
	for ; j.depth > 0; j.depth-- {
		for j.dec.More() {
			if _, err := j.token(); err != nil {
				return j.fatal(err)
			}
			if err := j.skip(); err != nil {
				return j.fatal(err)
			}
		}
		if _, err := j.token(); err != nil { // '}'
			return j.fatal(err)
		}
	}
	switch tok, err := j.dec.Token(); {
	case err == io.EOF:
		return io.EOF
	case err != nil:
		return j.fatal(err)
	default:
		return j.fatal(fmt.Errorf("data after the end of the records: %s", tokenKind(tok)))
	}
}

// tokenKind names a JSON token for error messages.
func tokenKind(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			return "an object"
		case '[':
			return "an array"
		}
		return fmt.Sprintf("%q", string(t))
	case string:
		return "a string"
	case json.Number, float64:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", tok)
}
