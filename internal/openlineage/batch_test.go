package openlineage_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/openlineage"
)

func TestBatchEventsStart(t *testing.T) {
	bp := batchPlanned()
	for _, out := range []*openlineage.BatchOutcome{nil, {}} {
		evs := mustBatch(t, bp, out)
		if len(evs) != 1 || evs[0].EventType != openlineage.EventStart {
			t.Fatalf("outcome %+v: events %v, want START", out, types(evs))
		}
		ev := evs[0]
		if ev.Job.Namespace != ns.Job || ev.Job.Name != "ingest.raw.trades" {
			t.Errorf("job %s/%s", ev.Job.Namespace, ev.Job.Name)
		}
		if ev.Run.RunID != openlineage.BatchRunID(bp.BatchID) {
			t.Errorf("run %s, want BatchRunID(%s)", ev.Run.RunID, bp.BatchID)
		}
		if !ev.EventTime.Equal(bp.Envelope.OccurredAt) {
			t.Errorf("time %v, want %v", ev.EventTime, bp.Envelope.OccurredAt)
		}
		if len(ev.Inputs) != len(bp.Files) {
			t.Fatalf("%d inputs, want %d", len(ev.Inputs), len(bp.Files))
		}
		for i, f := range bp.Files {
			in := ev.Inputs[i]
			if in.Namespace != ns.Landing || in.Name != f.Key || in.Facets.Version == nil || in.Facets.Version.DatasetVersion != f.Checksum {
				t.Errorf("input %d = %+v, want %s %s version %s", i, in, ns.Landing, f.Key, f.Checksum)
			}
		}
		if len(ev.Outputs) != 1 || ev.Outputs[0].Namespace != ns.Tables || ev.Outputs[0].Name != bp.Table || ev.Outputs[0].Facets.Iceberg != nil {
			t.Errorf("outputs %+v", ev.Outputs)
		}
		if f := ev.Run.Facets.Batch; f == nil || f.BatchID != bp.BatchID || f.Feed != bp.Feed || f.FilesProcessed != nil {
			t.Errorf("logmesh_batch %+v", f)
		}
	}
}

func TestBatchEventsComplete(t *testing.T) {
	bp := batchPlanned()
	tc := committed(bp, 8, 99, t2)
	evs := mustBatch(t, bp, &openlineage.BatchOutcome{
		Processed: []*events.FileProcessed{processed(bp, 0, 8, 99, t1), processed(bp, 1, 8, 99, t1)},
		Commit:    tc,
	})
	if len(evs) != 2 || evs[1].EventType != openlineage.EventComplete {
		t.Fatalf("events %v, want START, COMPLETE", types(evs))
	}
	end := evs[1]
	if end.Run.RunID != evs[0].Run.RunID {
		t.Errorf("START run %s, COMPLETE run %s", evs[0].Run.RunID, end.Run.RunID)
	}
	if !end.EventTime.Equal(t2) {
		t.Errorf("COMPLETE time %v, want the latest outcome event's %v", end.EventTime, t2)
	}
	out := end.Outputs[0]
	if ice := out.Facets.Iceberg; ice == nil || ice.Version != 8 || ice.SnapshotID != 99 || ice.MetadataLocation != tc.MetadataLocation {
		t.Errorf("output version %+v, want 8/99 at %s", ice, tc.MetadataLocation)
	}
	if out.Facets.Version == nil || out.Facets.Version.DatasetVersion != "99" {
		t.Errorf("output version facet %+v, want 99", out.Facets.Version)
	}
	s := out.OutputFacets.OutputStatistics
	if s == nil || *s.RowCount != tc.RowsAdded || *s.Size != tc.BytesAdded || *s.FileCount != int64(tc.DataFilesAdded) {
		t.Errorf("output statistics %+v", s)
	}
	if f := end.Run.Facets.Batch; f == nil || f.FilesProcessed == nil || *f.FilesProcessed != 2 || len(f.FailedFiles) != 0 {
		t.Errorf("logmesh_batch %+v", f)
	}
	if end.Run.Facets.ErrorMessage != nil {
		t.Errorf("COMPLETE has an error message")
	}
}

// TestBatchEventsDeduplicated: a write that found the batch committed has
// no TableCommitted; the version comes from the FileProcessed events.
func TestBatchEventsDeduplicated(t *testing.T) {
	bp := batchPlanned()
	evs := mustBatch(t, bp, &openlineage.BatchOutcome{Processed: []*events.FileProcessed{processed(bp, 0, 5, 55, t1)}})
	if len(evs) != 2 || evs[1].EventType != openlineage.EventComplete {
		t.Fatalf("events %v, want START, COMPLETE", types(evs))
	}
	out := evs[1].Outputs[0]
	if ice := out.Facets.Iceberg; ice == nil || ice.Version != 5 || ice.SnapshotID != 55 {
		t.Errorf("output version %+v, want 5/55", ice)
	}
	if out.OutputFacets.OutputStatistics != nil {
		t.Errorf("output statistics without a commit: %+v", out.OutputFacets.OutputStatistics)
	}
}

