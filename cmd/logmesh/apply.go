package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkaconn"
	"github.com/logmesh/logmesh/internal/mesh"
	"github.com/logmesh/logmesh/internal/validate"
	"github.com/logmesh/logmesh/processors/host"
	"github.com/logmesh/logmesh/projections/definitions"
	"github.com/logmesh/logmesh/state"
)

// cmdApply plans a mesh file against the definitions on the log, prints the
// plan and, unless --plan (or --dry-run), emits the definition events of
// what is new, changed or gone: DomainDefined, FeedDefined,
// ProductPublished, ShareGranted, SubscriptionDefined, and ProductRetired,
// ShareRevoked, SubscriptionRemoved for products, grants and subscriptions
// no longer in the file. Every product's contract (its output schema) is
// checked with the registry first; a change the registry's compatibility
// rule refuses stops the apply with the registry's reason.
func cmdApply(ctx context.Context, g global, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("apply", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("f", "", "the mesh file to apply")
	dryRun := fs.Bool("plan", false, "print the plan, emit nothing")
	fs.BoolVar(dryRun, "dry-run", false, "the same as --plan")
	pos, err := interspersed(fs, args)
	if err != nil {
		return err
	}
	if *file == "" || len(pos) > 0 {
		return fmt.Errorf("apply -f mesh.yaml [--plan]: %w", errUsage)
	}
	m, err := mesh.Load(*file)
	if err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	for i := range m.Feeds {
		if _, err := validate.New(&m.Feeds[i]); err != nil {
			return fmt.Errorf("apply: %s: %w", *file, err)
		}
	}
	codec, srcl, err := g.codec()
	if err != nil {
		return err
	}
	conn, err := g.conn()
	if err != nil {
		return err
	}
	domains := make([]string, 0, len(m.Domains))
	for _, d := range m.Domains {
		domains = append(domains, d.Name)
	}
	if !*dryRun {
		if err := conn.EnsureTopics(ctx, g.topics.Specs(0, domains...)...); err != nil {
			return fmt.Errorf("apply: %w", err)
		}
	}
	current, err := readDefinitions(ctx, conn, codec, g.topics)
	if err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	now := time.Now()
	steps := planDefinitions(current, m.Definitions(now), now)
	var emit []events.Event
	for _, s := range steps {
		fmt.Fprintln(stdout, s)
		if s.ev != nil {
			emit = append(emit, s.ev)
		}
	}
	refused, err := checkContracts(ctx, srcl, steps, stdout)
	if err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	switch {
	case refused > 0:
		return fmt.Errorf("apply: the registry refuses %d contract change(s); nothing emitted: %w", refused, errRefused)
	case len(emit) == 0:
		fmt.Fprintln(stdout, "no changes")
		return nil
	case *dryRun:
		fmt.Fprintf(stdout, "dry run: %s would be applied, nothing emitted\n", plural(len(emit)))
		return nil
	}
	if err := codec.Register(ctx); err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	if err := registerContracts(ctx, srcl, steps); err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	recs := make([]*kgo.Record, 0, len(emit))
	for _, ev := range emit {
		r, err := codec.Record(ev)
		if err != nil {
			return fmt.Errorf("apply: %w", err)
		}
		r.Topic = g.topics.For(ev)
		recs = append(recs, r)
	}
	cl, err := conn.Client()
	if err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	defer cl.Close()
	// Not one transaction: a failure part-way leaves some definitions
	// applied, and the next apply plans only the rest.
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("apply: produce: %w", err)
	}
	fmt.Fprintf(stdout, "applied %s\n", plural(len(emit)))
	return nil
}

// errRefused marks a definition the registry or the mesh rules refuse.
var errRefused = errors.New("refused")

// plural returns "1 definition" or "n definitions".
func plural(n int) string {
	if n == 1 {
		return "1 definition"
	}
	return fmt.Sprintf("%d definitions", n)
}

// definitionKey identifies a definition: a domain or a feed by name.
type definitionKey = definitions.Key

// definition is the latest definition of a domain or feed on the log.
type definition = definitions.Definition

// planStep is one line of an apply plan.
type planStep struct {
	op         byte // '+' add, '~' change, '=' unchanged, '-' removed
	kind, name string
	ev         events.Event // what apply emits: set for '+', '~' and a retired '-'
}

func (s planStep) String() string {
	switch s.op {
	case '+':
		return fmt.Sprintf("+ %s %s", s.kind, s.name)
	case '~':
		return fmt.Sprintf("~ %s %s (changed)", s.kind, s.name)
	case '=':
		return fmt.Sprintf("= %s %s (unchanged)", s.kind, s.name)
	default:
		switch s.kind {
		case definitions.KindProduct:
			return fmt.Sprintf("- product %s (retired: not in the file)", s.name)
		case definitions.KindGrant:
			return fmt.Sprintf("- grant %s (revoked: not in the file)", s.name)
		case definitions.KindSubscription:
			return fmt.Sprintf("- subscription %s (removed: not in the file)", s.name)
		}
		return fmt.Sprintf("- %s %s (removal is not supported yet; nothing is emitted)", s.kind, s.name)
	}
}

