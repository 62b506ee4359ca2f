package platform

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkaconn"
	"github.com/logmesh/logmesh/mesh"
	"github.com/logmesh/logmesh/processors/host"
	"github.com/logmesh/logmesh/projections"
	"github.com/logmesh/logmesh/projections/definitions"
	"github.com/logmesh/logmesh/state"
)

// GrantedByMesh is ShareGranted.GrantedBy of the grants of mesh.yaml.
const GrantedByMesh = "mesh.yaml"

// ErrRefused marks a definition the registry or the mesh rules refuse.
var ErrRefused = errors.New("platform: refused")

// definitionKey identifies a definition: a domain or a feed by name.
type definitionKey = definitions.Key

// definition is the latest definition of a domain or feed on the log.
type definition = definitions.Definition

// Step is one line of a definitions plan.
type Step struct {
	// Op is '+' add, '~' change, '=' unchanged or '-' removed.
	Op byte
	// Kind and Name name the definition.
	Kind, Name string
	// Domain is the domain the definition belongs to: a domain itself,
	// a feed's table's domain, a product's, grant's (the product's) or
	// subscription's owner.
	Domain string
	// Event is what applying the step emits: set for '+', '~' and a '-'
	// that retires, revokes or removes.
	Event events.Event
}

func (s Step) String() string {
	switch s.Op {
	case '+':
		return fmt.Sprintf("+ %s %s", s.Kind, s.Name)
	case '~':
		return fmt.Sprintf("~ %s %s (changed)", s.Kind, s.Name)
	case '=':
		return fmt.Sprintf("= %s %s (unchanged)", s.Kind, s.Name)
	default:
		switch s.Kind {
		case definitions.KindDomain:
			return fmt.Sprintf("- domain %s (retired: nothing of its own is live)", s.Name)
		case definitions.KindFeed, definitions.KindProduct:
			return fmt.Sprintf("- %s %s (retired: not in the file)", s.Kind, s.Name)
		case definitions.KindGrant:
			return fmt.Sprintf("- grant %s (revoked: not in the file)", s.Name)
		case definitions.KindSubscription:
			return fmt.Sprintf("- subscription %s (removed: not in the file)", s.Name)
		}
		return fmt.Sprintf("- %s %s (removal is not supported; nothing is emitted)", s.Kind, s.Name)
	}
}

// Plan compares the wanted definitions (mesh.Definitions) of the domains
// in scope with their current ones: the wanted in their order, each added,
// changed or unchanged, then the current ones of those domains no longer
// wanted, by kind, then name. Feeds, products, grants and subscriptions
// that are gone are retired, revoked and removed by by at now; a retired
// one in the file again is added. A definition of a domain out of scope
// has no step: the plan never touches another domain. Domains themselves
// leave only on request (ApplyInput.RetireDomains), never for missing from
// the files.
func Plan(current map[definitionKey]definition, want []events.Event, scope []string, by string, now time.Time) []Step {
	var steps []Step
	wanted := map[definitionKey]bool{}
	for _, ev := range want {
		k, hash, ok := wantedKey(ev)
		if !ok {
			continue
		}
		wanted[k] = true
		s := Step{Kind: k.Kind, Name: k.Name, Domain: wantedDomain(ev)}
		switch cur, ok := current[k]; {
		case !ok || cur.Retired:
			s.Op, s.Event = '+', ev
		case cur.Hash != hash:
			s.Op, s.Event = '~', ev
		default:
			s.Op = '='
		}
		steps = append(steps, s)
	}
	var gone []Step
	for k, cur := range current {
		dom := OwnerOf(cur)
		if wanted[k] || cur.Retired || k.Kind == definitions.KindLocations || k.Kind == definitions.KindInstallation || k.Kind == definitions.KindDomain || !slices.Contains(scope, dom) {
			continue
		}
		if k.Kind == definitions.KindGrant && cur.Grant != nil && cur.Grant.GrantedBy != GrantedByMesh {
			continue // granted with logmesh grant, not by the file: the file does not revoke it
		}
		gone = append(gone, Step{Op: '-', Kind: k.Kind, Name: k.Name, Domain: dom, Event: retirement(cur, by, now)})
	}
	slices.SortFunc(gone, func(a, b Step) int {
		return cmp.Or(cmp.Compare(kindOrder[a.Kind], kindOrder[b.Kind]), cmp.Compare(a.Name, b.Name))
	})
	return append(steps, gone...)
}

// kindOrder orders the kinds of definitions in a plan.
var kindOrder = map[string]int{definitions.KindDomain: 0, definitions.KindFeed: 1, definitions.KindProduct: 2,
	definitions.KindGrant: 3, definitions.KindSubscription: 4}

