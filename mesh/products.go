package mesh

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/pattern"
	"github.com/logmesh/logmesh/internal/trigger"
)

// Kinds of data products.
const (
	KindSourceAligned   = "source-aligned"
	KindConsumerAligned = "consumer-aligned"
)

// Visibilities of data products.
const (
	VisibilityDomain     = events.VisibilityDomain
	VisibilityEnterprise = events.VisibilityEnterprise
)

// Triggers of data products (Product.Trigger).
const (
	TriggerAll      = "all"      // every input refreshed since the last run (the default)
	TriggerAny      = "any"      // any input refreshed
	TriggerSchedule = "schedule" // the cron schedule only
	TriggerManual   = "manual"   // never by itself
)

// Input kinds of Input.Kind.
const (
	InputTable   = "table"   // a table of a feed or the output of a product, by "domain.table"
	InputProduct = "product" // a product by name
	InputTopic   = "topic"   // an upstream topic, written "topic:NAME"
)

// Default retry policy of a product's jobs.
const (
	DefaultRetryAttempts = 3
	DefaultRetryBackoff  = time.Minute
)

// Product is a data product: a table its owner domain publishes, made by a
// transform of its inputs (consumer-aligned) or loaded from a feed
// (source-aligned). Its name is "domain.name"; every feed publishes its table
// as a source-aligned product of the same name.
type Product struct {
	// Name is "domain.name".
	Name string
	// Domain is the owner domain.
	Domain string
	// Kind is KindSourceAligned or KindConsumerAligned.
	Kind string
	// Description is free text.
	Description string
	// Inputs are what the transform reads.
	Inputs []Input
	// Transform is the SQL over the inputs; empty for source-aligned.
	Transform string
	// Output is the table the product writes, and its contract.
	Output Output
	// Visibility is VisibilityDomain (the default) or VisibilityEnterprise.
	Visibility string
	// Trigger is one of the Trigger* constants, or an expression over
	// input names with and, or and parentheses.
	Trigger string
	// Schedule is a cron expression, for TriggerSchedule or an expression
	// that names "schedule".
	Schedule string
	// Freshness is the freshness objective; 0 for none.
	Freshness time.Duration
	// MaxInputAge is the age past which an input refresh no longer
	// counts; 0 for no limit.
	MaxInputAge time.Duration
	// Timeout fails a job attempt that runs longer; 0 for the runner's
	// default.
	Timeout time.Duration
	// Engine is the external engine (Mesh.Engines) the product's jobs run
	// on; "" for the embedded DuckDB.
	Engine string
	// Retry is the retry policy of the product's jobs.
	Retry RetryPolicy
	// Owners, Contacts and Tags describe the product.
	Owners, Contacts, Tags []string
	// Feed is the feed that publishes a source-aligned product, or "".
	Feed string
}

// Input is one input of a product.
type Input struct {
	// Name is "domain.table", a product name, or a topic name.
	Name string
	// Kind is InputTable, InputProduct or InputTopic.
	Kind string
}

// String returns the input as mesh.yaml writes it.
func (in Input) String() string {
	if in.Kind == InputTopic {
		return "topic:" + in.Name
	}
	return in.Name
}

// Output is a product's output table and its contract.
type Output struct {
	// Table is "domain.table", in the product's domain.
	Table string
	// Schema is the contract, an Avro record schema as compact JSON;
	// required for consumer-aligned products.
	Schema string
	// PrimaryKey are the key fields; required for upsert.
	PrimaryKey []string
	// Mode is ModeAppend (the default) or ModeUpsert.
	Mode string
}

// RetryPolicy is how a failed job is retried.
type RetryPolicy struct {
	// MaxAttempts counts the first attempt; default DefaultRetryAttempts.
	MaxAttempts int `yaml:"max_attempts"`
	// Backoff is the wait before the first retry, doubled for each next
	// one; default DefaultRetryBackoff.
	Backoff time.Duration `yaml:"-"`
}

