package catalog_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkatest"
	"github.com/logmesh/logmesh/mesh"
	"github.com/logmesh/logmesh/processors/catalog"
	"github.com/logmesh/logmesh/processors/proc"
	"github.com/logmesh/logmesh/tables"
)

// The mesh: domain own has an enterprise-visible product (pub) and a
// private one (priv), each a table with a version. Domain a holds a grant
// of pub, b held one that is revoked, c one that expired, d none. Every
// principal has a token "tok-<principal>".
const authMesh = `domains:
  - name: own
  - name: a
  - name: b
  - name: c
  - name: d
products:
  - {name: pub, domain: own, visibility: enterprise, inputs: ["topic:t"], transform: "SELECT 1", output: {schema: {type: record, name: P, fields: [{name: x, type: string}]}}}
  - {name: priv, domain: own, inputs: ["topic:t"], transform: "SELECT 1", output: {schema: {type: record, name: Q, fields: [{name: x, type: string}]}}}
grants:
  - {product: own.pub, to: a}
  - {product: own.pub, to: b}
  - {product: own.pub, to: c, expires: 2026-12-01T12:00:00Z}
`

var (
	t0       = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	judgedAt = time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC) // c's grant has expired
)

var principals = []string{"own", "a", "b", "c", "d", catalog.Governance, catalog.Anonymous}

type rig struct {
	t       *testing.T
	cluster *kafkatest.Cluster
	codec   *events.Codec
	names   events.Topics
	url     string
	srv     *catalog.Server
	wh      string
}

func newRig(t *testing.T, rules catalog.Rules) *rig {
	t.Helper()
	r := newRigMesh(t, rules, authMesh, func(r *rig) {
		r.produce(&events.ShareRevoked{Envelope: events.Envelope{EventID: "revoke-b", OccurredAt: t0.Add(time.Minute), Domain: events.DomainCentral},
			GrantID: events.DeriveID("grant", "own.pub", "b"), Product: "own.pub", OwnerDomain: "own", GranteeDomain: "b", RevokedBy: "test"})
		r.commit("own.pub", 1, t0.Add(2*time.Minute))
		r.commit("own.priv", 1, t0.Add(2*time.Minute))
	})
	return r
}

// newRigMesh is newRig on the mesh meshYAML, with more facts produced by
// more before the catalog starts.
func newRigMesh(t *testing.T, rules catalog.Rules, meshYAML string, more func(*rig)) *rig {
	t.Helper()
	ctx := context.Background()
	c := kafkatest.New(t)
	codec, _ := kafkatest.Codec(t)
	if err := codec.Register(ctx); err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, cluster: c, codec: codec, names: events.Topics{Prefix: kafkatest.Unique("cat")}, wh: t.TempDir()}
	if err := c.Conn().EnsureTopics(ctx, r.names.Specs(1, "own", "a", "b", "c", "d")...); err != nil {
		t.Fatal(err)
	}
	m, err := mesh.Parse([]byte(meshYAML), "mesh.yaml", ".")
	if err != nil {
		t.Fatal(err)
	}
	r.produce(m.Definitions(t0)...)
	more(r)
	wh, err := tables.OpenWarehouse(ctx, r.wh, nil)
	if err != nil {
		t.Fatal(err)
	}
	tokens := catalog.Tokens{}
	for _, p := range principals[:len(principals)-1] {
		tokens[catalog.HashToken("tok-"+p)] = p
	}
	r.srv, err = catalog.New(proc.Config{Conn: c.Conn(), Topics: r.names, Clock: func() time.Time { return judgedAt }},
		codec, wh, catalog.WithTokens(tokens), catalog.WithRules(rules))
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(r.srv.Handler())
	t.Cleanup(hs.Close)
	r.url = hs.URL
	return r
}

func (r *rig) produce(evs ...events.Event) {
	r.t.Helper()
	cl := r.cluster.Client(r.t)
	for _, ev := range evs {
		rec, err := r.codec.Record(ev)
		if err != nil {
			r.t.Fatal(err)
		}
		rec.Topic = r.names.For(ev)
		if err := cl.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
			r.t.Fatal(err)
		}
	}
}

