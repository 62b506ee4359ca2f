// Package odcs renders a data product's contract as an Open Data Contract
// Standard (ODCS, Bitol) v3.0.2 document: the product's output table as the
// one schema object, its Avro fields as properties with ODCS logical and
// Iceberg physical types, the primary key, the quality rules logmesh
// enforces (a feed's validation rules, the typing of every row against the
// contract), the freshness objective as a latency SLA, the owners as the
// team and the contacts as support channels.
//
// A Contract is plain data built by New from a mesh.Product: the same
// definition always gives the same document, whether the product was read
// from mesh.yaml or rebuilt from its ProductPublished event, so documents
// can be diffed and checked in. Safe for concurrent reads.
//
// # Mapping
//
//	apiVersion, kind    v3.0.2, DataContract
//	id                  events.DeriveID("odcs", product name): a UUID that depends on the name only
//	name, dataProduct   the product's name, "domain.name"
//	version             the first 12 hex digits of the product's definition hash (see New)
//	status              "active" by default (WithStatus)
//	domain              the owner domain
//	description.purpose the product's description
//	schema[0]           the output table: name the table part, physicalName "domain.table",
//	                    physicalType table, one property per Avro field in schema order
//	quality             see Rules below
//	slaProperties       latency = the freshness objective, in d, h, min or s
//	team                one member per owner, role owner
//	support             one channel per contact: an e-mail address as a mailto: URL, a URL
//	                    as itself, anything else (a chat channel such as "#eq-data") as given
//	tags                the product's tags
//	customProperties    productKind, visibility, outputMode, feed, inputs, definitionHash
//
// Avro types map to ODCS logical types (3.0.2 has string, date, number,
// integer, object, array and boolean) and to the Iceberg types of the
// warehouse as physical types:
//
//	string                       string          string
//	string uuid                  string (uuid)   uuid
//	bytes, fixed                 string (binary) binary, fixed[n]
//	boolean                      boolean         boolean
//	int, long                    integer i32/i64 int, long
//	float, double                number f32/f64  float, double
//	bytes/fixed decimal          number          decimal(p,s)
//	int date                     date            date
//	long timestamp-millis/micros date            timestamptz
//	long local-timestamp-*       date            timestamp
//	int time-millis, long -micros date           time
//	enum                         string          string
//	array                        array (items)   list<T>
//	map                          object          map<string,T>
//	record                       object          struct (with properties)
//
// A field is required when its type is not a union with null, or when a
// required rule covers it. The primary key's fields get primaryKey and
// primaryKeyPosition (from 1); in upsert mode a one-field key is also
// unique.
//
// # Rules
//
// ODCS 3.0.2 defines no library of quality rules yet, so every rule
// logmesh enforces is a quality entry of type custom, engine logmesh, whose
// implementation is the rule as mesh.yaml writes it. Where ODCS has a
// standard field for the same constraint it is set too, so that generic
// tools see it: required → required, regex → logicalTypeOptions.pattern
// (Go RE2 syntax), max_length → maxLength, min and max → minimum and
// maximum (the first such rule of a field). The schema object carries one
// more entry, the contract check: a source-aligned product's loader types
// each record against the contract and its rules and rejects the records
// that fail (a file with more than the feed's reject threshold of its
// records rejected fails whole); a consumer-aligned product's runner
// checks each row a job writes against the contract, and one bad row fails
// the attempt. Either way every row of the table keeps every rule.
package odcs

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/mesh"
)

// APIVersion is the ODCS version of the documents New builds.
const APIVersion = "v3.0.2"

// Kind is the ODCS kind of a data contract.
const Kind = "DataContract"

// Statuses of a contract.
const (
	// StatusActive: the product is published (the default).
	StatusActive = "active"
	// StatusProposed: the definition is not known to be published, as when
	// it is read from a mesh file rather than from the log.
	StatusProposed = "proposed"
)

// Engine is the quality engine named by the rules logmesh enforces.
const Engine = "logmesh"

// Implementation rules besides the mesh.Rule* names.
const (
	// RuleContract: a record or row is typed against the output contract.
	RuleContract = "contract"
)

// On-violation values of Check.OnViolation.
const (
	// RejectRecord: the loader rejects the record; the rest of the file
	// loads unless the rejects pass the reject threshold.
	RejectRecord = "reject_record"
	// FailJob: the job attempt fails and commits no version.
	FailJob = "fail_job"
)