// Grant lets a domain read another domain's enterprise-visible product.
type Grant struct {
	// Product is the product's name.
	Product string
	// Owner is the product's domain.
	Owner string
	// Grantee is the domain that may read it.
	Grantee string
	// Purpose says why.
	Purpose string
	// Expires, if not zero, ends the grant.
	Expires time.Time
}

// ID returns the grant's id: one per (product, grantee).
func (g *Grant) ID() string { return events.DeriveID("grant", g.Product, g.Grantee) }

// Name returns "product→grantee", how plans name a grant.
func (g *Grant) Name() string { return g.Product + "→" + g.Grantee }

// Subscription is a domain's interest in mesh events: those matching its
// pattern that the domain may see reach its inbox.
type Subscription struct {
	// Domain is the subscribing domain.
	Domain string
	// Name is unique within the domain.
	Name string
	// Description is free text.
	Description string
	// Pattern is the compiled content pattern (internal/pattern).
	Pattern *pattern.Pattern
}

// ID returns "domain/name".
func (s *Subscription) ID() string { return s.Domain + "/" + s.Name }

// Product returns the product with the given name.
func (m *Mesh) Product(name string) (*Product, bool) {
	for i := range m.Products {
		if m.Products[i].Name == name {
			return &m.Products[i], true
		}
	}
	return nil, false
}

type rawProduct struct {
	Name        string    `yaml:"name"`
	Domain      string    `yaml:"domain"`
	Kind        string    `yaml:"kind"`
	Description string    `yaml:"description"`
	Inputs      []string  `yaml:"inputs"`
	Transform   string    `yaml:"transform"`
	Output      rawOutput `yaml:"output"`
	Visibility  string    `yaml:"visibility"`
	Trigger     string    `yaml:"trigger"`
	Schedule    string    `yaml:"schedule"`
	Freshness   string    `yaml:"freshness"`
	MaxInputAge string    `yaml:"max_input_age"`
	Timeout     string    `yaml:"timeout"`
	Engine      string    `yaml:"engine"`
	Retry       rawRetry  `yaml:"retry"`
	Owners      []string  `yaml:"owners"`
	Contacts    []string  `yaml:"contacts"`
	Tags        []string  `yaml:"tags"`
}

type rawOutput struct {
	Table      string   `yaml:"table"`
	Schema     any      `yaml:"schema"`
	SchemaFile string   `yaml:"schema_file"`
	PrimaryKey []string `yaml:"primary_key"`
	Mode       string   `yaml:"mode"`
}

type rawEngine struct {
	Name    string   `yaml:"name"`
	Command []string `yaml:"command"`
	Dir     string   `yaml:"dir"`
}

// EngineDuckDB is the embedded engine, every product's unless it names
// another.
const EngineDuckDB = "duckdb"

// engines checks the external engines.
func (p *parser) engines(m *Mesh, rm *rawMesh, nodes map[string][]ast.Node) {
	seen := map[string]bool{}
	for i, re := range rm.Engines {
		ep := &feedParser{parser: p, node: nodeAt(nodes["engines"], i), what: "engine " + re.Name}
		switch {
		case events.ValidDomain(re.Name) != nil:
			ep.errorf(ep.line("name"), "name %q must be 1 to 100 characters from [a-z0-9_-]", re.Name)
		case re.Name == EngineDuckDB:
			ep.errorf(ep.line("name"), "duckdb is the embedded engine; name an external one otherwise")
		case seen[re.Name]:
			ep.errorf(ep.line("name"), "engine %s is declared twice", re.Name)
		case len(re.Command) == 0 || re.Command[0] == "":
			ep.errorf(ep.line("command"), "an engine needs a command: [program, args...]")
		default:
			seen[re.Name] = true
			m.Engines = append(m.Engines, Engine{Name: re.Name, Command: slices.Clone(re.Command), Dir: re.Dir})
		}
	}
}

type rawRetry struct {
	MaxAttempts int    `yaml:"max_attempts"`
	Backoff     string `yaml:"backoff"`
}

