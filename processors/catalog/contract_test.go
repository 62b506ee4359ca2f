package catalog_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/logmesh/logmesh/mesh"
	"github.com/logmesh/logmesh/processors/catalog"
)

// A product's detail carries its definition in force (the transform's SQL,
// the output schema) and every definition it was published with; as of a
// moment before a change, the one then in force. Its ODCS contract is
// served to whoever may see the product.
func TestProductDefinitionAndContract(t *testing.T) {
	t1 := t0.Add(time.Hour)
	changed := strings.Replace(authMesh, `transform: "SELECT 1", output: {schema: {type: record, name: P, fields: [{name: x, type: string}]}}`,
		`transform: "SELECT 2 AS x", output: {schema: {type: record, name: P, fields: [{name: x, type: string}, {name: y, type: ["null", long], default: null}]}}`, 1)
	if changed == authMesh {
		t.Fatal("the test's mesh edit matched nothing")
	}
	r := newRigMesh(t, catalog.Rules{}, authMesh, func(r *rig) {
		m, err := mesh.Parse([]byte(changed), "mesh.yaml", ".")
		if err != nil {
			t.Fatal(err)
		}
		r.produce(m.Definitions(t1)...)
	})
	detail := func(principal, asOf string) catalog.ProductView {
		t.Helper()
		path := "/v1/products/own.pub"
		if asOf != "" {
			path += "?as_of=" + asOf
		}
		status, body, _ := r.call(principal, "GET", path, "")
		var v catalog.ProductView
		if err := json.Unmarshal([]byte(body), &v); err != nil || status != 200 {
			t.Fatalf("%s: %d %v %s", path, status, err, body)
		}
		return v
	}
	now := detail("a", "")
	if now.Definition == nil || now.Definition.Transform != "SELECT 2 AS x" || !strings.Contains(now.Definition.OutputSchema, `"y"`) {
		t.Fatalf("definition in force = %+v, want the changed transform and schema", now.Definition)
	}
	if len(now.History) != 2 || now.History[0].SchemaChanged || !now.History[1].SchemaChanged || !now.History[1].TransformChanged ||
		now.History[1].Hash != now.Hash {
		t.Fatalf("history = %+v (hash in force %s), want two definitions, the second changing schema and transform", now.History, now.Hash)
	}
	then := detail("a", t1.Add(-time.Minute).Format(time.RFC3339))
	if then.Definition == nil || then.Definition.Transform != "SELECT 1" || len(then.History) != 1 {
		t.Fatalf("as of before the change: definition %+v, history %+v", then.Definition, then.History)
	}

	status, body, _ := r.call("a", "GET", "/v1/products/own.pub/contract", "")
	var c struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Schema     []struct {
			Properties []struct {
				Name string `json:"name"`
			} `json:"properties"`
		} `json:"schema"`
	}
	if err := json.Unmarshal([]byte(body), &c); err != nil || status != 200 {
		t.Fatalf("contract: %d %v %s", status, err, body)
	}
	if c.Kind != "DataContract" || !strings.HasPrefix(c.APIVersion, "v3") || len(c.Schema) != 1 || len(c.Schema[0].Properties) != 2 {
		t.Fatalf("contract = %s, want an ODCS v3 DataContract with the two fields in force", body)
	}
	if status, body, h := r.call("a", "GET", "/v1/products/own.pub/contract?format=yaml", ""); status != 200 ||
		!strings.Contains(body, "kind: DataContract") || h.Get("Content-Type") != "application/yaml" {
		t.Errorf("contract as YAML: %d %s %s", status, h.Get("Content-Type"), body)
	}
	for _, c := range []struct {
		principal, path string
		want            int
	}{
		{"d", "/v1/products/own.priv/contract", 403}, // domain-private
		{"own", "/v1/products/own.priv/contract", 200},
		{"a", "/v1/products/own.nope/contract", 404},
		{"a", "/v1/products/own.pub/contract?format=xml", 400},
	} {
		if status, body, _ := r.call(c.principal, "GET", c.path, ""); status != c.want {
			t.Errorf("%s GET %s: %d, want %d: %s", c.principal, c.path, status, c.want, body)
		}
	}
}
