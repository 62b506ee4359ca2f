package mesh_test

import (
	"strings"
	"testing"
	"time"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/mesh"
)

// productsMesh is a valid mesh with products, grants and subscriptions;
// TestProductErrors replaces lines of it and asserts line numbers.
const productsMesh = `domains:
  - name: raw
  - name: equities
  - name: wealth
feeds:
  - name: trades
    table: raw.trades
    key_pattern: "trades/*.csv"
    format: csv
    options: {header: true}
    schema: {type: record, name: T, fields: [{name: id, type: string}, {name: qty, type: long}]}
    visibility: enterprise
products:
  - name: positions
    domain: equities
    description: Net positions per account
    inputs: [raw.trades, topic:upstream.orders]
    transform: SELECT id, sum(qty) AS qty FROM trades GROUP BY id
    output:
      schema: {type: record, name: P, fields: [{name: id, type: string}, {name: qty, type: long}]}
      primary_key: [id]
      mode: upsert
    visibility: enterprise
    freshness: 1h
    max_input_age: 1d
    retry: {max_attempts: 4, backoff: 30s}
    owners: [eq-data@example.com]
    contacts: ["#eq-data"]
    tags: [pii-free]
  - name: private
    domain: equities
    inputs: [equities.positions]
    transform: SELECT * FROM positions
    output:
      schema: {type: record, name: Q, fields: [{name: id, type: string}]}
grants:
  - product: equities.positions
    to: wealth
    purpose: client reporting
    expires: 2027-06-30T00:00:00Z
subscriptions:
  - domain: wealth
    name: positions
    pattern:
      event: [ProductRefreshed]
      product: [{prefix: "equities."}]
      rows_total: [{numeric: [">", 0]}]
`

func TestProductSchedule(t *testing.T) {
	for _, c := range []struct{ trigger, want string }{
		{"", mesh.TriggerSchedule},
		{"    trigger: (raw.trades or schedule)\n", "(raw.trades or schedule)"},
		{"    trigger: raw.trades and schedule\n", "raw.trades and schedule"},
	} {
		m, err := mesh.Parse([]byte(strings.Replace(productsMesh, "    freshness: 1h\n", "    freshness: 1h\n"+c.trigger+"    schedule: '*/15 * * * *'\n", 1)), "mesh.yaml", ".")
		if err != nil {
			t.Fatalf("%q: %v", c.trigger, err)
		}
		if p := m.Products[1]; p.Trigger != c.want || p.Schedule != "*/15 * * * *" {
			t.Errorf("%q: trigger %q schedule %q, want %q", c.trigger, p.Trigger, p.Schedule, c.want)
		}
	}
}

func TestProductEngine(t *testing.T) {
	text := strings.Replace(productsMesh, "    freshness: 1h\n", "    freshness: 1h\n    engine: spark\n", 1) +
		"engines:\n  - name: spark\n    command: [spark-submit, --master, yarn, run.py]\n    dir: /opt/jobs\n"
	m, err := mesh.Parse([]byte(text), "mesh.yaml", ".")
	if err != nil {
		t.Fatal(err)
	}
	e, ok := m.Engine("spark")
	if !ok || strings.Join(e.Command, " ") != "spark-submit --master yarn run.py" || e.Dir != "/opt/jobs" || m.Products[1].Engine != "spark" {
		t.Errorf("engine %+v %v, product engine %q", e, ok, m.Products[1].Engine)
	}
	plain, err := mesh.Parse([]byte(productsMesh), "mesh.yaml", ".")
	if err != nil {
		t.Fatal(err)
	}
	if m.Products[1].DefinitionHash() == plain.Products[1].DefinitionHash() {
		t.Error("the engine is not part of the definition hash")
	}
}