type rawGrant struct {
	Product string `yaml:"product"`
	To      string `yaml:"to"`
	Purpose string `yaml:"purpose"`
	Expires string `yaml:"expires"`
}

type rawSubscription struct {
	Domain      string `yaml:"domain"`
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	Pattern     any    `yaml:"pattern"`
}

// products checks the products, then publishes every feed's table as a
// source-aligned product, then checks the grants and subscriptions.
func (p *parser) products(m *Mesh, rm *rawMesh, nodes map[string][]ast.Node, domains map[string]int, feedVisibility []string) {
	p.engines(m, rm, nodes)
	names := map[string]int{}
	for i := range m.Feeds {
		f := &m.Feeds[i]
		vis := feedVisibility[i]
		if vis == "" {
			vis = VisibilityDomain
		}
		m.Products = append(m.Products, Product{
			Name: f.Table, Domain: f.Domain(), Kind: KindSourceAligned, Feed: f.Name,
			Output:     Output{Table: f.Table, Schema: f.Schema, PrimaryKey: f.PrimaryKey, Mode: f.Mode},
			Visibility: vis, Trigger: TriggerManual, Retry: RetryPolicy{MaxAttempts: 1},
			Owners: ownersOf(m, f.Domain()),
		})
		names[f.Table] = lookup(nodeAt(nodes["feeds"], i), "table")
	}
	tables := map[string]bool{}
	for name := range names {
		tables[name] = true
	}
	for i := range rm.Products {
		rp := &rm.Products[i]
		pp := &feedParser{parser: p, node: nodeAt(nodes["products"], i), what: "product " + rp.Domain + "." + rp.Name}
		if rp.Name == "" {
			pp.what = fmt.Sprintf("product #%d", i+1)
		}
		prod := pp.product(rp, domains)
		if prod.Name == "" {
			continue
		}
		if _, ok := m.Engine(prod.Engine); prod.Engine != "" && !ok {
			pp.errorf(pp.line("engine"), "engine %q is not declared under engines (duckdb, the default, is embedded)", prod.Engine)
		}
		if prev, dup := names[prod.Name]; dup {
			pp.errorf(pp.line("name"), "product %s is already defined at %s", prod.Name, p.at(prev))
			continue
		}
		names[prod.Name] = pp.line("name")
		if prod.Output.Table != "" {
			if tables[prod.Output.Table] {
				pp.errorf(pp.line("output", "table"), "table %s is already written by another feed or product", prod.Output.Table)
			}
			tables[prod.Output.Table] = true
		}
		m.Products = append(m.Products, prod)
	}
	// Inputs name tables, products or topics of the mesh.
	for i := range m.Products {
		prod := &m.Products[i]
		for j := range prod.Inputs {
			in := &prod.Inputs[j]
			switch {
			case in.Kind == InputTopic:
			case names[in.Name] > 0 || slices.ContainsFunc(m.Products, func(o Product) bool { return o.Name == in.Name }):
				in.Kind = InputProduct
			case tables[in.Name]:
				in.Kind = InputTable
			default:
				if kind, ok := p.definedInput(in.Name); ok {
					in.Kind = kind // another domain's, on the log
					break
				}
				where := "of the mesh"
				if p.defined != nil {
					where = "of the files or a live one on the log"
				}
				idx := slices.IndexFunc(rm.Products, func(r rawProduct) bool { return r.Domain+"."+r.Name == prod.Name })
				p.errorf(lookup(nodeAt(nodes["products"], idx), "inputs", j),
					"product %s: input %q is not a table, a product or a topic:NAME %s", prod.Name, in.Name, where)
			}
			if in.Name == prod.Name {
				p.errorf(0, "product %s: reads its own output", prod.Name)
			}
		}
	}

	granted := map[string]int{}
	for i := range rm.Grants {
		rg := &rm.Grants[i]
		n := nodeAt(nodes["grants"], i)
		gp := &feedParser{parser: p, node: n, what: fmt.Sprintf("grant of %s to %s", rg.Product, rg.To)}
		g := Grant{Product: rg.Product, Grantee: rg.To, Purpose: rg.Purpose}
		prod, ok := m.Product(rg.Product)
		switch {
		case rg.Product == "":
			gp.errorf(gp.line("product"), "product is required")
			continue
		case !ok && p.definedInputIs(rg.Product, InputProduct):
			owner, _, _ := strings.Cut(rg.Product, ".")
			gp.errorf(gp.line("product"), "product %s is not in the files: a grant belongs to the product's owner domain %s; "+
				"grant it with %s's files (or `logmesh grant`)", rg.Product, owner, owner)
			continue
		case !ok:
			gp.errorf(gp.line("product"), "product %q is not defined", rg.Product)
			continue
		case prod.Visibility != VisibilityEnterprise:
			gp.errorf(gp.line("product"), "product %s is visible to its domain only; a grant needs visibility: enterprise", rg.Product)
		}
		g.Owner = prod.Domain
		if _, declared := domains[rg.To]; !declared && !p.definedDomain(rg.To) {
			gp.errorf(gp.line("to"), "domain %q is not declared", rg.To)
		} else if rg.To == prod.Domain {
			gp.errorf(gp.line("to"), "domain %s owns %s; a grant is for another domain", rg.To, rg.Product)
		}
		if rg.Expires != "" {
			t, err := time.Parse(time.RFC3339, rg.Expires)
			if err != nil {
				gp.errorf(gp.line("expires"), "expires %q: want an RFC 3339 time such as 2027-06-30T00:00:00Z", rg.Expires)
			}
			g.Expires = t.UTC().Truncate(time.Microsecond)
		}
		if prev, dup := granted[g.Name()]; dup {
			gp.errorf(gp.line("product"), "already granted at %s", p.at(prev))
		}
		granted[g.Name()] = gp.line("product")
		m.Grants = append(m.Grants, g)
	}

	subs := map[string]int{}
	for i := range rm.Subscriptions {
		rs := &rm.Subscriptions[i]
		n := nodeAt(nodes["subscriptions"], i)
		sp := &feedParser{parser: p, node: n, what: fmt.Sprintf("subscription %s/%s", rs.Domain, rs.Name)}
		if _, declared := domains[rs.Domain]; !declared {
			sp.errorf(sp.line("domain"), "domain %q is not declared%s", rs.Domain, p.ownedElsewhere(rs.Domain))
		}
		if !validName(rs.Name, false) {
			sp.errorf(sp.line("name"), "name must be 1 to 100 characters from [a-z0-9_-]")
		}
		s := Subscription{Domain: rs.Domain, Name: rs.Name, Description: rs.Description}
		if prev, dup := subs[s.ID()]; dup {
			sp.errorf(sp.line("name"), "already defined at %s", p.at(prev))
		}
		subs[s.ID()] = sp.line("name")
		if rs.Pattern == nil {
			sp.errorf(sp.line("name"), "pattern is required")
			continue
		}
		v, err := jsonable(rs.Pattern)
		if err == nil {
			s.Pattern, err = pattern.Compile(v)
		}
		if err != nil {
			line := sp.line("pattern")
			var pe *pattern.Error
			if asPatternError(err, &pe) {
				line = lookup(n, append([]any{"pattern"}, pathSteps(pe.Path)...)...)
			}
			sp.errorf(line, "pattern: %v", err)
			continue
		}
		m.Subscriptions = append(m.Subscriptions, s)
	}
}

