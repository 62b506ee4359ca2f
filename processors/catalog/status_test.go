package catalog_test

import (
	"strings"
	"testing"

	"github.com/logmesh/logmesh/processors/catalog"
)

// The same condition gets the same status on the catalog API and on the
// Iceberg REST catalog, and a 401 says whether the token was missing or
// not known.
func TestStatusesAgree(t *testing.T) {
	r := newRig(t, catalog.Rules{})
	for _, c := range []struct {
		what, principal string
		api, iceberg    string // the paths asking the same
		want            int
		says            string
	}{
		{"a bad as_of", "own", "/v1/tables/own.pub?as_of=yesterday", "/iceberg/v1/namespaces/own/tables/pub?as_of=yesterday", 400, "as_of"},
		{"a bad as_of, governance", catalog.Governance, "/v1/tables/own.pub?as_of=p1.!!", "/iceberg/v1/namespaces/own/tables/pub?as_of=p1.!!", 400, "as_of"},
		{"an unknown table", "a", "/v1/tables/own.nope", "/iceberg/v1/namespaces/own/tables/nope", 404, "no table own.nope"},
		{"an unknown table, governance", catalog.Governance, "/v1/tables/own.nope", "/iceberg/v1/namespaces/own/tables/nope", 404, "no table own.nope"},
		{"an unknown product (namespace)", "a", "/v1/products/zz.nope", "/iceberg/v1/namespaces/zz", 404, "zz"},
		{"no token", catalog.Anonymous, "/v1/tables/own.pub", "/iceberg/v1/namespaces/own/tables/pub", 401, "a bearer token is required"},
		{"an unknown token", "stranger", "/v1/tables/own.pub", "/iceberg/v1/namespaces/own/tables/pub", 401, "the bearer token is not known; "},
		{"a forbidden table", "d", "/v1/tables/own.pub", "/iceberg/v1/namespaces/own/tables/pub", 403, "d may not read-table own.pub"},
		{"a private table", "a", "/v1/tables/own.priv", "/iceberg/v1/namespaces/own/tables/priv", 403, "visible to domain own only"},
	} {
		for _, path := range []string{c.api, c.iceberg} {
			status, body, _ := r.call(c.principal, "GET", path, "")
			if status != c.want || !strings.Contains(body, c.says) {
				t.Errorf("%s: GET %s as %s: %d %s, want %d saying %q", c.what, path, c.principal, status, body, c.want, c.says)
			}
		}
	}
	for _, d := range r.denied() {
		if d.Action == "authenticate" && d.Reason != "no bearer token" && d.Reason != "an unknown bearer token" {
			t.Errorf("a refused authentication records %q", d.Reason)
		}
	}
}
