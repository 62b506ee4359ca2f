package odcs_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/odcs"
	"github.com/logmesh/logmesh/mesh"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// officialSchemas are the file names of the standard's JSON schemas for
// v3.0.2, the plain one and the strict one (no unknown keys). They are not
// in this repository: the tests look for them in $LOGMESH_ODCS_SCHEMA_DIR,
// else in shared/odcs beside the repository, and skip that check when
// neither has them.
var officialSchemas = []string{"odcs-json-schema-v3.0.2.json", "odcs-json-schema-v3.0.2-strict.json"}

// subsetSchema is the project's own schema of the ODCS sections New writes
// (see its $comment); always there.
const subsetSchema = "testdata/odcs-v3.0.2-subset.schema.json"

func compile(t *testing.T, path string) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	url := "file:///" + filepath.ToSlash(filepath.Base(path))
	if err := c.AddResource(url, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(url)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return s
}

// schemas returns the schemas every contract must pass, by name.
func schemas(t *testing.T) map[string]*jsonschema.Schema {
	t.Helper()
	out := map[string]*jsonschema.Schema{"subset": compile(t, subsetSchema)}
	dir := os.Getenv("LOGMESH_ODCS_SCHEMA_DIR")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "odcs")
	}
	for _, name := range officialSchemas {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err != nil {
			t.Logf("%s not found: validating against the subset schema only", p)
			continue
		}
		out[name] = compile(t, p)
	}
	return out
}

func load(t *testing.T, path string) *mesh.Mesh {
	t.Helper()
	m, err := mesh.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// build is the contract of a product of m, with its feed if it has one.
func build(t *testing.T, m *mesh.Mesh, name string, opts ...odcs.Option) *odcs.Contract {
	t.Helper()
	p, ok := m.Product(name)
	if !ok {
		t.Fatalf("no product %s", name)
	}
	if f, ok := m.Feed(p.Feed); ok {
		opts = append([]odcs.Option{odcs.WithFeed(f)}, opts...)
	}
	c, err := odcs.New(p, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// asJSON returns the YAML document as a JSON value, and checks that the
// JSON rendering says the same.
func asJSON(t *testing.T, c *odcs.Contract) any {
	t.Helper()
	y, err := c.YAML()
	if err != nil {
		t.Fatal(err)
	}
	j, err := yaml.YAMLToJSON(y)
	if err != nil {
		t.Fatalf("YAML does not read back: %v\n%s", err, y)
	}
	fromYAML, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		t.Fatal(err)
	}
	direct, err := c.JSON()
	if err != nil {
		t.Fatal(err)
	}
	fromJSON, err := jsonschema.UnmarshalJSON(bytes.NewReader(direct))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(normalize(fromYAML), normalize(fromJSON)) {
		t.Errorf("YAML and JSON renderings differ:\n%s\n%s", y, direct)
	}
	return fromYAML
}

// normalize turns json.Number into float64, so that 1 and 1.0 compare
// equal across the two renderings.
func normalize(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = normalize(e)
		}
	case []any:
		for i, e := range v {
			v[i] = normalize(e)
		}
	case json.Number:
		f, _ := v.Float64()
		return f
	}
	return v
}

// Every product of the test mesh, the mesh package's and the example mesh
// gives a document the ODCS v3.0.2 schemas accept, in YAML and in JSON.
func TestContractsValidate(t *testing.T) {
	sch := schemas(t)
	for _, path := range []string{"testdata/mesh.yaml", "../../mesh/testdata/mesh.yaml", "../../examples/mesh.yaml"} {
		m := load(t, path)
		for _, p := range m.Products {
			t.Run(path+":"+p.Name, func(t *testing.T) {
				doc := asJSON(t, build(t, m, p.Name))
				for name, s := range sch {
					if err := s.Validate(doc); err != nil {
						t.Errorf("%s: %v", name, err)
					}
				}
			})
		}
	}
}

