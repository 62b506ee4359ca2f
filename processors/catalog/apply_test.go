package catalog_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkatest"
	"github.com/logmesh/logmesh/processors/catalog"
	"github.com/logmesh/logmesh/processors/proc"
	"github.com/logmesh/logmesh/tables"
)

// fakeApplier is a test double of the catalog's Applier: the domains of
// each request are the names of its files without ".yaml" plus its
// retire_domains; it authorizes them and answers a one-line plan.
type fakeApplier struct {
	calls []string // "by domains planOnly" of each authorized request
	err   error    // returned after authorization
}

func (f *fakeApplier) apply(_ context.Context, req catalog.ApplyRequest, by string, planOnly bool, authorize func([]string) error) (catalog.ApplyAnswer, error) {
	var domains []string
	for _, file := range req.Files {
		domains = append(domains, strings.TrimSuffix(file.Name, ".yaml"))
	}
	domains = append(domains, req.RetireDomains...)
	if err := authorize(domains); err != nil {
		return catalog.ApplyAnswer{}, err
	}
	f.calls = append(f.calls, fmt.Sprintf("%s %s %v", by, strings.Join(domains, ","), planOnly))
	return catalog.ApplyAnswer{Domains: domains, Plan: []string{"plan for domains: " + strings.Join(domains, ", ")}, Applied: 1}, f.err
}

// POST /v1/apply: a domain's token applies its own domain; another
// domain is refused with 403 and an AccessDenied (action apply) per
// domain refused; governance applies any; the applier's refusals are 400
// and 409 with the plan.
func TestApplyEndpoint(t *testing.T) {
	ctx := context.Background()
	c := kafkatest.New(t)
	codec, _ := kafkatest.Codec(t)
	r := &rig{t: t, cluster: c, codec: codec, names: events.Topics{Prefix: kafkatest.Unique("cat")}}
	if err := c.Conn().EnsureTopics(ctx, r.names.Specs(1)...); err != nil {
		t.Fatal(err)
	}
	wh, err := tables.OpenWarehouse(ctx, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	fake := &fakeApplier{}
	tokens := catalog.Tokens{catalog.HashToken("tok-qa"): "qa", catalog.HashToken("tok-governance"): catalog.Governance}
	srv, err := catalog.New(proc.Config{Conn: c.Conn(), Topics: r.names}, codec, wh, catalog.WithTokens(tokens), catalog.WithApplier(fake.apply))
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	r.url = hs.URL
	body := func(files ...string) string {
		var req catalog.ApplyRequest
		for _, f := range files {
			req.Files = append(req.Files, catalog.ApplyFile{Name: f + ".yaml", Content: "domains: [{name: " + f + "}]"})
		}
		b, _ := json.Marshal(req)
		return string(b)
	}
	type answer struct {
		Apply catalog.ApplyAnswer `json:"apply"`
		Error struct {
			Reason string `json:"reason"`
		} `json:"error"`
	}
	for _, tc := range []struct {
		name, principal, path, body string
		err                         error
		status                      int
		call                        string // the authorized call, "" for none
		denied                      []string
		says                        string
	}{
		{name: "own domain", principal: "qa", path: "/v1/apply", body: body("qa"), status: 200, call: "api:qa qa false", says: "plan for domains: qa"},
		{name: "own domain, plan only", principal: "qa", path: "/v1/apply?plan=true", body: body("qa"), status: 200, call: "api:qa qa true"},
		{name: "another domain", principal: "qa", path: "/v1/apply", body: body("lab"), status: 403, denied: []string{"domain lab"},
			says: "qa may not apply the definitions of domain lab: a domain's token changes only its own domain's definitions"},
		{name: "its own and another", principal: "qa", path: "/v1/apply", body: body("qa", "lab", "raw"), status: 403, denied: []string{"domain lab", "domain raw"}},
		{name: "retiring another domain", principal: "qa", path: "/v1/apply", body: `{"retire_domains": ["lab"]}`, status: 403, denied: []string{"domain lab"}},
		{name: "governance", principal: catalog.Governance, path: "/v1/apply", body: body("qa", "lab"), status: 200, call: "api:governance qa,lab false"},
		{name: "invalid files", principal: "qa", path: "/v1/apply", body: body("qa"), err: fmt.Errorf("qa.yaml:1: bad: %w", catalog.ErrInvalid), status: 400,
			call: "api:qa qa false", says: "qa.yaml:1: bad"},
		{name: "a refused plan", principal: "qa", path: "/v1/apply", body: body("qa"), err: fmt.Errorf("domain qa's definitions changed: %w", catalog.ErrConflict),
			status: 409, call: "api:qa qa false", says: "plan for domains: qa"},
		{name: "no files", principal: "qa", path: "/v1/apply", body: `{"files": []}`, status: 400},
		{name: "not json", principal: "qa", path: "/v1/apply", body: `files`, status: 400},
		{name: "anonymous", principal: catalog.Anonymous, path: "/v1/apply", body: body("qa"), status: 401, denied: []string{"/v1/apply"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake.calls, fake.err = nil, tc.err
			before := len(r.denied())
			status, got, _ := r.call(tc.principal, "POST", tc.path, tc.body)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, got)
			}
			if want := []string{tc.call}; (tc.call == "" && len(fake.calls) > 0) || (tc.call != "" && !slices.Equal(fake.calls, want)) {
				t.Errorf("applier calls %q, want %q", fake.calls, tc.call)
			}
			var ans answer
			_ = json.Unmarshal([]byte(got), &ans)
			if tc.says != "" && !strings.Contains(ans.Error.Reason+strings.Join(ans.Apply.Plan, "\n"), tc.says) {
				t.Errorf("answer %s does not say %q", got, tc.says)
			}
			denied := r.denied()[before:]
			var resources []string
			for _, d := range denied {
				want := "apply"
				if tc.principal == catalog.Anonymous {
					want = "authenticate"
				}
				if d.Action != want || d.Principal != tc.principal || d.Reason == "" {
					t.Errorf("AccessDenied %+v", d)
				}
				resources = append(resources, d.Resource)
			}
			if !slices.Equal(resources, tc.denied) {
				t.Errorf("AccessDenied of %q, want %q", resources, tc.denied)
			}
		})
	}

	// Without an applier the endpoint says so.
	plain, err := catalog.New(proc.Config{Conn: c.Conn(), Topics: r.names}, codec, wh, catalog.WithTokens(tokens))
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/v1/apply", strings.NewReader(body("qa")))
	req.Header.Set("Authorization", "Bearer tok-qa")
	plain.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusNotImplemented {
		t.Errorf("without an applier: %d %s", rec.Code, rec.Body)
	}
}

func TestMayApply(t *testing.T) {
	for _, tc := range []struct {
		principal, domain string
		ok                bool
	}{
		{"qa", "qa", true}, {"qa", "lab", false}, {catalog.Governance, "lab", true}, {catalog.Anonymous, "qa", false},
	} {
		if ok, why := (catalog.Rules{}).MayApply(tc.principal, tc.domain); ok != tc.ok || (!ok && why == "") {
			t.Errorf("MayApply(%s, %s) = %v %q, want %v", tc.principal, tc.domain, ok, why, tc.ok)
		}
	}
}
