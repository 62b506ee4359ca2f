package mesh

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/lexer"
	yparser "github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
	"github.com/hamba/avro/v2"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/formats"
)

// rawMesh is the YAML shape of a mesh file.
type rawMesh struct {
	Domains       []rawDomain       `yaml:"domains"`
	Feeds         []rawFeed         `yaml:"feeds"`
	Products      []rawProduct      `yaml:"products"`
	Grants        []rawGrant        `yaml:"grants"`
	Subscriptions []rawSubscription `yaml:"subscriptions"`
	Engines       []rawEngine       `yaml:"engines"`
}

type rawDomain struct {
	Name        string   `yaml:"name"`
	Description string   `yaml:"description"`
	Owners      []string `yaml:"owners"`
}

type rawFeed struct {
	Name                   string        `yaml:"name"`
	Table                  string        `yaml:"table"`
	KeyPattern             string        `yaml:"key_pattern"`
	Topic                  string        `yaml:"topic"`
	Format                 string        `yaml:"format"`
	Options                FormatOptions `yaml:"options"`
	Schema                 any           `yaml:"schema"`
	SchemaFile             string        `yaml:"schema_file"`
	PrimaryKey             []string      `yaml:"primary_key"`
	OrderingField          string        `yaml:"ordering_field"`
	Mode                   string        `yaml:"mode"`
	UniqueKey              bool          `yaml:"unique_key"`
	RejectThreshold        float64       `yaml:"reject_threshold"`
	Rules                  []Rule        `yaml:"rules"`
	Batch                  BatchPolicy   `yaml:"batch"`
	AllowControlCharacters bool          `yaml:"allow_control_characters"`
	Visibility             string        `yaml:"visibility"`
}

// parser holds the state of one Parse call.
type parser struct {
	file    string
	baseDir string
	formats []string
	errs    []*Error
	// sources are the files parsed, each at its range of lines: the lines
	// of the second file follow those of the first, so one line number
	// names a file and a line in it (see locate).
	sources []source
	// readFile reads a schema_file; defined resolves references outside
	// the files.
	readFile func(string) ([]byte, error)
	defined  *Defined
	// read are the schema files read, in order.
	read []string
	// oneFile is set for Parse: schema_file paths are relative to
	// baseDir.
	oneFile bool
	// declared are the domains the files declare, at their lines.
	declared map[string]int
}

// source is one file of a Parse: its name, the directory its schema_file
// paths are relative to, and its first line in the parser's numbering.
type source struct {
	name, dir string
	first     int
}

