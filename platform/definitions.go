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
	"github.com/logmesh/logmesh/internal/mesh"
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
		case definitions.KindProduct:
			return fmt.Sprintf("- product %s (retired: not in the file)", s.Name)
		case definitions.KindGrant:
			return fmt.Sprintf("- grant %s (revoked: not in the file)", s.Name)
		case definitions.KindSubscription:
			return fmt.Sprintf("- subscription %s (removed: not in the file)", s.Name)
		}
		return fmt.Sprintf("- %s %s (removal is not supported yet; nothing is emitted)", s.Kind, s.Name)
	}
}

// Plan compares the wanted definitions (mesh.Definitions) with
// the current ones: the wanted in their order, each added, changed or
// unchanged, then the current ones no longer wanted, by kind, then name.
// Products, grants and subscriptions that are gone are retired, revoked and
// removed at now; a retired one in the file again is added.
func Plan(current map[definitionKey]definition, want []events.Event, now time.Time) []Step {
	var steps []Step
	wanted := map[definitionKey]bool{}
	for _, ev := range want {
		k, hash, ok := wantedKey(ev)
		if !ok {
			continue
		}
		wanted[k] = true
		s := Step{Kind: k.Kind, Name: k.Name}
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
		if wanted[k] || cur.Retired || k.Kind == definitions.KindLocations {
			continue
		}
		if k.Kind == definitions.KindGrant && cur.Grant != nil && cur.Grant.GrantedBy != GrantedByMesh {
			continue // granted with logmesh grant, not by the file: the file does not revoke it
		}
		gone = append(gone, Step{Op: '-', Kind: k.Kind, Name: k.Name, Event: retirement(cur, now)})
	}
	order := map[string]int{definitions.KindDomain: 0, definitions.KindFeed: 1, definitions.KindProduct: 2,
		definitions.KindGrant: 3, definitions.KindSubscription: 4}
	slices.SortFunc(gone, func(a, b Step) int {
		return cmp.Or(cmp.Compare(order[a.Kind], order[b.Kind]), cmp.Compare(a.Name, b.Name))
	})
	return append(steps, gone...)
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

// retirement is the event that takes cur out of the mesh, or nil for kinds
// that cannot be removed yet (domains, feeds).
func retirement(cur definition, now time.Time) events.Event {
	env := events.Envelope{
		EventID:       events.DeriveID("retire", cur.Kind, cur.Name, cur.EventID),
		OccurredAt:    now.UTC().Truncate(time.Microsecond),
		Domain:        events.DomainCentral,
		CorrelationID: cur.EventID,
		CausationID:   cur.EventID,
	}
	reason := "not in mesh.yaml"
	switch {
	case cur.Kind == definitions.KindProduct && cur.Product != nil:
		return &events.ProductRetired{Envelope: env, Product: cur.Name, OwnerDomain: cur.Product.Owner, Reason: &reason}
	case cur.Kind == definitions.KindGrant && cur.Grant != nil:
		return &events.ShareRevoked{Envelope: env, GrantID: cur.Grant.ID, Product: cur.Grant.Product, OwnerDomain: cur.Grant.Owner,
			GranteeDomain: cur.Grant.Grantee, RevokedBy: "mesh.yaml", Reason: &reason}
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
	for _, s := range Plan(current, m.Definitions(now), now) {
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
	if err := ApplySteps(ctx, env.Conn, env.Codec, env.Registry, env.Config.Topics, steps, changes); err != nil {
		return 0, err
	}
	return len(steps), nil
}
