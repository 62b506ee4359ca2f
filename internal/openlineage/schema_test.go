package openlineage_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/openlineage"
)

// The OpenLineage JSON schemas (OpenLineage.json and facets/*.json of the
// release whose core schema is openlineage.SpecVersion) are not in this
// repository: they come from outside it, from $OPENLINEAGE_SPEC_DIR or
// else from openlineage/spec in the shared/ folder beside the repository.
// The directory has the layout of the spec/ directory of the OpenLineage
// repository: OpenLineage.json, facets/ErrorMessageRunFacet.json, ...
// logmesh's own facet schemas are in ../facets (this package's facets/).
const specDirEnv = "OPENLINEAGE_SPEC_DIR"

// specDir returns the directory of the OpenLineage schemas, or "" if there
// is none. A set OPENLINEAGE_SPEC_DIR that is not a directory fails t.
func specDir(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv(specDirEnv); dir != "" {
		if fi, err := os.Stat(filepath.Join(dir, "OpenLineage.json")); err != nil || fi.IsDir() {
			t.Fatalf("%s=%s: no OpenLineage.json there: %v", specDirEnv, dir, err)
		}
		return dir
	}
	// The package is internal/openlineage of the repository, shared/ is
	// beside the repository.
	dir := filepath.Join("..", "..", "..", "shared", "openlineage", "spec")
	if _, err := os.Stat(filepath.Join(dir, "OpenLineage.json")); err == nil {
		return dir
	}
	return ""
}

// validator validates RunEvents against the OpenLineage schemas and each
// facet against its own schema, all loaded from local files.
type validator struct {
	runEvent *jsonschema.Schema
	compiler *jsonschema.Compiler
	mu       sync.Mutex
	facets   map[string]*jsonschema.Schema // by schema URL, with fragment
}

// facetSchemas is the schema URL each facet key must name: a facet the
// package does not know fails the test.
var facetSchemas = map[string]string{
	"errorMessage":     openlineage.ErrorMessageSchemaURL,
	"jobType":          openlineage.JobTypeSchemaURL,
	"sql":              openlineage.SQLSchemaURL,
	"version":          openlineage.DatasetVersionSchemaURL,
	"outputStatistics": openlineage.OutputStatisticsSchemaURL,
	"logmesh_job":      openlineage.JobRunSchemaURL,
	"logmesh_batch":    openlineage.BatchRunSchemaURL,
	"logmesh_iceberg":  openlineage.IcebergDatasetSchemaURL,
}

// noNetwork refuses every URL that was not added as a resource.
type noNetwork struct{}

func (noNetwork) Load(url string) (any, error) {
	return nil, fmt.Errorf("%s is not a local schema (no network in tests)", url)
}

var (
	validatorOnce sync.Once
	sharedV       *validator
	sharedErr     error
)

// newValidator returns the validator, or skips t when the OpenLineage
// schemas are not there.
func newValidator(t *testing.T) *validator {
	t.Helper()
	dir := specDir(t)
	if dir == "" {
		t.Skipf("OpenLineage %s schemas not found: set %s or put spec/OpenLineage.json and spec/facets/*.json of that release in shared/openlineage/spec beside the repository",
			openlineage.SpecVersion, specDirEnv)
	}
	validatorOnce.Do(func() { sharedV, sharedErr = loadValidator(dir, "facets") })
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return sharedV
}

func loadValidator(dirs ...string) (*validator, error) {
	c := jsonschema.NewCompiler()
	c.UseLoader(noNetwork{})
	c.AssertFormat()
	ids := map[string]string{}
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			m, _ := doc.(map[string]any)
			id, _ := m["$id"].(string)
			if id == "" {
				return fmt.Errorf("%s: no $id", path)
			}
			if prev, ok := ids[id]; ok {
				return fmt.Errorf("%s and %s have the same $id %s", prev, path, id)
			}
			ids[id] = path
			return c.AddResource(id, doc)
		})
		if err != nil {
			return nil, fmt.Errorf("load schemas from %s: %w", dir, err)
		}
	}
	core := "https://openlineage.io/spec/" + openlineage.SpecVersion + "/OpenLineage.json"
	if _, ok := ids[core]; !ok {
		return nil, fmt.Errorf("no schema with $id %s (the core schema of the spec version the package claims) in %v", core, dirs)
	}
	if openlineage.SchemaURL != core+"#/$defs/RunEvent" {
		return nil, fmt.Errorf("SchemaURL %s is not the RunEvent of %s", openlineage.SchemaURL, core)
	}
	runEvent, err := c.Compile(openlineage.SchemaURL)
	if err != nil {
		return nil, fmt.Errorf("compile %s: %w", openlineage.SchemaURL, err)
	}
	return &validator{runEvent: runEvent, compiler: c, facets: map[string]*jsonschema.Schema{}}, nil
}

