// Package mesh loads mesh.yaml, the declarative file of a data mesh: its
// domains, its feeds (how landed files become raw tables), its data
// products (every feed's table is one, source-aligned), the grants that let
// other domains read enterprise-visible products, and the subscriptions
// (content patterns, internal/pattern) that route mesh events to domain
// inboxes.
//
// Loading is strict. Unknown keys, wrong types and every semantic problem
// (an undeclared domain, a primary key field missing from the schema, a
// regex that does not compile, ...) are errors that name the file and the
// YAML line, and all of them are reported at once, not just the first.
//
// A loaded Mesh is plain data: safe for concurrent reads, not for
// concurrent modification.
//
// See testdata/mesh.yaml for a complete example.
package mesh

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// ErrInvalid is wrapped by every error Parse and Load return for a mesh
// file that could be read but is not a valid mesh. Each problem is also a
// *Error, reachable with errors.As.
var ErrInvalid = errors.New("mesh: invalid mesh file")

// Mode values of Feed.Mode.
const (
	// ModeAppend appends every accepted record to the table (the default).
	ModeAppend = "append"
	// ModeUpsert replaces rows with the same primary key; the row with the
	// greatest OrderingField wins (the latest in the file when equal or when
	// there is no ordering field).
	ModeUpsert = "upsert"
)

// Built-in formats. Custom parser names are accepted only when passed to
// Parse or Load with WithFormats.
const (
	FormatCSV        = "csv"
	FormatJSON       = "json"
	FormatNDJSON     = "ndjson"
	FormatXML        = "xml"
	FormatFixedWidth = "fixed-width"
)

// Rule names of Rule.Rule.
const (
	// RuleRequired: the record must give a non-empty, non-null value.
	RuleRequired = "required"
	// RuleRegex: the field's text must match Value (Go RE2 syntax,
	// unanchored unless the pattern anchors itself).
	RuleRegex = "regex"
	// RuleMin: the typed value must be >= Value (numbers, timestamps, dates).
	RuleMin = "min"
	// RuleMax: the typed value must be <= Value (numbers, timestamps, dates).
	RuleMax = "max"
	// RuleEnum: the field's text must be one of Values.
	RuleEnum = "enum"
	// RuleMaxLength: a string may have at most Value runes, bytes at most
	// Value bytes.
	RuleMaxLength = "max_length"
)

// Batch policy defaults.
const (
	DefaultBatchMaxFiles       = 100
	DefaultBatchMaxBytes int64 = 1 << 30
)

// Mesh is a loaded mesh file.
type Mesh struct {
	// Domains in declaration order.
	Domains []Domain
	// Feeds in declaration order, which is the order FeedFor tries them.
	Feeds []Feed
	// Products: first the source-aligned product of every feed's table, in
	// feed order, then the products of the file, in declaration order.
	Products []Product
	// Grants in declaration order.
	Grants []Grant
	// Subscriptions in declaration order.
	Subscriptions []Subscription
	// Engines are the external engines products may run on, in
	// declaration order.
	Engines []Engine
	// Files are the files the mesh was read from: its mesh files, then
	// the schema files they name, each as read (the path joined to its
	// mesh file's directory). An apply through the catalog sends them.
	Files []string
}

// Engine is an external engine a product's job can run on instead of the
// embedded DuckDB: a command the runner starts for each attempt, with the
// path of a JSON file describing the job (its transform, output contract
// and pinned inputs with their data files) as its last argument; the
// command writes the result rows as NDJSON to the file the job names
// (processors/runner.Command).
type Engine struct {
	// Name is 1 to 100 characters from [a-z0-9_-]; not "duckdb".
	Name string
	// Command is the program and its first arguments, such as
	// [spark-submit, --master, yarn, jobs/run_product.py].
	Command []string
	// Dir is the command's working directory; default the runner's.
	Dir string
}

// DomainNames returns the names of the mesh's domains, in declaration
// order: the domains an apply of the mesh covers.
func (m *Mesh) DomainNames() []string {
	out := make([]string, 0, len(m.Domains))
	for _, d := range m.Domains {
		out = append(out, d.Name)
	}
	return out
}

// Engine returns the engine of the given name.
func (m *Mesh) Engine(name string) (Engine, bool) {
	for _, e := range m.Engines {
		if e.Name == name {
			return e, true
		}
	}
	return Engine{}, false
}

// Domain is a business unit with its own bus and inbox.
type Domain struct {
	// Name is 1 to 100 characters from [a-z0-9_-] (see events.ValidDomain).
	Name string
	// Description is free text.
	Description string
	// Owners are the people or groups accountable for the domain.
	Owners []string
}

