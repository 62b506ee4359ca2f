package formats

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
)

// Reader yields the records of one file. Next returns io.EOF after the last
// record; a *RecordError for one bad record, after which Next can be called
// again; any other error means the file is broken, and every later call
// returns that error again.
//
// The Record returned by Next, including its Fields and Raw slices, is valid
// only until the next call to Next: readers reuse them so that memory stays
// bounded and allocations low. The strings in it may be kept; use
// Record.Clone to keep the whole record. A *RecordError owns its Raw.
//
// A Reader is not safe for concurrent use. It holds nothing but memory: the
// caller that opened the underlying io.Reader closes it after the last call
// to Next.
type Reader interface {
	Next() (Record, error)
}

// Parser opens readers for one format. Open may read the start of r (a CSV
// header, the opening of a JSON array) and fails on a file that is broken
// from the start or on options the format cannot use. Implementations must
// be safe for concurrent use; the built-in ones are.
type Parser interface {
	Open(r io.Reader, opts Options) (Reader, error)
}

// ParserFunc adapts a function to Parser.
type ParserFunc func(r io.Reader, opts Options) (Reader, error)

// Open calls f(r, opts).
func (f ParserFunc) Open(r io.Reader, opts Options) (Reader, error) { return f(r, opts) }

// The names of the built-in formats, with each parser's rules. All of them
// decode Options.Encoding (UTF-8, Latin-1, Windows-1252, UTF-16LE/BE) to
// UTF-8 first and drop the byte order mark that fits it. Open fails on
// every format, before any record, on a byte order mark of another
// encoding or UTF-16 text read as a single-byte encoding (ErrEncoding,
// naming the encoding to set: `file starts with a UTF-16LE byte order
// mark; set the feed's encoding to "utf-16le"`), and on a start that looks
// binary (ErrBinary: `the file looks binary (NUL byte at offset 12), not
// CSV text`); see Options.Encoding.
const (
	// FormatCSV is CSV read with encoding/csv: strict quotes ('"' only),
	// blank lines skipped, Comment lines skipped, the header (or Columns)
	// naming the fields. Record.Line is the line the record starts on;
	// Record.Raw is the record's original text.
	//
	// A *RecordError: a record with more or fewer fields than the header;
	// a bare or misplaced quote the reader can get past; invalid UTF-8 in
	// a UTF-8 file. Fatal: a quoted field still open at the end of the
	// file (a truncated file); a record over MaxRecordBytes (the reader
	// cannot find the next record reliably); a read error. Open fails on
	// an empty file, a broken header, an empty or duplicate header name,
	// a header that differs from a non-empty Columns.
	FormatCSV = "csv"

	// FormatJSON is a top-level array of objects, or an array held under
	// Options.RecordPath ("data", or "result/items") in a top-level
	// object, streamed with json.Decoder one element at a time. Field
	// values: strings unescaped, numbers as their literal text, booleans
	// "true"/"false", null as Field.Null, nested objects and arrays as
	// compact JSON; fields in the object's order. Record.Line is the line
	// the element starts on.
	//
	// A *RecordError: an element that is not an object; an object with a
	// duplicate key. Fatal: a syntax error, a truncated file, data after
	// the array, an element over MaxRecordBytes, a read error.
	// encoding/json replaces invalid UTF-8 in strings with U+FFFD. Open
	// fails on an empty file, a top-level value of the wrong kind, a
	// missing RecordPath key.
	FormatJSON = "json"

	// FormatNDJSON is one JSON object per line, values as for FormatJSON;
	// blank lines are skipped and the last line needs no newline.
	//
	// A *RecordError: a line that is not valid JSON (the cause reads
	// "line N: not valid JSON: <reason>", the reason saying what was
	// expected and at which column, and unwraps to the
	// *json.SyntaxError) or not an object; an object with a duplicate
	// key; invalid UTF-8 in a UTF-8 file; a line over MaxRecordBytes
	// (skipped up to the next newline). Fatal: only a read error, as every
	// line stands alone: a garbled text file shows up as many bad records,
	// for the caller's reject threshold. A binary file fails at Open.
	FormatNDJSON = "ndjson"

	// FormatXML is streamed with encoding/xml's Decoder.Token. Each
	// element matching Options.RecordPath is a record: its attributes
	// first (local names; namespace declarations and xsi:* attributes
	// left out), then one field per child element holding the child's
	// text, Null for xsi:nil="true". A child that has element children of
	// its own holds them as compact XML (local names, attributes, escaped
	// text, white space between elements dropped). Attributes of children
	// other than xsi:nil and text directly inside the record element are
	// ignored. Record.Line is the line of the record's start tag; Raw is
	// its original text. With Options.Encoding empty, a UTF-16 byte order
	// mark or "<?" in UTF-16 picks UTF-16, else the XML declaration picks
	// the encoding.
	//
	// A *RecordError: two fields of one name (a repeated child, or an
	// attribute and a child of one name). Fatal: whatever encoding/xml
	// refuses (syntax errors, invalid UTF-8, a file cut off inside an
	// element), a file without a root element, a record (or a single
	// token outside records) over MaxRecordBytes, nesting deeper than
	// 10,000 elements, a read error; and any DTD, for safety, with an
	// error wrapping ErrDTD: "XML DTDs (<!DOCTYPE>) are refused, for
	// safety (entity expansion); remove the DOCTYPE" (or the same for an
	// <!ENTITY>, <!ELEMENT>, <!ATTLIST> or <!NOTATION> on its own).
	// Entities other than the five predefined ones and character
	// references are syntax errors, as there is no DTD to define them.
	FormatXML = "xml"

	// FormatFixedWidth cuts each line into Options.FixedWidth columns by
	// character (rune) position, trimming the padding spaces. Blank and
	// Comment lines are skipped; with Header the first line is skipped.
	// Characters past the last column are ignored; a line that ends inside
	// a column gives it the characters there are.
	//
	// A *RecordError: a line shorter than the last column's start;
	// invalid UTF-8 in a UTF-8 file; a line over MaxRecordBytes. Fatal:
	// only a read error. Open fails on no columns, a non-positive start or
	// width, overlapping columns, empty or duplicate names.
	FormatFixedWidth = "fixed-width"
)

