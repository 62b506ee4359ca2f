package openlineage_test

import (
	"encoding/json"
	"errors"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/openlineage"
)

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestJobEventsPinnedInputs(t *testing.T) {
	js := jobStarted()
	for _, ev := range mustJob(t, js, jobSucceeded(js)) {
		if len(ev.Inputs) != len(js.Inputs) {
			t.Fatalf("%s: %d inputs, want %d", ev.EventType, len(ev.Inputs), len(js.Inputs))
		}
		for i, in := range js.Inputs {
			got := ev.Inputs[i]
			if got.Namespace != ns.Tables || got.Name != in.Table {
				t.Errorf("%s input %d = %s %s, want %s %s", ev.EventType, i, got.Namespace, got.Name, ns.Tables, in.Table)
			}
			if v := got.Facets.Version; v == nil || v.DatasetVersion != strconv.FormatInt(in.SnapshotID, 10) {
				t.Errorf("%s input %s: version facet %+v, want datasetVersion %d", ev.EventType, in.Table, v, in.SnapshotID)
			}
			ice := got.Facets.Iceberg
			if ice == nil || ice.Version != in.Version || ice.SnapshotID != in.SnapshotID || ice.MetadataLocation != in.MetadataLocation {
				t.Errorf("%s input %s: logmesh_iceberg %+v, want version %d snapshot %d at %s",
					ev.EventType, in.Table, ice, in.Version, in.SnapshotID, in.MetadataLocation)
			}
		}
	}
}

func TestJobEventsComplete(t *testing.T) {
	js := jobStarted()
	jf := jobSucceeded(js)
	evs := mustJob(t, js, jf)
	if len(evs) != 2 || evs[0].EventType != openlineage.EventStart || evs[1].EventType != openlineage.EventComplete {
		t.Fatalf("events %v, want START, COMPLETE", types(evs))
	}
	start, end := evs[0], evs[1]
	for _, ev := range evs {
		if ev.Job.Namespace != ns.Job || ev.Job.Name != js.Product {
			t.Errorf("%s job = %s/%s, want %s/%s", ev.EventType, ev.Job.Namespace, ev.Job.Name, ns.Job, js.Product)
		}
		if ev.Producer != openlineage.Producer || ev.SchemaURL != openlineage.SchemaURL {
			t.Errorf("%s producer %s schemaURL %s", ev.EventType, ev.Producer, ev.SchemaURL)
		}
		if len(ev.Outputs) != 1 || ev.Outputs[0].Namespace != ns.Tables || ev.Outputs[0].Name != js.OutputTable {
			t.Errorf("%s outputs %+v, want %s", ev.EventType, ev.Outputs, js.OutputTable)
		}
		if sql := ev.Job.Facets.SQL; sql == nil || sql.Query != *js.Transform || sql.Dialect != "duckdb" {
			t.Errorf("%s sql facet %+v", ev.EventType, sql)
		}
	}
	if !start.EventTime.Equal(js.Envelope.OccurredAt) || !end.EventTime.Equal(jf.Envelope.OccurredAt) {
		t.Errorf("event times %v, %v; want %v, %v", start.EventTime, end.EventTime, js.Envelope.OccurredAt, jf.Envelope.OccurredAt)
	}
	if f := start.Outputs[0].Facets; f.Version != nil || f.Iceberg != nil {
		t.Errorf("START names an output version: %+v", f)
	}
	out := end.Outputs[0]
	if out.Facets.Iceberg == nil || out.Facets.Iceberg.Version != *jf.OutputVersion || out.Facets.Iceberg.SnapshotID != *jf.OutputSnapshotID {
		t.Errorf("COMPLETE output version %+v, want %d/%d", out.Facets.Iceberg, *jf.OutputVersion, *jf.OutputSnapshotID)
	}
	if out.Facets.Version == nil || out.Facets.Version.DatasetVersion != strconv.FormatInt(*jf.OutputSnapshotID, 10) {
		t.Errorf("COMPLETE version facet %+v", out.Facets.Version)
	}
	if s := out.OutputFacets.OutputStatistics; s == nil || s.RowCount == nil || *s.RowCount != jf.RowsWritten {
		t.Errorf("COMPLETE output statistics %+v, want %d rows", s, jf.RowsWritten)
	}
	if end.Run.Facets.ErrorMessage != nil {
		t.Errorf("COMPLETE has an error message: %+v", end.Run.Facets.ErrorMessage)
	}
	if f := end.Run.Facets.Job; f == nil || f.JobID != js.JobID || f.Attempt != js.Attempt || f.DurationMs == nil || *f.DurationMs != jf.DurationMs {
		t.Errorf("COMPLETE logmesh_job %+v", f)
	}
}

