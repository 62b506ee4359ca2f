package formats

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
)

// Defaults for the zero values of Options, applied by Registry.Open.
const (
	// DefaultMaxRecordBytes is the default Options.MaxRecordBytes: 1 MiB.
	DefaultMaxRecordBytes = 1 << 20
	// DefaultMaxRawBytes is the default Options.MaxRawBytes.
	DefaultMaxRawBytes = 1024
)

// Column is one column of a fixed-width file.
type Column struct {
	// Name is the field name; it must be unique and non-empty.
	Name string
	// Start is the 1-based position of the column's first character
	// (a rune of the decoded text, not a byte).
	Start int
	// Width is the column's width in characters; it must be positive.
	Width int
}

// Options configure a parser. A zero value is usable: Registry.Open fills in
// the defaults documented on each field, except Header, which is false in a
// zero Options. Start from Defaults to get a header-reading CSV
// configuration. Options are plain values, safe to copy and share.
type Options struct {
	// Delimiter separates CSV fields. Default ','. It must be a valid rune
	// other than '"', '\r', '\n' and Comment.
	Delimiter rune
	// Header: for CSV, the first record names the fields; for fixed-width,
	// the first line is skipped. Default false in a zero Options, true in
	// Defaults().
	Header bool
	// Quote is the CSV quote character. encoding/csv supports only '"', so
	// this must be 0 (meaning '"') or '"'; anything else fails at Open.
	Quote rune
	// Columns: for CSV without Header, the field names (required then);
	// for CSV with Header, if set, the header must hold exactly these
	// names in this order, else Open fails.
	Columns []string
	// RecordPath: for XML, the slash path of the record element from the
	// root, e.g. "trades/trade" (the <trade> children of the root
	// <trades>); a single name such as "trade" matches that element at any
	// depth; empty means every child of the root element. For JSON, the
	// optional key of the record array inside a top-level object, e.g.
	// "data"; empty means the file is a top-level array.
	RecordPath string
	// FixedWidth lists the columns of a fixed-width file; required for
	// that format. Columns must not overlap; field order is the order
	// given here.
	FixedWidth []Column
	// Encoding of the file: "utf-8" (the default), "latin1" (alias
	// "iso-8859-1") or "windows-1252" (alias "cp1252"); names are
	// case-insensitive. Any other value fails at Open. Empty means UTF-8,
	// except that an XML file's own declaration (<?xml encoding="..."?>)
	// is honoured then; a non-empty Encoding overrides the declaration.
	Encoding string
	// Comment: CSV and fixed-width lines starting with this rune are
	// skipped. Default 0: no comments.
	Comment rune
	// TrimSpace trims leading and trailing white space from field values
	// (and CSV header names). Fixed-width values are always trimmed of
	// padding spaces.
	TrimSpace bool
	// MaxRecordBytes bounds a record's size in bytes (after decoding to
	// UTF-8). Default DefaultMaxRecordBytes. Line-based formats (NDJSON,
	// fixed-width) reject a longer record with a *RecordError wrapping
	// ErrTooLarge and carry on; CSV, JSON and XML cannot find the next
	// record reliably and fail the file with an error wrapping ErrTooLarge.
	MaxRecordBytes int
	// MaxRawBytes truncates Record.Raw and RecordError.Raw. Default
	// DefaultMaxRawBytes; negative means keep no raw text.
	MaxRawBytes int
}

// Defaults returns the options for a UTF-8 CSV file with a header row and
// the default limits.
func Defaults() Options {
	return Options{
		Delimiter:      ',',
		Header:         true,
		Quote:          '"',
		MaxRecordBytes: DefaultMaxRecordBytes,
		MaxRawBytes:    DefaultMaxRawBytes,
	}
}

