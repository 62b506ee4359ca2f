package formats

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
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
	// "iso-8859-1"), "windows-1252" (alias "cp1252"), "utf-16le",
	// "utf-16be", or "utf-16" (which needs a byte order mark and takes the
	// byte order from it); names are case-insensitive. Any other value
	// fails at Open. Empty means UTF-8, except for XML: there a UTF-16
	// byte order mark or a UTF-16 "<?xml" picks UTF-16, and otherwise the
	// file's own declaration (<?xml encoding="..."?>) is honoured; a
	// non-empty Encoding overrides both.
	//
	// A byte order mark that fits the encoding is dropped (UTF-8's under
	// utf-8, UTF-16LE's under utf-16le, either under utf-16). Open fails,
	// with an error wrapping ErrEncoding that names the encoding to set,
	// on the byte order mark of another encoding: a UTF-16 one under utf-8
	// or latin1, a UTF-8 one under latin1 or UTF-16, and so on. For the
	// encodings other than UTF-16, Open also looks at the first 8 KiB for
	// binary content and fails with an error wrapping ErrBinary on a known
	// binary signature (gzip, ZIP, PDF, ...), a NUL byte, or more than one
	// byte in ten being a control character that text does not use; NUL
	// bytes in every other position give an ErrEncoding suggesting
	// UTF-16 instead. Control characters further into the file reach the
	// records.
	Encoding string
	// Comment: CSV and fixed-width lines starting with this rune are
	// skipped. Default 0: no comments.
	Comment rune
	// AllowControl says the text may hold NUL and other control bytes
	// (the feed accepts control characters): the start of the file is
	// then refused as binary only for a known binary signature.
	AllowControl bool
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
	// ErrEncoding is wrapped by the error Open returns for a file that
	// shows it is not in Options.Encoding: it starts with the byte order
	// mark of another encoding, or looks like UTF-16 without one, or is
	// "utf-16" without one. The message names the encoding to set.
	ErrEncoding = errors.New("formats: file not in the declared encoding")
	// ErrBinary is wrapped by the error Open returns for a file whose
	// start looks binary rather than text (see Options.Encoding).
	ErrBinary = errors.New("formats: binary file")
	// ErrDTD is wrapped by the fatal error for an XML file with a DOCTYPE
	// or other DTD declaration, which FormatXML refuses.
	ErrDTD = errors.New("formats: XML DTD refused")
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
	case "utf-16le", "utf16le":
		return "utf-16le", true
	case "utf-16be", "utf16be":
		return "utf-16be", true
	case "utf-16", "utf16":
		return "utf-16", true
	}
	return "", false
}

// sniffBytes is how much of the start of a file decodeInput inspects for a
// byte order mark and for binary content.
const sniffBytes = 8 << 10

