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
//
// A DomainDefined or DomainRetired that is an apply's claim is folded only
// if it was planned against the domain's current definition, and every
// claim's outcome is kept (see Claim): racing applies are decided here.
package definitions

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/projections"
)

// Kinds of definitions.
const (
	KindDomain       = "domain"
	KindFeed         = "feed"
	KindLocations    = "locations"
	KindProduct      = "product"
	KindGrant        = "grant"
	KindSubscription = "subscription"
	// KindInstallation is the installation's id (InstallationDefined):
	// one definition, InstallationName, whose Hash is the id.
	KindInstallation = "installation"
)

// InstallationName is the name of the one installation definition.
const InstallationName = "installation"

// GrantName names a grant: "product→grantee".
func GrantName(product, grantee string) string { return product + "→" + grantee }

// LocationsName is the name of the one locations definition.
const LocationsName = "platform"

const (
	prefixDefinition = "d/"  // d/<kind> 0x00 <name> → Definition JSON
	prefixVersion    = "dv/" // dv/feed 0x00 <name> 0x00 <definition hash> → Definition JSON
	prefixClaim      = "c/"  // c/<claim event id> → Claim JSON
)

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
	// Retired is set once the definition left the mesh: a domain, feed or
	// product retired, a grant revoked, a subscription removed.
	Retired bool `json:"retired,omitempty"`
	// Reason is why it was retired, when the retirement says.
	Reason string `json:"reason,omitempty"`
	// Locations is set for KindLocations.
	Locations *Locations `json:"locations,omitempty"`
	// Product is set for KindProduct.
	Product *Product `json:"product,omitempty"`
	// Grant is set for KindGrant.
	Grant *Grant `json:"grant,omitempty"`
	// Subscription is set for KindSubscription.
	Subscription *Subscription `json:"subscription,omitempty"`
	// Feed is set for KindFeed: the FeedDefined itself, every field of the
	// feed (mesh.FeedFromEvent rebuilds it). A retired feed keeps its last
	// definition.
	Feed *events.FeedDefined `json:"feed,omitempty"`
	// AppliedBy and Apply are set for a domain whose latest definition
	// is an apply's claim (see Claim): who applied it and the apply's id;
	// AppliedBy is the principal that retired a retired domain.
	AppliedBy string `json:"applied_by,omitempty"`
	Apply     string `json:"apply,omitempty"`
}

// Product is what routing needs of a product.
type Product struct {
	Owner       string `json:"owner"`
	Kind        string `json:"kind"`
	Visibility  string `json:"visibility"`
	OutputTable string `json:"output_table"`
	// Inputs are what a consumer-aligned product reads (products, tables,
	// "topic:NAME").
	Inputs []string `json:"inputs,omitempty"`
	// Freshness is the freshness objective in seconds, 0 for none.
	Freshness int64 `json:"freshness_s,omitempty"`
	// Schedule is the cron schedule of a scheduled product, if any.
	Schedule string `json:"schedule,omitempty"`
}

// Grant is a share of a product with another domain.
type Grant struct {
	ID      string `json:"id"`
	Product string `json:"product"`
	Owner   string `json:"owner"`
	Grantee string `json:"grantee"`
	// GrantedBy is the principal that granted it ("mesh.yaml" for a grant
	// of the mesh file, which apply revokes when it leaves the file).
	GrantedBy string `json:"granted_by,omitempty"`
	// Purpose says why, if given.
	Purpose string `json:"purpose,omitempty"`
	// ExpiresAt is Unix microseconds, 0 for never.
	ExpiresAt int64 `json:"expires_at,omitempty"`
}

// Live reports whether the grant is in force at t: not revoked (the
// Definition says so) and not expired.
func (g *Grant) Live(t time.Time) bool { return g.ExpiresAt == 0 || t.UnixMicro() < g.ExpiresAt }

// Subscription is a domain's content pattern.
type Subscription struct {
	Domain  string `json:"domain"`
	Pattern string `json:"pattern"`
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
	switch name {
	case events.NameDomainDefined, events.NameFeedDefined, events.NameLocationsDefined, events.NameFeedRetired, events.NameDomainRetired, events.NameInstallationDefined,
		events.NameProductPublished, events.NameProductRetired, events.NameShareGranted, events.NameShareRevoked,
		events.NameSubscriptionDefined, events.NameSubscriptionRemoved:
		return true
	}
	return false
}