// Feed says how landed files become a raw table.
type Feed struct {
	// Name is 1 to 100 characters from [a-z0-9_-], unique in the mesh.
	Name string
	// Table is "domain.table"; the domain is declared in the mesh and the
	// table part is 1 to 100 characters from [a-z0-9_]. No two feeds load
	// the same table.
	Table string
	// KeyPattern is a glob on the landing key: path.Match syntax per
	// "/"-separated segment, plus "**" as a whole segment for any number of
	// segments (including none).
	KeyPattern string
	// Topic, instead of KeyPattern, makes the feed read an upstream Kafka
	// topic of Confluent-framed Avro records (`logmesh produce`, or any
	// Confluent producer): the spool processor stages each run of records
	// as an NDJSON file in the landing area (under SpoolPrefix) and lands
	// it, and from there it is planned, validated and committed like any
	// landed file. Format is then FormatNDJSON.
	Topic string
	// Format is a built-in format (FormatCSV, ...) or a custom parser name.
	Format string
	// Options are the parser's settings and the text-to-type layouts.
	Options FormatOptions
	// Schema is the table contract: the Avro record schema as compact JSON.
	// Inline YAML schemas are re-encoded with object keys sorted.
	Schema string
	// PrimaryKey are the fields that identify a row; required for upsert.
	PrimaryKey []string
	// OrderingField is the field whose greatest value wins on upsert, or "".
	OrderingField string
	// Mode is ModeAppend (the default) or ModeUpsert.
	Mode string
	// UniqueKey asks the loader to reject a record whose primary key was
	// already seen in the same file.
	UniqueKey bool
	// RejectThreshold is the fraction of rejected records (0..1) above
	// which the whole file fails. The default 0 fails a file on its first
	// rejected record.
	RejectThreshold float64
	// Rules are the validation rules, in declaration order.
	Rules []Rule
	// Batch is the planner's policy for this feed's table.
	Batch BatchPolicy
	// AllowControlCharacters (allow_control_characters: true) lets string
	// fields hold C0 control characters (U+0000 to U+001F) other than tab,
	// line feed and carriage return, which the validator otherwise
	// rejects with a "control_character" violation. Default false. It does
	// not let a file whose start looks binary (a NUL byte in its first
	// 8 KiB) past the parser.
	AllowControlCharacters bool
}

// Rule is one validation rule of a feed. See the Rule* constants.
type Rule struct {
	// Field is a field of the feed's schema.
	Field string `yaml:"field"`
	// Rule is one of the Rule* constants.
	Rule string `yaml:"rule"`
	// Value is the argument of regex, min, max and max_length.
	Value string `yaml:"value"`
	// Values are the allowed texts of enum.
	Values []string `yaml:"values"`
}

// BatchPolicy bounds the batches the planner forms for a table.
type BatchPolicy struct {
	// MaxFiles is the most files in one batch; default DefaultBatchMaxFiles.
	MaxFiles int `yaml:"max_files"`
	// MaxBytes is the most bytes in one batch; default DefaultBatchMaxBytes.
	MaxBytes int64 `yaml:"max_bytes"`
}

// Domain returns the domain part of the feed's table: "raw" for "raw.trades".
func (f *Feed) Domain() string {
	d, _, _ := strings.Cut(f.Table, ".")
	return d
}

// TableName returns the table part of the feed's table: "trades" for
// "raw.trades".
func (f *Feed) TableName() string {
	_, t, _ := strings.Cut(f.Table, ".")
	return t
}

// FeedFor returns the first feed, in declaration order, whose KeyPattern
// matches key; ok is false if none does.
func (m *Mesh) FeedFor(key string) (f *Feed, ok bool) {
	for i := range m.Feeds {
		if m.Feeds[i].Topic == "" && matchKey(m.Feeds[i].KeyPattern, key) {
			return &m.Feeds[i], true
		}
	}
	return nil, false
}

// Feed returns the feed with the given name.
func (m *Mesh) Feed(name string) (*Feed, bool) {
	for i := range m.Feeds {
		if m.Feeds[i].Name == name {
			return &m.Feeds[i], true
		}
	}
	return nil, false
}

// Option configures Parse and Load.
type Option func(*config)

type config struct {
	formats  []string
	readFile func(string) ([]byte, error)
	defined  *Defined
}

// WithFormats accepts the named custom parsers as feed formats, in addition
// to the built-in ones. By default only built-in formats are accepted.
func WithFormats(names ...string) Option {
	return func(c *config) { c.formats = append(c.formats, names...) }
}

// WithReadFile reads a feed's or a product's schema_file with fn (given
// the path joined to its mesh file's directory, or the absolute path)
// instead of from the file system: the catalog parses the files an apply
// request sends with it. Default os.ReadFile.
func WithReadFile(fn func(name string) ([]byte, error)) Option {
	return func(c *config) { c.readFile = fn }
}

