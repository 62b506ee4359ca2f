// Package projections holds logmesh's pure folds: each turns a stream of
// events into state, with no I/O, no clock and no randomness, so replaying the
// same log always rebuilds the same state, byte for byte.
package projections

import (
	"errors"
	"time"

	"github.com/logmesh/logmesh/events"
)

// ErrInvariant marks an event that a projection refuses because applying it
// would break one of the projection's invariants. A host sends such an event
// to the dead-letter topic with the error's text and moves on; the state is
// left as it was before the event.
var ErrInvariant = errors.New("projections: invariant violated")

// Store is the keyed state a projection reads and writes while it applies one
// event. Reads see the writes made earlier in the same fold. Implementations
// are provided by the host; they need not be safe for concurrent use.
type Store interface {
	// Get returns the value stored under key. ok is false if there is none.
	// The returned slice belongs to the caller.
	Get(key []byte) (value []byte, ok bool, err error)
	// Set stores value under key. The store copies both slices.
	Set(key, value []byte) error
	// Delete removes key; deleting a missing key is not an error.
	Delete(key []byte) error
}

// Projection is a deterministic fold of events into a Store.
//
// Apply must depend only on the event and on what it reads from s: time comes
// from the event's envelope, never from a clock, and iteration over maps must
// not leak into the result. An error that wraps ErrInvariant rejects the
// event (it goes to the dead-letter topic); any other error is fatal to the
// host, which stops without committing the batch.
type Projection interface {
	// Name identifies the projection; hosts use it in logs and in the
	// dead-letter records they write, and `logmesh replay --projection`
	// takes it.
	Name() string
	// Topics names the topics the projection folds, under an
	// installation's topic names. It is the one declaration the live host,
	// `logmesh replay`, the CLI and the tests all use.
	Topics(names events.Topics) events.TopicSet
	// Apply folds one event into s.
	Apply(s Store, ev events.Event) error
}

// Located is an optional capability of a Projection whose fold depends on
// the topic a fact was read from (whose inbox it is in, say): hosts call
// ApplyAt, with the record's topic, instead of Apply. It is still a pure
// function of its arguments.
type Located interface {
	ApplyAt(s Store, topic string, ev events.Event) error
}

// Selective is an optional capability of a Projection that folds only some
// facts: Handles reports whether it folds the fact of the given full name.
// A host skips a record whose logmesh.event header names a fact the
// projection does not handle, without decoding it; records without the
// header are decoded as usual. Apply must still ignore the other facts.
type Selective interface {
	Handles(name string) bool
}

// AsOf is Projection as of At: the facts that occurred after At (by their
// envelope's time) are skipped, so a fold of the whole log gives the state
// as it stood then. It keeps Projection's Located and Selective
// capabilities.
type AsOf struct {
	Projection
	At time.Time
}

// Apply folds ev if it occurred at or before At.
func (a AsOf) Apply(s Store, ev events.Event) error {
	if ev.Meta().OccurredAt.After(a.At) {
		return nil
	}
	return a.Projection.Apply(s, ev)
}

// ApplyAt implements Located for a Projection that is.
func (a AsOf) ApplyAt(s Store, topic string, ev events.Event) error {
	if ev.Meta().OccurredAt.After(a.At) {
		return nil
	}
	if l, ok := a.Projection.(Located); ok {
		return l.ApplyAt(s, topic, ev)
	}
	return a.Projection.Apply(s, ev)
}

// Handles implements Selective for a Projection that is; otherwise every
// fact is handled.
func (a AsOf) Handles(name string) bool {
	if sel, ok := a.Projection.(Selective); ok {
		return sel.Handles(name)
	}
	return true
}
