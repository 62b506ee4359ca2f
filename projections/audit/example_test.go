package audit_test

import (
	"fmt"
	"time"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/projections/audit"
)

// A host folds the per-file events and the batches into different scopes;
// Files merges them.
func Example() {
	s := newScopes() // a test double for *state.Store
	id := events.DeriveID("trades/2026-11-25.csv", "ab12")
	when := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	table, feed := "raw.trades", "trades"
	landed := &events.FileLanded{
		Envelope: events.Envelope{EventID: "e1", OccurredAt: when, Domain: "raw", CorrelationID: id},
		Key:      "trades/2026-11-25.csv", Checksum: "ab12", Size: 512, Source: events.SourceLocal,
		Table: &table, Feed: &feed,
	}
	planned := &events.BatchPlanned{
		Envelope: events.Envelope{EventID: "e2", OccurredAt: when.Add(time.Second), Domain: "raw", CorrelationID: "batch-1"},
		BatchID:  "batch-1", Table: table, Feed: feed, Trigger: "interval",
		Files: []events.BatchFile{{Key: "trades/2026-11-25.csv", Checksum: "ab12", Size: 512, LandedEventID: "e1"}},
	}
	_ = audit.Projection{}.Apply(s.scope("logmesh.raw.events/3"), landed)
	_ = audit.Projection{}.Apply(s.scope("logmesh.raw.batches/1"), planned)

	files, _ := audit.Files(s)
	for _, f := range files {
		fmt.Println(f.Key, f.Table, f.Status, f.BatchID)
		for _, st := range f.Timeline {
			fmt.Println(" ", st.At.Format(time.TimeOnly), st.Status)
		}
	}
	// Output:
	// trades/2026-11-25.csv raw.trades BATCHED batch-1
	//   09:00:00 RECEIVED
	//   09:00:01 BATCHED
}