// decodeInput reads the first sniffBytes of r and returns r decoded to UTF-8
// per enc, with the byte order mark that fits enc removed. It fails, with
// an error wrapping ErrEncoding, on a byte order mark of another encoding
// and on a "utf-16" file without one; and, for the encodings other than
// UTF-16, with an error wrapping ErrBinary on a start that looks binary
// (see sniffBinary). format is the format's name, for the messages. utf8In
// reports whether the text comes straight from the file, so that it may
// hold invalid UTF-8.
func decodeInput(r io.Reader, enc, format string, allowControl bool) (out io.Reader, utf8In bool, err error) {
	name, ok := encodingName(enc)
	if !ok {
		return nil, false, fmt.Errorf("%w: unsupported encoding %q", ErrOptions, enc)
	}
	buf := make([]byte, sniffBytes)
	n, err := io.ReadFull(r, buf)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return nil, false, fmt.Errorf("formats: %s: read: %w", format, err)
	}
	head := buf[:n]
	bom := byteOrderMark(head)
	fail := func(kind error, msg string) (io.Reader, bool, error) {
		return nil, false, &fileError{kind: kind, msg: "formats: " + format + ": " + msg}
	}
	mismatch := func(bom bomInfo) (io.Reader, bool, error) {
		if bom.suggest == "" {
			return fail(ErrEncoding, fmt.Sprintf("file starts with a %s byte order mark; %s is not supported: convert the file to UTF-8", bom.name, bom.name))
		}
		return fail(ErrEncoding, fmt.Sprintf("file starts with a %s byte order mark; set the feed's encoding to %q", bom.name, bom.suggest))
	}
	skip := 0
	var dec *encoding.Decoder
	switch name {
	case "utf-16le", "utf-16be", "utf-16":
		le, be := bytes.HasPrefix(head, bomUTF16LE), bytes.HasPrefix(head, bomUTF16BE)
		switch {
		case le && name != "utf-16be":
			skip, name = 2, "utf-16le"
		case be && name != "utf-16le":
			skip, name = 2, "utf-16be"
		case le:
			return mismatch(bomInfo{"UTF-16LE", "utf-16le"})
		case be:
			return mismatch(bomInfo{"UTF-16BE", "utf-16be"})
		case bom.name != "":
			return mismatch(bom)
		case name == "utf-16" && len(head) > 0:
			hint := `"utf-16le" or "utf-16be"`
			if g := guessUTF16(head); g != "" {
				hint = strconv.Quote(g)
			}
			return fail(ErrEncoding, "encoding \"utf-16\" needs a byte order mark (FF FE or FE FF) at the start of the file, "+
				"and there is none; set the feed's encoding to "+hint)
		}
		endian := unicode.LittleEndian
		if name == "utf-16be" {
			endian = unicode.BigEndian
		}
		dec = unicode.UTF16(endian, unicode.IgnoreBOM).NewDecoder()
	default:
		switch {
		case bom.suggest == "utf-8" && name == "utf-8":
			skip = 3
		case bom.name != "":
			return mismatch(bom)
		}
		switch why, utf16 := sniffBinary(head, skip, allowControl); {
		case utf16 != "":
			return fail(ErrEncoding, fmt.Sprintf("the file looks like %s text without a byte order mark; set the feed's encoding to %q",
				strings.ToUpper(utf16), utf16))
		case why != "":
			return fail(ErrBinary, fmt.Sprintf("the file looks binary (%s), not %s text", why, formatTitle(format)))
		}
		switch name {
		case "iso-8859-1":
			dec = charmap.ISO8859_1.NewDecoder()
		case "windows-1252":
			dec = charmap.Windows1252.NewDecoder()
		}
	}
	out = r
	if len(head) > skip {
		out = io.MultiReader(bytes.NewReader(head[skip:]), r)
	}
	if dec != nil {
		return dec.Reader(out), false, nil
	}
	return out, true, nil
}

// bomInfo describes a byte order mark: name is how messages call its
// encoding ("" for none), suggest the Options.Encoding that reads it (""
// for an unsupported one).
type bomInfo struct{ name, suggest string }

// The byte order marks of UTF-16.
var (
	bomUTF16LE = []byte{0xFF, 0xFE}
	bomUTF16BE = []byte{0xFE, 0xFF}
)

// byteOrderMark returns the byte order mark head starts with. FF FE 00 00
// counts as UTF-32LE here, although it could also be UTF-16LE text starting
// with U+0000; the UTF-16 encodings read it as that.
func byteOrderMark(head []byte) bomInfo {
	switch {
	case bytes.HasPrefix(head, []byte{0xEF, 0xBB, 0xBF}):
		return bomInfo{"UTF-8", "utf-8"}
	case bytes.HasPrefix(head, []byte{0xFF, 0xFE, 0, 0}):
		return bomInfo{"UTF-32LE", ""}
	case bytes.HasPrefix(head, []byte{0, 0, 0xFE, 0xFF}):
		return bomInfo{"UTF-32BE", ""}
	case bytes.HasPrefix(head, bomUTF16LE):
		return bomInfo{"UTF-16LE", "utf-16le"}
	case bytes.HasPrefix(head, bomUTF16BE):
		return bomInfo{"UTF-16BE", "utf-16be"}
	}
	return bomInfo{}
}