// ErrContract is wrapped by New's error when the product has no usable
// output contract: no schema, a schema that does not parse or is not a
// record, or a primary key field missing from it.
var ErrContract = errors.New("odcs: no usable output contract")

// Contract is an ODCS v3.0.2 data contract. Field order is the document's
// key order.
type Contract struct {
	APIVersion       string           `json:"apiVersion" yaml:"apiVersion"`
	Kind             string           `json:"kind" yaml:"kind"`
	ID               string           `json:"id" yaml:"id"`
	Name             string           `json:"name" yaml:"name"`
	Version          string           `json:"version" yaml:"version"`
	Status           string           `json:"status" yaml:"status"`
	Domain           string           `json:"domain,omitempty" yaml:"domain,omitempty"`
	DataProduct      string           `json:"dataProduct" yaml:"dataProduct"`
	Description      *Description     `json:"description,omitempty" yaml:"description,omitempty"`
	Tags             []string         `json:"tags,omitempty" yaml:"tags,omitempty"`
	Schema           []Object         `json:"schema" yaml:"schema"`
	SLAProperties    []SLAProperty    `json:"slaProperties,omitempty" yaml:"slaProperties,omitempty"`
	Team             []Member         `json:"team,omitempty" yaml:"team,omitempty"`
	Support          []Channel        `json:"support,omitempty" yaml:"support,omitempty"`
	CustomProperties []CustomProperty `json:"customProperties,omitempty" yaml:"customProperties,omitempty"`
}

// Description is the contract's high-level description.
type Description struct {
	Purpose string `json:"purpose,omitempty" yaml:"purpose,omitempty"`
}

// Object is a schema object: the product's output table.
type Object struct {
	Name         string     `json:"name" yaml:"name"`
	PhysicalName string     `json:"physicalName,omitempty" yaml:"physicalName,omitempty"`
	LogicalType  string     `json:"logicalType" yaml:"logicalType"`
	PhysicalType string     `json:"physicalType,omitempty" yaml:"physicalType,omitempty"`
	Description  string     `json:"description,omitempty" yaml:"description,omitempty"`
	Properties   []Property `json:"properties" yaml:"properties"`
	Quality      []Quality  `json:"quality,omitempty" yaml:"quality,omitempty"`
}

// Property is a schema property: a field of the table, of a nested record
// (Properties), or the items of an array (Items, without a name).
type Property struct {
	Name               string       `json:"name,omitempty" yaml:"name,omitempty"`
	LogicalType        string       `json:"logicalType,omitempty" yaml:"logicalType,omitempty"`
	LogicalTypeOptions *TypeOptions `json:"logicalTypeOptions,omitempty" yaml:"logicalTypeOptions,omitempty"`
	PhysicalType       string       `json:"physicalType,omitempty" yaml:"physicalType,omitempty"`
	Description        string       `json:"description,omitempty" yaml:"description,omitempty"`
	Required           bool         `json:"required,omitempty" yaml:"required,omitempty"`
	Unique             bool         `json:"unique,omitempty" yaml:"unique,omitempty"`
	PrimaryKey         bool         `json:"primaryKey,omitempty" yaml:"primaryKey,omitempty"`
	PrimaryKeyPosition int          `json:"primaryKeyPosition,omitempty" yaml:"primaryKeyPosition,omitempty"`
	Items              *Property    `json:"items,omitempty" yaml:"items,omitempty"`
	Properties         []Property   `json:"properties,omitempty" yaml:"properties,omitempty"`
	Quality            []Quality    `json:"quality,omitempty" yaml:"quality,omitempty"`
}

// TypeOptions are a property's logicalTypeOptions. ODCS allows each only
// with some logical types: Format with string, date, integer and number
// (i32/i64, f32/f64 for the last two); Pattern, MinLength and MaxLength
// with string; Minimum and Maximum with integer and number (a number) and
// date (a string).
type TypeOptions struct {
	Format    string `json:"format,omitempty" yaml:"format,omitempty"`
	Pattern   string `json:"pattern,omitempty" yaml:"pattern,omitempty"`
	MaxLength *int   `json:"maxLength,omitempty" yaml:"maxLength,omitempty"`
	// Minimum and Maximum are an int64 or float64 for integer and number
	// properties, a string for date properties.
	Minimum any `json:"minimum,omitempty" yaml:"minimum,omitempty"`
	Maximum any `json:"maximum,omitempty" yaml:"maximum,omitempty"`
}