func (v *validator) facetSchema(url string) (*jsonschema.Schema, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if s, ok := v.facets[url]; ok {
		return s, nil
	}
	s, err := v.compiler.Compile(url)
	if err != nil {
		return nil, fmt.Errorf("compile %s: %w", url, err)
	}
	v.facets[url] = s
	return s, nil
}

// validate checks the JSON document doc of a RunEvent: against the core
// RunEvent schema, then every facet against the schema its key calls for
// (its definition, and the facet file's root under the facet's key).
func (v *validator) validate(doc []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return err
	}
	if err := v.runEvent.Validate(inst); err != nil {
		return fmt.Errorf("RunEvent: %w", err)
	}
	var errs []error
	for where, facets := range facetMaps(inst) {
		for key, facet := range facets {
			want, ok := facetSchemas[key]
			if !ok {
				errs = append(errs, fmt.Errorf("%s.%s: a facet the test knows no schema for", where, key))
				continue
			}
			f, _ := facet.(map[string]any)
			if got, _ := f["_schemaURL"].(string); got != want {
				errs = append(errs, fmt.Errorf("%s.%s: _schemaURL %q, want %q", where, key, got, want))
				continue
			}
			if got, _ := f["_producer"].(string); got != openlineage.Producer {
				errs = append(errs, fmt.Errorf("%s.%s: _producer %q", where, key, got))
			}
			def, err := v.facetSchema(want)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if err := def.Validate(facet); err != nil {
				errs = append(errs, fmt.Errorf("%s.%s: %w", where, key, err))
			}
			root, err := v.facetSchema(strings.SplitN(want, "#", 2)[0])
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if err := root.Validate(map[string]any{key: facet}); err != nil {
				errs = append(errs, fmt.Errorf("%s: {%q: ...}: %w", where, key, err))
			}
		}
	}
	return errors.Join(errs...)
}

// facetMaps returns every facet container of a RunEvent document, by
// where it is (run.facets, inputs[0].facets, ...).
func facetMaps(inst any) map[string]map[string]any {
	out := map[string]map[string]any{}
	ev, _ := inst.(map[string]any)
	add := func(where string, obj any, key string) {
		o, _ := obj.(map[string]any)
		if m, ok := o[key].(map[string]any); ok {
			out[where+"."+key] = m
		}
	}
	add("run", ev["run"], "facets")
	add("job", ev["job"], "facets")
	for _, list := range []string{"inputs", "outputs"} {
		ds, _ := ev[list].([]any)
		for i, d := range ds {
			where := fmt.Sprintf("%s[%d]", list, i)
			add(where, d, "facets")
			add(where, d, "inputFacets")
			add(where, d, "outputFacets")
		}
	}
	return out
}

// allEvents returns every event of every scenario the tests build, by name.
func allEvents(t *testing.T) map[string]openlineage.RunEvent {
	t.Helper()
	out := map[string]openlineage.RunEvent{}
	add := func(name string, evs []openlineage.RunEvent) {
		for i, ev := range evs {
			out[fmt.Sprintf("%s/%d-%s", name, i, ev.EventType)] = ev
		}
	}
	js := jobStarted()
	add("job-succeeded", mustJob(t, js, jobSucceeded(js)))
	add("job-failed", mustJob(t, js, jobFailed(js)))
	js2 := retried(js, 2, t2)
	add("job-retry-succeeded", mustJob(t, js2, jobSucceeded(js2)))
	bare := jobStarted()
	bare.Inputs, bare.Transform, bare.Runner, bare.Trigger, bare.TransformHash = nil, nil, "", "", ""
	add("job-bare", mustJob(t, bare, jobFailed(bare)))

	bp := batchPlanned()
	add("batch-complete", mustBatch(t, bp, &openlineage.BatchOutcome{
		Processed: []*events.FileProcessed{processed(bp, 0, 8, 99, t1), processed(bp, 1, 8, 99, t1)},
		Commit:    committed(bp, 8, 99, t1),
	}))
	add("batch-partial", mustBatch(t, bp, &openlineage.BatchOutcome{
		Processed: []*events.FileProcessed{processed(bp, 0, 8, 99, t1)},
		Failed:    []*events.FileFailed{failed(bp, 1, t1)},
		Commit:    committed(bp, 8, 99, t1),
	}))
	add("batch-deduplicated", mustBatch(t, bp, &openlineage.BatchOutcome{
		Processed: []*events.FileProcessed{processed(bp, 0, 8, 99, t1)},
	}))
	add("batch-failed", mustBatch(t, bp, &openlineage.BatchOutcome{
		Failed: []*events.FileFailed{failed(bp, 0, t1), failed(bp, 1, t2)},
	}))
	return out
}

