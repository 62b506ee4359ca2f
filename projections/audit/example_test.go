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

// ByStatus reads the status index: only the files some scope holds at the
// status asked for, merged over every scope.
func ExampleByStatus() {
	s := newScopes() // a test double for *state.Store
	when := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	table, feed := "raw.trades", "trades"
	for i, key := range []string{"trades/1.csv", "trades/2.csv"} {
		_ = audit.Projection{}.Apply(s.scope("logmesh.raw.events/0"), &events.FileLanded{
			Envelope: events.Envelope{EventID: fmt.Sprint("landed-", i), OccurredAt: when.Add(time.Duration(i) * time.Second),
				Domain: "raw", CorrelationID: events.DeriveID(key, "c")},
			Key: key, Checksum: "c", Size: 10, Source: events.SourceLocal, Table: &table, Feed: &feed,
		})
	}
	_ = audit.Projection{}.Apply(s.scope("logmesh.raw.batches/0"), &events.BatchPlanned{
		Envelope: events.Envelope{EventID: "planned", OccurredAt: when.Add(time.Minute), Domain: "raw", CorrelationID: "batch-1"},
		BatchID:  "batch-1", Table: table, Feed: feed, Trigger: "interval",
		Files: []events.BatchFile{{Key: "trades/1.csv", Checksum: "c", Size: 10, LandedEventID: "landed-0"}},
	})
	for _, status := range []string{audit.StatusReceived, audit.StatusBatched} {
		files, _ := audit.ByStatus(s, status)
		for _, f := range files {
			fmt.Println(status, f.Key)
		}
	}
	// Output:
	// RECEIVED trades/2.csv
	// BATCHED trades/1.csv
}