func ownersOf(m *Mesh, domain string) []string {
	for _, d := range m.Domains {
		if d.Name == domain {
			return slices.Clone(d.Owners)
		}
	}
	return nil
}

// product checks one product of the file.
func (pp *feedParser) product(rp *rawProduct, domains map[string]int) Product {
	prod := Product{
		Domain: rp.Domain, Description: rp.Description, Transform: strings.TrimSpace(rp.Transform),
		Visibility: rp.Visibility, Trigger: rp.Trigger, Schedule: rp.Schedule, Engine: rp.Engine,
		Owners: rp.Owners, Contacts: rp.Contacts, Tags: rp.Tags,
	}
	if _, declared := domains[rp.Domain]; !declared {
		pp.errorf(pp.line("domain"), "domain %q is not declared%s", rp.Domain, pp.ownedElsewhere(rp.Domain))
	}
	if !validName(rp.Name, true) {
		pp.errorf(pp.line("name"), "name must be 1 to 100 characters from [a-z0-9_]")
	} else {
		prod.Name = rp.Domain + "." + rp.Name
	}
	switch rp.Kind {
	case "":
		prod.Kind = KindConsumerAligned
		if prod.Transform == "" {
			prod.Kind = KindSourceAligned
		}
	case KindSourceAligned, KindConsumerAligned:
		prod.Kind = rp.Kind
	default:
		pp.errorf(pp.line("kind"), "kind %q must be source-aligned or consumer-aligned", rp.Kind)
	}
	if prod.Kind == KindConsumerAligned {
		if prod.Transform == "" {
			pp.errorf(pp.line("transform"), "a consumer-aligned product needs a transform")
		}
		if len(rp.Inputs) == 0 {
			pp.errorf(pp.line("inputs"), "a consumer-aligned product needs inputs")
		}
	}
	for j, in := range rp.Inputs {
		if topic, ok := strings.CutPrefix(in, "topic:"); ok {
			if topic == "" {
				pp.errorf(pp.line("inputs", j), "input %q names no topic", in)
			}
			prod.Inputs = append(prod.Inputs, Input{Name: topic, Kind: InputTopic})
			continue
		}
		prod.Inputs = append(prod.Inputs, Input{Name: in})
	}
	switch prod.Visibility {
	case "":
		prod.Visibility = VisibilityDomain
	case VisibilityDomain, VisibilityEnterprise:
	default:
		pp.errorf(pp.line("visibility"), "visibility %q must be domain or enterprise", prod.Visibility)
	}
	if prod.Engine == EngineDuckDB {
		prod.Engine = ""
	}
	if prod.Schedule != "" {
		if _, err := trigger.ParseCron(prod.Schedule); err != nil {
			pp.errorf(pp.line("schedule"), "%v", err)
		}
	}
	switch prod.Trigger {
	case "":
		prod.Trigger = TriggerAll
		if prod.Schedule != "" {
			prod.Trigger = TriggerSchedule
		}
	case TriggerAll, TriggerAny, TriggerManual:
		if prod.Schedule != "" {
			pp.errorf(pp.line("schedule"), "the product has a schedule but trigger %s never uses it (schedule, or an expression that names schedule)", prod.Trigger)
		}
	case TriggerSchedule:
		if prod.Schedule == "" {
			pp.errorf(pp.line("trigger"), "trigger schedule needs a schedule")
		}
	default:
		names := make([]string, 0, len(prod.Inputs))
		for _, in := range prod.Inputs {
			names = append(names, in.String())
		}
		if pol, err := trigger.Parse(prod.Trigger, names); err != nil {
			pp.errorf(pp.line("trigger"), "%v", err)
		} else if pol.UsesSchedule() && prod.Schedule == "" {
			pp.errorf(pp.line("trigger"), "trigger %q names schedule but the product has none", prod.Trigger)
		} else if !pol.UsesSchedule() && prod.Schedule != "" {
			pp.errorf(pp.line("schedule"), "the product has a schedule but trigger %q never names it", prod.Trigger)
		}
	}
	prod.Freshness = pp.duration("freshness", rp.Freshness)
	prod.MaxInputAge = pp.duration("max_input_age", rp.MaxInputAge)
	prod.Timeout = pp.duration("timeout", rp.Timeout)
	prod.Retry = RetryPolicy{MaxAttempts: rp.Retry.MaxAttempts, Backoff: pp.duration("retry", rp.Retry.Backoff)}
	switch {
	case prod.Retry.MaxAttempts == 0:
		prod.Retry.MaxAttempts = DefaultRetryAttempts
	case prod.Retry.MaxAttempts < 0:
		pp.errorf(pp.line("retry", "max_attempts"), "retry max_attempts must be positive")
	}
	if prod.Retry.Backoff == 0 {
		prod.Retry.Backoff = DefaultRetryBackoff
	}

	// Output.
	out := &feedParser{parser: pp.parser, node: nodeFor(pp.node, "output"), what: pp.what + ": output"}
	prod.Output = Output{Table: rp.Output.Table, PrimaryKey: rp.Output.PrimaryKey, Mode: rp.Output.Mode}
	if prod.Output.Table == "" && prod.Name != "" {
		prod.Output.Table = prod.Name
	}
	if d, _, ok := strings.Cut(prod.Output.Table, "."); ok && d != rp.Domain {
		out.errorf(out.line("table"), "table %s is not in the product's domain %s", prod.Output.Table, rp.Domain)
	}
	var fields map[string]bool
	if rp.Output.Schema != nil || rp.Output.SchemaFile != "" {
		fs := out.schema(rp.Output.Schema, rp.Output.SchemaFile, &prod.Output.Schema)
		if fs != nil {
			fields = map[string]bool{}
			for name := range fs {
				fields[name] = true
			}
		}
	} else if prod.Kind == KindConsumerAligned {
		pp.errorf(pp.line("output"), "output schema is required: it is the product's contract")
	}
	for j, k := range prod.Output.PrimaryKey {
		if fields != nil && !fields[k] {
			out.errorf(out.line("primary_key", j), "primary_key field '%s' not in schema", k)
		}
	}
	switch prod.Output.Mode {
	case "":
		prod.Output.Mode = ModeAppend
	case ModeAppend:
	case ModeUpsert:
		if len(prod.Output.PrimaryKey) == 0 {
			out.errorf(out.line("mode"), "mode upsert needs a primary_key")
		}
	default:
		out.errorf(out.line("mode"), "mode %q must be append or upsert", prod.Output.Mode)
	}
	return prod
}