// TestBatchEventsPartial: one file failed, the other was loaded: the run
// completed, and the failed file is in the run facet.
func TestBatchEventsPartial(t *testing.T) {
	bp := batchPlanned()
	ff := failed(bp, 1, t1)
	evs := mustBatch(t, bp, &openlineage.BatchOutcome{
		Processed: []*events.FileProcessed{processed(bp, 0, 8, 99, t1)},
		Failed:    []*events.FileFailed{ff},
		Commit:    committed(bp, 8, 99, t1),
	})
	if len(evs) != 2 || evs[1].EventType != openlineage.EventComplete {
		t.Fatalf("events %v, want START, COMPLETE", types(evs))
	}
	f := evs[1].Run.Facets.Batch
	want := openlineage.FailedFile{Key: ff.FileKey, Stage: ff.Stage, Reason: ff.Reason}
	if f == nil || *f.FilesProcessed != 1 || len(f.FailedFiles) != 1 || f.FailedFiles[0] != want {
		t.Errorf("logmesh_batch %+v, want 1 processed and %+v failed", f, want)
	}
}

func TestBatchEventsFail(t *testing.T) {
	bp := batchPlanned()
	evs := mustBatch(t, bp, &openlineage.BatchOutcome{Failed: []*events.FileFailed{failed(bp, 0, t1), failed(bp, 1, t2)}})
	if len(evs) != 2 || evs[1].EventType != openlineage.EventFail {
		t.Fatalf("events %v, want START, FAIL", types(evs))
	}
	end := evs[1]
	em := end.Run.Facets.ErrorMessage
	if em == nil || !strings.Contains(em.Message, "2 of 2 files failed") || !strings.Contains(em.Message, bp.Files[0].Key) {
		t.Errorf("error message %+v", em)
	}
	if out := end.Outputs[0]; out.Facets.Iceberg != nil || out.OutputFacets.OutputStatistics != nil {
		t.Errorf("FAIL names an output version: %+v", out)
	}
	if f := end.Run.Facets.Batch; f == nil || *f.FilesProcessed != 0 || len(f.FailedFiles) != 2 {
		t.Errorf("logmesh_batch %+v", f)
	}
	if end.Run.RunID != evs[0].Run.RunID {
		t.Errorf("START run %s, FAIL run %s", evs[0].Run.RunID, end.Run.RunID)
	}
}

func TestBatchEventsErrors(t *testing.T) {
	other := "b-2"
	tests := []struct {
		name string
		ns   openlineage.Namespaces
		bp   func() *events.BatchPlanned
		out  func(*events.BatchPlanned) *openlineage.BatchOutcome
		want error
	}{
		{"no BatchPlanned", ns, func() *events.BatchPlanned { return nil }, nil, openlineage.ErrInvalid},
		{"no landing namespace", openlineage.Namespaces{Job: "j", Tables: "t"}, batchPlanned, nil, openlineage.ErrInvalid},
		{"no batch id", ns, func() *events.BatchPlanned { b := batchPlanned(); b.BatchID = ""; return b }, nil, openlineage.ErrInvalid},
		{"no table", ns, func() *events.BatchPlanned { b := batchPlanned(); b.Table = ""; return b }, nil, openlineage.ErrInvalid},
		{"file without key", ns, func() *events.BatchPlanned { b := batchPlanned(); b.Files[1].Key = ""; return b }, nil, openlineage.ErrInvalid},
		{"processed of another batch", ns, batchPlanned, func(bp *events.BatchPlanned) *openlineage.BatchOutcome {
			p := processed(bp, 0, 8, 99, t1)
			p.BatchID = other
			return &openlineage.BatchOutcome{Processed: []*events.FileProcessed{p}}
		}, openlineage.ErrMismatch},
		{"failed of another batch", ns, batchPlanned, func(bp *events.BatchPlanned) *openlineage.BatchOutcome {
			f := failed(bp, 0, t1)
			f.BatchID = &other
			return &openlineage.BatchOutcome{Failed: []*events.FileFailed{f}}
		}, openlineage.ErrMismatch},
		{"failed of no batch", ns, batchPlanned, func(bp *events.BatchPlanned) *openlineage.BatchOutcome {
			f := failed(bp, 0, t1)
			f.BatchID = nil
			return &openlineage.BatchOutcome{Failed: []*events.FileFailed{f}}
		}, openlineage.ErrMismatch},
		{"commit of another table", ns, batchPlanned, func(bp *events.BatchPlanned) *openlineage.BatchOutcome {
			c := committed(bp, 8, 99, t1)
			c.Table = "raw.other"
			return &openlineage.BatchOutcome{Commit: c}
		}, openlineage.ErrMismatch},
		{"nil FileProcessed", ns, batchPlanned, func(*events.BatchPlanned) *openlineage.BatchOutcome {
			return &openlineage.BatchOutcome{Processed: []*events.FileProcessed{nil}}
		}, openlineage.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bp := tt.bp()
			var out *openlineage.BatchOutcome
			if tt.out != nil {
				out = tt.out(bp)
			}
			evs, err := openlineage.BatchEvents(tt.ns, bp, out)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if evs != nil {
				t.Errorf("events %v with an error", types(evs))
			}
		})
	}
}

func TestBatchGolden(t *testing.T) {
	bp := batchPlanned()
	ok := mustBatch(t, bp, &openlineage.BatchOutcome{
		Processed: []*events.FileProcessed{processed(bp, 0, 8, 99, t1)},
		Failed:    []*events.FileFailed{failed(bp, 1, t1)},
		Commit:    committed(bp, 8, 99, t2),
	})
	fail := mustBatch(t, bp, &openlineage.BatchOutcome{Failed: []*events.FileFailed{failed(bp, 0, t1), failed(bp, 1, t2)}})
	golden(t, "batch_start.json", marshal(t, ok[0]))
	golden(t, "batch_complete.json", marshal(t, ok[1]))
	golden(t, "batch_fail.json", marshal(t, fail[1]))
}
