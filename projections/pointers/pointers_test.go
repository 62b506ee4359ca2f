package pointers_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/projections"
	"github.com/logmesh/logmesh/projections/pointers"
	"github.com/logmesh/logmesh/projections/projectiontest"
)

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func commit(table string, version int64, batch string) *events.TableCommitted {
	tc := &events.TableCommitted{
		Envelope: events.Envelope{EventID: events.DeriveID("tc", table, batch), OccurredAt: t0.Add(time.Duration(version) * time.Second),
			Domain: "corpus", CorrelationID: batch},
		Table: table, Version: version, SnapshotID: 100 + version, MetadataLocation: "file:///w/" + table + "/v" + string(rune('0'+version)),
		RowsTotal: 10 * version,
	}
	if batch != "" {
		tc.BatchID = &batch
	}
	return tc
}

func TestPointers(t *testing.T) {
	st := projectiontest.NewScopes()
	p := pointers.Projection{}
	a, b := st.Scope("logmesh.corpus.events/0"), st.Scope("logmesh.raw.events/3")
	for _, step := range []struct {
		s  projectiontest.MemStore
		ev events.Event
	}{
		{a, commit("corpus.trades", 1, "b1")},
		{b, commit("raw.quotes", 1, "q1")},
		{a, commit("corpus.trades", 2, "b2")},
		// The loser of a race for version 2, and a repeat of version 1:
		// the first commit of a version wins.
		{a, commit("corpus.trades", 2, "other")},
		{a, commit("corpus.trades", 1, "b1")},
		{a, &events.FileLanded{Envelope: events.Envelope{EventID: "x"}}},
	} {
		if err := p.Apply(step.s, step.ev); err != nil {
			t.Fatalf("apply %s: %v", step.ev.Name(), err)
		}
	}
	if err := p.Apply(a, commit("corpus.trades", 4, "gap")); !errors.Is(err, projections.ErrInvariant) {
		t.Fatalf("a version gap: %v, want ErrInvariant", err)
	}

	for _, reverse := range []bool{false, true} {
		st.Reverse = reverse
		cur, ok, err := pointers.Current(st, "corpus.trades")
		if err != nil || !ok || cur.Version != 2 || cur.BatchID != "b2" || cur.SnapshotID != 102 || cur.RowsTotal != 20 {
			t.Fatalf("current corpus.trades: %+v %v %v", cur, ok, err)
		}
		v1, ok, err := pointers.At(st, "corpus.trades", 1)
		if err != nil || !ok || v1.BatchID != "b1" || !v1.CommittedAt.Equal(t0.Add(time.Second)) {
			t.Fatalf("corpus.trades v1: %+v %v %v", v1, ok, err)
		}
		if _, ok, _ := pointers.At(st, "corpus.trades", 3); ok {
			t.Fatal("version 3 exists")
		}
		if _, ok, _ := pointers.Current(st, "corpus.trade"); ok {
			t.Fatal("a prefix of a table name is a table")
		}
		names, err := pointers.Tables(st)
		if err != nil || !slices.Equal(names, []string{"corpus.trades", "raw.quotes"}) {
			t.Fatalf("tables %v %v", names, err)
		}
		vs, err := pointers.Versions(st, "corpus.trades")
		if err != nil || len(vs) != 2 || vs[0].Version != 1 || vs[1].Version != 2 {
			t.Fatalf("versions %+v %v", vs, err)
		}
		for batch, want := range map[string]bool{"b1": true, "b2": true, "other": false, "q1": false} {
			if got, err := pointers.HasBatch(st, "corpus.trades", batch); err != nil || got != want {
				t.Errorf("HasBatch(%s) = %v %v, want %v", batch, got, err, want)
			}
		}
	}
}