func TestJobEventsFail(t *testing.T) {
	js := jobStarted()
	jf := jobFailed(js)
	evs := mustJob(t, js, jf)
	if len(evs) != 2 || evs[1].EventType != openlineage.EventFail {
		t.Fatalf("events %v, want START, FAIL", types(evs))
	}
	end := evs[1]
	em := end.Run.Facets.ErrorMessage
	if em == nil || em.Message != *jf.Error || em.ProgrammingLanguage == "" {
		t.Errorf("FAIL error message %+v, want %q", em, *jf.Error)
	}
	if f := end.Outputs[0]; f.Facets.Version != nil || f.Facets.Iceberg != nil || f.OutputFacets.OutputStatistics != nil {
		t.Errorf("FAIL names an output version: %+v", f)
	}
	if f := end.Run.Facets.Job; f == nil || f.WillRetry == nil || !*f.WillRetry {
		t.Errorf("FAIL logmesh_job %+v, want willRetry", f)
	}
	if len(end.Inputs) != len(js.Inputs) {
		t.Errorf("FAIL has %d inputs, want %d", len(end.Inputs), len(js.Inputs))
	}

	// No error text: a generic message, still an errorMessage facet.
	jf.Error = nil
	evs = mustJob(t, js, jf)
	if em := evs[1].Run.Facets.ErrorMessage; em == nil || em.Message == "" {
		t.Errorf("FAIL without error text: error message %+v", em)
	}
}

func TestJobEventsStartOnly(t *testing.T) {
	evs := mustJob(t, jobStarted(), nil)
	if len(evs) != 1 || evs[0].EventType != openlineage.EventStart {
		t.Fatalf("events %v, want START", types(evs))
	}
}

func TestJobRunIDs(t *testing.T) {
	js1 := jobStarted()
	a1 := mustJob(t, js1, jobFailed(js1))
	js2 := retried(js1, 2, t2)
	a2 := mustJob(t, js2, jobSucceeded(js2))
	other := jobStarted()
	other.JobID = "j-2"
	b1 := mustJob(t, other, nil)

	if a1[0].Run.RunID != a1[1].Run.RunID {
		t.Errorf("attempt 1: START run %s, FAIL run %s", a1[0].Run.RunID, a1[1].Run.RunID)
	}
	if a2[0].Run.RunID != a2[1].Run.RunID {
		t.Errorf("attempt 2: START run %s, COMPLETE run %s", a2[0].Run.RunID, a2[1].Run.RunID)
	}
	if a1[0].Run.RunID == a2[0].Run.RunID {
		t.Errorf("attempts 1 and 2 share run %s", a1[0].Run.RunID)
	}
	if b1[0].Run.RunID == a1[0].Run.RunID {
		t.Errorf("jobs j-1 and j-2 share run %s", b1[0].Run.RunID)
	}
	if got, want := a2[0].Run.RunID, openlineage.RunID("j-1", 2); got != want {
		t.Errorf("run %s, want RunID(j-1, 2) = %s", got, want)
	}
	for _, id := range []string{a1[0].Run.RunID, a2[0].Run.RunID, b1[0].Run.RunID, openlineage.BatchRunID("b-1")} {
		if !uuidRE.MatchString(id) {
			t.Errorf("run id %q is not a UUID", id)
		}
	}
	if openlineage.BatchRunID("j-1") == openlineage.RunID("j-1", 1) {
		t.Errorf("a batch and a job of the same id share a run")
	}
	// The mapping has no state: the same facts, the same id.
	if again := mustJob(t, jobStarted(), nil); again[0].Run.RunID != a1[0].Run.RunID {
		t.Errorf("run id changed between calls: %s, %s", a1[0].Run.RunID, again[0].Run.RunID)
	}
}