// TestSchemaValid validates every event the tests produce against the
// OpenLineage schemas and every facet against its schema.
func TestSchemaValid(t *testing.T) {
	v := newValidator(t)
	evs := allEvents(t)
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range evs {
			if !yield(n) {
				return
			}
		}
	})
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			doc, err := json.Marshal(evs[name])
			if err != nil {
				t.Fatal(err)
			}
			if err := v.validate(doc); err != nil {
				t.Errorf("%s\n%s", err, doc)
			}
		})
	}
}

// TestSchemaRejects shows that the validation can fail: each mutation of a
// valid event breaks one rule of the spec or of a facet schema.
func TestSchemaRejects(t *testing.T) {
	v := newValidator(t)
	js := jobStarted()
	evs := mustJob(t, js, jobFailed(js))
	base, err := json.Marshal(evs[1])
	if err != nil {
		t.Fatal(err)
	}
	if err := v.validate(base); err != nil {
		t.Fatalf("the unmutated event is invalid: %v", err)
	}
	tests := []struct {
		name   string
		mutate func(ev map[string]any)
	}{
		{"unknown event type", func(ev map[string]any) { ev["eventType"] = "DONE" }},
		{"run id not a UUID", func(ev map[string]any) { obj(ev, "run")["runId"] = "j-1/1" }},
		{"event time not a date-time", func(ev map[string]any) { ev["eventTime"] = "yesterday" }},
		{"no job name", func(ev map[string]any) { delete(obj(ev, "job"), "name") }},
		{"no run", func(ev map[string]any) { delete(ev, "run") }},
		{"no producer", func(ev map[string]any) { delete(ev, "producer") }},
		{"inputs not an array", func(ev map[string]any) { ev["inputs"] = map[string]any{} }},
		{"input without namespace", func(ev map[string]any) { delete(ev["inputs"].([]any)[0].(map[string]any), "namespace") }},
		{"facet without _producer", func(ev map[string]any) { delete(obj(obj(obj(ev, "run"), "facets"), "logmesh_job"), "_producer") }},
		{"errorMessage without programmingLanguage", func(ev map[string]any) {
			delete(obj(obj(obj(ev, "run"), "facets"), "errorMessage"), "programmingLanguage")
		}},
		{"errorMessage under another key", func(ev map[string]any) {
			f := obj(obj(ev, "run"), "facets")
			f["logmesh_job"], f["errorMessage"] = f["errorMessage"], f["logmesh_job"]
		}},
		{"snapshot id a string", func(ev map[string]any) {
			in := ev["inputs"].([]any)[0].(map[string]any)
			obj(obj(in, "facets"), "logmesh_iceberg")["snapshotId"] = "8237461923847561234"
		}},
		{"attempt 0", func(ev map[string]any) { obj(obj(obj(ev, "run"), "facets"), "logmesh_job")["attempt"] = 0 }},
		{"datasetVersion a number", func(ev map[string]any) {
			in := ev["inputs"].([]any)[1].(map[string]any)
			obj(obj(in, "facets"), "version")["datasetVersion"] = 42
		}},
		{"unknown facet", func(ev map[string]any) {
			obj(obj(ev, "job"), "facets")["acme_thing"] = map[string]any{"_producer": openlineage.Producer, "_schemaURL": "https://example.com/x.json"}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ev map[string]any
			if err := json.Unmarshal(base, &ev); err != nil {
				t.Fatal(err)
			}
			tt.mutate(ev)
			doc, err := json.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			err = v.validate(doc)
			if err == nil {
				t.Fatalf("validation passed, want a failure:\n%s", doc)
			}
			t.Logf("rejected: %v", err)
		})
	}
}

func obj(m map[string]any, key string) map[string]any {
	o, _ := m[key].(map[string]any)
	if o == nil {
		panic("no object " + key)
	}
	return o
}

// TestCustomFacetSchemas checks logmesh's facet schemas without the
// OpenLineage ones: each is JSON with the $id its _schemaURL names.
func TestCustomFacetSchemas(t *testing.T) {
	for _, url := range []string{openlineage.JobRunSchemaURL, openlineage.BatchRunSchemaURL, openlineage.IcebergDatasetSchemaURL} {
		id, frag, _ := strings.Cut(url, "#")
		const prefix = openlineage.Producer + "/blob/main/internal/openlineage/"
		if !strings.HasPrefix(id, prefix) {
			t.Errorf("%s is not under %s", url, prefix)
			continue
		}
		b, err := os.ReadFile(strings.TrimPrefix(id, prefix))
		if err != nil {
			t.Errorf("%s: %v", url, err)
			continue
		}
		var doc struct {
			ID   string                     `json:"$id"`
			Defs map[string]json.RawMessage `json:"$defs"`
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Errorf("%s: %v", id, err)
			continue
		}
		if doc.ID != id {
			t.Errorf("%s: $id %s", id, doc.ID)
		}
		if _, ok := doc.Defs[strings.TrimPrefix(frag, "/$defs/")]; !ok {
			t.Errorf("%s: no definition %s", id, frag)
		}
	}
}
