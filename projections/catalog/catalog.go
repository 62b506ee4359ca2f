// Package catalog is the central catalog's read model: the definitions
// (domains, feeds, products, grants, subscriptions, locations) and every
// table's versions, folded from every domain's bus into one store so that
// one log position describes both. It is the composition of
// projections/definitions and projections/pointers, whose keys do not
// overlap; their readers (definitions.All, pointers.Versions, ...) read a
// catalog store as they read their own.
//
// Until wraps it to answer as of a moment: only facts that occurred at or
// before it are folded.
package catalog

import (
	"time"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/projections"
	"github.com/logmesh/logmesh/projections/definitions"
	"github.com/logmesh/logmesh/projections/pointers"
)

// Projection is the catalog read model.
type Projection struct{}

var (
	_ projections.Projection = Projection{}
	_ projections.Selective  = Projection{}
)

// Name returns "catalog".
func (Projection) Name() string { return "catalog" }

// Topics returns every domain's events topic.
func (Projection) Topics(t events.Topics) events.TopicSet { return t.AllDomains() }

// Handles implements projections.Selective.
func (Projection) Handles(name string) bool {
	return definitions.Projection{}.Handles(name) || pointers.Projection{}.Handles(name)
}

// Apply folds a definition or a TableCommitted.
func (Projection) Apply(s projections.Store, ev events.Event) error {
	if err := (definitions.Projection{}).Apply(s, ev); err != nil {
		return err
	}
	return pointers.Projection{}.Apply(s, ev)
}

// Until is the catalog as of At: facts that occurred after it are skipped.
type Until struct {
	At time.Time
}

// Name returns "catalog".
func (Until) Name() string { return "catalog" }

// Topics returns every domain's events topic.
func (Until) Topics(t events.Topics) events.TopicSet { return t.AllDomains() }

// Handles implements projections.Selective.
func (Until) Handles(name string) bool { return Projection{}.Handles(name) }

// Apply folds ev if it occurred at or before At.
func (u Until) Apply(s projections.Store, ev events.Event) error {
	if ev.Meta().OccurredAt.After(u.At) {
		return nil
	}
	return Projection{}.Apply(s, ev)
}
