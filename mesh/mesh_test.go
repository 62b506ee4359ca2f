package mesh_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/formats"
	"github.com/logmesh/logmesh/mesh"
)

func TestLoadExample(t *testing.T) {
	m, err := mesh.Load("testdata/mesh.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := &mesh.Mesh{
		Domains: []mesh.Domain{
			{Name: "raw", Description: "Files from source systems", Owners: []string{"platform@example.com"}},
			{Name: "equities", Description: "Equities trading", Owners: []string{"eq-data@example.com", "eq-ops@example.com"}},
		},
		Feeds: []mesh.Feed{
			{
				Name:       "trades",
				Table:      "raw.trades",
				KeyPattern: "trades/*.csv",
				Format:     "csv",
				Options: mesh.FormatOptions{
					Delimiter:        ",",
					Header:           true,
					Encoding:         "utf-8",
					Comment:          "#",
					TrimSpace:        true,
					TimestampLayouts: []string{"2006-01-02T15:04:05Z07:00"},
					DateLayouts:      []string{"2006-01-02"},
				},
				Schema: `{"fields":[{"name":"trade_id","type":"string"},{"name":"account","type":"string"},` +
					`{"name":"side","type":"string"},{"name":"qty","type":"long"},{"name":"price","type":"double"},` +
					`{"name":"traded_at","type":{"logicalType":"timestamp-micros","type":"long"}},` +
					`{"default":null,"name":"note","type":["null","string"]}],"name":"Trade","namespace":"raw","type":"record"}`,
				PrimaryKey:      []string{"trade_id"},
				OrderingField:   "traded_at",
				Mode:            "upsert",
				UniqueKey:       true,
				RejectThreshold: 0.1,
				Rules: []mesh.Rule{
					{Field: "qty", Rule: "min", Value: "1"},
					{Field: "account", Rule: "regex", Value: "^[A-Z]{2}[0-9]{4}$"},
					{Field: "side", Rule: "enum", Values: []string{"BUY", "SELL"}},
					{Field: "note", Rule: "max_length", Value: "200"},
					{Field: "account", Rule: "required"},
				},
				Batch: mesh.BatchPolicy{MaxFiles: 100, MaxBytes: 1 << 30},
			},
			{
				Name:       "positions",
				Table:      "raw.positions",
				KeyPattern: "positions/**/*.txt",
				Format:     "fixed-width",
				Options: mesh.FormatOptions{FixedWidth: []mesh.Column{
					{Name: "account", Start: 1, Width: 6},
					{Name: "symbol", Start: 7, Width: 8},
					{Name: "qty", Start: 15, Width: 10},
					{Name: "as_of", Start: 25, Width: 10},
				}},
				Schema: `{"fields":[{"name":"account","type":"string"},{"name":"symbol","type":"string"},` +
					`{"name":"qty","type":"long"},{"name":"as_of","type":{"logicalType":"date","type":"int"}}],` +
					`"name":"Position","namespace":"raw","type":"record"}`,
				Mode:  "append",
				Batch: mesh.BatchPolicy{MaxFiles: 100, MaxBytes: 1 << 30},
			},
		},
	}
	if !reflect.DeepEqual(m.Domains, want.Domains) || !reflect.DeepEqual(m.Feeds, want.Feeds) {
		t.Errorf("Load:\n got %+v\nwant %+v", m, want)
	}
	if len(m.Products) != 2 || m.Products[0].Name != "raw.trades" || m.Products[0].Kind != mesh.KindSourceAligned ||
		m.Products[0].Feed != "trades" || m.Products[0].Output.Schema != m.Feeds[0].Schema {
		t.Errorf("feed products: %+v", m.Products)
	}
	if f := &m.Feeds[0]; f.Domain() != "raw" || f.TableName() != "trades" {
		t.Errorf("Domain, TableName = %q, %q", f.Domain(), f.TableName())
	}
}

// base is a valid mesh; cases below replace one line of it. Line numbers
// matter: tests assert them.
const base = `domains:
  - name: raw
feeds:
  - name: trades
    table: raw.trades
    key_pattern: "trades/*.csv"
    format: ndjson
    schema:
      type: record
      name: Trade
      fields:
        - {name: id, type: string}
        - {name: qty, type: long}
        - {name: at, type: {type: long, logicalType: timestamp-micros}}
        - {name: note, type: ["null", string], default: null}
    primary_key: [id]
    mode: upsert
    rules:
      - {field: qty, rule: min, value: "1"}
`

