package formats

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"
)

// openFixedWidth opens a fixed-width reader; see fixedWidthReader.
func openFixedWidth(r io.Reader, opts Options) (Reader, error) {
	opts = opts.withDefaults()
	cols := opts.FixedWidth
	if len(cols) == 0 {
		return nil, fmt.Errorf("%w: fixed-width: FixedWidth lists no columns", ErrOptions)
	}
	names := make([]string, len(cols))
	for i, c := range cols {
		if c.Start < 1 || c.Width < 1 {
			return nil, fmt.Errorf("%w: fixed-width: column %q: start %d and width %d must be positive", ErrOptions, c.Name, c.Start, c.Width)
		}
		names[i] = c.Name
	}
	if err := checkNames(names); err != nil {
		return nil, fmt.Errorf("%w: fixed-width: %w", ErrOptions, err)
	}
	sorted := slices.Clone(cols)
	slices.SortFunc(sorted, func(a, b Column) int { return a.Start - b.Start })
	for i := 1; i < len(sorted); i++ {
		if p := sorted[i-1]; p.Start+p.Width > sorted[i].Start {
			return nil, fmt.Errorf("%w: fixed-width: columns %q and %q overlap", ErrOptions, p.Name, sorted[i].Name)
		}
	}
	if opts.Comment != 0 && !validDelim(opts.Comment) {
		return nil, fmt.Errorf("%w: fixed-width: invalid comment character %q", ErrOptions, opts.Comment)
	}
	in, utf8In, err := decodeInput(r, opts.Encoding, FormatFixedWidth, opts.AllowControl)
	if err != nil {
		return nil, err
	}
	last := sorted[len(sorted)-1]
	return &fixedWidthReader{
		opts:      opts,
		utf8In:    utf8In,
		lr:        newLineReader(in, opts.MaxRecordBytes),
		lastStart: last.Start,
		lastEnd:   last.Start + last.Width - 1,
	}, nil
}

// fixedWidthReader implements FormatFixedWidth; the rules are documented there.
type fixedWidthReader struct {
	opts      Options
	utf8In    bool
	lr        *lineReader
	lastStart int   // 1-based start of the rightmost column
	lastEnd   int   // 1-based end of the rightmost column
	offs      []int // byte offset of each character, up to lastEnd
	n         int64
	rec       Record
	err       error // sticky
}

func (f *fixedWidthReader) Next() (Record, error) {
	if f.err != nil {
		return Record{}, f.err
	}
	for {
		line, tooLong, err := f.lr.next()
		if err == io.EOF {
			f.err = io.EOF
			return Record{}, io.EOF
		}
		if err != nil {
			f.err = fmt.Errorf("formats: fixed-width: line %d: %w", f.lr.n+1, err)
			return Record{}, f.err
		}
		if f.opts.Header && f.lr.n == 1 {
			continue
		}
		if !tooLong && (len(line) == 0 || f.opts.Comment != 0 && startsWithRune(line, f.opts.Comment)) {
			continue
		}
		f.n++
		bad := func(err error) (Record, error) {
			return Record{}, &RecordError{Number: f.n, Line: f.lr.n, Raw: f.opts.rawCopy(line), Err: err}
		}
		if tooLong {
			return bad(fmt.Errorf("%w: line over %d bytes", ErrTooLarge, f.opts.MaxRecordBytes))
		}
		if f.utf8In && !utf8.Valid(line) {
			return bad(ErrInvalidUTF8)
		}
		// offs[i] is the byte offset of character i+1, for the characters
		// up to the end of the last column, and offs[k] the end.
		f.offs = f.offs[:0]
		i := 0
		for i < len(line) && len(f.offs) < f.lastEnd {
			f.offs = append(f.offs, i)
			if line[i] < utf8.RuneSelf {
				i++
			} else {
				_, size := utf8.DecodeRune(line[i:])
				i += size
			}
		}
		k := len(f.offs)
		f.offs = append(f.offs, i)
		if k < f.lastStart {
			return bad(fmt.Errorf("line has %d characters, the last column starts at %d", k, f.lastStart))
		}
		s := string(line[:i]) // one allocation; the values are slices of it
		f.rec.Fields = f.rec.Fields[:0]
		for _, c := range f.opts.FixedWidth {
			v := s[f.offs[c.Start-1]:f.offs[min(c.Start-1+c.Width, k)]]
			if f.opts.TrimSpace {
				v = strings.TrimSpace(v)
			} else {
				v = strings.Trim(v, " ")
			}
			f.rec.Fields = append(f.rec.Fields, Field{Name: c.Name, Value: v})
		}
		f.rec.Number, f.rec.Line = f.n, f.lr.n
		f.rec.Raw = f.opts.rawLimit(line)
		return f.rec, nil
	}
}
