package openlineage_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// subset compiles testdata/runevent-subset.schema.json, the RunEvent
// schema written for these tests, checked always (the official one only
// with OPENLINEAGE_SPEC_DIR).
func subset(t *testing.T) *jsonschema.Schema {
	t.Helper()
	path := filepath.Join("testdata", "runevent-subset.schema.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("subset.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("subset.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func validDoc(t *testing.T, s *jsonschema.Schema, doc []byte) error {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	return s.Validate(inst)
}

// Every event the mapping makes passes the subset schema; broken ones do
// not.
func TestSubsetSchema(t *testing.T) {
	s := subset(t)
	evs := allEvents(t)
	if len(evs) < 10 {
		t.Fatalf("%d events", len(evs))
	}
	for name, ev := range evs {
		doc, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		if err := validDoc(t, s, doc); err != nil {
			t.Errorf("%s: %v\n%s", name, err, doc)
		}
	}
	var start []byte
	for name, ev := range evs {
		if strings.HasPrefix(name, "job-succeeded/0") {
			start, _ = json.Marshal(ev)
		}
	}
	for _, c := range []struct{ what, from, to string }{
		{"a runId that is no UUID", `"runId":"`, `"runId":"x`},
		{"no eventTime", `"eventTime"`, `"eventTimeX"`},
		{"an unknown eventType", `"eventType":"START"`, `"eventType":"BEGIN"`},
		{"a facet without _producer", `"_producer"`, `"_producerX"`},
	} {
		if !bytes.Contains(start, []byte(c.from)) {
			t.Fatalf("%q not in %s", c.from, start)
		}
		bad := bytes.Replace(start, []byte(c.from), []byte(c.to), 1)
		if err := validDoc(t, s, bad); err == nil {
			t.Errorf("%s passes the schema", c.what)
		}
	}
}
