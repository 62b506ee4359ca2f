// Package definitions is the definitions projection: a pure fold of the
// definition events that `logmesh apply` and the platform itself put on the
// log — DomainDefined and LocationsDefined on the central bus, FeedDefined
// on the bus of the feed's domain — into the latest definition of each
// domain and feed, with its definition hash, and where the platform keeps
// its landing area and warehouse. `logmesh apply` plans against it: a definition whose
// hash is unchanged is not emitted again.
//
// Each scope keeps, per definition, the latest one it saw in log order. The
// query side (All) merges the scopes: across scopes the later occurred_at
// wins (a feed moved to another domain), then the greater event id, so the
// result does not depend on the order the scopes are visited in.
package definitions

import (
	"cmp"
	"encoding/json"
	"fmt"
	"time"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/projections"
)

// Kinds of definitions.
const (
	KindDomain    = "domain"
	KindFeed      = "feed"
	KindLocations = "locations"
)

// LocationsName is the name of the one locations definition.
const LocationsName = "platform"

const prefixDefinition = "d/" // d/<kind> 0x00 <name> → Definition JSON

// Projection is the fold. The zero value is ready and safe for concurrent
// use.
type Projection struct{}

var _ projections.Projection = Projection{}

// Name returns "definitions".
func (Projection) Name() string { return "definitions" }

// Topics returns every domain's events topic: domains are defined on the
// central bus, feeds on the bus of their domain.
func (Projection) Topics(t events.Topics) events.TopicSet { return t.AllDomains() }

// Key names a definition.
type Key struct {
	Kind string // KindDomain or KindFeed
	Name string
}

// Definition is the latest definition of a domain or feed.
type Definition struct {
	Kind    string    `json:"kind"`
	Name    string    `json:"name"`
	Hash    string    `json:"hash"`
	At      time.Time `json:"at"`
	EventID string    `json:"event_id"`
	// Domain is the domain of the event's envelope: "central" for a
	// domain, the table's domain for a feed.
	Domain string `json:"domain"`
	// Locations is set for KindLocations.
	Locations *Locations `json:"locations,omitempty"`
}

// Locations is where the platform keeps its files.
type Locations struct {
	Landing    string `json:"landing"`
	Warehouse  string `json:"warehouse"`
	S3Endpoint string `json:"s3_endpoint,omitempty"`
	S3Region   string `json:"s3_region,omitempty"`
	S3Insecure bool   `json:"s3_insecure,omitempty"`
	DefinedBy  string `json:"defined_by"`
}

// Handles implements projections.Selective: the host skips other facts
// without decoding them.
func (Projection) Handles(name string) bool {
	return name == events.NameDomainDefined || name == events.NameFeedDefined || name == events.NameLocationsDefined
}

// Apply folds DomainDefined and FeedDefined; other events are ignored.
func (Projection) Apply(s projections.Store, ev events.Event) error {
	var d Definition
	switch e := ev.(type) {
	case *events.DomainDefined:
		d = Definition{Kind: KindDomain, Name: e.DomainName, Hash: e.DefinitionHash}
	case *events.FeedDefined:
		d = Definition{Kind: KindFeed, Name: e.Feed, Hash: e.DefinitionHash}
	case *events.LocationsDefined:
		d = Definition{Kind: KindLocations, Name: LocationsName, Hash: e.DefinitionHash, Locations: &Locations{
			Landing: e.Landing, Warehouse: e.Warehouse, S3Insecure: e.S3Insecure, DefinedBy: e.DefinedBy}}
		if e.S3Endpoint != nil {
			d.Locations.S3Endpoint = *e.S3Endpoint
		}
		if e.S3Region != nil {
			d.Locations.S3Region = *e.S3Region
		}
	default:
		return nil
	}
	m := ev.Meta()
	if d.Name == "" || m.EventID == "" {
		return fmt.Errorf("definitions: %s %q without a name or event id: %w", ev.Name(), m.EventID, projections.ErrInvariant)
	}
	d.At, d.EventID, d.Domain = m.OccurredAt.UTC(), m.EventID, m.Domain
	b, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("definitions: encode %s %s: %w", d.Kind, d.Name, err)
	}
	return s.Set([]byte(prefixDefinition+d.Kind+"\x00"+d.Name), b)
}

// Scanner reads committed state from every scope, as (*state.Store).ScanAll
// does.
type Scanner[S any] interface {
	ScanAll(prefix []byte, fn func(scope S, key, value []byte) error) error
}

// CurrentLocations returns the latest locations; ok is false if none was
// defined.
func CurrentLocations[S any](st Scanner[S]) (l Locations, ok bool, err error) {
	all, err := All(st)
	if d, found := all[Key{KindLocations, LocationsName}]; found && d.Locations != nil {
		return *d.Locations, true, err
	}
	return Locations{}, false, err
}

// All returns the latest definition of every domain, feed and the
// locations.
func All[S any](st Scanner[S]) (map[Key]Definition, error) {
	out := map[Key]Definition{}
	err := st.ScanAll([]byte(prefixDefinition), func(_ S, _, value []byte) error {
		var d Definition
		if err := json.Unmarshal(value, &d); err != nil {
			return fmt.Errorf("definitions: corrupt entry: %w", err)
		}
		k := Key{d.Kind, d.Name}
		if cur, ok := out[k]; !ok || cmp.Or(d.At.Compare(cur.At), cmp.Compare(d.EventID, cur.EventID)) > 0 {
			out[k] = d
		}
		return nil
	})
	return out, err
}
