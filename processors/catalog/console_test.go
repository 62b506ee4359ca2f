package catalog_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkatest"
	"github.com/logmesh/logmesh/processors/catalog"
	"github.com/logmesh/logmesh/projections/audit"
)

// consoleGet signs in to the console as principal and gets path, returning
// the status and the page.
func (r *rig) consoleGet(principal, path string) (int, string) {
	r.t.Helper()
	jar, _ := cookiejar.New(nil)
	cl := &http.Client{Jar: jar}
	resp, err := cl.PostForm(r.url+"/console/login", url.Values{"token": {"tok-" + principal}})
	if err != nil {
		r.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		r.t.Fatalf("login as %s: %d", principal, resp.StatusCode)
	}
	resp, err = cl.Get(r.url + path)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, b.String()
}

// Every console page answers what the API answers the same token: a
// domain without a grant of a private product sees it in neither; the
// product page of a product one may not see is refused as the API refuses.
func TestConsoleAuthorization(t *testing.T) {
	r := newRig(t, catalog.Rules{})
	tests := []struct {
		principal, path string
		status          int
		has, hasNot     []string
	}{
		{"own", "/console/", 200, []string{"own.pub", "own.priv"}, nil},
		{"d", "/console/", 200, []string{"own.pub"}, []string{"own.priv"}},
		{"governance", "/console/", 200, []string{"own.pub", "own.priv"}, nil},
		{"d", "/console/products/own.priv", 403, []string{"may not read-metadata own.priv"}, []string{`id="contract"`}},
		{"own", "/console/products/own.priv", 200, []string{`id="contract"`, "own.priv"}, nil},
		{"a", "/console/products/own.pub", 200, []string{`id="contract"`, "<pre><code>SELECT 1</code></pre>", `&#34;name&#34;: &#34;x&#34;`, `id="history"`, `id="incidents"`, `id="odcs"`}, nil},
		{"a", "/console/api/products/own.pub/contract?format=yaml", 200, []string{"kind: DataContract"}, nil},
		{"d", "/console/api/products/own.priv/contract", 403, nil, []string{"DataContract"}},
		{"d", "/console/files", 200, []string{`id="files"`}, nil},
		{"d", "/console/lineage", 200, []string{`id="graph"`}, nil},
		{"d", "/console/api/lineage/graph", 200, []string{"product:own.pub"}, []string{"own.priv"}},
		{"own", "/console/api/lineage/graph", 200, []string{"product:own.pub", "product:own.priv"}, nil},
		{"d", "/console/api/products/own.priv", 403, nil, []string{"own.priv\",\"owner"}},
		{"d", "/console/incidents", 200, []string{"Incidents"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.principal+tt.path, func(t *testing.T) {
			status, body := r.consoleGet(tt.principal, tt.path)
			if status != tt.status {
				t.Fatalf("status %d, want %d:\n%s", status, tt.status, body)
			}
			for _, s := range tt.has {
				if !strings.Contains(body, s) {
					t.Errorf("page lacks %q:\n%s", s, body)
				}
			}
			for _, s := range tt.hasNot {
				if strings.Contains(body, s) {
					t.Errorf("page shows %q:\n%s", s, body)
				}
			}
		})
	}
	// And the API itself says the same.
	if status, body, _ := r.call("d", "GET", "/v1/products/own.priv", ""); status != http.StatusForbidden {
		t.Errorf("API: d reads own.priv: %d %s", status, body)
	}
}

// Without a token the console sends one to sign in; a bad token does not
// sign in.
func TestConsoleLogin(t *testing.T) {
	r := newRig(t, catalog.Rules{})
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := cl.Get(r.url + "/console/files")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/console/login") {
		t.Fatalf("no token: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, err = cl.PostForm(r.url+"/console/login", url.Values{"token": {"wrong"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 {
		t.Fatalf("bad token: %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
}

// The lineage graph: a domain sees the products it may see; around a node
// at depth 1 only its neighbours; a node it may not see is not found.
func TestLineageGraphAPI(t *testing.T) {
	r := newRig(t, catalog.Rules{})
	graph := func(principal, q string) (int, catalog.GraphView) {
		status, body, _ := r.call(principal, "GET", "/v1/lineage/graph"+q, "")
		var g catalog.GraphView
		if status == 200 {
			if err := json.Unmarshal([]byte(body), &g); err != nil {
				t.Fatal(err)
			}
		}
		return status, g
	}
	ids := func(g catalog.GraphView) string {
		var s []string
		for _, n := range g.Nodes {
			s = append(s, n.ID)
		}
		return strings.Join(s, ",")
	}
	tests := []struct {
		principal, q string
		status       int
		nodes        string
	}{
		{"own", "", 200, "product:own.priv,topic:t,product:own.pub"},
		{"d", "", 200, "product:own.pub,topic:t"},
		{"d", "?node=product:own.priv", 404, ""},
		{"own", "?node=product:own.pub&depth=1", 200, "topic:t,product:own.pub"},
		{"own", "?node=product:own.pub&depth=2", 200, "product:own.priv,topic:t,product:own.pub"},
		{"own", "?node=product:own.pub&depth=0", 200, "product:own.pub"},
		{"own", "?depth=x", 400, ""},
		{"anonymous", "", 401, ""},
	}
	for _, tt := range tests {
		status, g := graph(tt.principal, tt.q)
		if status != tt.status {
			t.Errorf("%s %s: status %d, want %d", tt.principal, tt.q, status, tt.status)
			continue
		}
		if status == 200 && ids(g) != tt.nodes {
			t.Errorf("%s %s: nodes %s, want %s", tt.principal, tt.q, ids(g), tt.nodes)
		}
	}
}

// POST /v1/files/{file}/retry: who may retry which file, and which files
// can be retried.
func TestFileRetryAPI(t *testing.T) {
	r := newRig(t, catalog.Rules{})
	pub, priv, junk := auditFile{"pub/1.csv", "own.pub"}, auditFile{"priv/1.csv", "own.priv"}, auditFile{"junk/1.bin", ""}
	for i, f := range []auditFile{pub, priv, junk} {
		r.landFile(f, t0.Add(time.Hour+time.Duration(i)*time.Minute))
	}
	sum := junk.sum()
	r.produce(
		&events.FileFailed{Envelope: events.Envelope{EventID: "failed-priv", OccurredAt: t0.Add(2 * time.Hour), Domain: events.DomainRaw, CorrelationID: priv.id()},
			FileKey: priv.key, FileChecksum: new(priv.sum()), Table: new(priv.table), Stage: "parse", Reason: "bad row", Attempt: 1},
		&events.FileFailed{Envelope: events.Envelope{EventID: "unmatched-junk", OccurredAt: t0.Add(2 * time.Hour), Domain: events.DomainRaw, CorrelationID: junk.id()},
			FileKey: junk.key, FileChecksum: &sum, Stage: audit.StageMatch, Reason: "no feed matches", Attempt: 1},
	)
	tests := []struct {
		principal, file string
		status          int
	}{
		{"anonymous", priv.id(), 401},
		{"d", priv.id(), 403},          // not d's file
		{"d", junk.id(), 403},          // unmatched files are governance's
		{"own", pub.id(), 409},         // still being loaded
		{"own", "no-such-file", 404},   //
		{"own", priv.id(), 202},        // FAILED, own's
		{"own", priv.id(), 409},        // the retry is pending now
		{"governance", junk.id(), 202}, // UNMATCHED
		{"governance", junk.id(), 409}, // pending
	}
	for _, tt := range tests {
		status, body, _ := r.call(tt.principal, "POST", "/v1/files/"+tt.file+"/retry", "")
		if status != tt.status {
			t.Errorf("%s retries %s: %d %s, want %d", tt.principal, tt.file, status, body, tt.status)
		}
	}
	var retries []*events.FileRetryRequested
	for _, rec := range kafkatest.ReadAll(t, r.cluster.Brokers, r.names.Domain(events.DomainRaw)) {
		ev, err := r.codec.Decode(context.Background(), rec.Value)
		if err != nil {
			t.Fatal(err)
		}
		if rr, ok := ev.(*events.FileRetryRequested); ok {
			retries = append(retries, rr)
		}
	}
	if len(retries) != 2 || retries[0].FileKey != priv.key || retries[0].Attempt != 2 || retries[0].RequestedBy != "own" ||
		retries[1].FileKey != junk.key || retries[1].RequestedBy != catalog.Governance {
		t.Errorf("the retries requested: %+v", retries)
	}
}

// GET /v1/incidents and the incidents page: open and resolved, each seen
// by governance and the domain it concerns only.
func TestIncidents(t *testing.T) {
	r := newRig(t, catalog.Rules{})
	prod := "own.priv"
	r.produce(
		&events.IncidentOpened{Envelope: events.Envelope{EventID: "inc-1", OccurredAt: t0.Add(time.Hour), Domain: "own"},
			IncidentID: "i-1", Severity: "critical", SubjectKind: "product", Subject: prod, Product: &prod, Summary: "the job failed every attempt"},
		&events.IncidentOpened{Envelope: events.Envelope{EventID: "inc-2", OccurredAt: t0.Add(time.Hour), Domain: "own"},
			IncidentID: "i-2", Severity: "warning", SubjectKind: "product", Subject: prod, Product: &prod, Summary: "late"},
		&events.IncidentResolved{Envelope: events.Envelope{EventID: "inc-2r", OccurredAt: t0.Add(2 * time.Hour), Domain: "own"},
			IncidentID: "i-2", Resolution: "a later success", ResolvedBy: "job-9"},
	)
	tests := []struct {
		principal, q string
		want         string
	}{
		{"governance", "", "i-1:open,i-2:resolved"},
		{"own", "", "i-1:open,i-2:resolved"},
		{"own", "?state=open", "i-1:open"},
		{"d", "", ""},
		{"own", "?as_of=" + t0.Add(90*time.Minute).Format(time.RFC3339), "i-1:open,i-2:open"},
	}
	for _, tt := range tests {
		status, body, _ := r.call(tt.principal, "GET", "/v1/incidents"+tt.q, "")
		var pg struct {
			Items []catalog.IncidentView `json:"items"`
		}
		if status != 200 || json.Unmarshal([]byte(body), &pg) != nil {
			t.Fatalf("%s: %d %s", tt.principal, status, body)
		}
		var got []string
		for _, i := range pg.Items {
			got = append(got, i.ID+":"+i.State)
		}
		if strings.Join(got, ",") != tt.want {
			t.Errorf("%s %s: %v, want %s", tt.principal, tt.q, got, tt.want)
		}
	}
	if status, page := r.consoleGet("own", "/console/incidents"); status != 200 || !strings.Contains(page, `data-id="i-1"`) || !strings.Contains(page, "a later success") {
		t.Errorf("own's incidents page: %d\n%s", status, page)
	}
	if status, page := r.consoleGet("d", "/console/incidents"); status != 200 || strings.Contains(page, `data-id="i-1"`) {
		t.Errorf("d's incidents page shows own's incidents: %d\n%s", status, page)
	}
	// The overview counts the open ones the token may see.
	if status, page := r.consoleGet("own", "/console/"); status != 200 || !strings.Contains(page, `<p id="open-incidents">1 open`) ||
		!strings.Contains(page, "the job failed every attempt") || strings.Contains(page, "<td>late</td>") {
		t.Errorf("own's overview, open incidents: %d\n%s", status, page)
	}
	if status, page := r.consoleGet("d", "/console/"); status != 200 || !strings.Contains(page, `<p id="open-incidents">0 open`) {
		t.Errorf("d's overview, open incidents: %d\n%s", status, page)
	}
	// The product's page lists its own incidents, and another's none.
	if status, page := r.consoleGet("own", "/console/products/own.priv"); status != 200 ||
		!strings.Contains(page, "the job failed every attempt") || !strings.Contains(page, "a later success") {
		t.Errorf("own.priv's page lacks its incidents: %d\n%s", status, page)
	}
	if status, page := r.consoleGet("own", "/console/products/own.pub"); status != 200 || strings.Contains(page, "the job failed every attempt") {
		t.Errorf("own.pub's page shows own.priv's incidents: %d\n%s", status, page)
	}
}

// An edge into a product is labelled with the input version its latest
// run pinned, and with the input's current version once it moved on;
// before any run, with the current one. As of any moment.
func TestLineageGraphPinned(t *testing.T) {
	const m = `domains:
  - name: own
products:
  - {name: up, domain: own, visibility: enterprise, inputs: ["topic:t"], transform: "SELECT 1", output: {schema: {type: record, name: U, fields: [{name: x, type: string}]}}}
  - {name: down, domain: own, visibility: enterprise, inputs: ["own.up"], transform: "SELECT x FROM up", output: {schema: {type: record, name: D, fields: [{name: x, type: string}]}}}
`
	r := newRigMesh(t, catalog.Rules{}, m, func(r *rig) {
		r.commit("own.up", 1, t0.Add(2*time.Minute))
		r.produce(&events.JobStarted{Envelope: events.Envelope{EventID: "js1", OccurredAt: t0.Add(3 * time.Minute), Domain: "own"},
			JobID: "job-1", Product: "own.down", Attempt: 1, Trigger: "inputs", OutputTable: "own.down", TransformHash: "h", Runner: "duckdb",
			Inputs:      []events.InputVersion{{Name: "own.up", Table: "own.up", Version: 1, SnapshotID: 100}},
			OwnerDomain: "own", Visibility: "enterprise", Mode: "append", PrimaryKey: []string{}, Transform: new("SELECT x FROM up")})
		r.commit("own.up", 2, t0.Add(4*time.Minute))
	})
	for _, c := range []struct {
		asOf time.Duration
		want string
	}{
		{150 * time.Second, "now v1"},
		{210 * time.Second, "v1"},
		{0, "v1 (now v2)"},
	} {
		q := "?node=product:own.down"
		if c.asOf != 0 {
			q += "&as_of=" + t0.Add(c.asOf).Format(time.RFC3339)
		}
		status, body, _ := r.call("governance", "GET", "/v1/lineage/graph"+q, "")
		var g catalog.GraphView
		if err := json.Unmarshal([]byte(body), &g); err != nil || status != 200 {
			t.Fatalf("%s: %d %v %s", q, status, err, body)
		}
		i := slices.IndexFunc(g.Edges, func(e catalog.GraphEdge) bool { return e.From == "product:own.up" && e.To == "product:own.down" })
		if i < 0 || g.Edges[i].Label != c.want {
			t.Errorf("%s: edges %+v, want own.up → own.down labelled %q", q, g.Edges, c.want)
		}
	}
}