// commit writes a metadata file for table's version and its TableCommitted.
func (r *rig) commit(table string, version int64, at time.Time) {
	r.t.Helper()
	dom, name, _ := strings.Cut(table, ".")
	path := filepath.Join(r.wh, dom, name, "metadata", fmt.Sprintf("v%d.metadata.json", version))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(fmt.Sprintf(`{"format-version":2,"marker":"secret-%s-%d"}`, table, version)), 0o644); err != nil {
		r.t.Fatal(err)
	}
	r.produce(&events.TableCommitted{Envelope: events.Envelope{EventID: events.DeriveID("tc", table, fmt.Sprint(version)), OccurredAt: at, Domain: dom},
		Table: table, Version: version, MetadataLocation: "file://" + path, SnapshotID: version * 100, Operation: "append", RowsTotal: 3})
}

// call makes a request as principal and returns the status and body.
func (r *rig) call(principal, method, path string, body string) (int, string, http.Header) {
	r.t.Helper()
	req, err := http.NewRequest(method, r.url+path, strings.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	if principal != catalog.Anonymous {
		req.Header.Set("Authorization", "Bearer tok-"+principal)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// denied returns the AccessDenied facts on the central bus.
func (r *rig) denied() []*events.AccessDenied {
	r.t.Helper()
	var out []*events.AccessDenied
	for _, rec := range kafkatest.ReadAll(r.t, r.cluster.Brokers, r.names.Central()) {
		ev, err := r.codec.Decode(context.Background(), rec.Value)
		if err != nil {
			r.t.Fatal(err)
		}
		if d, ok := ev.(*events.AccessDenied); ok {
			out = append(out, d)
		}
	}
	return out
}

// The matrix: every principal × product (visibility, grant state) ×
// operation, each with the status it must get, written out rather than
// derived from the rules under test. A denied read must not carry the
// table's metadata, and every 401 and 403 is an AccessDenied on the log.
func TestAuthorizationMatrix(t *testing.T) {
	r := newRig(t, catalog.Rules{})
	read := map[string]map[string]int{ // product → principal → status of reading its table
		"own.pub":  {"own": 200, "a": 200, "b": 403, "c": 403, "d": 403, "governance": 200, "anonymous": 401},
		"own.priv": {"own": 200, "a": 403, "b": 403, "c": 403, "d": 403, "governance": 200, "anonymous": 401},
	}
	see := map[string]map[string]int{ // product → principal → status of its definition
		"own.pub":  {"own": 200, "a": 200, "b": 200, "c": 200, "d": 200, "governance": 200, "anonymous": 401},
		"own.priv": {"own": 200, "a": 403, "b": 403, "c": 403, "d": 403, "governance": 200, "anonymous": 401},
	}
	denials := 0
	count := func(status int) {
		if status == 401 || status == 403 {
			denials++
		}
	}
	for product, byPrincipal := range read {
		dom, name, _ := strings.Cut(product, ".")
		secret := fmt.Sprintf("secret-%s-1", product)
		for _, p := range principals {
			want := byPrincipal[p]
			for _, c := range []struct{ what, path string }{
				{"catalog table", "/v1/tables/" + product},
				{"iceberg load", "/iceberg/v1/namespaces/" + dom + "/tables/" + name},
			} {
				status, body, _ := r.call(p, "GET", c.path, "")
				count(status)
				if status != want {
					t.Errorf("%s %s as %s: %d, want %d: %s", c.what, product, p, status, want, body)
				}
				if want != 200 && (strings.Contains(body, secret) || strings.Contains(body, "metadata")) && c.what == "iceberg load" {
					t.Errorf("%s %s as %s: a denied answer carries the metadata: %s", c.what, product, p, body)
				}
				if want == 200 && c.what == "iceberg load" && !strings.Contains(body, secret) {
					t.Errorf("%s %s as %s: the metadata is missing: %s", c.what, product, p, body)
				}
				if want == 403 && c.what == "iceberg load" && !strings.Contains(body, `"ForbiddenException"`) {
					t.Errorf("%s %s as %s: not Iceberg's error shape: %s", c.what, product, p, body)
				}
			}
			// Lists show exactly the readable tables.
			for _, c := range []struct{ what, path, needle string }{
				{"catalog tables", "/v1/tables", `"table": "` + product + `"`},
				{"iceberg tables", "/iceberg/v1/namespaces/" + dom + "/tables", `"name": "` + name + `"`},
			} {
				status, body, _ := r.call(p, "GET", c.path, "")
				count(status)
				listed := status == 200 && strings.Contains(body, c.needle)
				if listed != (want == 200) {
					t.Errorf("%s as %s: %d, lists %s: %v, want %v: %s", c.what, p, status, product, listed, want == 200, body)
				}
			}
			// The definition, and the product list.
			status, body, _ := r.call(p, "GET", "/v1/products/"+product, "")
			count(status)
			if want := see[product][p]; status != want {
				t.Errorf("product %s as %s: %d, want %d: %s", product, p, status, want, body)
			}
			if status == 200 && strings.Contains(body, `"readable": true`) != (byPrincipal[p] == 200) {
				t.Errorf("product %s as %s: readable wrong: %s", product, p, body)
			}
			if status == 200 && byPrincipal[p] != 200 && strings.Contains(body, "metadata_location") {
				t.Errorf("product %s as %s shows the table's location: %s", product, p, body)
			}
			status, body, _ = r.call(p, "GET", "/v1/products", "")
			count(status)
			if listed := status == 200 && strings.Contains(body, `"name": "`+product+`"`); listed != (see[product][p] == 200) {
				t.Errorf("products as %s: lists %s %v: %s", p, product, listed, body)
			}
		}
	}
	// Grants and revokes: governance only (owners may not with these rules).
	for _, c := range []struct {
		p, method, path, body string
		want                  int
	}{
		{"own", "POST", "/v1/grants", `{"product": "own.pub", "grantee": "d"}`, 403},
		{"a", "POST", "/v1/grants", `{"product": "own.pub", "grantee": "d"}`, 403},
		{"d", "POST", "/v1/grants", `{"product": "own.pub", "grantee": "d"}`, 403},
		{"anonymous", "POST", "/v1/grants", `{"product": "own.pub", "grantee": "d"}`, 401},
		{"governance", "POST", "/v1/grants", `{"product": "own.priv", "grantee": "d"}`, 400}, // private
		{"governance", "POST", "/v1/grants", `{"product": "own.pub", "grantee": "own"}`, 400},
		{"governance", "POST", "/v1/grants", `{"product": "own.pub", "grantee": "zz"}`, 404},
		{"governance", "POST", "/v1/grants", `{"product": "own.pub", "grantee": "a"}`, 409},
		{"governance", "POST", "/v1/grants", `{"product": "own.pub", "grante": "d"}`, 400},
		{"governance", "POST", "/v1/grants", `{"product": "own.pub", "grantee": "d", "purpose": "audit"}`, 201},
		{"d", "GET", "/v1/tables/own.pub", "", 200},
		{"own", "DELETE", "/v1/grants/own.pub/d", "", 403},
		{"a", "DELETE", "/v1/grants/own.pub/d", "", 403},
		{"governance", "DELETE", "/v1/grants/own.pub/d", "", 200},
		{"governance", "DELETE", "/v1/grants/own.pub/d", "", 404},
		{"d", "GET", "/v1/tables/own.pub", "", 403},
	} {
		status, body, _ := r.call(c.p, c.method, c.path, c.body)
		count(status)
		if status != c.want {
			t.Errorf("%s %s %s as %s: %d, want %d: %s", c.method, c.path, c.body, c.p, status, c.want, body)
		}
	}
	if got := len(r.denied()); got != denials {
		t.Errorf("%d AccessDenied on the log, want one per refused request: %d", got, denials)
	}
	for _, d := range r.denied() {
		if d.Reason == "" || d.Principal == "" || d.Resource == "" {
			t.Errorf("an AccessDenied without its reason: %+v", d)
		}
	}
}

// Owners grant and revoke their own products when the rules say so.
func TestOwnerGrants(t *testing.T) {
	r := newRig(t, catalog.Rules{OwnerGrants: true})
	if status, body, _ := r.call("own", "POST", "/v1/grants", `{"product": "own.pub", "grantee": "d"}`); status != 201 {
		t.Fatalf("owner grant: %d %s", status, body)
	}
	if status, body, _ := r.call("a", "POST", "/v1/grants", `{"product": "own.pub", "grantee": "c"}`); status != 403 {
		t.Fatalf("another domain's grant: %d %s", status, body)
	}
	if status, body, _ := r.call("own", "DELETE", "/v1/grants/own.pub/d", ""); status != 200 {
		t.Fatalf("owner revoke: %d %s", status, body)
	}
}

// As of: a grant at T1 and its revoke at T2 are answered right before T1,
// between and after T2, by time and by the position an answer carried.
func TestAsOf(t *testing.T) {
	r := newRig(t, catalog.Rules{})
	t1, t2 := t0.Add(10*time.Minute), t0.Add(20*time.Minute)
	_, _, before := r.call("governance", "GET", "/v1/products/own.pub", "")
	r.produce(&events.ShareGranted{Envelope: events.Envelope{EventID: "grant-d", OccurredAt: t1, Domain: events.DomainCentral},
		GrantID: events.DeriveID("grant", "own.pub", "d"), Product: "own.pub", OwnerDomain: "own", GranteeDomain: "d", GrantedBy: "test"})
	_, _, between := r.call("governance", "GET", "/v1/products/own.pub", "")
	r.produce(&events.ShareRevoked{Envelope: events.Envelope{EventID: "revoke-d", OccurredAt: t2, Domain: events.DomainCentral},
		GrantID: events.DeriveID("grant", "own.pub", "d"), Product: "own.pub", OwnerDomain: "own", GranteeDomain: "d", RevokedBy: "test"})
	_, _, after := r.call("governance", "GET", "/v1/products/own.pub", "")
	if before.Get(catalog.PositionHeader) == between.Get(catalog.PositionHeader) {
		t.Fatal("the position did not move with the grant")
	}
	for _, c := range []struct {
		asOf string
		want int
	}{
		{"", 403},
		{t1.Add(-time.Second).Format(time.RFC3339), 403},
		{t1.Format(time.RFC3339), 200},
		{t1.Add(5 * time.Minute).Format(time.RFC3339), 200},
		{t2.Format(time.RFC3339), 403},
		{t2.Add(time.Hour).Format(time.RFC3339), 403},
		{before.Get(catalog.PositionHeader), 403},
		{between.Get(catalog.PositionHeader), 200},
		{after.Get(catalog.PositionHeader), 403},
	} {
		path := "/v1/tables/own.pub"
		if c.asOf != "" {
			path += "?as_of=" + c.asOf
		}
		status, body, _ := r.call("d", "GET", path, "")
		if status != c.want {
			t.Errorf("d reads own.pub as of %q: %d, want %d: %s", c.asOf, status, c.want, body)
		}
	}
	// Governance's answer to "who could read own.pub then?"
	status, body, _ := r.call("governance", "GET", "/v1/grants?product=own.pub&as_of="+t1.Add(time.Minute).Format(time.RFC3339), "")
	var grants struct {
		Items []catalog.GrantView `json:"items"`
	}
	if err := json.Unmarshal([]byte(body), &grants); err != nil || status != 200 {
		t.Fatalf("grants as of: %d %v %s", status, err, body)
	}
	var live []string
	for _, g := range grants.Items {
		live = append(live, g.Grantee)
	}
	// At t1+1m the catalog judges at that time: c's grant has not expired yet.
	if strings.Join(live, ",") != "a,c,d" {
		t.Errorf("live grants of own.pub at t1+1m: %v, want a,c,d", live)
	}
	if status, body, _ := r.call("d", "GET", "/v1/tables/own.pub?as_of=yesterday", ""); status != 400 {
		t.Errorf("a bad as_of: %d %s", status, body)
	}
}

// Pagination walks every item once; the OpenAPI document is served.
func TestPagesAndOpenAPI(t *testing.T) {
	r := newRig(t, catalog.Rules{})
	var names []string
	tok := ""
	for range 10 {
		path := "/v1/domains?page_size=2"
		if tok != "" {
			path += "&page_token=" + tok
		}
		status, body, _ := r.call("governance", "GET", path, "")
		var pg struct {
			Items []catalog.DomainView `json:"items"`
			Next  string               `json:"next_page_token"`
		}
		if err := json.Unmarshal([]byte(body), &pg); err != nil || status != 200 || len(pg.Items) > 2 {
			t.Fatalf("%d %v %s", status, err, body)
		}
		for _, d := range pg.Items {
			names = append(names, d.Name)
		}
		if tok = pg.Next; tok == "" {
			break
		}
	}
	if got := strings.Join(names, ","); got != "a,b,c,central,d,own" && got != "a,b,c,d,own" {
		t.Errorf("domains over pages: %s", got)
	}
	if status, _, _ := r.call("governance", "GET", "/v1/domains?page_size=0", ""); status != 400 {
		t.Errorf("page_size 0: %d", status)
	}
	status, body, _ := r.call(catalog.Anonymous, "GET", "/openapi.json", "")
	var doc map[string]any
	if err := json.Unmarshal([]byte(body), &doc); err != nil || status != 200 || doc["openapi"] == nil {
		t.Errorf("openapi.json: %d %v", status, err)
	}
	if status, body, _ := r.call("a", "GET", "/v1/nope", ""); status != 404 || !strings.Contains(body, `"reason"`) {
		t.Errorf("unknown endpoint: %d %s", status, body)
	}
	if status, body, _ := r.call("a", "POST", "/iceberg/v1/namespaces", "{}"); status != 403 || !strings.Contains(body, "not offered") {
		t.Errorf("an Iceberg write the catalog does not offer: %d %s", status, body)
	}
}

// Lineage: a product job's attempt as OpenLineage START and COMPLETE, with
// the pinned input versions, for those who may see the product only.
func TestLineageRuns(t *testing.T) {
	r := newRig(t, catalog.Rules{})
	js := &events.JobStarted{Envelope: events.Envelope{EventID: "js1", OccurredAt: t0.Add(3 * time.Minute), Domain: "own"},
		JobID: "job-1", Product: "own.priv", Attempt: 1, Trigger: "inputs", OutputTable: "own.priv", TransformHash: "h", Runner: "duckdb",
		Inputs:      []events.InputVersion{{Name: "own.pub", Table: "own.pub", Version: 1, SnapshotID: 100, MetadataLocation: "file:///m.json"}},
		OwnerDomain: "own", Visibility: "domain", Mode: "append", PrimaryKey: []string{}, Transform: new("SELECT x FROM pub")}
	jf := &events.JobFinished{Envelope: events.Envelope{EventID: "jf1", OccurredAt: t0.Add(4 * time.Minute), Domain: "own"},
		JobID: "job-1", Product: "own.priv", Attempt: 1, Status: events.StatusSucceeded, OutputVersion: new(int64(2)), RowsWritten: 3}
	r.produce(js, jf)
	status, body, _ := r.call("own", "GET", "/v1/lineage/runs?product=own.priv", "")
	var got struct {
		Items []map[string]any `json:"items"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil || status != 200 {
		t.Fatalf("%d %v %s", status, err, body)
	}
	if len(got.Items) != 2 || got.Items[0]["eventType"] != "START" || got.Items[1]["eventType"] != "COMPLETE" {
		t.Fatalf("events %s", body)
	}
	if !strings.Contains(body, `"name": "own.pub"`) || !strings.Contains(body, `"datasetVersion": "100"`) {
		t.Errorf("the START does not name the pinned input version: %s", body)
	}
	if status, body, _ := r.call("d", "GET", "/v1/lineage/runs?product=own.priv", ""); status != 403 {
		t.Errorf("d reads own.priv's lineage: %d %s", status, body)
	}
	if status, body, _ := r.call("d", "GET", "/v1/lineage/runs", ""); status != 200 || strings.Contains(body, "own.priv") {
		t.Errorf("d's lineage lists own.priv: %d %s", status, body)
	}
	// As of between the start and the end: START only.
	mid := t0.Add(3*time.Minute + 30*time.Second).Format(time.RFC3339)
	_, body, _ = r.call("own", "GET", "/v1/lineage/runs?product=own.priv&as_of="+mid, "")
	if strings.Count(body, `"eventType"`) != 1 {
		t.Errorf("as of the run's middle: %s", body)
	}
	// The product page shows the attempt once, why it ran and what it wrote.
	run := regexp.MustCompile(`<tr class="run" data-job="job-1"><td>job-1</td><td>1</td><td>(\w+)</td><td>[^<]*</td><td>inputs: own.pub v1 </td><td>[^<]*</td><td>(\d*)</td>`)
	_, page := r.consoleGet("own", "/console/products/own.priv")
	if m := run.FindAllStringSubmatch(page, -1); len(m) != 1 || m[0][1] != "COMPLETE" || m[0][2] != "3" {
		t.Errorf("own.priv's page, jobs: %v\n%s", m, page)
	}
	// The overview's last run of own.priv is that attempt, succeeded; as of
	// its middle, running.
	lastRun := regexp.MustCompile(`own\.priv</a></td><td>own</td>\s*<td>[^<]*</td><td>[^<]*</td><td>([^<]*)</td><td>([^<]*)</td>`)
	_, page = r.consoleGet("own", "/console/")
	if m := lastRun.FindStringSubmatch(page); m == nil || m[1] != t0.Add(3*time.Minute).Format(time.RFC3339) || m[2] != "succeeded" {
		t.Errorf("overview, own.priv's last run: %v\n%s", m, page)
	}
	_, page = r.consoleGet("own", "/console/?as_of="+mid)
	if m := lastRun.FindStringSubmatch(page); m == nil || m[2] != "running" {
		t.Errorf("overview as of the run's middle, own.priv's last run: %v\n%s", m, page)
	}
	_, page = r.consoleGet("own", "/console/products/own.priv?as_of="+mid)
	if m := run.FindAllStringSubmatch(page, -1); len(m) != 1 || m[0][1] != "START" || m[0][2] != "" {
		t.Errorf("own.priv's page as of the run's middle, jobs: %v\n%s", m, page)
	}
}

// Ingestion batches are lineage too: a batch of own.pub's table as START
// and COMPLETE, naming its landed file and the version written.
func TestLineageBatches(t *testing.T) {
	r := newRig(t, catalog.Rules{})
	bp := &events.BatchPlanned{Envelope: events.Envelope{EventID: "bp1", OccurredAt: t0.Add(3 * time.Minute), Domain: "raw"},
		BatchID: "batch-1", Table: "own.pub", Feed: "pub", Trigger: "interval", TotalBytes: 10,
		Files: []events.BatchFile{{Key: "pub/1.csv", Checksum: "abc", Size: 10, LandedEventID: "fl1"}}}
	rec, err := r.codec.Record(bp)
	if err != nil {
		t.Fatal(err)
	}
	rec.Topic = r.names.Batches()
	if err := r.cluster.Client(t).ProduceSync(context.Background(), rec).FirstErr(); err != nil {
		t.Fatal(err)
	}
	r.produce(&events.FileProcessed{Envelope: events.Envelope{EventID: "fp1", OccurredAt: t0.Add(4 * time.Minute), Domain: "own"},
		FileKey: "pub/1.csv", FileChecksum: "abc", Table: "own.pub", BatchID: "batch-1", TableVersion: new(int64(1)), RecordsRead: 3, RecordsLoaded: 3})
	status, body, _ := r.call("d", "GET", "/v1/lineage/runs?product=own.pub", "")
	if status != 200 || strings.Count(body, `"eventType"`) != 2 || !strings.Contains(body, `"name": "pub/1.csv"`) ||
		!strings.Contains(body, `"name": "ingest.own.pub"`) || !strings.Contains(body, `"COMPLETE"`) {
		t.Fatalf("%d %s", status, body)
	}
	// own.priv's batches are not d's to see.
	if _, body, _ := r.call("d", "GET", "/v1/lineage/runs", ""); strings.Contains(body, "ingest.own.priv") {
		t.Errorf("d sees own.priv's ingestion: %s", body)
	}
}