// magics are the signatures of binary files that land by mistake where
// text is expected, with their descriptions.
var magics = []struct {
	sig  string
	what string
}{
	{"\x1f\x8b", "gzip-compressed data"},
	{"PK\x03\x04", "a ZIP archive, such as an .xlsx workbook"},
	{"\x28\xb5\x2f\xfd", "zstd-compressed data"},
	{"\xfd7zXZ\x00", "xz-compressed data"},
	{"BZh", "bzip2-compressed data"}, // checked further in sniffBinary
	{"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "a Microsoft Office (OLE) document, such as an .xls workbook"},
	{"%PDF-", "a PDF document"},
	{"\x89PNG\r\n\x1a\n", "a PNG image"},
}

// sniffBinary reports why head[from:], the start of a file in a single-byte
// or UTF-8 encoding, does not look like text, or "" if it does: a known
// binary signature; a NUL byte (unless the NULs fall in every other byte,
// as in UTF-16 text: then utf16 is "utf-16le" or "utf-16be" and why "");
// or more than one byte in ten being a control character that text does
// not use (C0 controls other than tab, line feed, vertical tab, form feed,
// carriage return and escape; DEL). Offsets count from the start of the
// file.
//
// With allowControl (a feed that accepts control characters) only the
// signatures count.
func sniffBinary(head []byte, from int, allowControl bool) (why, utf16 string) {
	b := head[from:]
	for _, m := range magics {
		if !strings.HasPrefix(string(b), m.sig) {
			continue
		}
		if m.sig == "BZh" && !(len(b) >= 10 && b[3] >= '1' && b[3] <= '9' && string(b[4:10]) == "\x31\x41\x59\x26\x53\x59") {
			continue
		}
		return m.what, ""
	}
	if allowControl {
		return "", ""
	}
	if i := bytes.IndexByte(b, 0); i >= 0 {
		if g := guessUTF16(b); g != "" {
			return "", g
		}
		return fmt.Sprintf("NUL byte at offset %d", from+i), ""
	}
	ctl := 0
	for _, c := range b {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\v' && c != '\f' && c != '\r' && c != 0x1b || c == 0x7f {
			ctl++
		}
	}
	if ctl > 0 && ctl*10 > len(b) {
		return fmt.Sprintf("%d of its first %d bytes are control characters", ctl, len(b)), ""
	}
	return "", ""
}

// guessUTF16 returns "utf-16le" or "utf-16be" if b looks like UTF-16 text
// of mostly Latin characters: at least four byte pairs, and nine in ten of
// them a text byte (printable, tab, LF or CR) and a NUL, in that order for
// little-endian. Else "".
func guessUTF16(b []byte) string {
	b = b[:min(len(b), 1024)&^1]
	pairs := len(b) / 2
	if pairs < 4 {
		return ""
	}
	text := func(c byte) bool { return c >= 0x20 && c != 0x7f || c == '\t' || c == '\n' || c == '\r' }
	var le, be int
	for i := 0; i < len(b); i += 2 {
		switch {
		case text(b[i]) && b[i+1] == 0:
			le++
		case b[i] == 0 && text(b[i+1]):
			be++
		}
	}
	switch {
	case le*10 >= pairs*9:
		return "utf-16le"
	case be*10 >= pairs*9:
		return "utf-16be"
	}
	return ""
}

// formatTitle returns how messages name a built-in format's text.
func formatTitle(format string) string {
	switch format {
	case FormatCSV, FormatJSON, FormatXML:
		return strings.ToUpper(format)
	case FormatNDJSON:
		return "NDJSON"
	}
	return format
}

// fileError is a whole-file problem with its own message that matches kind
// under errors.Is.
type fileError struct {
	kind error
	msg  string
}

func (e *fileError) Error() string { return e.msg }
func (e *fileError) Unwrap() error { return e.kind }

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