// duration parses a Go duration such as "90s", "1h30m", or a number of days
// such as "7d"; "" is 0.
func (pp *feedParser) duration(key, s string) time.Duration {
	if s == "" {
		return 0
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n > 0 {
			return time.Duration(n) * 24 * time.Hour
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		pp.errorf(pp.line(key), "%s %q: want a positive duration such as 90s, 1h30m or 7d", key, s)
		return 0
	}
	return d
}

// nodeFor returns the value node of key in the mapping n, or n itself.
func nodeFor(n ast.Node, key string) ast.Node {
	if n == nil {
		return nil
	}
	var values []*ast.MappingValueNode
	switch m := unwrap(n).(type) {
	case *ast.MappingNode:
		values = m.Values
	case *ast.MappingValueNode:
		values = []*ast.MappingValueNode{m}
	}
	for _, mv := range values {
		if keyText(mv) == key {
			return mv.Value
		}
	}
	return n
}

// pathSteps turns a pattern.Error path such as `detail.price[0]` or
// `'$or'[1].a` into lookup steps: "detail", "price", 0.
func pathSteps(path string) []any {
	var steps []any
	for len(path) > 0 {
		switch path[0] {
		case '.':
			path = path[1:]
		case '[':
			end := strings.IndexByte(path, ']')
			if end < 0 {
				return steps
			}
			if n, err := strconv.Atoi(path[1:end]); err == nil {
				steps = append(steps, n)
			}
			path = path[end+1:]
		case '\'':
			end := strings.IndexByte(path[1:], '\'')
			if end < 0 {
				return steps
			}
			steps = append(steps, path[1:1+end])
			path = path[end+2:]
		default:
			end := strings.IndexAny(path, ".[")
			if end < 0 {
				end = len(path)
			}
			steps = append(steps, path[:end])
			path = path[end:]
		}
	}
	return steps
}

func asPatternError(err error, pe **pattern.Error) bool { return errors.As(err, pe) }