// Defined are the definitions that exist beside the files being parsed:
// those on the log, for an apply that covers only the domains its files
// declare. A reference the files do not resolve resolves against them: a
// product's input may name a live product of another domain or its table,
// a grant may go to a live domain the files do not declare. What a domain
// owns (its feeds, products, grants and subscriptions) is never taken
// from them: those are declared in the files together with their domain.
type Defined struct {
	// Domains are the live domains.
	Domains []string
	// Products maps each live product to its output table.
	Products map[string]string
}

// WithDefined resolves references outside the files against d. By
// default a reference must resolve in the files.
func WithDefined(d Defined) Option {
	return func(c *config) { c.defined = &d }
}

// Source is one mesh file: its name (a path, as errors and the
// directory of its schema_file paths take it) and its text.
type Source struct {
	Name string
	Data []byte
}

// Load reads and parses the mesh file at path. A feed's schema_file is
// read relative to the directory of path.
func Load(path string, opts ...Option) (*Mesh, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("mesh: %w", err)
	}
	return Parse(data, path, filepath.Dir(path), opts...)
}

// LoadPath loads a mesh from path: a mesh file, or a folder whose *.yaml
// and *.yml files (not those of its subfolders) are read as one mesh
// (ReadSources, ParseFiles).
func LoadPath(path string, opts ...Option) (*Mesh, error) {
	srcs, err := ReadSources(path)
	if err != nil {
		return nil, err
	}
	return ParseFiles(path, srcs, opts...)
}

// ReadSources reads the mesh files of path: the file itself, or the *.yaml
// and *.yml files of the folder, by name. A folder without any is an
// error.
func ReadSources(path string) ([]Source, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("mesh: %w", err)
	}
	var names []string
	if !fi.IsDir() {
		names = []string{path}
	} else {
		entries, err := os.ReadDir(path)
		if err != nil {
			return nil, fmt.Errorf("mesh: %w", err)
		}
		for _, e := range entries {
			if ext := filepath.Ext(e.Name()); !e.IsDir() && (ext == ".yaml" || ext == ".yml") {
				names = append(names, filepath.Join(path, e.Name()))
			}
		}
		if len(names) == 0 {
			return nil, fmt.Errorf("mesh: folder %s holds no *.yaml or *.yml file", path)
		}
	}
	srcs := make([]Source, 0, len(names))
	for _, n := range names {
		data, err := os.ReadFile(n)
		if err != nil {
			return nil, fmt.Errorf("mesh: %w", err)
		}
		srcs = append(srcs, Source{Name: n, Data: data})
	}
	return srcs, nil
}

// Parse parses a mesh file. name is used in error messages; a feed's
// schema_file is read relative to baseDir. The error, if any, wraps
// ErrInvalid and one *Error per problem found, sorted by line.
func Parse(data []byte, name, baseDir string, opts ...Option) (*Mesh, error) {
	return parse(name, baseDir, []Source{{Name: name, Data: data}}, true, opts)
}

// ParseFiles parses several mesh files as one mesh: their domains, feeds,
// products, grants, subscriptions and engines in file order, each file's
// schema_file paths relative to its directory, every reference resolved
// across all of them (a feed in one file may load a table of a domain
// another declares). Each error names its file and line; name stands for
// all of them in an error that has no line. The error, if any, wraps
// ErrInvalid and one *Error per problem found, sorted by file, then line.
func ParseFiles(name string, srcs []Source, opts ...Option) (*Mesh, error) {
	return parse(name, "", srcs, false, opts)
}

func parse(name, baseDir string, srcs []Source, oneFile bool, opts []Option) (*Mesh, error) {
	cfg := config{readFile: os.ReadFile}
	for _, o := range opts {
		o(&cfg)
	}
	p := &parser{file: name, baseDir: baseDir, formats: cfg.formats, readFile: cfg.readFile, defined: cfg.defined, oneFile: oneFile}
	m := p.safeParse(srcs)
	if len(p.errs) > 0 {
		// Sorting by the parser's line numbers sorts by file, then line.
		slices.SortStableFunc(p.errs, func(a, b *Error) int { return a.Line - b.Line })
		p.locate()
		errs := make([]error, 0, len(p.errs)+1)
		errs = append(errs, ErrInvalid)
		for _, e := range p.errs {
			errs = append(errs, e)
		}
		return nil, &multiError{errs: errs}
	}
	for _, src := range srcs {
		m.Files = append(m.Files, src.Name)
	}
	m.Files = append(m.Files, p.read...)
	return m, nil
}

// Error is one problem in a mesh file.
type Error struct {
	// File is the name given to Parse (the path given to Load).
	File string
	// Line is the 1-based line in File, or 0 if unknown.
	Line int
	// Msg describes the problem, prefixed with the feed or domain it is in.
	Msg string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// multiError prints one problem per line and unwraps to ErrInvalid and each
// *Error.
type multiError struct{ errs []error }

func (m *multiError) Error() string {
	var b strings.Builder
	for i, e := range m.errs[1:] {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

func (m *multiError) Unwrap() []error { return m.errs }