// OwnerOf returns the domain a definition belongs to: a domain itself, a
// feed's table's domain, the owner of a product, of a grant's product, the
// subscriber of a subscription; "" for the platform's locations.
func OwnerOf(d definition) string {
	switch {
	case d.Kind == definitions.KindDomain:
		return d.Name
	case d.Kind == definitions.KindFeed && d.Feed != nil && d.Feed.Table != "":
		dom, _, _ := strings.Cut(d.Feed.Table, ".")
		return dom
	case d.Kind == definitions.KindFeed:
		return d.Domain // a feed's events are on its table's domain bus
	case d.Kind == definitions.KindProduct && d.Product != nil:
		return d.Product.Owner
	case d.Kind == definitions.KindGrant && d.Grant != nil:
		return d.Grant.Owner
	case d.Kind == definitions.KindSubscription && d.Subscription != nil:
		return d.Subscription.Domain
	}
	return ""
}

// wantedDomain returns the domain a wanted definition event belongs to.
func wantedDomain(ev events.Event) string {
	switch ev := ev.(type) {
	case *events.DomainDefined:
		return ev.DomainName
	case *events.FeedDefined:
		return ev.Envelope.Domain
	case *events.ProductPublished:
		return ev.OwnerDomain
	case *events.ShareGranted:
		return ev.OwnerDomain
	case *events.SubscriptionDefined:
		return ev.SubscriberDomain
	}
	return ""
}

// wantedKey returns the key and hash of a wanted definition event.
func wantedKey(ev events.Event) (definitionKey, string, bool) {
	switch ev := ev.(type) {
	case *events.DomainDefined:
		return definitionKey{Kind: mesh.KindDomain, Name: ev.DomainName}, ev.DefinitionHash, true
	case *events.FeedDefined:
		return definitionKey{Kind: mesh.KindFeed, Name: ev.Feed}, ev.DefinitionHash, true
	case *events.ProductPublished:
		return definitionKey{Kind: definitions.KindProduct, Name: ev.Product}, ev.DefinitionHash, true
	case *events.ShareGranted:
		return definitionKey{Kind: definitions.KindGrant, Name: definitions.GrantName(ev.Product, ev.GranteeDomain)}, ev.DefinitionHash, true
	case *events.SubscriptionDefined:
		return definitionKey{Kind: definitions.KindSubscription, Name: ev.Subscription}, ev.DefinitionHash, true
	}
	return definitionKey{}, "", false
}

// retirement is the event that takes cur out of the mesh, by by at now,
// or nil for a kind that cannot be removed (locations). A feed's
// retirement is on its domain's bus, the others on the central bus.
func retirement(cur definition, by string, now time.Time) events.Event {
	env := events.Envelope{
		EventID:       events.DeriveID("retire", cur.Kind, cur.Name, cur.EventID),
		OccurredAt:    now.UTC().Truncate(time.Microsecond),
		Domain:        events.DomainCentral,
		CorrelationID: cur.EventID,
		CausationID:   cur.EventID,
	}
	reason := "not in mesh.yaml"
	switch {
	case cur.Kind == definitions.KindFeed:
		env.Domain = OwnerOf(cur)
		ev := &events.FeedRetired{Envelope: env, Feed: cur.Name, RetiredBy: by, Reason: &reason}
		if cur.Feed != nil {
			ev.Table = cur.Feed.Table
			if cur.Feed.KeyPattern != "" {
				ev.KeyPattern = new(cur.Feed.KeyPattern)
			}
		}
		return ev
	case cur.Kind == definitions.KindProduct && cur.Product != nil:
		return &events.ProductRetired{Envelope: env, Product: cur.Name, OwnerDomain: cur.Product.Owner, Reason: &reason}
	case cur.Kind == definitions.KindGrant && cur.Grant != nil:
		return &events.ShareRevoked{Envelope: env, GrantID: cur.Grant.ID, Product: cur.Grant.Product, OwnerDomain: cur.Grant.Owner,
			GranteeDomain: cur.Grant.Grantee, RevokedBy: by, Reason: &reason}
	case cur.Kind == definitions.KindSubscription && cur.Subscription != nil:
		return &events.SubscriptionRemoved{Envelope: env, Subscription: cur.Name, SubscriberDomain: cur.Subscription.Domain, Reason: &reason}
	}
	return nil
}

// ContractSubject is the registry subject of a table's contract.
func ContractSubject(table string) string { return "logmesh.tables." + table }

// RegisterContracts registers each new or changed product's contract under
// its table's subject, so the next change is checked against it.
func RegisterContracts(ctx context.Context, cl *sr.Client, steps []Step) (map[string]int, error) {
	return registerContracts(ctx, cl, steps, nil)
}

