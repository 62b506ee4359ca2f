package formats

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// openNDJSON opens an NDJSON reader; see ndjsonReader.
func openNDJSON(r io.Reader, opts Options) (Reader, error) {
	opts = opts.withDefaults()
	in, utf8In, err := decodeInput(r, opts.Encoding, FormatNDJSON, opts.AllowControl)
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
			return bad(invalidLine(d.lr.n, line))
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

// lineError is the cause of a *RecordError for an NDJSON line that is not
// valid JSON: "line N: not valid JSON: <reason>", unwrapping to the
// *json.SyntaxError behind it.
type lineError struct {
	line   int64
	reason string
	err    error
}

func (e *lineError) Error() string {
	return fmt.Sprintf("line %d: not valid JSON: %s", e.line, e.reason)
}

func (e *lineError) Unwrap() error { return e.err }

// invalidLine describes why line n, which json.Valid refused, is not valid
// JSON, in a few words and with the column (in characters) of the problem,
// rather than encoding/json's "invalid character 'h' in literal true
// (expecting 'r')".
func invalidLine(n int64, line []byte) error {
	var v json.RawMessage
	err := json.Unmarshal(line, &v)
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		if err == nil { // cannot happen; keep the error non-nil
			err = errors.New("invalid JSON")
		}
		return &lineError{line: n, reason: err.Error(), err: err}
	}
	off := int(min(max(se.Offset, 1), int64(len(line))))
	if strings.Contains(se.Error(), "unexpected end of JSON input") {
		return &lineError{line: n, reason: "the line ends inside a value (unclosed string, object or array?)", err: err}
	}
	// Offset counts the bytes read, the offending one included.
	at := off - 1
	col := utf8.RuneCount(line[:at]) + 1
	r, _ := utf8.DecodeRune(line[at:])
	msg := se.Error()
	var reason string
	switch {
	case strings.Contains(msg, "after top-level value"):
		reason = fmt.Sprintf("more after the end of the value, at column %d (one object per line)", col)
	case strings.Contains(msg, "in string literal"):
		reason = fmt.Sprintf("control character %U in a string at column %d (it must be escaped)", r, col)
	default:
		reason = fmt.Sprintf("unexpected %s at column %d", quoteRune(r), col)
		for _, h := range syntaxHints {
			if strings.Contains(msg, h.in) {
				reason += ", " + h.hint
				break
			}
		}
	}
	return &lineError{line: n, reason: reason, err: err}
}

// syntaxHints turn the context of an encoding/json syntax error into what
// was expected; the first match wins.
var syntaxHints = []struct{ in, hint string }{
	{"looking for beginning of object key string", "expecting a quoted key"},
	{"after object key:value pair", "expecting ',' or '}'"},
	{"after object key", "expecting ':'"},
	{"after array element", "expecting ',' or ']'"},
	{"in literal", "expecting true, false or null (an unquoted string?)"},
	{"looking for beginning of value", "expecting a value"},
}

// quoteRune quotes r for a message: 'h', or U+0000 for a control character.
func quoteRune(r rune) string {
	if r < 0x20 || r == 0x7f || r == utf8.RuneError {
		return fmt.Sprintf("%U", r)
	}
	return strconv.QuoteRune(r)
}