// planDefinitions compares the wanted definitions (mesh.Definitions) with
// the current ones: the wanted in their order, each added, changed or
// unchanged, then the current ones no longer wanted, by kind, then name.
// Products, grants and subscriptions that are gone are retired, revoked and
// removed at now; a retired one in the file again is added.
func planDefinitions(current map[definitionKey]definition, want []events.Event, now time.Time) []planStep {
	var steps []planStep
	wanted := map[definitionKey]bool{}
	for _, ev := range want {
		k, hash, ok := wantedKey(ev)
		if !ok {
			continue
		}
		wanted[k] = true
		s := planStep{kind: k.Kind, name: k.Name}
		switch cur, ok := current[k]; {
		case !ok || cur.Retired:
			s.op, s.ev = '+', ev
		case cur.Hash != hash:
			s.op, s.ev = '~', ev
		default:
			s.op = '='
		}
		steps = append(steps, s)
	}
	var gone []planStep
	for k, cur := range current {
		if wanted[k] || cur.Retired || k.Kind == definitions.KindLocations {
			continue
		}
		gone = append(gone, planStep{op: '-', kind: k.Kind, name: k.Name, ev: retirement(cur, now)})
	}
	order := map[string]int{definitions.KindDomain: 0, definitions.KindFeed: 1, definitions.KindProduct: 2,
		definitions.KindGrant: 3, definitions.KindSubscription: 4}
	slices.SortFunc(gone, func(a, b planStep) int {
		return cmp.Or(cmp.Compare(order[a.kind], order[b.kind]), cmp.Compare(a.name, b.name))
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

// contractSubject is the registry subject of a table's contract.
func contractSubject(table string) string { return "logmesh.tables." + table }

// checkContracts asks the registry whether each new or changed product's
// contract is compatible with the versions registered for its table, prints
// a line for each refusal with the registry's reasons, and returns how many
// were refused.
func checkContracts(ctx context.Context, cl *sr.Client, steps []planStep, w io.Writer) (int, error) {
	refused := 0
	for _, s := range steps {
		pp, ok := s.ev.(*events.ProductPublished)
		if !ok || pp.OutputSchema == nil {
			continue
		}
		subject := contractSubject(pp.OutputTable)
		res, err := cl.CheckCompatibility(sr.WithParams(ctx, sr.Verbose), subject, -1, sr.Schema{Schema: *pp.OutputSchema, Type: sr.TypeAvro})
		var re *sr.ResponseError
		switch {
		case errors.As(err, &re) && re.StatusCode == http.StatusNotFound:
			continue // the table's first contract
		case err != nil:
			return refused, fmt.Errorf("check the contract of %s with the registry: %w", pp.Product, err)
		case !res.Is:
			refused++
			fmt.Fprintf(w, "! product %s: the registry refuses the contract change of %s (subject %s): %s\n",
				pp.Product, pp.OutputTable, subject, strings.Join(res.Messages, "; "))
		}
	}
	return refused, nil
}

// registerContracts registers each new or changed product's contract under
// its table's subject, so the next change is checked against it.
func registerContracts(ctx context.Context, cl *sr.Client, steps []planStep) error {
	for _, s := range steps {
		pp, ok := s.ev.(*events.ProductPublished)
		if !ok || pp.OutputSchema == nil {
			continue
		}
		if _, err := cl.CreateSchema(ctx, contractSubject(pp.OutputTable), sr.Schema{Schema: *pp.OutputSchema, Type: sr.TypeAvro}); err != nil {
			var re *sr.ResponseError
			if errors.As(err, &re) {
				return fmt.Errorf("the registry refuses the contract of %s: %s: %w", pp.Product, re.Message, errRefused)
			}
			return fmt.Errorf("register the contract of %s: %w", pp.Product, err)
		}
	}
	return nil
}

// readDefinitions folds the definitions projection over its topics, as the
// log has them now: the latest definition of every domain and feed.
func readDefinitions(ctx context.Context, conn kafkaconn.Conn, codec *events.Codec, names events.Topics) (map[definitionKey]definition, error) {
	st, err := state.Open("", &state.Options{FS: vfs.NewMem()})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	proj := definitions.Projection{}
	if _, err := host.Replay(ctx, proj, st, codec, conn, proj.Topics(names), host.Sync(false)); err != nil {
		return nil, err
	}
	return definitions.All(st)
}