func TestParseValid(t *testing.T) {
	if _, err := mesh.Parse([]byte(base), "mesh.yaml", "."); err != nil {
		t.Fatal(err)
	}
	m, err := mesh.Parse(nil, "mesh.yaml", ".")
	if err != nil || len(m.Domains)+len(m.Feeds) != 0 {
		t.Errorf("empty file: %+v, %v", m, err)
	}
	products := base + "products:\n  - name: p\n    domain: raw\ngrants: []\n"
	if _, err := mesh.Parse([]byte(products), "mesh.yaml", "."); err != nil {
		t.Errorf("products and grants: %v", err)
	}
}

func TestParseErrors(t *testing.T) {
	// replace returns base with the line containing old (the first one)
	// replaced by repl (which may hold several lines).
	replace := func(old, repl string) string {
		if !strings.Contains(base, old) {
			t.Fatalf("base has no %q", old)
		}
		return strings.Replace(base, old, repl, 1)
	}
	for _, tc := range []struct {
		name string
		src  string
		want []string // every one must appear in the error
	}{
		{"syntax", "domains: [\n", []string{"mesh.yaml:1:"}},
		{"top-level typo", base + "feds: []\n", []string{"mesh.yaml:20:", `unknown top-level key "feds"`}},
		{"feed typo", replace("    mode: upsert", "    mdoe: upsert"), []string{"mesh.yaml:17:", `unknown field "mdoe"`}},
		{"two decode errors", replace("  - name: raw", "  - name: raw\n    ownerz: []") + "  - name: x\n    tabel: raw.x\n",
			[]string{"mesh.yaml:3:", `"ownerz"`, "mesh.yaml:22:", `"tabel"`}},
		{"wrong type", replace("    mode: upsert", "    mode: [upsert]"), []string{"mesh.yaml:17:"}},
		{"bad domain name", replace("  - name: raw", "  - name: Raw"), []string{"mesh.yaml:2:", `domain "Raw"`}},
		{"duplicate domain", replace("  - name: raw", "  - name: raw\n  - name: raw"), []string{"mesh.yaml:3:", "already declared at line 2"}},
		{"undeclared domain", replace("    table: raw.trades", "    table: eq.trades"), []string{"mesh.yaml:5:", `domain "eq"`, "not declared"}},
		{"bad table", replace("    table: raw.trades", "    table: trades"), []string{"mesh.yaml:5:", "domain.table"}},
		{"table with dash", replace("    table: raw.trades", "    table: raw.my-trades"), []string{"mesh.yaml:5:"}},
		{"bad feed name", replace("  - name: trades", "  - name: Trades"), []string{"mesh.yaml:4:", "feed Trades: name"}},
		{"duplicate feed and table", base + "  - name: trades\n    table: raw.trades\n    key_pattern: x\n    format: ndjson\n    schema_file: x.avsc\n",
			[]string{"mesh.yaml:20: feed trades: name already used at line 4", "mesh.yaml:21: feed trades: table raw.trades is already loaded by the feed at line 5"}},
		{"unknown format", replace("    format: ndjson", "    format: parquet"), []string{"mesh.yaml:7:", `unknown format "parquet"`}},
		{"missing format", replace("    format: ndjson", ""), []string{"format is required"}},
		{"bad glob", replace(`    key_pattern: "trades/*.csv"`, `    key_pattern: "trades/[a.csv"`), []string{"mesh.yaml:6:", "key_pattern"}},
		{"absolute glob", replace(`    key_pattern: "trades/*.csv"`, `    key_pattern: "/trades/*.csv"`), []string{"mesh.yaml:6:"}},
		{"missing pattern", replace(`    key_pattern: "trades/*.csv"`, ""), []string{"key_pattern (landed files) or topic (an upstream topic) is required"}},
		{"pattern and topic", replace(`    key_pattern: "trades/*.csv"`, `    key_pattern: "trades/*.csv"
    topic: upstream.trades`), []string{"mesh.yaml:7:", "not both"}},
		{"bad topic", replace(`    key_pattern: "trades/*.csv"`, `    topic: "up stream"`), []string{"mesh.yaml:6:", `topic "up stream"`}},
		{"topic with csv", strings.Replace(replace(`    key_pattern: "trades/*.csv"`, `    topic: upstream.trades`), "    format: ndjson", "    format: csv\n    options: {header: true}", 1),
			[]string{"mesh.yaml:7:", "staged as ndjson"}},
		{"topic twice", base + "  - name: other\n    table: raw.other\n    topic: up\n    schema_file: trades.avsc\n  - name: third\n    table: raw.third\n    topic: up\n    schema_file: trades.avsc\n",
			[]string{"mesh.yaml:26:", "topic up is already the source of the feed at line 22"}},
		{"pk not in schema", replace("    primary_key: [id]", "    primary_key: [trade_id]"), []string{"mesh.yaml:16: feed trades: primary_key field 'trade_id' not in schema"}},
		{"pk twice", replace("    primary_key: [id]", "    primary_key: [id, id]"), []string{"listed twice"}},
		{"ordering field", replace("    mode: upsert", "    mode: upsert\n    ordering_field: ts"), []string{"mesh.yaml:18:", "ordering_field 'ts' not in schema"}},
		{"bad mode", replace("    mode: upsert", "    mode: merge"), []string{"mesh.yaml:17:", `mode "merge"`}},
		{"upsert without key", replace("    primary_key: [id]", ""), []string{"mesh.yaml:17:", "upsert needs a primary_key"}},
		{"unique without key", replace("    primary_key: [id]\n    mode: upsert", "    unique_key: true"), []string{"mesh.yaml:16:", "unique_key needs a primary_key"}},
		{"threshold", replace("    mode: upsert", "    mode: upsert\n    reject_threshold: 1.5"), []string{"mesh.yaml:18:", "reject_threshold 1.5"}},
		{"negative threshold", replace("    mode: upsert", "    mode: upsert\n    reject_threshold: -0.1"), []string{"mesh.yaml:18:"}},
		{"rule field", replace(`      - {field: qty, rule: min, value: "1"}`, `      - {field: side, rule: enum, values: [BUY]}`), []string{"mesh.yaml:19:", "field 'side' not in schema"}},
		{"rule name", replace(`rule: min, value: "1"`, `rule: minimum, value: "1"`), []string{"mesh.yaml:19:", `unknown rule "minimum"`}},
		{"regex", replace(`{field: qty, rule: min, value: "1"}`, `{field: note, rule: regex, value: "a("}`), []string{"mesh.yaml:19:", "rule regex on note"}},
		{"min not a number", replace(`value: "1"`, `value: "one"`), []string{"mesh.yaml:19:", "not a number"}},
		{"min on string", replace(`{field: qty, rule: min, value: "1"}`, `{field: id, rule: max, value: "1"}`), []string{"mesh.yaml:19:", "applies to numbers"}},
		{"min on timestamp", replace(`{field: qty, rule: min, value: "1"}`, `{field: at, rule: min, value: "yesterday"}`), []string{"mesh.yaml:19:", "not a timestamp"}},
		{"max_length", replace(`{field: qty, rule: min, value: "1"}`, `{field: note, rule: max_length, value: "-1"}`), []string{"mesh.yaml:19:", "max_length"}},
		{"max_length on long", replace(`{field: qty, rule: min, value: "1"}`, `{field: qty, rule: max_length, value: "3"}`), []string{"mesh.yaml:19:", "applies to strings"}},
		{"enum without values", replace(`{field: qty, rule: min, value: "1"}`, `{field: id, rule: enum}`), []string{"mesh.yaml:19:", "needs values"}},
		{"required with value", replace(`{field: qty, rule: min, value: "1"}`, `{field: id, rule: required, value: "x"}`), []string{"mesh.yaml:19:", "takes no value"}},
		{"no schema", replace("    schema:", "    schema_x:"), []string{"mesh.yaml:8:"}},
		{"schema not a record", replace("      type: record", "      type: enum\n      symbols: [A]"), []string{"mesh.yaml:8:", "must be an Avro record"}},
		{"schema invalid", replace("        - {name: qty, type: long}", "        - {name: qty, type: longg}"), []string{"mesh.yaml:8:", "schema:"}},
		{"schema and file", replace("    schema:", "    schema_file: x.avsc\n    schema:"), []string{"mesh.yaml:8:", "not both"}},
		{"schema file missing", base + "  - name: other\n    table: raw.other\n    key_pattern: o/*\n    format: ndjson\n    schema_file: nope.avsc\n",
			[]string{"mesh.yaml:24:", "schema_file"}},
		{"fixed-width without columns", replace("    format: ndjson", "    format: fixed-width"), []string{"mesh.yaml:4:", "fixed_width columns"}},
		{"fixed_width on ndjson", replace("    format: ndjson", "    format: ndjson\n    options:\n      fixed_width: [{name: a, start: 1, width: 2}]"),
			[]string{"mesh.yaml:9:", "only applies to format fixed-width"}},
		{"fixed_width bad column", replace("    format: ndjson", "    format: fixed-width\n    options:\n      fixed_width: [{name: a, start: 0, width: 2}]"),
			[]string{"mesh.yaml:9:", "start >= 1"}},
		{"delimiter", replace("    format: ndjson", "    format: ndjson\n    options: {delimiter: ';;'}"), []string{"mesh.yaml:8:", "delimiter"}},
		{"layout", replace("    format: ndjson", "    format: ndjson\n    options: {timestamp_layouts: [nonsense]}"), []string{"mesh.yaml:8:", "timestamp layout"}},
		{"batch", replace("    mode: upsert", "    mode: upsert\n    batch: {max_files: -1}"), []string{"mesh.yaml:18:", "max_files"}},
		{"csv without header or columns", replace("    format: ndjson", "    format: csv"), []string{"mesh.yaml:7:", "Columns must name the fields"}},
		{"encoding", replace("    format: ndjson", "    format: csv\n    options: {header: true, encoding: ebcdic}"), []string{"mesh.yaml:8:", "options:", "ebcdic"}},
		{"allow_control_characters not a boolean", replace("    mode: upsert", "    mode: upsert\n    allow_control_characters: sometimes"), []string{"mesh.yaml:18:"}},
		{"allow_control_characters misspelt", replace("    mode: upsert", "    mode: upsert\n    allow_control_chars: true"), []string{"mesh.yaml:18:", `unknown field "allow_control_chars"`}},
		{"two documents", base + "---\ndomains: []\n", []string{"one YAML document"}},
		{"not a mapping", "- a\n", []string{"mesh.yaml:1:", "top level"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := mesh.Parse([]byte(tc.src), "mesh.yaml", "testdata")
			if err == nil {
				t.Fatalf("no error for\n%s", tc.src)
			}
			if !errors.Is(err, mesh.ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			}
			var me *mesh.Error
			if !errors.As(err, &me) || me.File != "mesh.yaml" {
				t.Errorf("error is not a *mesh.Error: %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestParseCollectsAllErrors(t *testing.T) {
	src := strings.NewReplacer(
		"    table: raw.trades", "    table: eq.trades",
		"    primary_key: [id]", "    primary_key: [pk]",
		"    mode: upsert", "    mode: merge",
	).Replace(base)
	_, err := mesh.Parse([]byte(src), "mesh.yaml", ".")
	if err == nil {
		t.Fatal("no error")
	}
	lines := strings.Split(err.Error(), "\n")
	want := []string{"mesh.yaml:5:", "mesh.yaml:16:", "mesh.yaml:17:"}
	if len(lines) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(lines), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("error %d = %q, want prefix %q", i, lines[i], w)
		}
	}
}

func TestCustomFormats(t *testing.T) {
	src := strings.Replace(base, "format: ndjson", "format: swift-mt940", 1)
	if _, err := mesh.Parse([]byte(src), "mesh.yaml", "."); err == nil {
		t.Error("custom format accepted without WithFormats")
	}
	if _, err := mesh.Parse([]byte(src), "mesh.yaml", ".", mesh.WithFormats("swift-mt940")); err != nil {
		t.Errorf("WithFormats: %v", err)
	}
}

func TestInlineJSONSchema(t *testing.T) {
	src := `domains: [{name: raw}]
feeds:
  - name: a
    table: raw.a
    key_pattern: "a/*"
    format: ndjson
    schema: '{"type":"record","name":"A","fields":[{"name":"x","type":"long","doc":"<x> & y"}]}'
`
	m, err := mesh.Parse([]byte(src), "mesh.yaml", ".")
	if err != nil {
		t.Fatal(err)
	}
	want := `{"fields":[{"doc":"<x> & y","name":"x","type":"long"}],"name":"A","type":"record"}`
	if m.Feeds[0].Schema != want {
		t.Errorf("Schema = %s, want %s", m.Feeds[0].Schema, want)
	}
}

func TestFeedFor(t *testing.T) {
	feeds := []struct{ name, pattern string }{
		{"special", "trades/special.csv"},
		{"trades", "trades/*.csv"},
		{"deep", "archive/**/*.csv"},
		{"any-json", "**/*.json"},
		{"exact-dir", "landing/**"},
		{"mid", "a/**/b/*.txt"},
	}
	var m mesh.Mesh
	for _, f := range feeds {
		m.Feeds = append(m.Feeds, mesh.Feed{Name: f.name, KeyPattern: f.pattern})
	}
	for _, tc := range []struct{ key, want string }{
		{"trades/special.csv", "special"}, // declaration order wins
		{"trades/t1.csv", "trades"},
		{"trades/sub/t1.csv", ""}, // * does not cross /
		{"trades/t1.CSV", ""},
		{"archive/t.csv", "deep"}, // ** matches zero segments
		{"archive/2026/11/t.csv", "deep"},
		{"archive/2026/11/t.txt", ""},
		{"x.json", "any-json"},
		{"a/b/c/x.json", "any-json"},
		{"landing", "exact-dir"},
		{"landing/x/y", "exact-dir"},
		{"a/b/x.txt", "mid"},
		{"a/x/y/b/x.txt", "mid"},
		{"a/x/y/c/x.txt", ""},
		{"", ""},
	} {
		f, ok := m.FeedFor(tc.key)
		got := ""
		if ok {
			got = f.Name
		}
		if got != tc.want {
			t.Errorf("FeedFor(%q) = %q, want %q", tc.key, got, tc.want)
		}
	}
}

var fixedTime = time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC)

func TestDefinitions(t *testing.T) {
	load := func(src string) *mesh.Mesh {
		t.Helper()
		m, err := mesh.Parse([]byte(src), "mesh.yaml", ".")
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	at := time.Date(2026, 11, 3, 10, 0, 0, 123456789, time.FixedZone("x", 3600))
	a := load(base).Definitions(at)
	b := load(base).Definitions(at.Add(time.Hour))
	if len(a) != 3 {
		t.Fatalf("got %d events, want 3 (the domain, the feed, its product)", len(a))
	}
	if pp, ok := a[2].(*events.ProductPublished); !ok || pp.Product != "raw.trades" || pp.Kind != mesh.KindSourceAligned ||
		pp.OutputSchema == nil || pp.Mode != mesh.ModeUpsert {
		t.Errorf("the feed's product: %+v", a[2])
	}
	dd, ok1 := a[0].(*events.DomainDefined)
	fd, ok2 := a[1].(*events.FeedDefined)
	if !ok1 || !ok2 {
		t.Fatalf("events %T, %T", a[0], a[1])
	}
	if dd.DomainName != "raw" || dd.Envelope.Domain != events.DomainCentral || len(dd.DefinitionHash) != 64 {
		t.Errorf("DomainDefined = %+v", dd)
	}
	if want := events.DeriveID("definition", "domain", "raw", dd.DefinitionHash); dd.Envelope.EventID != want {
		t.Errorf("domain event id %s, want %s", dd.Envelope.EventID, want)
	}
	if want := events.DeriveID("definition", "feed", "trades", fd.DefinitionHash); fd.Envelope.EventID != want {
		t.Errorf("feed event id %s, want %s", fd.Envelope.EventID, want)
	}
	if fd.Feed != "trades" || fd.Table != "raw.trades" || fd.Envelope.Domain != "raw" || *fd.BatchMaxBytes != 1<<30 ||
		len(fd.Rules) != 1 || *fd.Rules[0].Arg != "1" || fd.OrderingField != nil {
		t.Errorf("FeedDefined = %+v", fd)
	}
	if !fd.Envelope.OccurredAt.Equal(at.Truncate(time.Microsecond)) || fd.Envelope.OccurredAt.Location() != time.UTC {
		t.Errorf("OccurredAt = %v", fd.Envelope.OccurredAt)
	}
	// Same mesh, other time: same ids and hashes.
	for i := range a {
		if a[i].Meta().EventID != b[i].Meta().EventID || a[i].Meta().CorrelationID != b[i].Meta().CorrelationID {
			t.Errorf("event %d: ids differ across runs", i)
		}
	}
	// One change: only the feed's hash and id change.
	c := load(strings.Replace(base, `value: "1"`, `value: "2"`, 1)).Definitions(at)
	if c[0].Meta().EventID != a[0].Meta().EventID {
		t.Error("domain id changed though the domain did not")
	}
	if c[1].(*events.FeedDefined).DefinitionHash == fd.DefinitionHash || c[1].Meta().EventID == fd.Envelope.EventID {
		t.Error("feed hash or id unchanged after a rule changed")
	}

	// The events encode and decode with the real codec.
	codec, err := events.NewCodec(&fakeRegistry{})
	if err != nil {
		t.Fatal(err)
	}
	if err := codec.Register(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, ev := range a {
		rec, err := codec.Record(ev)
		if err != nil {
			t.Fatalf("Record(%s): %v", ev.Name(), err)
		}
		back, err := codec.Decode(context.Background(), rec.Value)
		if err != nil {
			t.Fatalf("Decode(%s): %v", ev.Name(), err)
		}
		if !reflect.DeepEqual(back, ev) {
			t.Errorf("round trip of %s:\n got %+v\nwant %+v", ev.Name(), back, ev)
		}
	}
}

// fakeRegistry is a test double of events.Registry: an in-memory list of
// schema texts, with no compatibility checks.
type fakeRegistry struct {
	mu      sync.Mutex
	schemas []string
}

var _ events.Registry = (*fakeRegistry)(nil)

func (r *fakeRegistry) Register(_ context.Context, _, schema string) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, s := range r.schemas {
		if s == schema {
			return i + 1, nil
		}
	}
	r.schemas = append(r.schemas, schema)
	return len(r.schemas), nil
}

func (r *fakeRegistry) SchemaByID(_ context.Context, id int) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if id < 1 || id > len(r.schemas) {
		return "", events.ErrUnknownSchema
	}
	return r.schemas[id-1], nil
}

func TestDiff(t *testing.T) {
	m := func(domains []string, feeds map[string]string) *mesh.Mesh {
		out := &mesh.Mesh{}
		for _, d := range domains {
			out.Domains = append(out.Domains, mesh.Domain{Name: d})
		}
		for name, pattern := range feeds {
			out.Feeds = append(out.Feeds, mesh.Feed{Name: name, KeyPattern: pattern})
		}
		return out
	}
	old := m([]string{"raw", "eq"}, map[string]string{"a": "a/*", "b": "b/*", "c": "c/*"})
	new := m([]string{"raw", "fi"}, map[string]string{"a": "a/*", "b": "b/**", "d": "d/*"})
	want := []mesh.Change{
		{Kind: "domain", Name: "eq", Op: "remove"},
		{Kind: "domain", Name: "fi", Op: "add"},
		{Kind: "feed", Name: "b", Op: "change"},
		{Kind: "feed", Name: "c", Op: "remove"},
		{Kind: "feed", Name: "d", Op: "add"},
	}
	if got := mesh.Diff(old, new); !reflect.DeepEqual(got, want) {
		t.Errorf("Diff = %+v\nwant %+v", got, want)
	}
	if got := mesh.Diff(old, old); len(got) != 0 {
		t.Errorf("Diff(old, old) = %+v", got)
	}
	if got := mesh.Diff(nil, m([]string{"raw"}, nil)); !reflect.DeepEqual(got, []mesh.Change{{Kind: "domain", Name: "raw", Op: "add"}}) {
		t.Errorf("Diff(nil, m) = %+v", got)
	}
}

func TestFormats(t *testing.T) {
	o := mesh.FormatOptions{
		Delimiter: ";", Header: true, Columns: []string{"a", "b"}, RecordPath: "data",
		FixedWidth: []mesh.Column{{Name: "a", Start: 1, Width: 2}}, Encoding: "latin1", Comment: "§",
		TrimSpace: true, MaxRecordBytes: 10, MaxRawBytes: -1, TimestampLayouts: []string{"x"},
	}
	want := formats.Options{
		Delimiter: ';', Header: true, Columns: []string{"a", "b"}, RecordPath: "data",
		FixedWidth: []formats.Column{{Name: "a", Start: 1, Width: 2}}, Encoding: "latin1", Comment: '§',
		TrimSpace: true, MaxRecordBytes: 10, MaxRawBytes: -1,
	}
	got := o.Formats()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Formats() = %+v\nwant %+v", got, want)
	}
	got.Columns[0] = "z"
	if o.Columns[0] != "a" {
		t.Error("Formats() shares Columns")
	}
	if z := (&mesh.FormatOptions{}).Formats(); z.Delimiter != 0 || z.Comment != 0 || z.FixedWidth != nil {
		t.Errorf("zero FormatOptions: %+v", z)
	}
}

// TestEncodings: every encoding internal/formats reads is a valid
// options.encoding, UTF-16 ones included.
func TestEncodings(t *testing.T) {
	for _, format := range []string{"csv", "ndjson", "json", "xml"} {
		for _, enc := range []string{"utf-8", "latin1", "windows-1252", "utf-16", "utf-16le", "UTF-16BE"} {
			src := strings.Replace(base, "    format: ndjson", "    format: "+format+"\n    options: {header: true, encoding: "+enc+"}", 1)
			m, err := mesh.Parse([]byte(src), "mesh.yaml", ".")
			if err != nil {
				t.Errorf("%s with encoding %s: %v", format, enc, err)
				continue
			}
			if got := m.Feeds[0].Options.Formats().Encoding; got != enc {
				t.Errorf("%s: Formats().Encoding = %q, want %q", format, got, enc)
			}
		}
	}
}

func TestAllowControlCharacters(t *testing.T) {
	parse := func(src string) *mesh.Feed {
		t.Helper()
		m, err := mesh.Parse([]byte(src), "mesh.yaml", ".")
		if err != nil {
			t.Fatal(err)
		}
		return &m.Feeds[0]
	}
	off := parse(base)
	on := parse(strings.Replace(base, "    mode: upsert", "    mode: upsert\n    allow_control_characters: true", 1))
	explicitOff := parse(strings.Replace(base, "    mode: upsert", "    mode: upsert\n    allow_control_characters: false", 1))
	if off.AllowControlCharacters || !on.AllowControlCharacters || explicitOff.AllowControlCharacters {
		t.Fatalf("AllowControlCharacters: default %v, true %v, false %v", off.AllowControlCharacters, on.AllowControlCharacters, explicitOff.AllowControlCharacters)
	}
	if on.DefinitionHash() == off.DefinitionHash() {
		t.Error("allow_control_characters: true did not change the definition hash")
	}
	if explicitOff.DefinitionHash() != off.DefinitionHash() {
		t.Error("allow_control_characters: false changed the definition hash")
	}
}

// TestDefinitionHashesStable pins the hashes of the example feeds: a field
// added to the canonical encoding without omitempty would change them, and
// so plan a "change" of every feed on the next apply.
func TestDefinitionHashesStable(t *testing.T) {
	m, err := mesh.Load("testdata/mesh.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"trades":    "48d72303e0656d3d9e0012036edfbcc48ef49b34640fe691deed8cf7a79045ec",
		"positions": "456c92afc82bac6b423b77f2c5b74248bcb4547e27fda55fc25a3727de7b4951",
	}
	for _, f := range m.Feeds {
		if got := f.DefinitionHash(); got != want[f.Name] {
			t.Errorf("feed %s: DefinitionHash %s, want %s", f.Name, got, want[f.Name])
		}
	}
}
