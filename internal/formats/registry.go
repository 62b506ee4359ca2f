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

// The names of the built-in formats.
const (
	FormatCSV        = "csv"
	FormatJSON       = "json"
	FormatNDJSON     = "ndjson"
	FormatXML        = "xml"
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
