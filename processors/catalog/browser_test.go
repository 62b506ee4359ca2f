package catalog_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/logmesh/logmesh/internal/browsertest"
	"github.com/logmesh/logmesh/processors/catalog"
)

// A domain without a grant of a private product does not see it in the
// console, neither listed nor by its page, and the API refuses it too;
// its owner sees it.
func TestBrowserPrivateProduct(t *testing.T) {
	b := browsertest.New(t, 60*time.Second)
	r := newRig(t, catalog.Rules{})
	b.Login(r.url, "tok-d")
	b.Run("overview-d", chromedp.Navigate(r.url+"/console/"), chromedp.WaitVisible(chromedp.CSS("#products")))
	if got := b.Text("#products"); !strings.Contains(got, "own.pub") || strings.Contains(got, "own.priv") {
		t.Errorf("d's overview lists: %s", got)
	}
	b.Run("product-priv-d", chromedp.Navigate(r.url+"/console/products/own.priv"), chromedp.WaitVisible(chromedp.CSS("#error")))
	if got := b.Text("#error"); !strings.Contains(got, "may not read-metadata own.priv") {
		t.Errorf("d's page of own.priv says: %s", got)
	}
	if n := browsertest.Eval[int](b, `document.querySelectorAll("#contract").length`); n != 0 {
		t.Errorf("d's page of own.priv shows its contract")
	}
	if status, body, _ := r.call("d", "GET", "/v1/products/own.priv", ""); status != http.StatusForbidden {
		t.Errorf("API: d reads own.priv: %d %s", status, body)
	}
	b.Run("logout", chromedp.Click(chromedp.CSS("form.inline button")), chromedp.WaitVisible(chromedp.CSS("#token")))
	b.Login(r.url, "tok-own")
	b.Run("product-priv-own", chromedp.Navigate(r.url+"/console/products/own.priv"), chromedp.WaitVisible(chromedp.CSS("#contract")))
	if got := b.Text("#product-name"); got != "own.priv" {
		t.Errorf("own's page of own.priv is of %q", got)
	}
}

// The lineage page of a mesh of 500 nodes (a topic and 499 products, each
// reading the one before it in a binary tree) lays out and draws every
// node within the test's deadline.
func TestBrowserLineage500(t *testing.T) {
	b := browsertest.New(t, 90*time.Second)
	var m strings.Builder
	m.WriteString("domains:\n  - name: own\nproducts:\n")
	const products = 499
	for i := range products {
		in := `"topic:t"`
		if i > 0 {
			in = fmt.Sprintf(`"own.p%03d"`, (i-1)/2)
		}
		fmt.Fprintf(&m, "  - {name: p%03d, domain: own, visibility: enterprise, inputs: [%s], transform: \"SELECT 1\", output: {schema: {type: record, name: P%03d, fields: [{name: x, type: string}]}}}\n", i, in, i)
	}
	r := newRigMesh(t, catalog.Rules{}, m.String(), func(*rig) {})
	b.Login(r.url, "tok-governance")
	b.Run("lineage-500", chromedp.Navigate(r.url+"/console/lineage"),
		chromedp.WaitVisible(chromedp.CSS(`#graph-status[data-done]`)))
	if n := browsertest.Eval[int](b, `document.querySelectorAll("#graph g.node").length`); n != products+1 {
		t.Errorf("the graph draws %d nodes, want %d (%s)", n, products+1, b.Text("#graph-status"))
	}
	if n := browsertest.Eval[int](b, `document.querySelectorAll("#graph g.edge").length`); n != products {
		t.Errorf("the graph draws %d edges, want %d", n, products)
	}
	// Around one node at depth 1: it, its input and its two readers.
	b.Run("lineage-around", chromedp.Navigate(r.url+"/console/lineage?node=product:own.p001&depth=1"),
		chromedp.WaitVisible(chromedp.CSS(`#graph-status[data-done]`)))
	if n := browsertest.Eval[int](b, `document.querySelectorAll("#graph g.node").length`); n != 4 {
		t.Errorf("around own.p001 the graph draws %d nodes, want 4", n)
	}
}
