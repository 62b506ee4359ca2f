package catalog_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/mesh"
	"github.com/logmesh/logmesh/projections"
	"github.com/logmesh/logmesh/projections/audit"
	"github.com/logmesh/logmesh/projections/catalog"
	"github.com/logmesh/logmesh/projections/definitions"
	"github.com/logmesh/logmesh/projections/pointers"
	"github.com/logmesh/logmesh/projections/projectiontest"
)

const testMesh = `domains:
  - name: raw
feeds:
  - {name: a, table: raw.a, key_pattern: "a/*.csv", format: csv, options: {header: true},
     schema: {type: record, name: A, fields: [{name: id, type: string}]}}
`

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

// history is a log touching every part of the catalog: definitions, a
// landed file, its batch and its outcome, the table version it made, a
// job attempt, and a file event the audit refuses.
func history(t *testing.T) []events.Event {
	t.Helper()
	m, err := mesh.Parse([]byte(testMesh), "mesh.yaml", ".")
	if err != nil {
		t.Fatal(err)
	}
	id := events.DeriveID("a/1.csv", "c1")
	table, feed := "raw.a", "a"
	evs := m.Definitions(t0)
	env := func(eventID string, sec int, corr string) events.Envelope {
		return events.Envelope{EventID: eventID, OccurredAt: t0.Add(time.Duration(sec) * time.Second), Domain: events.DomainRaw, CorrelationID: corr}
	}
	wrong := &events.FileLanded{Envelope: env("fl-wrong", 1, "not-the-file-id"), Key: "a/2.csv", Checksum: "c2",
		Source: events.SourceLocal, Table: &table, Feed: &feed}
	return append(evs,
		&events.FileLanded{Envelope: env("fl1", 1, id), Key: "a/1.csv", Checksum: "c1", Size: 10, Source: events.SourceLocal,
			Table: &table, Feed: &feed},
		wrong,
		&events.BatchPlanned{Envelope: env("bp1", 2, "batch-1"), BatchID: "batch-1", Table: table, Feed: feed, Trigger: "interval",
			TotalBytes: 10, Files: []events.BatchFile{{Key: "a/1.csv", Checksum: "c1", Size: 10, LandedEventID: "fl1"}}},
		&events.FileProcessed{Envelope: env("fp1", 3, id), FileKey: "a/1.csv", FileChecksum: "c1", Table: table, BatchID: "batch-1",
			TableVersion: new(int64(1)), RecordsRead: 2, RecordsLoaded: 2},
		&events.TableCommitted{Envelope: env("tc1", 3, "batch-1"), Table: table, Version: 1, MetadataLocation: "file:///m/v1.json",
			SnapshotID: 100, Operation: "append", RowsTotal: 2, BatchID: new("batch-1")},
		&events.JobStarted{Envelope: events.Envelope{EventID: "js1", OccurredAt: t0.Add(4 * time.Second), Domain: "raw"},
			JobID: "job-1", Product: "raw.a", Attempt: 1, Trigger: "inputs", OutputTable: table, TransformHash: "h", Runner: "duckdb",
			OwnerDomain: "raw", Visibility: "domain", Mode: "append", PrimaryKey: []string{}},
	)
}

// fold applies evs to a fresh store with p, leaving out what p refuses.
func fold(t *testing.T, p projections.Projection, evs []events.Event) projectiontest.MemStore {
	t.Helper()
	s := projectiontest.MemStore{}
	for _, ev := range evs {
		// A refused event leaves nothing in the store, as a host's
		// overlay discards it.
		trial := projectiontest.MemStore{}
		for k, v := range s {
			trial[k] = v
		}
		err := p.Apply(trial, ev)
		switch {
		case err == nil:
			s = trial
		case errors.Is(err, projections.ErrInvariant):
		default:
			t.Fatalf("%s: apply %s: %v", p.Name(), ev.Name(), err)
		}
	}
	return s
}

// The catalog holds exactly what its parts hold, each part's keys apart
// from the others': the definitions, the pointers and the audit folded on
// their own, and the catalog's own job attempts, batches and published
// definitions.
func TestCatalogIsItsPartsWithoutOverlap(t *testing.T) {
	evs := history(t)
	got := fold(t, catalog.Projection{}, evs)
	owner := map[string]string{}
	for _, part := range []projections.Projection{definitions.Projection{}, pointers.Projection{}, audit.Projection{}} {
		for k, v := range fold(t, part, evs) {
			if o, ok := owner[k]; ok {
				t.Errorf("key %q is both %s's and %s's", k, o, part.Name())
			}
			owner[k] = part.Name()
			if !bytes.Equal(got[k], v) {
				t.Errorf("key %q of %s: catalog holds %q, %s alone %q", k, part.Name(), got[k], part.Name(), v)
			}
		}
	}
	parts := map[string]int{}
	for k := range got {
		o, ok := owner[k]
		if !ok && (strings.HasPrefix(k, "ib/") || strings.HasPrefix(k, "r/") || strings.HasPrefix(k, "pd/")) {
			o, ok = "catalog", true
		}
		if !ok {
			t.Errorf("key %q is no part's", k)
		}
		parts[o]++
	}
	for _, p := range []string{"definitions", "pointers", "audit", "catalog"} {
		if parts[p] == 0 {
			t.Errorf("the history leaves nothing of %s: the test does not cover it", p)
		}
	}
	// The file the audit refused is not in the catalog's audit; the other is.
	files, err := audit.Files(scanner(got))
	if err != nil || len(files) != 1 || files[0].Key != "a/1.csv" || files[0].Status != audit.StatusProcessed {
		t.Errorf("the catalog's audit: %+v, %v", files, err)
	}
}

// scanner reads one MemStore as a store of one scope.
type scanner projectiontest.MemStore

func (s scanner) ScanAll(prefix []byte, fn func(scope string, key, value []byte) error) error {
	return (&projectiontest.Scopes{M: map[string]projectiontest.MemStore{"only": projectiontest.MemStore(s)}}).ScanAll(prefix, fn)
}
