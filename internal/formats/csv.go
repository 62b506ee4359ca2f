package formats

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// openCSV opens a CSV reader; see csvReader.
func openCSV(r io.Reader, opts Options) (Reader, error) {
	opts = opts.withDefaults()
	if opts.Quote != '"' {
		return nil, fmt.Errorf("%w: csv: quote %q: only '\"' is supported", ErrOptions, opts.Quote)
	}
	if !validDelim(opts.Delimiter) || opts.Delimiter == opts.Comment {
		return nil, fmt.Errorf("%w: csv: invalid delimiter %q", ErrOptions, opts.Delimiter)
	}
	if opts.Comment != 0 && !validDelim(opts.Comment) {
		return nil, fmt.Errorf("%w: csv: invalid comment character %q", ErrOptions, opts.Comment)
	}
	if !opts.Header {
		if len(opts.Columns) == 0 {
			return nil, fmt.Errorf("%w: csv: without a header, Columns must name the fields", ErrOptions)
		}
		if err := checkNames(opts.Columns); err != nil {
			return nil, fmt.Errorf("%w: csv: Columns: %w", ErrOptions, err)
		}
	}
	in, utf8In, err := decodeInput(r, opts.Encoding, FormatCSV, opts.AllowControl)
	if err != nil {
		return nil, err
	}
	c := &csvReader{opts: opts, utf8In: utf8In}
	c.win = newWindow(in, opts.MaxRecordBytes, true)
	c.cr = csv.NewReader(c.win)
	c.cr.Comma = opts.Delimiter
	c.cr.Comment = opts.Comment
	c.cr.FieldsPerRecord = -1
	c.cr.ReuseRecord = true
	if !opts.Header {
		c.names = opts.Columns
		return c, nil
	}
	fields, err := c.cr.Read()
	line := c.win.lineAt(c.win.base + int64(skipBlank(c.win.span(c.win.base, c.win.pos), opts.Comment)))
	switch {
	case err == io.EOF:
		return nil, errors.New("formats: csv: no header: the file is empty")
	case err != nil:
		return nil, fmt.Errorf("formats: csv: header (line %d): %w", line, err)
	}
	c.win.mark(c.cr.InputOffset())
	names := make([]string, len(fields))
	for i, f := range fields {
		if utf8In && !utf8.ValidString(f) {
			return nil, fmt.Errorf("formats: csv: header (line %d): %w", line, ErrInvalidUTF8)
		}
		if opts.TrimSpace {
			f = strings.TrimSpace(f)
		}
		names[i] = f
	}
	if err := checkNames(names); err != nil {
		return nil, fmt.Errorf("formats: csv: header (line %d): %w", line, err)
	}
	if len(opts.Columns) > 0 && !slicesEqual(names, opts.Columns) {
		return nil, fmt.Errorf("formats: csv: header (line %d) is %q, want %q", line, names, opts.Columns)
	}
	c.names = names
	return c, nil
}

// checkNames refuses empty and duplicate field names.
func checkNames(names []string) error {
	seen := make(map[string]bool, len(names))
	for i, n := range names {
		if n == "" {
			return fmt.Errorf("field %d has an empty name", i+1)
		}
		if seen[n] {
			return fmt.Errorf("duplicate field name %q", n)
		}
		seen[n] = true
	}
	return nil
}

func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// csvReader implements FormatCSV; the rules are documented there.
type csvReader struct {
	opts   Options
	utf8In bool
	cr     *csv.Reader
	win    *window
	names  []string
	n      int64
	rec    Record
	err    error // sticky: io.EOF or fatal

	// A record read ahead after a quote error, to tell a truncated file
	// from one bad record.
	peeked  bool
	pFields []string
	pErr    error
	pEnd    int64
}

func (c *csvReader) Next() (Record, error) {
	if c.err != nil {
		return Record{}, c.err
	}
	var fields []string
	var err error
	var end int64
	if c.peeked {
		fields, err, end = c.pFields, c.pErr, c.pEnd
		c.peeked = false
	} else {
		fields, err = c.cr.Read()
		end = c.cr.InputOffset()
	}
	if err == io.EOF {
		c.err = io.EOF
		return Record{}, io.EOF
	}
	// The record's original text: the bytes from the mark to the end of
	// the record, less blank and comment lines before it.
	start := c.win.base
	if err == nil || end > start {
		start += int64(skipBlank(c.win.span(start, end), c.opts.Comment))
	}
	line := c.win.lineAt(start)
	if err != nil && errors.Is(err, ErrTooLarge) {
		c.err = fmt.Errorf("formats: csv: record at line %d: %w", line, err)
		return Record{}, c.err
	}
	raw := trimNewline(c.win.span(start, end))
	c.n++
	if err != nil {
		var pe *csv.ParseError
		if !errors.As(err, &pe) {
			c.err = fmt.Errorf("formats: csv: line %d: %w", line, err)
			return Record{}, c.err
		}
		rerr := &RecordError{Number: c.n, Line: line, Raw: c.opts.rawCopy(raw), Err: pe.Err}
		quotes := bytes.Count(raw, []byte{'"'})
		c.win.mark(end)
		if errors.Is(pe.Err, csv.ErrQuote) {
			// Read ahead: at the end of the file with a quote still open,
			// the file was cut short.
			c.pFields, c.pErr = c.cr.Read()
			c.pEnd = c.cr.InputOffset()
			if c.pErr == io.EOF && quotes%2 == 1 {
				c.err = fmt.Errorf("formats: csv: line %d: quoted field not closed at end of file (truncated?): %w", line, err)
				return Record{}, c.err
			}
			c.peeked = true
		}
		return Record{}, rerr
	}
	c.win.mark(end)
	// The fields are the record's bytes less ASCII quotes and newlines, so
	// they are valid UTF-8 exactly when the bytes are.
	if c.utf8In && !utf8.Valid(raw) {
		return Record{}, &RecordError{Number: c.n, Line: line, Raw: c.opts.rawCopy(raw), Err: ErrInvalidUTF8}
	}
	if len(fields) != len(c.names) {
		return Record{}, &RecordError{Number: c.n, Line: line, Raw: c.opts.rawCopy(raw),
			Err: fmt.Errorf("%d fields, want %d", len(fields), len(c.names))}
	}
	c.rec.Number, c.rec.Line = c.n, line
	c.rec.Fields = c.rec.Fields[:0]
	for i, f := range fields {
		if c.opts.TrimSpace {
			f = strings.TrimSpace(f)
		}
		c.rec.Fields = append(c.rec.Fields, Field{Name: c.names[i], Value: f})
	}
	// Raw aliases the window's buffer, which stays put until the next Read.
	c.rec.Raw = c.opts.rawLimit(raw)
	return c.rec, nil
}

// skipBlank returns the length of the blank lines and comment lines at the
// start of b, which encoding/csv skips.
func skipBlank(b []byte, comment rune) int {
	n := 0
	for len(b) > 0 {
		switch {
		case b[0] == '\n':
			b, n = b[1:], n+1
		case len(b) > 1 && b[0] == '\r' && b[1] == '\n':
			b, n = b[2:], n+2
		case comment != 0 && startsWithRune(b, comment):
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				return n + len(b)
			}
			b, n = b[i+1:], n+i+1
		default:
			return n
		}
	}
	return n
}

func startsWithRune(b []byte, r rune) bool {
	got, _ := utf8.DecodeRune(b)
	return got == r
}

// trimNewline drops one trailing "\n" or "\r\n".
func trimNewline(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b
}