func TestProducts(t *testing.T) {
	m, err := mesh.Parse([]byte(productsMesh), "mesh.yaml", ".")
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Products) != 3 {
		t.Fatalf("%d products, want the feed's and two: %+v", len(m.Products), m.Products)
	}
	raw, pos, priv := m.Products[0], m.Products[1], m.Products[2]
	if raw.Name != "raw.trades" || raw.Visibility != mesh.VisibilityEnterprise || raw.Kind != mesh.KindSourceAligned {
		t.Errorf("feed product %+v", raw)
	}
	if pos.Name != "equities.positions" || pos.Kind != mesh.KindConsumerAligned || pos.Output.Table != "equities.positions" ||
		pos.Output.Mode != mesh.ModeUpsert || pos.Freshness != time.Hour || pos.MaxInputAge != 24*time.Hour ||
		pos.Retry != (mesh.RetryPolicy{MaxAttempts: 4, Backoff: 30 * time.Second}) || pos.Trigger != mesh.TriggerAll {
		t.Errorf("positions %+v", pos)
	}
	if len(pos.Inputs) != 2 || pos.Inputs[0] != (mesh.Input{Name: "raw.trades", Kind: mesh.InputProduct}) ||
		pos.Inputs[1] != (mesh.Input{Name: "upstream.orders", Kind: mesh.InputTopic}) {
		t.Errorf("inputs %+v", pos.Inputs)
	}
	if priv.Visibility != mesh.VisibilityDomain || priv.Retry.MaxAttempts != mesh.DefaultRetryAttempts {
		t.Errorf("private %+v", priv)
	}
	if len(m.Grants) != 1 || m.Grants[0].Owner != "equities" || m.Grants[0].Grantee != "wealth" ||
		!m.Grants[0].Expires.Equal(time.Date(2027, 6, 30, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("grants %+v", m.Grants)
	}
	if len(m.Subscriptions) != 1 || m.Subscriptions[0].ID() != "wealth/positions" {
		t.Fatalf("subscriptions %+v", m.Subscriptions)
	}
	p := m.Subscriptions[0].Pattern
	if !p.Match(map[string]any{"event": "ProductRefreshed", "product": "equities.positions", "rows_total": 3.0}) ||
		p.Match(map[string]any{"event": "ProductRefreshed", "product": "raw.trades", "rows_total": 3.0}) {
		t.Error("the subscription's pattern does not match as written")
	}
}

func TestProductErrors(t *testing.T) {
	replace := func(old, new string) string {
		if !strings.Contains(productsMesh, old) {
			t.Fatalf("%q not in the mesh", old)
		}
		return strings.Replace(productsMesh, old, new, 1)
	}
	for _, c := range []struct{ name, mesh, want string }{
		{"unknown domain", replace("    domain: equities\n    description", "    domain: nowhere\n    description"), `mesh.yaml:15: product nowhere.positions: domain "nowhere" is not declared`},
		{"unknown input", replace("inputs: [raw.trades, topic:upstream.orders]", "inputs: [raw.nope]"), `mesh.yaml:17: product equities.positions: input "raw.nope" is not a table, a product or a topic:NAME of the mesh`},
		{"trigger expression", replace("    freshness: 1h\n", "    freshness: 1h\n    trigger: raw.trades and raw.nope\n"), `product equities.positions: trigger: invalid policy: "raw.trades and raw.nope": "raw.nope" is not an input`},
		{"trigger schedule without one", replace("    freshness: 1h\n", "    freshness: 1h\n    trigger: raw.trades or schedule\n"), `names schedule but the product has none`},
		{"bad cron", replace("    freshness: 1h\n", "    freshness: 1h\n    schedule: 61 * * * *\n"), `product equities.positions: trigger: invalid policy: schedule "61 * * * *"`},
		{"schedule never used", replace("    freshness: 1h\n", "    freshness: 1h\n    trigger: all\n    schedule: '@hourly'\n"), `the product has a schedule but trigger all never uses it`},
		{"schedule not named", replace("    freshness: 1h\n", "    freshness: 1h\n    trigger: raw.trades\n    schedule: '@hourly'\n"), `the product has a schedule but trigger "raw.trades" never names it`},
		{"undeclared engine", replace("    freshness: 1h\n", "    freshness: 1h\n    engine: spark\n"), `product equities.positions: engine "spark" is not declared under engines`},
		{"engine named duckdb", productsMesh + "engines:\n  - {name: duckdb, command: [duckdb]}\n", `engine duckdb: duckdb is the embedded engine`},
		{"engine without a command", productsMesh + "engines:\n  - {name: spark}\n", `engine spark: an engine needs a command`},
		{"no transform", replace("    transform: SELECT id, sum(qty) AS qty FROM trades GROUP BY id\n", "    kind: consumer-aligned\n"), "a consumer-aligned product needs a transform"},
		{"no contract", replace("      schema: {type: record, name: P, fields: [{name: id, type: string}, {name: qty, type: long}]}\n", ""), "output schema is required"},
		{"key not in schema", replace("      primary_key: [id]", "      primary_key: [nope]"), "mesh.yaml:21: product equities.positions: output: primary_key field 'nope' not in schema"},
		{"bad visibility", replace("    visibility: enterprise\n    freshness", "    visibility: everyone\n    freshness"), `mesh.yaml:23: product equities.positions: visibility "everyone"`},
		{"bad duration", replace("freshness: 1h", "freshness: soon"), `mesh.yaml:24: product equities.positions: freshness "soon"`},
		{"grant of a private product", replace("  - product: equities.positions\n", "  - product: equities.private\n"), "mesh.yaml:37: grant of equities.private to wealth: product equities.private is visible to its domain only"},
		{"grant to the owner", replace("    to: wealth", "    to: equities"), "mesh.yaml:38: grant of equities.positions to equities: domain equities owns equities.positions"},
		{"bad expiry", replace("expires: 2027-06-30T00:00:00Z", "expires: tomorrow"), `mesh.yaml:40: grant of equities.positions to wealth: expires "tomorrow"`},
		{"unknown operator", replace(`product: [{prefix: "equities."}]`, `product: [{prefixx: "equities."}]`), "mesh.yaml:46: subscription wealth/positions: pattern: pattern: product[0].prefixx"},
		{"bad numeric", replace(`rows_total: [{numeric: [">", 0]}]`, `rows_total: [{numeric: [">", "zero"]}]`), "mesh.yaml:47: subscription wealth/positions: pattern: pattern: rows_total[0].numeric[1]"},
		{"unknown key", replace("    tags: [pii-free]", "    tagz: [pii-free]"), "mesh.yaml:29"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := mesh.Parse([]byte(c.mesh), "mesh.yaml", ".")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v\nwant it to contain %q", err, c.want)
			}
		})
	}
}

