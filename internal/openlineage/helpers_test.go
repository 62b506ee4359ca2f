package openlineage_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/openlineage"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

var ns = openlineage.Namespaces{Job: "logmesh", Tables: "iceberg://logmesh", Landing: "s3://landing"}

var (
	t0 = time.Date(2026, 3, 2, 9, 30, 0, 123456000, time.UTC)
	t1 = t0.Add(42 * time.Second)
	t2 = t0.Add(43 * time.Second)
)

const transformHash = "5f1c0e0d7f3a4b2e9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b"

// jobStarted is attempt 1 of job j-1 of product eq.positions, pinned to
// raw.trades v7 and eq.prices v3.
func jobStarted() *events.JobStarted {
	return &events.JobStarted{
		Envelope:  events.Envelope{EventID: "js-1", OccurredAt: t0, Domain: "eq", CorrelationID: "j-1"},
		JobID:     "j-1",
		Product:   "eq.positions",
		Attempt:   1,
		Trigger:   "inputs",
		Transform: new("SELECT account, sum(qty) AS qty FROM trades GROUP BY account"),
		Inputs: []events.InputVersion{
			{Name: "raw.trades", Table: "raw.trades", Version: 7, SnapshotID: 8237461923847561234,
				MetadataLocation: "s3://lake/warehouse/raw/trades/metadata/00007-a.metadata.json"},
			{Name: "eq.prices", Table: "eq.prices", Version: 3, SnapshotID: 42,
				MetadataLocation: "s3://lake/warehouse/eq/prices/metadata/00003-b.metadata.json"},
		},
		OutputTable:   "eq.positions",
		TransformHash: transformHash,
		Runner:        "duckdb",
		OwnerDomain:   "eq",
		Visibility:    events.VisibilityDomain,
		Mode:          "append",
	}
}

// retried returns js as attempt n, started at t.
func retried(js *events.JobStarted, n int32, t time.Time) *events.JobStarted {
	c := *js
	c.Attempt, c.Trigger, c.Envelope.OccurredAt = n, "retry", t
	c.Envelope.EventID = js.Envelope.EventID + "-retry"
	return &c
}

func jobSucceeded(js *events.JobStarted) *events.JobFinished {
	return &events.JobFinished{
		Envelope:         events.Envelope{EventID: "jf-ok", OccurredAt: t1, Domain: "eq", CorrelationID: js.JobID, CausationID: js.Envelope.EventID},
		JobID:            js.JobID,
		Product:          js.Product,
		Attempt:          js.Attempt,
		Status:           events.StatusSucceeded,
		OutputVersion:    new(int64(12)),
		OutputSnapshotID: new(int64(777000111222)),
		RowsWritten:      1500,
		DurationMs:       41870,
	}
}

func jobFailed(js *events.JobStarted) *events.JobFinished {
	return &events.JobFinished{
		Envelope:   events.Envelope{EventID: "jf-fail", OccurredAt: t1, Domain: "eq", CorrelationID: js.JobID, CausationID: js.Envelope.EventID},
		JobID:      js.JobID,
		Product:    js.Product,
		Attempt:    js.Attempt,
		Status:     events.StatusFailed,
		Error:      new("Binder Error: Referenced column \"qty\" not found"),
		DurationMs: 812,
		WillRetry:  true,
	}
}

// batchPlanned is batch b-1 of two files for raw.trades.
func batchPlanned() *events.BatchPlanned {
	return &events.BatchPlanned{
		Envelope: events.Envelope{EventID: "bp-1", OccurredAt: t0, Domain: "raw", CorrelationID: "b-1"},
		BatchID:  "b-1",
		Table:    "raw.trades",
		Feed:     "trades",
		Trigger:  "size",
		Files: []events.BatchFile{
			{Key: "trades/2026-03-02/a.csv", Checksum: "aa11" + transformHash[4:], Size: 1000, LandedEventID: "fl-a"},
			{Key: "trades/2026-03-02/b.csv", Checksum: "bb22" + transformHash[4:], Size: 2000, LandedEventID: "fl-b"},
		},
		TotalBytes: 3000,
	}
}

func processed(bp *events.BatchPlanned, i int, version, snapshot int64, at time.Time) *events.FileProcessed {
	f := bp.Files[i]
	return &events.FileProcessed{
		Envelope:      events.Envelope{EventID: "fp-" + f.Key, OccurredAt: at, Domain: "raw", CorrelationID: f.Key},
		BatchID:       bp.BatchID,
		Table:         bp.Table,
		FileKey:       f.Key,
		FileChecksum:  f.Checksum,
		RecordsRead:   10,
		RecordsLoaded: 10,
		TableVersion:  new(version),
		SnapshotID:    new(snapshot),
	}
}

func failed(bp *events.BatchPlanned, i int, at time.Time) *events.FileFailed {
	f := bp.Files[i]
	return &events.FileFailed{
		Envelope:     events.Envelope{EventID: "ff-" + f.Key, OccurredAt: at, Domain: "raw", CorrelationID: f.Key},
		BatchID:      new(bp.BatchID),
		Table:        new(bp.Table),
		FileKey:      f.Key,
		FileChecksum: new(f.Checksum),
		Stage:        "parse",
		Reason:       "line 3: 4 fields, want 5",
		Attempt:      1,
	}
}

func committed(bp *events.BatchPlanned, version, snapshot int64, at time.Time) *events.TableCommitted {
	return &events.TableCommitted{
		Envelope:         events.Envelope{EventID: "tc-1", OccurredAt: at, Domain: "raw", CorrelationID: bp.BatchID},
		Table:            bp.Table,
		Version:          version,
		SnapshotID:       snapshot,
		MetadataLocation: "s3://lake/warehouse/raw/trades/metadata/00008-c.metadata.json",
		Operation:        "append",
		BatchID:          new(bp.BatchID),
		RowsAdded:        20,
		RowsTotal:        120,
		DataFilesAdded:   1,
		BytesAdded:       4096,
	}
}

// mustJob is JobEvents that fails t on an error.
func mustJob(t *testing.T, js *events.JobStarted, jf *events.JobFinished) []openlineage.RunEvent {
	t.Helper()
	evs, err := openlineage.JobEvents(ns, js, jf)
	if err != nil {
		t.Fatalf("JobEvents: %v", err)
	}
	return evs
}

// mustBatch is BatchEvents that fails t on an error.
func mustBatch(t *testing.T, bp *events.BatchPlanned, out *openlineage.BatchOutcome) []openlineage.RunEvent {
	t.Helper()
	evs, err := openlineage.BatchEvents(ns, bp, out)
	if err != nil {
		t.Fatalf("BatchEvents: %v", err)
	}
	return evs
}

func marshal(t *testing.T, ev openlineage.RunEvent) []byte {
	t.Helper()
	b, err := json.MarshalIndent(ev, "", "  ")
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return append(b, '\n')
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}
