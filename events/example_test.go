package events_test

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/logmesh/logmesh/events"
)

// A codec registers the embedded schemas once, then encodes events in the
// Confluent wire format and decodes them back into typed events.
func ExampleCodec() {
	fake := srfake.New() // an in-memory Confluent-compatible registry
	defer fake.Close()
	cl, err := sr.NewClient(sr.URLs(fake.URL()))
	if err != nil {
		panic(err)
	}
	codec, err := events.NewCodec(events.SRRegistry(cl))
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	if err := codec.Register(ctx); err != nil {
		panic(err)
	}

	landed := &events.FileLanded{
		Envelope: events.Envelope{
			EventID:       events.DeriveID("landing", "trades/2026-11-02.csv"),
			OccurredAt:    time.Date(2026, 11, 2, 9, 30, 0, 0, time.UTC),
			Domain:        events.DomainRaw,
			CorrelationID: "trades/2026-11-02.csv",
		},
		Key:      "trades/2026-11-02.csv",
		Source:   events.SourceLocal,
		Size:     1234,
		Checksum: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
	}
	b, err := codec.Encode(landed)
	if err != nil {
		panic(err)
	}
	id, _ := codec.SchemaID(events.NameFileLanded)
	fmt.Printf("magic %d, schema id %d (%d), %d bytes\n", b[0], int(b[4]), id, len(b))

	ev, err := codec.Decode(ctx, b)
	if err != nil {
		panic(err)
	}
	switch ev := ev.(type) {
	case *events.FileLanded:
		fmt.Println(ev.Name(), ev.Key, ev.Size, ev.Meta().OccurredAt.Format(time.RFC3339))
	}
	// Output:
	// magic 0, schema id 8 (8), 179 bytes
	// logmesh.events.FileLanded trades/2026-11-02.csv 1234 2026-11-02T09:30:00Z
}

// Record builds the Kafka record: the domain's events topic, the event's key
// and a header naming the fact.
func ExampleCodec_Record() {
	codec, err := events.NewCodec(newMemRegistry())
	if err != nil {
		panic(err)
	}
	if err := codec.Register(context.Background()); err != nil {
		panic(err)
	}
	commit := &events.TableCommitted{
		Envelope:         events.Envelope{EventID: events.NewID(), Domain: "raw", CorrelationID: "batch-7"},
		Table:            "raw.trades",
		Version:          3,
		MetadataLocation: "warehouse/raw/trades/metadata/00003.metadata.json",
	}
	rec, err := codec.Record(commit)
	if err != nil {
		panic(err)
	}
	fmt.Println(rec.Topic, string(rec.Key), rec.Headers[0].Key, string(rec.Headers[0].Value))
	// Output:
	// logmesh.raw.events raw.trades logmesh.event logmesh.events.TableCommitted
}

// DeriveID gives a derived event the same id every time it is derived.
func ExampleDeriveID() {
	a := events.DeriveID("cause-event-id", events.NameFileProcessed, "trades/a.csv")
	b := events.DeriveID("cause-event-id", events.NameFileProcessed, "trades/a.csv")
	fmt.Println(a == b, len(a))
	// Output: true 36
}

// JSON renders an event for humans and tools such as jq.
func ExampleJSON() {
	ev := &events.IncidentResolved{
		Envelope: events.Envelope{
			EventID:    "e1",
			OccurredAt: time.Date(2026, 11, 2, 10, 0, 0, 500, time.UTC),
			Domain:     "central",
		},
		IncidentID: "inc-1",
		Resolution: "retried",
		ResolvedBy: "alice",
	}
	b, err := events.JSON(ev)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(b))
	// Output:
	// {"event":"logmesh.events.IncidentResolved","envelope":{"event_id":"e1","occurred_at":"2026-11-02T10:00:00.0000005Z","domain":"central","correlation_id":"","causation_id":""},"incident_id":"inc-1","resolution":"retried","resolved_by":"alice"}
}