func (p *parser) errorf(line int, format string, args ...any) {
	p.errs = append(p.errs, &Error{File: p.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// sourceAt returns the source that holds line (the parser's numbering),
// or nil for an unknown line.
func (p *parser) sourceAt(line int) *source {
	if line <= 0 {
		return nil
	}
	for i := len(p.sources) - 1; i >= 0; i-- {
		if line >= p.sources[i].first {
			return &p.sources[i]
		}
	}
	return nil
}

// dirAt is the directory the schema_file of the item at line is relative
// to.
func (p *parser) dirAt(line int) string {
	if s := p.sourceAt(line); s != nil {
		return s.dir
	}
	return p.baseDir
}

// locate turns the errors' lines into a file and a line in it.
func (p *parser) locate() {
	for _, e := range p.errs {
		if s := p.sourceAt(e.Line); s != nil {
			e.File, e.Line = s.name, e.Line-s.first+1
		}
	}
}

// ownedElsewhere explains, for an undeclared domain that is live on the
// log, why the files must declare it anyway; "" otherwise.
func (p *parser) ownedElsewhere(domain string) string {
	if !p.definedDomain(domain) {
		return ""
	}
	return fmt.Sprintf(" in the files: %s is on the log, but what a domain owns is applied with its domain; "+
		"declare %s in these files (the plan then covers all of %s's definitions) or apply it with %s's files", domain, domain, domain, domain)
}

// definedDomain reports whether domain is live beside the files.
func (p *parser) definedDomain(domain string) bool {
	return p.defined != nil && slices.Contains(p.defined.Domains, domain)
}

// definedInput resolves an input against the definitions beside the
// files: a live product, or the output table of one.
func (p *parser) definedInput(name string) (kind string, ok bool) {
	if p.defined == nil {
		return "", false
	}
	if dom, _, _ := strings.Cut(name, "."); hasKey(p.declared, dom) {
		// A domain of the files: its definitions on the log are replaced
		// by the files', so the files must hold what it names.
		return "", false
	}
	if _, ok := p.defined.Products[name]; ok {
		return InputProduct, true
	}
	for _, table := range p.defined.Products {
		if table == name {
			return InputTable, true
		}
	}
	return "", false
}

// definedInputIs reports whether name resolves beside the files as kind.
func (p *parser) definedInputIs(name, kind string) bool {
	k, ok := p.definedInput(name)
	return ok && k == kind
}

// yamlError records a go-yaml error at its own position.
func (p *parser) yamlError(err error) {
	var ye yaml.Error
	if errors.As(err, &ye) {
		p.errorf(lineOfTok(ye.GetToken()), "%s", ye.GetMessage())
		return
	}
	p.errorf(0, "%v", err)
}

// safeParse is parse, with a panic in go-yaml (its decoder panics on some
// malformed input, such as a tag on an empty sequence) turned into an error.
func (p *parser) safeParse(srcs []Source) (m *Mesh) {
	defer func() {
		if r := recover(); r != nil {
			p.errorf(0, "YAML decoder failure: %v", r)
			m = nil
		}
	}()
	return p.parse(srcs)
}

// parse decodes every source, then checks their items as one mesh.
func (p *parser) parse(srcs []Source) *Mesh {
	var (
		all   rawMesh
		nodes = map[string][]ast.Node{}
		line  = 1
		ok    = true
	)
	for _, src := range srcs {
		p.sources = append(p.sources, source{name: src.Name, dir: filepath.Dir(src.Name), first: line})
		if p.oneFile {
			p.sources[0].dir = p.baseDir
		}
		rm, n, good := p.decode(src.Data, line-1)
		line += bytes.Count(src.Data, []byte("\n")) + 1
		if !good {
			ok = false
			continue
		}
		all.Domains = append(all.Domains, rm.Domains...)
		all.Feeds = append(all.Feeds, rm.Feeds...)
		all.Products = append(all.Products, rm.Products...)
		all.Grants = append(all.Grants, rm.Grants...)
		all.Subscriptions = append(all.Subscriptions, rm.Subscriptions...)
		all.Engines = append(all.Engines, rm.Engines...)
		for _, key := range []string{"domains", "feeds", "products", "grants", "subscriptions", "engines"} {
			// Items and their nodes stay aligned: a list without nodes
			// (none) adds no items either.
			nodes[key] = append(nodes[key], pad(n[key], lenOf(rm, key))...)
		}
	}
	if !ok {
		return nil
	}
	return p.build(&all, nodes)
}

// decode decodes one source whose lines are numbered from offset+1.
func (p *parser) decode(data []byte, offset int) (*rawMesh, map[string][]ast.Node, bool) {
	tokens := lexer.Tokenize(string(data))
	shifted := map[*token.Position]bool{}
	for _, tk := range tokens {
		if tk.Position != nil && !shifted[tk.Position] {
			shifted[tk.Position] = true
			tk.Position.Line += offset
		}
	}
	f, err := yparser.Parse(tokens, 0)
	if err != nil {
		p.yamlError(err)
		return nil, nil, false
	}
	var body ast.Node
	for i, doc := range f.Docs {
		if i > 0 {
			p.errorf(lineOf(doc), "only one YAML document is allowed")
			return nil, nil, false
		}
		body = doc.Body
	}
	if body == nil {
		return &rawMesh{}, nil, true
	}
	root, ok := unwrap(body).(*ast.MappingNode)
	if !ok {
		if mv, isMV := unwrap(body).(*ast.MappingValueNode); isMV {
			root = &ast.MappingNode{BaseNode: mv.BaseNode, Values: []*ast.MappingValueNode{mv}}
		} else {
			p.errorf(lineOf(body), "the top level must be a mapping with domains and feeds")
			return nil, nil, false
		}
	}

	var rm rawMesh
	if err := yaml.NodeToValue(body, &rm, yaml.Strict()); err != nil {
		// Decode item by item to report every decoding problem, not just
		// the first; fall back to the whole-document error if that finds
		// nothing (an alias to an anchor in another item, say).
		before := len(p.errs)
		p.decodeItems(root)
		if len(p.errs) == before {
			p.yamlError(err)
		}
		return nil, nil, false
	}

	nodes := map[string][]ast.Node{}
	for _, mv := range root.Values {
		if seq, ok := unwrap(mv.Value).(*ast.SequenceNode); ok {
			nodes[keyText(mv)] = seq.Values
		}
	}
	return &rm, nodes, true
}

// lenOf is how many items of key rm holds.
func lenOf(rm *rawMesh, key string) int {
	switch key {
	case "domains":
		return len(rm.Domains)
	case "feeds":
		return len(rm.Feeds)
	case "products":
		return len(rm.Products)
	case "grants":
		return len(rm.Grants)
	case "subscriptions":
		return len(rm.Subscriptions)
	case "engines":
		return len(rm.Engines)
	}
	return 0
}

// pad returns n items of nodes, nil where nodes has none.
func pad(nodes []ast.Node, n int) []ast.Node {
	out := make([]ast.Node, n)
	copy(out, nodes)
	return out
}

// decodeItems decodes each domain and feed on its own, recording errors.
func (p *parser) decodeItems(root *ast.MappingNode) {
	for _, mv := range root.Values {
		key := keyText(mv)
		var decode func(ast.Node) error
		switch key {
		case "domains":
			decode = func(n ast.Node) error { var d rawDomain; return yaml.NodeToValue(n, &d, yaml.Strict()) }
		case "feeds":
			decode = func(n ast.Node) error { var f rawFeed; return yaml.NodeToValue(n, &f, yaml.Strict()) }
		case "products":
			decode = func(n ast.Node) error { var v rawProduct; return yaml.NodeToValue(n, &v, yaml.Strict()) }
		case "grants":
			decode = func(n ast.Node) error { var v rawGrant; return yaml.NodeToValue(n, &v, yaml.Strict()) }
		case "subscriptions":
			decode = func(n ast.Node) error { var v rawSubscription; return yaml.NodeToValue(n, &v, yaml.Strict()) }
		default:
			p.errorf(lineOf(mv.Key), "unknown top-level key %q (want domains, feeds, products, grants or subscriptions)", key)
			continue
		}
		switch v := unwrap(mv.Value).(type) {
		case *ast.SequenceNode:
			for _, item := range v.Values {
				if err := decode(item); err != nil {
					p.yamlError(err)
				}
			}
		case *ast.NullNode:
		default:
			p.errorf(lineOf(mv.Key), "%s must be a list", key)
		}
	}
}

func (p *parser) build(rm *rawMesh, nodes map[string][]ast.Node) *Mesh {
	domainNodes, feedNodes := nodes["domains"], nodes["feeds"]
	m := &Mesh{}
	domainLine := map[string]int{}
	p.declared = domainLine
	for i, rd := range rm.Domains {
		n := nodeAt(domainNodes, i)
		line := lookup(n, "name")
		what := fmt.Sprintf("domain %q", rd.Name)
		if rd.Name == "" {
			what = fmt.Sprintf("domain #%d", i+1)
		}
		if err := events.ValidDomain(rd.Name); err != nil {
			p.errorf(line, "%s: name must be 1 to 100 characters from [a-z0-9_-]", what)
		} else if prev, dup := domainLine[rd.Name]; dup {
			p.errorf(line, "%s: already declared at %s", what, p.at(prev))
		} else {
			domainLine[rd.Name] = line
		}
		for j, o := range rd.Owners {
			if strings.TrimSpace(o) == "" {
				p.errorf(lookup(n, "owners", j), "%s: owner #%d is empty", what, j+1)
			}
		}
		m.Domains = append(m.Domains, Domain{Name: rd.Name, Description: rd.Description, Owners: rd.Owners})
	}

	feedLine := map[string]int{}
	tableLine := map[string]int{}
	topicLine := map[string]int{}
	var visibility []string
	for i := range rm.Feeds {
		rf := &rm.Feeds[i]
		n := nodeAt(feedNodes, i)
		fp := &feedParser{parser: p, node: n, what: fmt.Sprintf("feed %s", rf.Name)}
		if rf.Name == "" {
			fp.what = fmt.Sprintf("feed #%d", i+1)
		}
		if !validName(rf.Name, false) {
			fp.errorf(fp.line("name"), "name must be 1 to 100 characters from [a-z0-9_-]")
		} else if prev, dup := feedLine[rf.Name]; dup {
			fp.errorf(fp.line("name"), "name already used at %s", p.at(prev))
		} else {
			feedLine[rf.Name] = fp.line("name")
		}
		f := fp.feed(rf, domainLine)
		if f.Table != "" {
			if prev, dup := tableLine[f.Table]; dup {
				fp.errorf(fp.line("table"), "table %s is already loaded by the feed at %s", f.Table, p.at(prev))
			} else {
				tableLine[f.Table] = fp.line("table")
			}
		}
		if f.Topic != "" {
			if prev, dup := topicLine[f.Topic]; dup {
				fp.errorf(fp.line("topic"), "topic %s is already the source of the feed at %s", f.Topic, p.at(prev))
			} else {
				topicLine[f.Topic] = fp.line("topic")
			}
		}
		m.Feeds = append(m.Feeds, f)
		switch rf.Visibility {
		case "", VisibilityDomain, VisibilityEnterprise:
		default:
			fp.errorf(fp.line("visibility"), "visibility %q must be domain or enterprise", rf.Visibility)
		}
		visibility = append(visibility, rf.Visibility)
	}
	p.products(m, rm, nodes, domainLine, visibility)
	if len(p.errs) > 0 {
		return nil
	}
	return m
}

// feedParser checks one feed.
type feedParser struct {
	*parser
	node ast.Node
	what string
}

func (fp *feedParser) errorf(line int, format string, args ...any) {
	fp.parser.errorf(line, "%s: %s", fp.what, fmt.Sprintf(format, args...))
}

// line returns the line of the key path inside the feed, or of the deepest
// part of it that exists.
func (fp *feedParser) line(path ...any) int { return lookup(fp.node, path...) }

func (fp *feedParser) feed(rf *rawFeed, domains map[string]int) Feed {
	f := Feed{
		Name:            rf.Name,
		Table:           rf.Table,
		KeyPattern:      rf.KeyPattern,
		Topic:           rf.Topic,
		Format:          rf.Format,
		Options:         rf.Options,
		PrimaryKey:      rf.PrimaryKey,
		OrderingField:   rf.OrderingField,
		Mode:            rf.Mode,
		UniqueKey:       rf.UniqueKey,
		RejectThreshold: rf.RejectThreshold,
		Rules:           rf.Rules,
		Batch:           rf.Batch,

		AllowControlCharacters: rf.AllowControlCharacters,
	}

	// Table.
	domain, table, ok := strings.Cut(rf.Table, ".")
	switch {
	case rf.Table == "":
		fp.errorf(fp.line("table"), "table is required (domain.table)")
	case !ok || !validName(domain, false) || !validName(table, true):
		fp.errorf(fp.line("table"), "table %q must be domain.table, the domain from [a-z0-9_-] and the table from [a-z0-9_]", rf.Table)
		f.Table = ""
	default:
		if _, declared := domains[domain]; !declared {
			fp.errorf(fp.line("table"), "domain %q of table %s is not declared%s", domain, rf.Table, fp.ownedElsewhere(domain))
		}
	}

	// Source: landed files (key pattern) or an upstream topic.
	switch {
	case rf.Topic != "" && rf.KeyPattern != "":
		fp.errorf(fp.line("topic"), "a feed takes landed files (key_pattern) or an upstream topic (topic), not both")
	case rf.Topic != "":
		if !validTopic(rf.Topic) {
			fp.errorf(fp.line("topic"), "topic %q must be 1 to 249 characters from [a-zA-Z0-9._-]", rf.Topic)
		}
		// A topic's records are Avro; the spool stages them as NDJSON.
		switch rf.Format {
		case "":
			rf.Format, f.Format = FormatNDJSON, FormatNDJSON
		case FormatNDJSON:
		default:
			fp.errorf(fp.line("format"), "format %q: a topic feed's records are staged as ndjson; leave format out", rf.Format)
			rf.Format, f.Format = FormatNDJSON, FormatNDJSON
		}
	case rf.KeyPattern == "":
		fp.errorf(fp.line("key_pattern"), "key_pattern (landed files) or topic (an upstream topic) is required")
	default:
		if err := checkPattern(rf.KeyPattern); err != nil {
			fp.errorf(fp.line("key_pattern"), "key_pattern %q: %v", rf.KeyPattern, err)
		}
	}

	// Format and options.
	builtin := slices.Contains([]string{FormatCSV, FormatJSON, FormatNDJSON, FormatXML, FormatFixedWidth}, rf.Format)
	switch {
	case rf.Format == "":
		fp.errorf(fp.line("format"), "format is required")
	case !builtin && !slices.Contains(fp.formats, rf.Format):
		fp.errorf(fp.line("format"), "unknown format %q (built-in: csv, json, ndjson, xml, fixed-width)", rf.Format)
	}
	fp.options(&rf.Options, rf.Format, builtin)

	// Schema.
	fields := fp.schema(rf.Schema, rf.SchemaFile, &f.Schema)

	// Keys and mode.
	has := func(name string) bool { _, ok := fields[name]; return fields == nil || ok }
	seen := map[string]bool{}
	for j, k := range rf.PrimaryKey {
		if !has(k) {
			fp.errorf(fp.line("primary_key", j), "primary_key field '%s' not in schema", k)
		}
		if seen[k] {
			fp.errorf(fp.line("primary_key", j), "primary_key field '%s' listed twice", k)
		}
		seen[k] = true
	}
	if rf.OrderingField != "" && !has(rf.OrderingField) {
		fp.errorf(fp.line("ordering_field"), "ordering_field '%s' not in schema", rf.OrderingField)
	}
	switch rf.Mode {
	case "":
		f.Mode = ModeAppend
	case ModeAppend:
	case ModeUpsert:
		if len(rf.PrimaryKey) == 0 {
			fp.errorf(fp.line("mode"), "mode upsert needs a primary_key")
		}
	default:
		fp.errorf(fp.line("mode"), "mode %q must be append or upsert", rf.Mode)
	}
	if rf.UniqueKey && len(rf.PrimaryKey) == 0 {
		fp.errorf(fp.line("unique_key"), "unique_key needs a primary_key")
	}
	if math.IsNaN(rf.RejectThreshold) || rf.RejectThreshold < 0 || rf.RejectThreshold > 1 {
		fp.errorf(fp.line("reject_threshold"), "reject_threshold %v must be between 0 and 1", rf.RejectThreshold)
	}

	// Rules.
	for j := range rf.Rules {
		fp.rule(j, &rf.Rules[j], fields, &rf.Options)
	}

	// Batch.
	if f.Batch.MaxFiles == 0 {
		f.Batch.MaxFiles = DefaultBatchMaxFiles
	} else if f.Batch.MaxFiles < 0 {
		fp.errorf(fp.line("batch", "max_files"), "batch max_files must be positive")
	}
	if f.Batch.MaxBytes == 0 {
		f.Batch.MaxBytes = DefaultBatchMaxBytes
	} else if f.Batch.MaxBytes < 0 {
		fp.errorf(fp.line("batch", "max_bytes"), "batch max_bytes must be positive")
	}
	return f
}

func (fp *feedParser) options(o *FormatOptions, format string, builtin bool) {
	before := len(fp.errs)
	oneRune := func(key, v string) {
		if utf8.RuneCountInString(v) > 1 || v == "\n" || v == "\r" || (v != "" && !utf8.ValidString(v)) {
			fp.errorf(fp.line("options", key), "options %s %q must be a single character other than a line break", key, v)
		}
	}
	oneRune("delimiter", o.Delimiter)
	oneRune("comment", o.Comment)
	if o.Delimiter != "" && o.Delimiter == o.Comment {
		fp.errorf(fp.line("options", "comment"), "options comment and delimiter are both %q", o.Comment)
	}
	if o.MaxRecordBytes < 0 {
		fp.errorf(fp.line("options", "max_record_bytes"), "options max_record_bytes must not be negative")
	}
	switch {
	case format == FormatFixedWidth && len(o.FixedWidth) == 0:
		fp.errorf(fp.line("options"), "format fixed-width needs options fixed_width columns")
	case builtin && format != FormatFixedWidth && len(o.FixedWidth) > 0:
		fp.errorf(fp.line("options", "fixed_width"), "options fixed_width only applies to format fixed-width")
	}
	names := map[string]bool{}
	for j, c := range o.FixedWidth {
		line := fp.line("options", "fixed_width", j)
		if c.Name == "" {
			fp.errorf(line, "fixed_width column #%d has no name", j+1)
		} else if names[c.Name] {
			fp.errorf(line, "fixed_width column %q listed twice", c.Name)
		}
		names[c.Name] = true
		if c.Start < 1 || c.Width < 1 {
			fp.errorf(line, "fixed_width column %q needs start >= 1 and width >= 1", c.Name)
		}
	}
	if len(fp.errs) == before && builtin {
		fp.openCheck(o, format)
	}
	for j, l := range o.TimestampLayouts {
		if !layoutRoundTrips(l) {
			fp.errorf(fp.line("options", "timestamp_layouts", j), "timestamp layout %q cannot parse what it formats", l)
		}
	}
	for j, l := range o.DateLayouts {
		if !layoutRoundTrips(l) {
			fp.errorf(fp.line("options", "date_layouts", j), "date layout %q cannot parse what it formats", l)
		}
	}
}

// openCheck lets the built-in parser judge the options: it opens an empty
// file with them and reports an error wrapping formats.ErrOptions. Other
// errors (an empty file has no header) are not about the options.
func (fp *feedParser) openCheck(o *FormatOptions, format string) {
	_, err := formats.NewRegistry().Open(format, strings.NewReader(""), o.Formats())
	if errors.Is(err, formats.ErrOptions) {
		line := fp.line("options")
		if line == fp.line() {
			line = fp.line("format")
		}
		fp.errorf(line, "options: %v", err)
	}
}

// layoutRoundTrips reports whether a time formatted with layout parses back
// with it: a cheap check that layout is a Go time layout at all.
func layoutRoundTrips(layout string) bool {
	if strings.TrimSpace(layout) == "" {
		return false
	}
	ref := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
	_, err := time.Parse(layout, ref.Format(layout))
	return err == nil && ref.Format(layout) != layout
}

// schema reads, parses and records the feed's schema; it returns the
// schema's fields by name, or nil if the schema is not usable (then field
// checks are skipped).
func (fp *feedParser) schema(schema any, schemaFile string, dst *string) map[string]*avro.Field {
	rf := struct {
		Schema     any
		SchemaFile string
	}{schema, schemaFile}
	var text []byte
	switch {
	case rf.Schema != nil && rf.SchemaFile != "":
		fp.errorf(fp.line("schema_file"), "give schema or schema_file, not both")
		return nil
	case rf.Schema == nil && rf.SchemaFile == "":
		fp.errorf(fp.line("name"), "schema or schema_file is required")
		return nil
	case rf.SchemaFile != "":
		path := rf.SchemaFile
		if !filepath.IsAbs(path) {
			path = filepath.Join(fp.dirAt(fp.line()), path)
		}
		data, err := fp.readFile(path)
		if err != nil {
			fp.errorf(fp.line("schema_file"), "schema_file: %v", err)
			return nil
		}
		if !slices.Contains(fp.read, path) {
			fp.read = append(fp.read, path)
		}
		var v any
		if err := yaml.Unmarshal(data, &v); err != nil {
			fp.errorf(fp.line("schema_file"), "schema_file %s: %v", rf.SchemaFile, firstLine(err))
			return nil
		}
		text = fp.compact(v, "schema_file")
	default:
		v := rf.Schema
		if s, ok := v.(string); ok { // JSON text inside a YAML string
			if err := yaml.Unmarshal([]byte(s), &v); err != nil {
				fp.errorf(fp.line("schema"), "schema: %v", firstLine(err))
				return nil
			}
		}
		text = fp.compact(v, "schema")
	}
	if text == nil {
		return nil
	}
	sch, err := avro.ParseBytesWithCache(text, "", &avro.SchemaCache{})
	key := "schema"
	if rf.SchemaFile != "" {
		key = "schema_file"
	}
	if err != nil {
		fp.errorf(fp.line(key), "schema: %v", err)
		return nil
	}
	rec, ok := sch.(*avro.RecordSchema)
	if !ok {
		fp.errorf(fp.line(key), "schema must be an Avro record, not %s", sch.Type())
		return nil
	}
	*dst = string(text)
	fields := map[string]*avro.Field{}
	for _, fl := range rec.Fields() {
		fields[fl.Name()] = fl
	}
	return fields
}

// compact encodes a decoded YAML value as compact JSON with sorted keys.
func (fp *feedParser) compact(v any, key string) []byte {
	v, err := jsonable(v)
	if err != nil {
		fp.errorf(fp.line(key), "%s: %v", key, err)
		return nil
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		fp.errorf(fp.line(key), "%s: %v", key, err)
		return nil
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// jsonable converts maps with non-string keys, which JSON cannot encode.
func jsonable(v any) (any, error) {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			c, err := jsonable(e)
			if err != nil {
				return nil, err
			}
			out[k] = c
		}
		return out, nil
	case map[any]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			ks, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("map key %v is not a string", k)
			}
			c, err := jsonable(e)
			if err != nil {
				return nil, err
			}
			out[ks] = c
		}
		return out, nil
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			c, err := jsonable(e)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	case float64:
		if math.IsNaN(t) || math.IsInf(t, 0) {
			return nil, fmt.Errorf("%v is not a JSON number", t)
		}
	}
	return v, nil
}

func (fp *feedParser) rule(j int, r *Rule, fields map[string]*avro.Field, o *FormatOptions) {
	line := fp.line("rules", j)
	var typ avro.Schema
	if fields != nil {
		fl, ok := fields[r.Field]
		if !ok {
			fp.errorf(line, "rule %s: field '%s' not in schema", r.Rule, r.Field)
		} else {
			typ = baseType(fl.Type())
		}
	}
	wantValue := func(want bool) {
		if want && r.Value == "" {
			fp.errorf(line, "rule %s on %s needs a value", r.Rule, r.Field)
		}
		if !want && r.Value != "" {
			fp.errorf(line, "rule %s on %s takes no value", r.Rule, r.Field)
		}
		if len(r.Values) > 0 {
			fp.errorf(line, "rule %s on %s takes no values (only enum does)", r.Rule, r.Field)
		}
	}
	switch r.Rule {
	case RuleRequired:
		wantValue(false)
	case RuleRegex:
		wantValue(true)
		if _, err := regexp.Compile(r.Value); err != nil {
			fp.errorf(line, "rule regex on %s: %v", r.Field, err)
		}
	case RuleMin, RuleMax:
		wantValue(true)
		if typ != nil && r.Value != "" {
			if err := checkBound(typ, r.Value, o); err != nil {
				fp.errorf(line, "rule %s on %s: %v", r.Rule, r.Field, err)
			}
		}
	case RuleMaxLength:
		wantValue(true)
		if n, err := strconv.Atoi(r.Value); r.Value != "" && (err != nil || n < 0) {
			fp.errorf(line, "rule max_length on %s: value %q is not a non-negative integer", r.Field, r.Value)
		}
		if typ != nil && typ.Type() != avro.String && typ.Type() != avro.Bytes {
			fp.errorf(line, "rule max_length on %s: applies to strings and bytes, not %s", r.Field, typ.Type())
		}
	case RuleEnum:
		if r.Value != "" {
			fp.errorf(line, "rule enum on %s takes values, not value", r.Field)
		}
		if len(r.Values) == 0 {
			fp.errorf(line, "rule enum on %s needs values", r.Field)
		}
	case "":
		fp.errorf(line, "rule on %s: rule is required", r.Field)
	default:
		fp.errorf(line, "unknown rule %q on %s (want required, regex, min, max, enum or max_length)", r.Rule, r.Field)
	}
}

// baseType returns T for a nullable union ["null", T] or [T, "null"], and
// the schema itself otherwise.
func baseType(s avro.Schema) avro.Schema {
	if u, ok := s.(*avro.UnionSchema); ok && u.Nullable() {
		_, i := u.Indices()
		return u.Types()[i]
	}
	if r, ok := s.(*avro.RefSchema); ok {
		return r.Schema()
	}
	return s
}

// checkBound reports whether text is a valid min/max bound for a field of
// type typ: a number for numeric fields, a timestamp or date (in the feed's
// layouts) for timestamp and date fields.
func checkBound(typ avro.Schema, text string, o *FormatOptions) error {
	logical := ""
	if p, ok := typ.(*avro.PrimitiveSchema); ok && p.Logical() != nil {
		logical = string(p.Logical().Type())
	}
	switch {
	case logical == "timestamp-micros" || logical == "timestamp-millis":
		if _, ok := parseTime(o.EffectiveTimestampLayouts(), text); !ok {
			return fmt.Errorf("value %q is not a timestamp in the feed's timestamp layouts", text)
		}
	case logical == "date":
		if _, ok := parseTime(o.EffectiveDateLayouts(), text); !ok {
			return fmt.Errorf("value %q is not a date in the feed's date layouts", text)
		}
	case logical == "" && slices.Contains([]avro.Type{avro.Int, avro.Long, avro.Float, avro.Double}, typ.Type()):
		v, err := strconv.ParseFloat(text, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("value %q is not a number", text)
		}
	default:
		return fmt.Errorf("applies to numbers, timestamps and dates, not %s", typ.Type())
	}
	return nil
}

func parseTime(layouts []string, text string) (time.Time, bool) {
	for _, l := range layouts {
		if t, err := time.Parse(l, text); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// EffectiveTimestampLayouts returns TimestampLayouts, or the defaults
// (time.RFC3339Nano, which also reads RFC 3339 without fractional seconds,
// and "2006-01-02 15:04:05") when none are set. A new slice on every call.
func (o *FormatOptions) EffectiveTimestampLayouts() []string {
	if len(o.TimestampLayouts) > 0 {
		return slices.Clone(o.TimestampLayouts)
	}
	return []string{time.RFC3339Nano, "2006-01-02 15:04:05"}
}

// EffectiveDateLayouts returns DateLayouts, or the default "2006-01-02"
// when none are set. A new slice on every call.
func (o *FormatOptions) EffectiveDateLayouts() []string {
	if len(o.DateLayouts) > 0 {
		return slices.Clone(o.DateLayouts)
	}
	return []string{time.DateOnly}
}

// validName reports whether s is 1 to 100 characters from [a-z0-9_-]
// ([a-z0-9_] if noDash).
// validTopic reports whether s is a legal Kafka topic name.
func validTopic(s string) bool {
	if s == "" || len(s) > 249 || s == "." || s == ".." {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func validName(s string, noDash bool) bool {
	if s == "" || len(s) > 100 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-' && !noDash) {
			return false
		}
	}
	return true
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// --- AST helpers ---

func unwrap(n ast.Node) ast.Node {
	for {
		switch t := n.(type) {
		case *ast.AnchorNode:
			n = t.Value
		case *ast.TagNode:
			n = t.Value
		default:
			return n
		}
	}
}

func lineOfTok(t *token.Token) int {
	if t == nil || t.Position == nil {
		return 0
	}
	return t.Position.Line
}

func lineOf(n ast.Node) int {
	if n == nil {
		return 0
	}
	return lineOfTok(n.GetToken())
}

func keyText(mv *ast.MappingValueNode) string {
	if s, ok := mv.Key.(ast.ScalarNode); ok {
		return fmt.Sprint(s.GetValue())
	}
	return mv.Key.String()
}

func nodeAt(nodes []ast.Node, i int) ast.Node {
	if i < len(nodes) {
		return nodes[i]
	}
	return nil
}

// lookup follows path (string keys and int indexes) from n and returns the
// line of the last element found: the key's line for a key, the item's line
// for an index.
func lookup(n ast.Node, path ...any) int {
	line := lineOf(n)
	for _, step := range path {
		if n == nil {
			break
		}
		n = unwrap(n)
		var next ast.Node
		switch s := step.(type) {
		case string:
			var values []*ast.MappingValueNode
			switch m := n.(type) {
			case *ast.MappingNode:
				values = m.Values
			case *ast.MappingValueNode:
				values = []*ast.MappingValueNode{m}
			}
			for _, mv := range values {
				if keyText(mv) == s {
					line = lineOf(mv.Key)
					next = mv.Value
					break
				}
			}
		case int:
			if seq, ok := n.(*ast.SequenceNode); ok && s < len(seq.Values) {
				next = seq.Values[s]
				line = lineOf(next)
			}
		}
		if next == nil {
			break
		}
		n = next
	}
	return line
}

func hasKey[V any](m map[string]V, k string) bool { _, ok := m[k]; return ok }

// at names a line of the parser's numbering for a message: "line N" in a
// single file, "FILE:N" among several.
func (p *parser) at(line int) string {
	s := p.sourceAt(line)
	if s == nil || len(p.sources) == 1 {
		if s != nil {
			line -= s.first - 1
		}
		return fmt.Sprintf("line %d", line)
	}
	return fmt.Sprintf("%s:%d", s.name, line-s.first+1)
}

// SchemaFiles returns the schema files the mesh files srcs name (a feed's
// or a product output's schema_file), each joined to its mesh file's
// directory as ParseFiles reads it, in order, without checking anything
// else: what an apply through the catalog sends besides the mesh files. A
// file that does not decode names none; parsing it reports why.
func SchemaFiles(srcs []Source) []string {
	var out []string
	add := func(dir, p string) {
		if p == "" {
			return
		}
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	for _, src := range srcs {
		var rm struct {
			Feeds []struct {
				SchemaFile string `yaml:"schema_file"`
			} `yaml:"feeds"`
			Products []struct {
				Output struct {
					SchemaFile string `yaml:"schema_file"`
				} `yaml:"output"`
			} `yaml:"products"`
		}
		if yaml.Unmarshal(src.Data, &rm) != nil {
			continue
		}
		dir := filepath.Dir(src.Name)
		for _, f := range rm.Feeds {
			add(dir, f.SchemaFile)
		}
		for _, p := range rm.Products {
			add(dir, p.Output.SchemaFile)
		}
	}
	return out
}