// registerContracts is RegisterContracts, calling tick (if set) after
// each contract is registered.
func registerContracts(ctx context.Context, cl *sr.Client, steps []Step, tick func()) (map[string]int, error) {
	ids := map[string]int{}
	for _, s := range steps {
		pp, ok := s.Event.(*events.ProductPublished)
		if !ok || pp.OutputSchema == nil {
			continue
		}
		ss, err := cl.CreateSchema(ctx, ContractSubject(pp.OutputTable), sr.Schema{Schema: *pp.OutputSchema, Type: sr.TypeAvro})
		if err != nil {
			var re *sr.ResponseError
			if errors.As(err, &re) {
				return nil, fmt.Errorf("the registry refuses the contract of %s: %s: %w", pp.Product, re.Message, ErrRefused)
			}
			return nil, fmt.Errorf("register the contract of %s: %w", pp.Product, err)
		}
		ids[pp.OutputTable] = ss.ID
		if tick != nil {
			tick()
		}
	}
	return ids, nil
}

// ReadDefinitions folds the definitions projection over its topics, as the
// log has them now: the latest definition of every domain and feed.
func ReadDefinitions(ctx context.Context, conn kafkaconn.Conn, codec *events.Codec, names events.Topics) (map[definitionKey]definition, error) {
	return ReadDefinitionsAt(ctx, conn, codec, names, time.Time{})
}

// ReadDefinitionsAt is ReadDefinitions as of at (the zero time for now):
// only the definitions that occurred until then count.
func ReadDefinitionsAt(ctx context.Context, conn kafkaconn.Conn, codec *events.Codec, names events.Topics, at time.Time) (map[definitionKey]definition, error) {
	st, err := state.Open("", &state.Options{FS: vfs.NewMem()})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	var proj projections.Projection = definitions.Projection{}
	if !at.IsZero() {
		proj = projections.AsOf{Projection: proj, At: at}
	}
	if _, err := host.Replay(ctx, proj, st, codec, conn, proj.Topics(names), host.Sync(false)); err != nil {
		return nil, err
	}
	return definitions.All(st)
}

// ApplySteps registers the contracts of the steps' products, then emits
// their events, each to its topic. It is not one transaction: a failure
// part-way leaves some definitions applied, and the next plan has only the
// rest.
func ApplySteps(ctx context.Context, conn kafkaconn.Conn, codec *events.Codec, reg *sr.Client, names events.Topics, steps []Step,
	changes []ContractChange) error {
	ids, err := RegisterContracts(ctx, reg, steps)
	if err != nil {
		return err
	}
	var evs []events.Event
	for _, s := range steps {
		if s.Event != nil {
			evs = append(evs, s.Event)
		}
	}
	// Each accepted change of a contract is a SchemaChanged on the table's
	// domain bus.
	evs = append(evs, SchemaChanges(changes, ids, time.Now())...)
	var recs []*kgo.Record
	for _, ev := range evs {
		r, err := codec.Record(ev)
		if err != nil {
			return err
		}
		r.Topic = names.For(ev)
		recs = append(recs, r)
	}
	if len(recs) == 0 {
		return nil
	}
	cl, err := conn.Client()
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("platform: emit definitions: %w", err)
	}
	return nil
}

// RecordMesh records the mesh's definitions that are new or changed on the
// log (never retiring anything), as `logmesh dev` does at start so the
// mesh it runs is the mesh the log knows; a contract change the registry
// refuses stops it with the registry's reason. It returns how many it
// recorded.
func RecordMesh(ctx context.Context, env *Env, m *mesh.Mesh) (int, error) {
	current, err := ReadDefinitions(ctx, env.Conn, env.Codec, env.Config.Topics)
	if err != nil {
		return 0, err
	}
	now := time.Now()
	var steps []Step
	for _, s := range Plan(current, m.Definitions(now), m.DomainNames(), "logmesh dev", now) {
		if s.Op == '+' || s.Op == '~' {
			steps = append(steps, s)
		}
	}
	want := m.Definitions(now)
	changes, err := ContractChanges(ctx, env.Registry, steps, want)
	if err != nil {
		return 0, err
	}
	var why strings.Builder
	for _, c := range changes {
		if !c.Compatible {
			fmt.Fprintln(&why, c)
		}
	}
	if why.Len() > 0 {
		return 0, fmt.Errorf("platform: %s%w", why.String(), ErrRefused)
	}
	installation, ok := definitions.Installation(current)
	if !ok {
		if installation, err = EnsureInstallation(ctx, env.Conn, env.Codec, env.Config.Topics, env.Config.DefinedBy); err != nil {
			return 0, err
		}
	}
	for _, s := range steps {
		stampInstallation([]events.Event{s.Event}, installation)
	}
	if err := ApplySteps(ctx, env.Conn, env.Codec, env.Registry, env.Config.Topics, steps, changes); err != nil {
		return 0, err
	}
	return len(steps), nil
}
