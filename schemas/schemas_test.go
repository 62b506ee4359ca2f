package schemas_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/hamba/avro/v2"

	"github.com/logmesh/logmesh/schemas"
)

var facts = []string{
	"AccessDenied", "BatchPlanned", "DomainDefined", "DomainRetired", "FeedDefined", "FeedRetired", "FileFailed", "FileLanded",
	"FileProcessed", "FileRetryRequested", "IncidentOpened", "IncidentResolved", "InstallationDefined", "JobFinished",
	"JobStarted", "LocationsDefined", "ProductPublished", "ProductRefreshed", "ProductRetired",
	"RecordRejected", "RouteRefused", "RunRequested", "SchemaChanged", "ShareGranted", "ShareRevoked",
	"SubscriptionDefined", "SubscriptionRemoved", "TableCommitted",
}

func TestAll(t *testing.T) {
	all, err := schemas.All()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(facts) {
		t.Fatalf("All() returned %d schemas, want %d", len(all), len(facts))
	}
	for i, s := range all {
		if want := schemas.Namespace + "." + facts[i]; s.Name != want {
			t.Errorf("All()[%d].Name = %q, want %q (sorted)", i, s.Name, want)
		}
		if s.Subject != s.Name {
			t.Errorf("%s: subject %q, want the full name", s.Name, s.Subject)
		}
		parsed, err := schemas.Parse(s.Text)
		if err != nil {
			t.Fatalf("%s: text does not parse on its own: %v", s.Name, err)
		}
		rec := parsed.(*avro.RecordSchema)
		env, ok := rec.Fields()[0].Type().(*avro.RecordSchema)
		if !ok || env.FullName() != schemas.EnvelopeName {
			t.Errorf("%s: first field is %v, want the inlined envelope record", s.Name, rec.Fields()[0].Type())
		}
		if !json.Valid([]byte(s.Text)) {
			t.Errorf("%s: text is not valid JSON", s.Name)
		}
	}
}

// TestTextKeepsDefaults guards against registering hamba's canonical form,
// which drops defaults and so breaks the registry's compatibility checks.
func TestTextKeepsDefaults(t *testing.T) {
	s, err := schemas.Lookup("logmesh.events.FileFailed")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"default":null`, `"default":1`, `"default":false`, `"logicalType":"timestamp-micros"`, `"doc":`} {
		if !strings.Contains(s.Text, want) {
			t.Errorf("text lacks %s: %s", want, s.Text)
		}
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(s.Text), &m); err != nil {
		t.Fatal(err)
	}
	var withDefault int
	for _, f := range m["fields"].([]any) {
		if _, ok := f.(map[string]any)["default"]; ok {
			withDefault++
		}
	}
	if withDefault < 5 {
		t.Errorf("only %d fields with a default survived", withDefault)
	}
}

func TestLookup(t *testing.T) {
	all, err := schemas.All()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range all {
		got, err := schemas.Lookup(s.Name)
		if err != nil {
			t.Fatalf("Lookup(%q): %v", s.Name, err)
		}
		if got != s {
			t.Errorf("Lookup(%q) differs from All()", s.Name)
		}
	}
	for _, name := range []string{"", "FileLanded", "logmesh.events.Envelope", "logmesh.events.Nope", "logmesh.events.", "logmesh.events.../envelope", "other.FileLanded"} {
		if _, err := schemas.Lookup(name); !errors.Is(err, schemas.ErrNotFound) {
			t.Errorf("Lookup(%q) = %v, want ErrNotFound", name, err)
		}
	}
}

func TestParseUsesFreshCache(t *testing.T) {
	// Two different definitions of the same name must both parse: a shared
	// cache would make the second resolve to the first.
	a := `{"type":"record","name":"logmesh.test.X","fields":[{"name":"a","type":"string"}]}`
	b := `{"type":"record","name":"logmesh.test.X","fields":[{"name":"b","type":"long"}]}`
	if _, err := schemas.Parse(a); err != nil {
		t.Fatal(err)
	}
	sb, err := schemas.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if f := sb.(*avro.RecordSchema).Fields()[0].Name(); f != "b" {
		t.Errorf("second parse got field %q", f)
	}
	if _, err := avro.Parse(`"logmesh.test.X"`); err == nil {
		t.Error("Parse leaked a named type into hamba's global cache")
	}
}

func TestCheckCompatible(t *testing.T) {
	cur, err := schemas.Lookup("logmesh.events.FileLanded")
	if err != nil {
		t.Fatal(err)
	}
	withoutOptional := strings.Replace(cur.Text, `{"name":"content_type","type":["null","string"],"default":null},`, "", 1)
	withoutRequired := strings.Replace(cur.Text, `{"name":"source","type":"string","doc":"Where the file landed: local or s3."},`, "", 1)
	if withoutOptional == cur.Text || withoutRequired == cur.Text {
		t.Fatal("test fixture did not change the schema; update the replaced field text")
	}
	tests := []struct {
		name     string
		new, old string
		wantErr  error
	}{
		{"same", cur.Text, cur.Text, nil},
		{"add optional field", cur.Text, withoutOptional, nil},
		{"remove field", withoutRequired, cur.Text, nil},
		{"add required field", cur.Text, withoutRequired, schemas.ErrIncompatible},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := schemas.CheckCompatible(tt.new, tt.old)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Errorf("CheckCompatible = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

// TestRecordRejectedViolations: the violations array is an optional
// addition, with its default, so readers of the current schema read events
// written before it existed, and the registry accepts the change.
func TestRecordRejectedViolations(t *testing.T) {
	cur, err := schemas.Lookup("logmesh.events.RecordRejected")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(cur.Text), &m); err != nil {
		t.Fatal(err)
	}
	var kept []any
	var found map[string]any
	for _, f := range m["fields"].([]any) {
		if f.(map[string]any)["name"] == "violations" {
			found = f.(map[string]any)
			continue
		}
		kept = append(kept, f)
	}
	if found == nil {
		t.Fatal("RecordRejected has no violations field")
	}
	if d, ok := found["default"].([]any); !ok || len(d) != 0 {
		t.Errorf("violations default = %v, want []", found["default"])
	}
	m["fields"] = kept
	before, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := schemas.CheckCompatible(cur.Text, string(before)); err != nil {
		t.Errorf("current RecordRejected cannot read the one without violations: %v", err)
	}
}