// Quality is a data quality entry of type custom: a rule logmesh enforces.
type Quality struct {
	Type        string `json:"type" yaml:"type"`
	Name        string `json:"name" yaml:"name"`
	Description string `json:"description" yaml:"description"`
	// Dimension is completeness for required, conformity otherwise.
	Dimension      string `json:"dimension" yaml:"dimension"`
	Severity       string `json:"severity" yaml:"severity"`
	Engine         string `json:"engine" yaml:"engine"`
	Implementation Check  `json:"implementation" yaml:"implementation"`
}

// Check is a quality entry's implementation: the rule as mesh.yaml writes
// it, and what logmesh does with a record or row that breaks it.
type Check struct {
	// Rule is a mesh.Rule* name or RuleContract.
	Rule   string   `json:"rule" yaml:"rule"`
	Field  string   `json:"field,omitempty" yaml:"field,omitempty"`
	Value  string   `json:"value,omitempty" yaml:"value,omitempty"`
	Values []string `json:"values,omitempty" yaml:"values,omitempty"`
	// OnViolation is RejectRecord or FailJob.
	OnViolation string `json:"on_violation" yaml:"on_violation"`
	// RejectThreshold is the fraction of a file's records that may be
	// rejected before the whole file fails (contract check of a
	// source-aligned product with a feed).
	RejectThreshold *float64 `json:"reject_threshold,omitempty" yaml:"reject_threshold,omitempty"`
}

// SLAProperty is a service-level agreement property.
type SLAProperty struct {
	Property string `json:"property" yaml:"property"`
	Value    int64  `json:"value" yaml:"value"`
	Unit     string `json:"unit" yaml:"unit"`
}

// Member is a team member.
type Member struct {
	Username string `json:"username" yaml:"username"`
	Role     string `json:"role" yaml:"role"`
}

// Channel is a support channel.
type Channel struct {
	Channel string `json:"channel" yaml:"channel"`
	URL     string `json:"url" yaml:"url"`
	Tool    string `json:"tool,omitempty" yaml:"tool,omitempty"`
}

// CustomProperty is a property ODCS does not define. Value is a string or
// a []string.
type CustomProperty struct {
	Property string `json:"property" yaml:"property"`
	Value    any    `json:"value" yaml:"value"`
}

// Option configures New.
type Option func(*config)

type config struct {
	feed   *mesh.Feed
	status string
	hash   string
}

// WithFeed gives the feed of a source-aligned product: its Rules become
// quality entries and its RejectThreshold goes into the contract check.
// Only Name, Rules and RejectThreshold are read, so a Feed rebuilt from a
// FeedDefined event gives the same contract as the one in mesh.yaml.
// Default: none (no rules).
func WithFeed(f *mesh.Feed) Option { return func(c *config) { c.feed = f } }

// WithStatus sets the contract's status; default StatusActive.
func WithStatus(s string) Option { return func(c *config) { c.status = s } }

// WithDefinitionHash gives the product's definition hash, as its
// ProductPublished event carries it; default p.DefinitionHash(). A
// product rebuilt from the event lacks fields the hash covers, so its own
// DefinitionHash would differ.
func WithDefinitionHash(h string) Option { return func(c *config) { c.hash = h } }