// withDefaults fills in the zero values that have defaults.
func (o Options) withDefaults() Options {
	if o.Delimiter == 0 {
		o.Delimiter = ','
	}
	if o.Quote == 0 {
		o.Quote = '"'
	}
	if o.MaxRecordBytes <= 0 {
		o.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if o.MaxRawBytes == 0 {
		o.MaxRawBytes = DefaultMaxRawBytes
	}
	return o
}

// rawLimit returns b truncated to the MaxRawBytes limit.
func (o *Options) rawLimit(b []byte) []byte {
	if o.MaxRawBytes < 0 {
		return nil
	}
	if len(b) > o.MaxRawBytes {
		b = b[:o.MaxRawBytes]
	}
	return b
}

// rawCopy returns a copy of b truncated to the MaxRawBytes limit, for errors
// that outlive the next call to Next.
func (o *Options) rawCopy(b []byte) []byte {
	b = o.rawLimit(b)
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

// Errors shared by every parser. Parsers wrap them, so test with errors.Is.
var (
	// ErrUnknownFormat is returned by Registry.Open for a format no parser
	// is registered under.
	ErrUnknownFormat = errors.New("formats: unknown format")
	// ErrTooLarge is wrapped by the error for a record over
	// Options.MaxRecordBytes.
	ErrTooLarge = errors.New("formats: record too large")
	// ErrInvalidUTF8 is wrapped by the *RecordError for a record of a
	// UTF-8 line-based file (CSV, NDJSON, fixed-width) that is not valid
	// UTF-8.
	ErrInvalidUTF8 = errors.New("formats: invalid UTF-8")
	// ErrOptions is wrapped by the error Open returns for options the
	// format cannot use.
	ErrOptions = errors.New("formats: invalid options")
)

// encodingName normalizes an Options.Encoding; ok is false for unsupported
// encodings.
func encodingName(enc string) (name string, ok bool) {
	switch strings.ToLower(strings.TrimSpace(enc)) {
	case "", "utf-8", "utf8":
		return "utf-8", true
	case "latin1", "latin-1", "iso-8859-1", "iso8859-1", "iso_8859-1", "l1":
		return "iso-8859-1", true
	case "windows-1252", "cp1252", "windows1252":
		return "windows-1252", true
	}
	return "", false
}

// decodeInput returns r decoded to UTF-8 per enc, with a leading UTF-8 byte
// order mark removed. utf8 reports whether the text comes straight from the
// file, so that it may hold invalid UTF-8.
func decodeInput(r io.Reader, enc string) (out io.Reader, utf8In bool, err error) {
	name, ok := encodingName(enc)
	if !ok {
		return nil, false, fmt.Errorf("%w: unsupported encoding %q", ErrOptions, enc)
	}
	switch name {
	case "iso-8859-1":
		return charmap.ISO8859_1.NewDecoder().Reader(r), false, nil
	case "windows-1252":
		return charmap.Windows1252.NewDecoder().Reader(r), false, nil
	}
	return &bomSkipper{r: r}, true, nil
}

// bomSkipper drops a UTF-8 byte order mark at the start of r.
type bomSkipper struct {
	r       io.Reader
	started bool
	pending []byte // bytes read while looking for the BOM
}

func (b *bomSkipper) Read(p []byte) (int, error) {
	if !b.started {
		b.started = true
		var head [3]byte
		n, err := io.ReadFull(b.r, head[:])
		if n == 3 && head == [3]byte{0xEF, 0xBB, 0xBF} {
			n = 0
		}
		b.pending = append(b.pending[:0], head[:n]...)
		if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
			return 0, err
		}
	}
	if len(b.pending) > 0 {
		n := copy(p, b.pending)
		b.pending = b.pending[n:]
		return n, nil
	}
	return b.r.Read(p)
}

// validDelim reports whether r can delimit CSV fields (the rule of
// encoding/csv).
func validDelim(r rune) bool {
	return r != 0 && r != '"' && r != '\r' && r != '\n' && utf8.ValidRune(r) && r != utf8.RuneError
}

// bufSize returns a bufio size for records of up to max bytes.
func bufSize(max int) int {
	const lo, hi = 4096, 64 << 10
	if max+1 < lo {
		return lo
	}
	if max+1 > hi {
		return hi
	}
	return max + 1
}
