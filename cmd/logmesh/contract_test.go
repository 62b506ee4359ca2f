package main

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
)

// `logmesh contract` against a running platform: the document rebuilt
// from the definition events on the log is the one the mesh file gives
// (--config), status aside, for a source-aligned product with feed rules
// and a consumer-aligned one; an unknown or retired product is refused.
func TestContract(t *testing.T) {
	const meshFile = "../../internal/odcs/testdata/mesh.yaml"
	c := newCLI(t)
	if out, err := c.run("apply", "-f", meshFile); err != nil {
		t.Fatalf("apply: %v\n%s", err, out)
	}

	for _, tc := range []struct {
		product string
		json    bool
	}{{"raw.trades", false}, {"eq.exposure", true}} {
		args := []string{"contract", tc.product}
		if tc.json {
			args = append(args, "--json")
		}
		fromLog, err := c.run(args...)
		if err != nil {
			t.Fatal(err)
		}
		fromFile, err := c.run(append(args, "--config", meshFile)...)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := yaml.Unmarshal([]byte(fromLog), &doc); err != nil { // JSON is YAML too
			t.Fatalf("%s: %v\n%s", tc.product, err, fromLog)
		}
		if doc["apiVersion"] != "v3.0.2" || doc["kind"] != "DataContract" || doc["dataProduct"] != tc.product || doc["status"] != "active" {
			t.Errorf("%s: fundamentals %v", tc.product, doc)
		}
		if tc.json != strings.HasPrefix(fromLog, "{") {
			t.Errorf("%s: --json %v, but the output starts %q", tc.product, tc.json, fromLog[:min(20, len(fromLog))])
		}
		proposed := `status: proposed`
		if tc.json {
			proposed = `"status": "proposed"`
		}
		if !strings.Contains(fromFile, proposed) {
			t.Errorf("%s --config: no %s:\n%s", tc.product, proposed, fromFile)
		}
		if got := strings.Replace(fromFile, "proposed", "active", 1); got != fromLog {
			t.Errorf("%s: the contract from the log differs from the mesh file's:\n--- log\n%s\n--- file\n%s", tc.product, fromLog, fromFile)
		}
	}

	// The enum rule came through FeedDefined (its values as a JSON list).
	out, err := c.run("contract", "raw.trades")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Schema []struct {
			Properties []struct {
				Name    string
				Quality []struct {
					Implementation struct {
						Rule   string
						Values []string
					}
				}
			}
		}
	}
	if err := yaml.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	var side []string
	for _, p := range doc.Schema[0].Properties {
		if p.Name == "side" && len(p.Quality) == 1 && p.Quality[0].Implementation.Rule == "enum" {
			side = p.Quality[0].Implementation.Values
		}
	}
	if !reflect.DeepEqual(side, []string{"BUY", "SELL"}) {
		t.Errorf("side's enum rule: values %v, want [BUY SELL]\n%s", side, out)
	}

	if _, err := c.run("contract", "eq.nothing"); !errors.Is(err, errMesh) || !strings.Contains(err.Error(), "no product eq.nothing") {
		t.Errorf("unknown product: %v", err)
	}
	for _, args := range [][]string{{"contract"}, {"contract", "a.b", "c.d"}, {"contract", "nodot"}} {
		if _, err := c.run(args...); !errors.Is(err, errUsage) {
			t.Errorf("logmesh %v: %v, want a usage error", args, err)
		}
	}

	// Retired: the product left the mesh file.
	text, err := os.ReadFile(meshFile)
	if err != nil {
		t.Fatal(err)
	}
	without := string(text)[:strings.Index(string(text), "products:")]
	if out, err := c.run("apply", "-f", writeMesh(t, without)); err != nil {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	if _, err := c.run("contract", "eq.exposure"); !errors.Is(err, errMesh) || !strings.Contains(err.Error(), "retired") {
		t.Errorf("retired product: %v", err)
	}
}