func TestProductDefinitions(t *testing.T) {
	m, err := mesh.Parse([]byte(productsMesh), "mesh.yaml", ".")
	if err != nil {
		t.Fatal(err)
	}
	evs := m.Definitions(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	count := map[string]int{}
	for _, ev := range evs {
		count[ev.Name()]++
		switch e := ev.(type) {
		case *events.ProductPublished:
			if e.Product == "equities.positions" && (e.OutputSchema == nil || *e.RetryMaxAttempts != 4 || *e.RetryBackoffSeconds != 30 ||
				len(e.Inputs) != 2 || e.Inputs[1] != "topic:upstream.orders" || *e.FreshnessSeconds != 3600 || e.Envelope.Domain != "central") {
				t.Errorf("ProductPublished %+v", e)
			}
		case *events.ShareGranted:
			if e.GrantID != events.DeriveID("grant", "equities.positions", "wealth") || e.OwnerDomain != "equities" ||
				e.ExpiresAt == nil || e.DefinitionHash == "" {
				t.Errorf("ShareGranted %+v", e)
			}
		case *events.SubscriptionDefined:
			if e.Subscription != "wealth/positions" || e.SubscriberDomain != "wealth" || !strings.Contains(e.Pattern, `"prefix":"equities."`) {
				t.Errorf("SubscriptionDefined %+v", e)
			}
		}
	}
	if count[events.NameProductPublished] != 3 || count[events.NameShareGranted] != 1 || count[events.NameSubscriptionDefined] != 1 {
		t.Errorf("definition events %v", count)
	}
	// A changed pattern changes the subscription's hash only.
	m2, err := mesh.Parse([]byte(strings.Replace(productsMesh, `">", 0`, `">", 1`, 1)), "mesh.yaml", ".")
	if err != nil {
		t.Fatal(err)
	}
	if m.Subscriptions[0].DefinitionHash() == m2.Subscriptions[0].DefinitionHash() ||
		m.Products[1].DefinitionHash() != m2.Products[1].DefinitionHash() {
		t.Error("hashes do not follow the definitions")
	}
}

// A feed can read an upstream topic instead of landed files: it is staged
// as NDJSON, never matches a landed key, and its definition carries the
// topic.
func TestTopicFeed(t *testing.T) {
	src := strings.Replace(productsMesh, "    visibility: enterprise\nproducts:", `    visibility: enterprise
  - name: orders
    table: raw.orders
    topic: upstream.orders
    schema: {type: record, name: O, fields: [{name: id, type: string}, {name: qty, type: long}]}
    primary_key: [id]
    mode: upsert
products:`, 1)
	m, err := mesh.Parse([]byte(src), "mesh.yaml", ".")
	if err != nil {
		t.Fatal(err)
	}
	f, ok := m.Feed("orders")
	if !ok || f.Topic != "upstream.orders" || f.Format != mesh.FormatNDJSON || f.KeyPattern != "" {
		t.Fatalf("feed orders: %+v", f)
	}
	if g, ok := m.FeedFor("upstream.orders"); ok {
		t.Errorf("a landed key matched the topic feed %s", g.Name)
	}
	if why := m.Unmatched("x.csv"); strings.Contains(why, "orders") {
		t.Errorf("Unmatched lists the topic feed: %s", why)
	}
	var found bool
	for _, ev := range m.Definitions(time.Unix(0, 0)) {
		if fd, ok := ev.(*events.FeedDefined); ok && fd.Feed == "orders" {
			found = true
			if fd.Topic == nil || *fd.Topic != "upstream.orders" || fd.Format != mesh.FormatNDJSON {
				t.Errorf("FeedDefined: topic %v, format %s", fd.Topic, fd.Format)
			}
		}
	}
	if !found {
		t.Error("no FeedDefined for orders")
	}
	topic := *f
	topic.Topic = "upstream.other"
	if topic.DefinitionHash() == f.DefinitionHash() {
		t.Error("a changed topic keeps the definition hash")
	}
}