// New builds the contract of p. Its version is the first 12 hex digits of
// the definition hash: a definition has one version wherever it is read
// from (the log or mesh.yaml), and any change to it, contract or not,
// gives a new one; a counter would need the product's whole history on
// the log, which a mesh file does not have. The full hash is the
// definitionHash custom property.
//
// The error wraps ErrContract when p has no usable output contract.
func New(p *mesh.Product, opts ...Option) (*Contract, error) {
	if p == nil {
		return nil, fmt.Errorf("%w: no product", ErrContract)
	}
	cfg := config{status: StatusActive}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.hash == "" {
		cfg.hash = p.DefinitionHash()
	}
	obj, err := object(p, cfg.feed)
	if err != nil {
		return nil, err
	}
	c := &Contract{
		APIVersion:  APIVersion,
		Kind:        Kind,
		ID:          events.DeriveID("odcs", p.Name),
		Name:        p.Name,
		Version:     cfg.hash[:min(12, len(cfg.hash))],
		Status:      cfg.status,
		Domain:      p.Domain,
		DataProduct: p.Name,
		Tags:        p.Tags,
		Schema:      []Object{obj},
	}
	if p.Description != "" {
		c.Description = &Description{Purpose: p.Description}
	}
	if p.Freshness > 0 {
		v, unit := durationUnit(p.Freshness)
		c.SLAProperties = append(c.SLAProperties, SLAProperty{Property: "latency", Value: v, Unit: unit})
	}
	for _, o := range p.Owners {
		c.Team = append(c.Team, Member{Username: o, Role: "owner"})
	}
	for _, ct := range p.Contacts {
		c.Support = append(c.Support, channel(ct))
	}
	add := func(name string, v any) { c.CustomProperties = append(c.CustomProperties, CustomProperty{name, v}) }
	add("productKind", p.Kind)
	if p.Visibility != "" {
		add("visibility", p.Visibility)
	}
	add("outputMode", cmp.Or(p.Output.Mode, mesh.ModeAppend))
	if cfg.feed != nil {
		add("feed", cfg.feed.Name)
	}
	if len(p.Inputs) > 0 {
		in := make([]string, 0, len(p.Inputs))
		for _, i := range p.Inputs {
			in = append(in, i.String())
		}
		add("inputs", in)
	}
	add("definitionHash", cfg.hash)
	return c, nil
}

// YAML returns the contract as a YAML document.
func (c *Contract) YAML() ([]byte, error) {
	return yaml.MarshalWithOptions(c, yaml.Indent(2), yaml.IndentSequence(true), yaml.UseLiteralStyleIfMultiline(true))
}

// JSON returns the contract as indented JSON, with a final newline.
func (c *Contract) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// object builds the schema object of p's output table.
func object(p *mesh.Product, feed *mesh.Feed) (Object, error) {
	if p.Output.Schema == "" {
		return Object{}, fmt.Errorf("%w: %s has no output schema", ErrContract, p.Name)
	}
	props, doc, err := recordProperties(p.Output.Schema)
	if err != nil {
		return Object{}, fmt.Errorf("%w: %s: %w", ErrContract, p.Name, err)
	}
	table := p.Output.Table
	if table == "" {
		table = p.Name
	}
	_, short, ok := strings.Cut(table, ".")
	if !ok {
		short = table
	}
	obj := Object{Name: short, PhysicalName: table, LogicalType: "object", PhysicalType: "table", Description: doc, Properties: props}

	byName := make(map[string]*Property, len(props))
	for i := range obj.Properties {
		byName[obj.Properties[i].Name] = &obj.Properties[i]
	}
	for i, k := range p.Output.PrimaryKey {
		f := byName[k]
		if f == nil {
			return Object{}, fmt.Errorf("%w: %s: primary key field %q is not in the schema", ErrContract, p.Name, k)
		}
		f.PrimaryKey, f.PrimaryKeyPosition = true, i+1
		if len(p.Output.PrimaryKey) == 1 && p.Output.Mode == mesh.ModeUpsert {
			f.Unique = true
		}
	}

	check := Check{Rule: RuleContract, OnViolation: FailJob}
	desc := "Every row a job writes is typed against the output contract (field types, non-null fields); " +
		"a row that does not fit fails the job attempt, which commits no version."
	if p.Kind == mesh.KindSourceAligned {
		check.OnViolation = RejectRecord
		desc = "Every record is typed against the output contract (field types, non-null fields) and checked " +
			"against the rules of its fields before it is loaded; a record that fails is rejected."
		if feed != nil {
			check.RejectThreshold = new(feed.RejectThreshold)
			if feed.RejectThreshold > 0 {
				desc += fmt.Sprintf(" A file with more than %s of its records rejected fails whole.", percent(feed.RejectThreshold))
			} else {
				desc += " A file with any record rejected fails whole."
			}
		}
	}
	obj.Quality = []Quality{{Type: "custom", Name: "contract", Description: desc, Dimension: "conformity",
		Severity: "error", Engine: Engine, Implementation: check}}

	if feed != nil {
		for _, r := range feed.Rules {
			f := byName[r.Field]
			if f == nil {
				return Object{}, fmt.Errorf("%w: %s: rule %s on %q, which is not in the schema", ErrContract, p.Name, r.Rule, r.Field)
			}
			applyRule(f, r)
		}
	}
	return obj, nil
}

