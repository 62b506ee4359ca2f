package planner_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/processors/planner"
	"github.com/logmesh/logmesh/projections/audit"
	"github.com/logmesh/logmesh/state"
)

// files is enough landed files for Upgrade to commit more than one batch.
const files = 6_000

// folded returns a store holding the audit of files landed files over
// three partitions, a third of them batched.
func folded(t *testing.T) *state.Store {
	t.Helper()
	st, err := state.Open("", &state.Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	b := st.NewBatch()
	defer b.Close()
	table, feed := "raw.t", "t"
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	for i := range files {
		key, sum := fmt.Sprintf("t/%05d.csv", i), fmt.Sprintf("%064x", i)
		id := events.DeriveID(key, sum)
		ev := &events.FileLanded{Envelope: events.Envelope{EventID: "landed-" + key, OccurredAt: at, Domain: events.DomainRaw, CorrelationID: id},
			Key: key, Checksum: sum, Source: events.SourceLocal, Table: &table, Feed: &feed}
		if err := (audit.Projection{}).Apply(b.Scope("logmesh.raw.events", int32(i%3)), ev); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			bp := &events.BatchPlanned{Envelope: events.Envelope{EventID: "planned-" + key, OccurredAt: at, Domain: events.DomainRaw, CorrelationID: "b-" + key},
				BatchID: "b-" + key, Table: table, Feed: feed, Trigger: "interval",
				Files: []events.BatchFile{{Key: key, Checksum: sum, LandedEventID: "landed-" + key}}}
			if err := (audit.Projection{}).Apply(b.Scope("logmesh.raw.batches", 0), bp); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := b.Commit(false); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestUpgrade(t *testing.T) {
	st := folded(t)
	want, err := st.DigestAll()
	if err != nil {
		t.Fatal(err)
	}
	if n, err := planner.UpgradeAudit(st); n != 0 || err != nil {
		t.Fatalf("Upgrade of an indexed store: %d, %v; want 0", n, err)
	}
	unindex(t, st)
	if p, err := audit.Pending(st); err != nil || len(p) != 0 {
		t.Fatalf("an unindexed store has pending files: %v %v", p, err)
	}
	n, err := planner.UpgradeAudit(st)
	if err != nil || n != files+files/3 {
		t.Fatalf("Upgrade: %d, %v; want %d entries", n, err, files+files/3)
	}
	if got, err := st.DigestAll(); err != nil || got != want {
		t.Fatalf("the upgraded store is not what the fold wrote (%v)", err)
	}
	p, err := audit.Pending(st)
	if err != nil || len(p["raw.t"]) != files-files/3 {
		t.Fatalf("%d files pending after Upgrade (%v), want %d", len(p["raw.t"]), err, files-files/3)
	}
}