// Apply folds DomainDefined and FeedDefined; other events are ignored.
func (Projection) Apply(s projections.Store, ev events.Event) error {
	var d Definition
	switch e := ev.(type) {
	case *events.DomainDefined:
		d = Definition{Kind: KindDomain, Name: e.DomainName, Hash: e.DefinitionHash}
		if apply, by, ok := ParseClaim(e.Envelope.CorrelationID); ok {
			won, err := claim(s, e.DomainName, &e.Envelope, by)
			if err != nil || !won {
				return err
			}
			d.AppliedBy, d.Apply = by, apply
		}
	case *events.FeedDefined:
		d = Definition{Kind: KindFeed, Name: e.Feed, Hash: e.DefinitionHash, Feed: e}
	case *events.ProductPublished:
		d = Definition{Kind: KindProduct, Name: e.Product, Hash: e.DefinitionHash, Product: &Product{
			Owner: e.OwnerDomain, Kind: e.Kind, Visibility: e.Visibility, OutputTable: e.OutputTable, Inputs: nonEmpty(e.Inputs)}}
		if e.FreshnessSeconds != nil {
			d.Product.Freshness = *e.FreshnessSeconds
		}
		if e.Schedule != nil {
			d.Product.Schedule = *e.Schedule
		}
	case *events.ShareGranted:
		g := &Grant{ID: e.GrantID, Product: e.Product, Owner: e.OwnerDomain, Grantee: e.GranteeDomain, GrantedBy: e.GrantedBy}
		if e.Purpose != nil {
			g.Purpose = *e.Purpose
		}
		if e.ExpiresAt != nil {
			g.ExpiresAt = e.ExpiresAt.UnixMicro()
		}
		d = Definition{Kind: KindGrant, Name: GrantName(e.Product, e.GranteeDomain), Hash: e.DefinitionHash, Grant: g}
	case *events.SubscriptionDefined:
		d = Definition{Kind: KindSubscription, Name: e.Subscription, Hash: e.DefinitionHash,
			Subscription: &Subscription{Domain: e.SubscriberDomain, Pattern: e.Pattern}}
	case *events.ProductRetired:
		return retire(s, ev, KindProduct, e.Product, e.Reason)
	case *events.ShareRevoked:
		return retire(s, ev, KindGrant, GrantName(e.Product, e.GranteeDomain), e.Reason)
	case *events.SubscriptionRemoved:
		return retire(s, ev, KindSubscription, e.Subscription, e.Reason)
	case *events.FeedRetired:
		return retire(s, ev, KindFeed, e.Feed, e.Reason)
	case *events.InstallationDefined:
		// The first one on the log is the installation's; a second (two
		// processes that started at once) changes nothing.
		if _, ok, err := s.Get([]byte(prefixDefinition + KindInstallation + "\x00" + InstallationName)); err != nil || ok {
			return err
		}
		d = Definition{Kind: KindInstallation, Name: InstallationName, Hash: e.InstallationID}
	case *events.DomainRetired:
		if _, by, ok := ParseClaim(e.Envelope.CorrelationID); ok {
			if won, err := claim(s, e.DomainName, &e.Envelope, by); err != nil || !won {
				return err
			}
		}
		if err := retire(s, ev, KindDomain, e.DomainName, e.Reason); err != nil {
			return err
		}
		return retiredBy(s, e.DomainName, e.RetiredBy)
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
	if d.Kind == KindFeed {
		// Every version of a feed stays readable by its hash: a batch is
		// loaded with the definition it was planned with.
		if err := s.Set(versionKey(d.Name, d.Hash), b); err != nil {
			return err
		}
	}
	return s.Set([]byte(prefixDefinition+d.Kind+"\x00"+d.Name), b)
}

func versionKey(feed, hash string) []byte {
	return []byte(prefixVersion + KindFeed + "\x00" + feed + "\x00" + hash)
}

// FeedVersion returns the definition of feed name whose definition hash
// is hash, retired or not; ok is false if the log has none.
func FeedVersion[S any](st Scanner[S], name, hash string) (d Definition, ok bool, err error) {
	err = st.ScanAll(versionKey(name, hash), func(_ S, key, value []byte) error {
		if ok || string(key) != string(versionKey(name, hash)) {
			return nil
		}
		if err := json.Unmarshal(value, &d); err != nil {
			return fmt.Errorf("definitions: corrupt version of feed %s: %w", name, err)
		}
		ok = true
		return nil
	})
	return d, ok, err
}

// retire marks the definition kind/name retired, from the event's time on.
// A definition this scope never saw is recorded retired, so the merge of
// scopes sees the retirement.
func retire(s projections.Store, ev events.Event, kind, name string, reason *string) error {
	m := ev.Meta()
	if name == "" || m.EventID == "" {
		return fmt.Errorf("definitions: %s %q without a name or event id: %w", ev.Name(), m.EventID, projections.ErrInvariant)
	}
	key := []byte(prefixDefinition + kind + "\x00" + name)
	d := Definition{Kind: kind, Name: name}
	if v, ok, err := s.Get(key); err != nil {
		return err
	} else if ok {
		if err := json.Unmarshal(v, &d); err != nil {
			return fmt.Errorf("definitions: corrupt entry %s %s: %w", kind, name, err)
		}
	}
	d.Retired, d.At, d.EventID, d.Domain = true, m.OccurredAt.UTC(), m.EventID, m.Domain
	if reason != nil {
		d.Reason = *reason
	}
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return s.Set(key, b)
}

// Live returns the definitions of kind that are not retired, by name.
func Live[S any](st Scanner[S], kind string) ([]Definition, error) {
	all, err := All(st)
	if err != nil {
		return nil, err
	}
	var out []Definition
	for k, d := range all {
		if k.Kind == kind && !d.Retired {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b Definition) int { return cmp.Compare(a.Name, b.Name) })
	return out, nil
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

// nonEmpty is s, or nil when it is empty, so an empty list encodes as none.
func nonEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// Installation returns the installation's id; ok is false if none was
// recorded.
func Installation(all map[Key]Definition) (id string, ok bool) {
	d, ok := all[Key{KindInstallation, InstallationName}]
	return d.Hash, ok && d.Hash != ""
}