// applyRule adds the quality entry of r to f and sets the ODCS field that
// states the same constraint, if there is one and it is not set yet.
func applyRule(f *Property, r mesh.Rule) {
	q := Quality{Type: "custom", Name: r.Field + " " + r.Rule, Dimension: "conformity", Severity: "error", Engine: Engine,
		Implementation: Check{Rule: r.Rule, Field: r.Field, Value: r.Value, Values: r.Values, OnViolation: RejectRecord}}
	opts := func() *TypeOptions {
		if f.LogicalTypeOptions == nil {
			f.LogicalTypeOptions = &TypeOptions{}
		}
		return f.LogicalTypeOptions
	}
	isString := f.LogicalType == "string" && (f.LogicalTypeOptions == nil || f.LogicalTypeOptions.Format != "binary")
	switch r.Rule {
	case mesh.RuleRequired:
		q.Dimension = "completeness"
		q.Description = r.Field + " has a non-empty, non-null value in every record."
		f.Required = true
	case mesh.RuleRegex:
		q.Description = r.Field + " matches the regular expression " + r.Value + " (Go RE2 syntax, unanchored unless the pattern anchors itself)."
		if isString && opts().Pattern == "" {
			opts().Pattern = r.Value
		}
	case mesh.RuleEnum:
		q.Description = r.Field + " is one of " + strings.Join(r.Values, ", ") + "."
	case mesh.RuleMaxLength:
		unit := "characters"
		if !isString {
			unit = "bytes"
		}
		q.Description = fmt.Sprintf("%s has at most %s %s.", r.Field, r.Value, unit)
		if n, err := strconv.Atoi(r.Value); err == nil && f.LogicalType == "string" && opts().MaxLength == nil {
			opts().MaxLength = new(n)
		}
	case mesh.RuleMin, mesh.RuleMax:
		op, set := ">=", func(o *TypeOptions, v any) {
			if o.Minimum == nil {
				o.Minimum = v
			}
		}
		if r.Rule == mesh.RuleMax {
			op, set = "<=", func(o *TypeOptions, v any) {
				if o.Maximum == nil {
					o.Maximum = v
				}
			}
		}
		q.Description = fmt.Sprintf("%s %s %s.", r.Field, op, r.Value)
		if v, ok := bound(f.LogicalType, r.Value); ok {
			set(opts(), v)
		}
	default:
		q.Description = r.Field + " passes the " + r.Rule + " rule."
	}
	f.Quality = append(f.Quality, q)
}

// bound returns a min or max rule's value as ODCS wants it for the
// logical type: a number for integer and number, the text for date.
func bound(logical, text string) (any, bool) {
	switch logical {
	case "integer":
		n, err := strconv.ParseInt(text, 10, 64)
		return n, err == nil
	case "number":
		f, err := strconv.ParseFloat(text, 64)
		return f, err == nil && !math.IsInf(f, 0) && !math.IsNaN(f)
	case "date":
		return text, true
	}
	return nil, false
}

// durationUnit expresses d in the largest of days, hours, minutes and
// seconds that divides it (ISO 80000 symbols d, h, min, s).
func durationUnit(d time.Duration) (int64, string) {
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "min"}} {
		if d%u.d == 0 {
			return int64(d / u.d), u.name
		}
	}
	return int64((d + time.Second/2) / time.Second), "s"
}

// channel turns a contact into a support channel.
func channel(contact string) Channel {
	ch := Channel{Channel: contact, URL: contact}
	lower := strings.ToLower(contact)
	switch {
	case strings.HasPrefix(lower, "mailto:"):
		ch.Channel, ch.Tool = contact[len("mailto:"):], "email"
	case strings.Contains(contact, "://"):
		switch {
		case strings.Contains(lower, "slack.com"):
			ch.Tool = "slack"
		case strings.Contains(lower, "teams.microsoft.com"):
			ch.Tool = "teams"
		case strings.Contains(lower, "discord"):
			ch.Tool = "discord"
		}
	case strings.Contains(contact, "@") && !strings.ContainsAny(contact, " /#"):
		ch.URL, ch.Tool = "mailto:"+contact, "email"
	}
	return ch
}

func percent(f float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.4f", f*100), "0"), ".") + "%"
}