// The schemas are not vacuous: a document with an unknown key, a wrong
// logical type or a missing version fails them.
func TestSchemasRejectBadDocuments(t *testing.T) {
	sch := schemas(t)
	m := load(t, "testdata/mesh.yaml")
	for _, tc := range []struct {
		name  string
		spoil func(doc map[string]any)
	}{
		{"no version", func(d map[string]any) { delete(d, "version") }},
		{"bad kind", func(d map[string]any) { d["kind"] = "Contract" }},
		{"unknown key", func(d map[string]any) { d["owner"] = "x" }},
		{"bad logical type", func(d map[string]any) { firstProperty(d)["logicalType"] = "varchar" }},
		{"unknown property key", func(d map[string]any) { firstProperty(d)["nullable"] = true }},
		{"support without url", func(d map[string]any) {
			d["support"] = []any{map[string]any{"channel": "#x"}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := asJSON(t, build(t, m, "raw.trades")).(map[string]any)
			tc.spoil(doc)
			for name, s := range sch {
				if name == officialSchemas[0] && strings.Contains(tc.name, "unknown") {
					continue // the plain schema allows unknown keys; the strict one does not
				}
				if err := s.Validate(doc); err == nil {
					t.Errorf("%s accepts a document with %s", name, tc.name)
				}
			}
		})
	}
}

func firstProperty(doc map[string]any) map[string]any {
	return doc["schema"].([]any)[0].(map[string]any)["properties"].([]any)[0].(map[string]any)
}

// The documents of the test mesh's two products, byte for byte.
func TestGolden(t *testing.T) {
	m := load(t, "testdata/mesh.yaml")
	for product, file := range map[string]string{"raw.trades": "trades.odcs.yaml", "eq.exposure": "exposure.odcs.yaml"} {
		got, err := build(t, m, product).YAML()
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("testdata", file)
		if *update {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: the document differs from %s (go test -run TestGolden -update rewrites it):\n%s", product, path, got)
		}
	}
}

func property(t *testing.T, c *odcs.Contract, name string) odcs.Property {
	t.Helper()
	for _, p := range c.Schema[0].Properties {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("no property %s", name)
	return odcs.Property{}
}

// Each Avro field maps to its logical and physical type, required unless
// nullable (or covered by a required rule), with the primary key.
func TestFieldMapping(t *testing.T) {
	c := build(t, load(t, "testdata/mesh.yaml"), "raw.trades")
	if got := len(c.Schema); got != 1 {
		t.Fatalf("%d schema objects, want 1", got)
	}
	obj := c.Schema[0]
	if obj.Name != "trades" || obj.PhysicalName != "raw.trades" || obj.LogicalType != "object" || obj.PhysicalType != "table" ||
		obj.Description != "One trade as the booking system exports it" {
		t.Errorf("object = %+v", obj)
	}
	type want struct {
		logical, physical, format string
		required, unique          bool
		pk                        int
	}
	for name, w := range map[string]want{
		"trade_id":   {"string", "string", "", true, true, 1},
		"account":    {"string", "string", "", true, false, 0},
		"qty":        {"integer", "long", "i64", true, false, 0},
		"price":      {"number", "double", "f64", true, false, 0},
		"venue":      {"integer", "int", "i32", true, false, 0},
		"fee":        {"number", "float", "f32", false, false, 0},
		"cleared":    {"boolean", "boolean", "", true, false, 0},
		"traded_at":  {"date", "timestamptz", "", true, false, 0},
		"booked_at":  {"date", "timestamptz", "", false, false, 0},
		"settles_on": {"date", "date", "", true, false, 0},
		"note":       {"string", "string", "", true, false, 0}, // nullable, but a required rule covers it
		"payload":    {"string", "binary", "binary", false, false, 0},
	} {
		p := property(t, c, name)
		format := ""
		if p.LogicalTypeOptions != nil {
			format = p.LogicalTypeOptions.Format
		}
		got := want{p.LogicalType, p.PhysicalType, format, p.Required, p.Unique, p.PrimaryKeyPosition}
		if got != w || p.PrimaryKey != (w.pk > 0) {
			t.Errorf("%s: %+v (primaryKey %v), want %+v", name, got, p.PrimaryKey, w)
		}
	}
	if p := property(t, c, "trade_id"); p.Description != "The booking system's id" {
		t.Errorf("trade_id description %q, want the field's doc", p.Description)
	}

	// A composite key: positions in key order, and no property is unique
	// by itself.
	e := build(t, load(t, "testdata/mesh.yaml"), "eq.exposure")
	for name, pos := range map[string]int{"isin": 1, "book": 2, "net_qty": 0} {
		if p := property(t, e, name); p.PrimaryKeyPosition != pos || p.PrimaryKey != (pos > 0) || p.Unique {
			t.Errorf("%s: primaryKey %v position %d unique %v, want position %d", name, p.PrimaryKey, p.PrimaryKeyPosition, p.Unique, pos)
		}
	}
}

// Each feed rule is a custom quality entry of logmesh at its field, with
// the ODCS field that states the same constraint where there is one.
func TestRules(t *testing.T) {
	c := build(t, load(t, "testdata/mesh.yaml"), "raw.trades")
	checks := func(p odcs.Property) []odcs.Check {
		var out []odcs.Check
		for _, q := range p.Quality {
			if q.Type != "custom" || q.Engine != odcs.Engine || q.Severity != "error" || q.Description == "" {
				t.Errorf("%s: quality %+v", p.Name, q)
			}
			out = append(out, q.Implementation)
		}
		return out
	}
	opts := func(p odcs.Property) odcs.TypeOptions {
		if p.LogicalTypeOptions == nil {
			return odcs.TypeOptions{}
		}
		return *p.LogicalTypeOptions
	}
	rr := odcs.RejectRecord
	for _, tc := range []struct {
		field  string
		checks []odcs.Check
		opts   odcs.TypeOptions
	}{
		{"account", []odcs.Check{{Rule: "regex", Field: "account", Value: "^AC[0-9]{4}$", OnViolation: rr}},
			odcs.TypeOptions{Pattern: "^AC[0-9]{4}$"}},
		{"side", []odcs.Check{{Rule: "enum", Field: "side", Values: []string{"BUY", "SELL"}, OnViolation: rr}}, odcs.TypeOptions{}},
		{"qty", []odcs.Check{{Rule: "min", Field: "qty", Value: "1", OnViolation: rr}, {Rule: "max", Field: "qty", Value: "1000000", OnViolation: rr}},
			odcs.TypeOptions{Format: "i64", Minimum: int64(1), Maximum: int64(1000000)}},
		{"price", []odcs.Check{{Rule: "min", Field: "price", Value: "0.01", OnViolation: rr}}, odcs.TypeOptions{Format: "f64", Minimum: 0.01}},
		{"traded_at", []odcs.Check{{Rule: "min", Field: "traded_at", Value: "2020-01-01T00:00:00Z", OnViolation: rr}},
			odcs.TypeOptions{Minimum: "2020-01-01T00:00:00Z"}},
		{"note", []odcs.Check{{Rule: "max_length", Field: "note", Value: "200", OnViolation: rr}, {Rule: "required", Field: "note", OnViolation: rr}},
			odcs.TypeOptions{MaxLength: new(200)}},
		{"venue", nil, odcs.TypeOptions{Format: "i32"}},
	} {
		p := property(t, c, tc.field)
		if got := checks(p); !reflect.DeepEqual(got, tc.checks) {
			t.Errorf("%s: checks %+v, want %+v", tc.field, got, tc.checks)
		}
		if got := opts(p); !reflect.DeepEqual(got, tc.opts) {
			t.Errorf("%s: logicalTypeOptions %+v, want %+v", tc.field, got, tc.opts)
		}
	}
	if q := property(t, c, "note").Quality[1]; q.Dimension != "completeness" {
		t.Errorf("required rule: dimension %q, want completeness", q.Dimension)
	}

	// The object's contract check: records are rejected, the file fails
	// past the feed's reject threshold.
	q := c.Schema[0].Quality
	if len(q) != 1 || q[0].Implementation.Rule != odcs.RuleContract || q[0].Implementation.OnViolation != odcs.RejectRecord ||
		q[0].Implementation.RejectThreshold == nil || *q[0].Implementation.RejectThreshold != 0.25 || !strings.Contains(q[0].Description, "25%") {
		t.Errorf("source-aligned contract check %+v", q)
	}
	// A consumer-aligned product's: a bad row fails the job.
	e := build(t, load(t, "testdata/mesh.yaml"), "eq.exposure")
	if q := e.Schema[0].Quality; len(q) != 1 || !reflect.DeepEqual(q[0].Implementation, odcs.Check{Rule: odcs.RuleContract, OnViolation: odcs.FailJob}) {
		t.Errorf("consumer-aligned contract check %+v", q)
	}
	for _, p := range e.Schema[0].Properties {
		if len(p.Quality) > 0 {
			t.Errorf("%s: quality %+v on a product without rules", p.Name, p.Quality)
		}
	}
}

// The fundamentals, the freshness objective, the team, the support
// channels and the custom properties.
func TestProductFields(t *testing.T) {
	m := load(t, "testdata/mesh.yaml")
	c := build(t, m, "eq.exposure")
	p, _ := m.Product("eq.exposure")
	hash := p.DefinitionHash()
	if c.APIVersion != "v3.0.2" || c.Kind != "DataContract" || c.Name != "eq.exposure" || c.DataProduct != "eq.exposure" ||
		c.Domain != "eq" || c.Status != odcs.StatusActive || c.Version != hash[:12] || c.ID != events.DeriveID("odcs", "eq.exposure") {
		t.Errorf("fundamentals %+v", c)
	}
	if c.Description == nil || c.Description.Purpose != "Net traded quantity per security and book" {
		t.Errorf("description %+v", c.Description)
	}
	if want := []odcs.SLAProperty{{Property: "latency", Value: 90, Unit: "min"}}; !reflect.DeepEqual(c.SLAProperties, want) {
		t.Errorf("slaProperties %+v, want %+v", c.SLAProperties, want)
	}
	if want := []odcs.Member{{"eq-data@example.com", "owner"}, {"eq-ops@example.com", "owner"}}; !reflect.DeepEqual(c.Team, want) {
		t.Errorf("team %+v", c.Team)
	}
	if want := []odcs.Channel{
		{Channel: "eq-data@example.com", URL: "mailto:eq-data@example.com", Tool: "email"},
		{Channel: "#eq-data", URL: "#eq-data"},
		{Channel: "https://example.slack.com/archives/C0EQDATA", URL: "https://example.slack.com/archives/C0EQDATA", Tool: "slack"},
	}; !reflect.DeepEqual(c.Support, want) {
		t.Errorf("support %+v", c.Support)
	}
	if !reflect.DeepEqual(c.Tags, []string{"finance", "pii-free"}) {
		t.Errorf("tags %v", c.Tags)
	}
	if want := []odcs.CustomProperty{{"productKind", "consumer-aligned"}, {"visibility", "enterprise"}, {"outputMode", "upsert"},
		{"inputs", []string{"raw.trades", "topic:upstream.books"}}, {"definitionHash", hash}}; !reflect.DeepEqual(c.CustomProperties, want) {
		t.Errorf("customProperties %+v", c.CustomProperties)
	}

	// Status and hash as given; the id depends on the name only, the
	// version on the whole definition.
	c2 := build(t, m, "eq.exposure", odcs.WithStatus(odcs.StatusProposed), odcs.WithDefinitionHash("abcdef0123456789"))
	if c2.Status != odcs.StatusProposed || c2.Version != "abcdef012345" || c2.ID != c.ID {
		t.Errorf("WithStatus, WithDefinitionHash: %s %s %s", c2.Status, c2.Version, c2.ID)
	}
	changed := *p
	changed.Description = "another"
	c3, err := odcs.New(&changed)
	if err != nil {
		t.Fatal(err)
	}
	if c3.ID != c.ID || c3.Version == c.Version {
		t.Errorf("a changed description: id %s version %s, want id %s and another version than %s", c3.ID, c3.Version, c.ID, c.Version)
	}
}

// The freshness objective in the largest unit that divides it.
func TestFreshnessUnits(t *testing.T) {
	for d, want := range map[time.Duration]odcs.SLAProperty{
		48 * time.Hour:   {"latency", 2, "d"},
		36 * time.Hour:   {"latency", 36, "h"},
		90 * time.Minute: {"latency", 90, "min"},
		45 * time.Second: {"latency", 45, "s"},
	} {
		c, err := odcs.New(product(`{"type":"record","name":"R","fields":[{"name":"id","type":"string"}]}`, func(p *mesh.Product) { p.Freshness = d }))
		if err != nil {
			t.Fatal(err)
		}
		if len(c.SLAProperties) != 1 || c.SLAProperties[0] != want {
			t.Errorf("freshness %v: %+v, want %+v", d, c.SLAProperties, want)
		}
	}
	c, err := odcs.New(product(`{"type":"record","name":"R","fields":[{"name":"id","type":"string"}]}`, nil))
	if err != nil || c.SLAProperties != nil {
		t.Errorf("no freshness objective: %+v, %v; want no SLA", c.SLAProperties, err)
	}
}

func product(schema string, edit func(*mesh.Product)) *mesh.Product {
	p := &mesh.Product{Name: "d.p", Domain: "d", Kind: mesh.KindConsumerAligned, Output: mesh.Output{Table: "d.p", Schema: schema}}
	if edit != nil {
		edit(p)
	}
	return p
}

// Types the platform's tables do not store yet still map, nested ones
// recursively, and the result passes the schemas.
func TestComplexTypes(t *testing.T) {
	schema := `{"type":"record","name":"R","namespace":"d","fields":[
		{"name":"id","type":{"type":"string","logicalType":"uuid"}},
		{"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":12,"scale":2}},
		{"name":"digest","type":{"type":"fixed","name":"MD5","size":16}},
		{"name":"at","type":{"type":"long","logicalType":"local-timestamp-micros"}},
		{"name":"opens","type":{"type":"int","logicalType":"time-millis"}},
		{"name":"side","type":{"type":"enum","name":"Side","symbols":["BUY","SELL"]}},
		{"name":"tags","type":{"type":"array","items":"string"}},
		{"name":"attrs","type":["null",{"type":"map","values":"long"}],"default":null},
		{"name":"venue","type":{"type":"record","name":"Venue","fields":[
			{"name":"mic","type":"string"},
			{"name":"parent","type":["null","Venue"],"default":null}]}},
		{"name":"legs","type":{"type":"array","items":{"type":"record","name":"Leg","fields":[{"name":"qty","type":"long"}]}}}
	]}`
	c, err := odcs.New(product(schema, nil))
	if err != nil {
		t.Fatal(err)
	}
	type want struct{ logical, physical string }
	for name, w := range map[string]want{
		"id": {"string", "uuid"}, "amount": {"number", "decimal(12,2)"}, "digest": {"string", "fixed[16]"},
		"at": {"date", "timestamp"}, "opens": {"date", "time"}, "side": {"string", "string"},
		"tags": {"array", "list<string>"}, "attrs": {"object", "map<string,long>"}, "venue": {"object", "struct"},
		"legs": {"array", "list<struct>"},
	} {
		if p := property(t, c, name); p.LogicalType != w.logical || p.PhysicalType != w.physical {
			t.Errorf("%s: %s %s, want %s %s", name, p.LogicalType, p.PhysicalType, w.logical, w.physical)
		}
	}
	if p := property(t, c, "tags"); p.Items == nil || p.Items.LogicalType != "string" || p.Items.Name != "" {
		t.Errorf("tags items %+v", p.Items)
	}
	venue := property(t, c, "venue")
	if len(venue.Properties) != 2 || venue.Properties[0].Name != "mic" || venue.Properties[1].Required ||
		venue.Properties[1].Properties != nil {
		t.Errorf("venue properties %+v: want mic, and parent cut where Venue recurs", venue.Properties)
	}
	if legs := property(t, c, "legs"); legs.Items == nil || len(legs.Items.Properties) != 1 || legs.Items.Properties[0].Name != "qty" {
		t.Errorf("legs items %+v", legs.Items)
	}
	doc := asJSON(t, c)
	for name, s := range schemas(t) {
		if err := s.Validate(doc); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// A product without a usable output contract is an ErrContract.
func TestErrors(t *testing.T) {
	rec := `{"type":"record","name":"R","fields":[{"name":"id","type":"string"}]}`
	for name, tc := range map[string]struct {
		p    *mesh.Product
		opts []odcs.Option
	}{
		"no product":     {nil, nil},
		"no schema":      {product("", nil), nil},
		"bad schema":     {product(`{"type":`, nil), nil},
		"not a record":   {product(`"string"`, nil), nil},
		"key not in it":  {product(rec, func(p *mesh.Product) { p.Output.PrimaryKey = []string{"nope"} }), nil},
		"rule not in it": {product(rec, nil), []odcs.Option{odcs.WithFeed(&mesh.Feed{Rules: []mesh.Rule{{Field: "nope", Rule: mesh.RuleRequired}}})}},
	} {
		if _, err := odcs.New(tc.p, tc.opts...); !errors.Is(err, odcs.ErrContract) {
			t.Errorf("%s: %v, want ErrContract", name, err)
		}
	}
}