// Registry maps format names to parsers. It is safe for concurrent use;
// typically parsers are registered at startup and Open is called from many
// goroutines afterwards.
type Registry struct {
	mu      sync.RWMutex
	parsers map[string]Parser
}

// NewRegistry returns a registry holding the built-in parsers: "csv",
// "json", "ndjson", "xml" and "fixed-width".
func NewRegistry() *Registry {
	return &Registry{parsers: map[string]Parser{
		FormatCSV:        ParserFunc(openCSV),
		FormatJSON:       ParserFunc(openJSON),
		FormatNDJSON:     ParserFunc(openNDJSON),
		FormatXML:        ParserFunc(openXML),
		FormatFixedWidth: ParserFunc(openFixedWidth),
	}}
}

// Register adds a parser under name. It refuses an empty name, a nil parser
// and a name that is already taken, built-ins included.
func (g *Registry) Register(name string, p Parser) error {
	if name == "" {
		return errors.New("formats: register: empty format name")
	}
	if p == nil {
		return fmt.Errorf("formats: register %q: nil parser", name)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, dup := g.parsers[name]; dup {
		return fmt.Errorf("formats: register %q: format already registered", name)
	}
	g.parsers[name] = p
	return nil
}

// Formats returns the registered format names, sorted.
func (g *Registry) Formats() []string {
	g.mu.RLock()
	defer g.mu.RUnlock()
	names := make([]string, 0, len(g.parsers))
	for n := range g.parsers {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Open returns a reader of r in the named format, with the zero values of
// opts replaced by their defaults (see Options). An unregistered format
// gives an error wrapping ErrUnknownFormat. The caller keeps ownership of r
// and closes it when done with the reader. A panic in a parser's Open is
// not recovered here; the built-in parsers do not panic.
func (g *Registry) Open(format string, r io.Reader, opts Options) (Reader, error) {
	g.mu.RLock()
	p, ok := g.parsers[format]
	g.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownFormat, format)
	}
	return p.Open(r, opts.withDefaults())
}