func TestJobEventsErrors(t *testing.T) {
	tests := []struct {
		name string
		ns   openlineage.Namespaces
		js   func() *events.JobStarted
		jf   func(*events.JobStarted) *events.JobFinished
		want error
	}{
		{"no JobStarted", ns, func() *events.JobStarted { return nil }, nil, openlineage.ErrInvalid},
		{"no job namespace", openlineage.Namespaces{Tables: "t", Landing: "l"}, jobStarted, nil, openlineage.ErrInvalid},
		{"no tables namespace", openlineage.Namespaces{Job: "j", Landing: "l"}, jobStarted, nil, openlineage.ErrInvalid},
		{"no job id", ns, func() *events.JobStarted { j := jobStarted(); j.JobID = ""; return j }, nil, openlineage.ErrInvalid},
		{"no product", ns, func() *events.JobStarted { j := jobStarted(); j.Product = ""; return j }, nil, openlineage.ErrInvalid},
		{"no output table", ns, func() *events.JobStarted { j := jobStarted(); j.OutputTable = ""; return j }, nil, openlineage.ErrInvalid},
		{"attempt 0", ns, func() *events.JobStarted { j := jobStarted(); j.Attempt = 0; return j }, nil, openlineage.ErrInvalid},
		{"no time", ns, func() *events.JobStarted { j := jobStarted(); j.Envelope.OccurredAt = time.Time{}; return j }, nil, openlineage.ErrInvalid},
		{"input without table", ns, func() *events.JobStarted { j := jobStarted(); j.Inputs[1].Table = ""; return j }, nil, openlineage.ErrInvalid},
		{"finish of another attempt", ns, jobStarted, func(js *events.JobStarted) *events.JobFinished {
			jf := jobSucceeded(js)
			jf.Attempt = 2
			return jf
		}, openlineage.ErrMismatch},
		{"finish of another job", ns, jobStarted, func(js *events.JobStarted) *events.JobFinished {
			jf := jobSucceeded(js)
			jf.JobID = "j-2"
			return jf
		}, openlineage.ErrMismatch},
		{"finish of another product", ns, jobStarted, func(js *events.JobStarted) *events.JobFinished {
			jf := jobSucceeded(js)
			jf.Product = "eq.other"
			return jf
		}, openlineage.ErrMismatch},
		{"unknown status", ns, jobStarted, func(js *events.JobStarted) *events.JobFinished {
			jf := jobSucceeded(js)
			jf.Status = "CANCELLED"
			return jf
		}, openlineage.ErrInvalid},
		{"finish without time", ns, jobStarted, func(js *events.JobStarted) *events.JobFinished {
			jf := jobSucceeded(js)
			jf.Envelope.OccurredAt = time.Time{}
			return jf
		}, openlineage.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := tt.js()
			var jf *events.JobFinished
			if tt.jf != nil {
				jf = tt.jf(start)
			}
			evs, err := openlineage.JobEvents(tt.ns, start, jf)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if evs != nil {
				t.Errorf("events %v with an error", types(evs))
			}
		})
	}
}

func TestJobGolden(t *testing.T) {
	js := jobStarted()
	ok := mustJob(t, js, jobSucceeded(js))
	fail := mustJob(t, js, jobFailed(js))
	golden(t, "job_start.json", marshal(t, ok[0]))
	golden(t, "job_complete.json", marshal(t, ok[1]))
	golden(t, "job_fail.json", marshal(t, fail[1]))
}

// TestJSONRoundTrip checks that an event decodes into the same value, so
// the Go types carry every field they write.
func TestJSONRoundTrip(t *testing.T) {
	for name, ev := range allEvents(t) {
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		var back openlineage.RunEvent
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b2, err := json.Marshal(back)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != string(b2) {
			t.Errorf("%s: round trip changed the event\n%s\n%s", name, b, b2)
		}
	}
}

func types(evs []openlineage.RunEvent) []openlineage.EventType {
	var out []openlineage.EventType
	for _, ev := range evs {
		out = append(out, ev.EventType)
	}
	return out
}
