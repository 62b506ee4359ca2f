// Package events holds the Go type of every logmesh fact, the envelope every
// fact carries, the Avro codec that reads and writes them in the Confluent
// wire format, and the names of the topics they travel on.
//
// Event values are plain data: safe to read from many goroutines, not to
// modify concurrently. Functions and the Codec are safe for concurrent use.
package events

import "time"

// Envelope is carried by every event. Lineage and audit come from its ids.
type Envelope struct {
	// EventID identifies the event. Derived events get a deterministic id
	// (see DeriveID) so a replayed or retried derivation yields the same id.
	EventID string `avro:"event_id"`
	// OccurredAt is when the fact happened, in UTC, at microsecond precision.
	OccurredAt time.Time `avro:"occurred_at"`
	// Domain is the domain the event belongs to (raw, central, equities, ...).
	Domain string `avro:"domain"`
	// CorrelationID names the file, batch or job the event stems from.
	CorrelationID string `avro:"correlation_id"`
	// CausationID is the EventID of the event that caused this one, or "".
	CausationID string `avro:"causation_id"`
}

// Event is one typed fact. Every implementation is a pointer to a struct
// whose Avro schema is in package schemas under the same full name.
type Event interface {
	// Name is the Avro full name of the event's schema, such as
	// "logmesh.events.FileLanded". It is the event's identity; Go type names
	// never are.
	Name() string
	// Meta returns the event's envelope, which the caller may modify.
	Meta() *Envelope
}
