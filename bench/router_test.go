package bench

// The router figures: events/s through processors/router, exactly once on
// its transactional loop, with 10 and with 10,000 subscriptions, beside
// BenchmarkConsumeRaw. Both route the same facts to the same inboxes; only
// the subscriptions that match none of them differ in number, so the ratio
// of the two measures what the subscription count costs the router, not
// output volume.
//
// One iteration routes -bench.events ProductRefreshed facts (default
// 200,000), each over two exactly-once hops, so the router handles twice as
// many records: from the bus of the raw domain, which owns the facts'
// products, to the central bus, and from there to the inboxes of the
// routerFanout domains subscribed to the fact's product and granted it.
// Unlike the other Kafka benchmarks, each iteration has topics of its own,
// filled before it, untimed: the router writes to the topics it reads.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkaconn"
	"github.com/logmesh/logmesh/internal/pattern"
	"github.com/logmesh/logmesh/processors/proc"
	"github.com/logmesh/logmesh/processors/router"
)

// The benchmark mesh. The raw domain owns routerHotProducts
// enterprise-visible products, the ones the facts are about, in turn; each
// is granted to and subscribed by routerFanout of the routerHotDomains
// consumer domains, so every fact is delivered to routerFanout inboxes.
// The other subscriptions, which match no fact, are on routerColdProducts
// products of routerColdOwners domains, by routerColdSubscribers domains
// with a grant each: with 10,000 subscriptions, 10 per product and 10 per
// subscriber domain.
const (
	routerHotProducts     = 4
	routerHotDomains      = 4
	routerFanout          = 2
	routerHotSubs         = routerHotProducts * routerFanout
	routerColdOwners      = 100
	routerColdProducts    = 1_000 // 10 per owner
	routerColdSubscribers = 1_000
)

// routerEpoch is when the definitions occur; the facts occur after it.
var routerEpoch = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

// routerRuns numbers the iterations of the process, for their topic
// prefixes and groups (go test -count calls a benchmark again).
var routerRuns atomic.Int64

// BenchmarkRouter10 is the router with 10 subscriptions, 8 of which match
// the facts.
func BenchmarkRouter10(b *testing.B) { benchRouter(b, 10) }

// BenchmarkRouter10000 is BenchmarkRouter10 with 9,990 more subscriptions,
// none matching a fact.
func BenchmarkRouter10000(b *testing.B) { benchRouter(b, 10_000) }

// benchRouter times a router.Router with subs subscriptions routing
// -bench.events facts. Each iteration has its own topic prefix: untimed, it
// creates the topics, puts the definitions on the central bus and the facts
// on the raw domain's bus, and commits the router's new group past the
// definitions, as a router that handled them long ago would be (the
// definitions view still reads them all). The time runs from Run to the
// commit of the last fact's second hop: group join, the view's catch-up and
// the routing tables (compiling every pattern) included: on a 2-core
// machine, about 0.4s with 10,000 subscriptions and 0.1 to 0.2s with 10, a
// few percent of an iteration of 200,000 facts.
func benchRouter(b *testing.B, subs int) {
	f := shared(b)
	n := *numEvents
	defs, err := routerDefinitions(subs)
	if err != nil {
		b.Fatal(err)
	}
	defRecs := make([]*kgo.Record, len(defs))
	for i, ev := range defs {
		if defRecs[i], err = f.codec.Record(ev); err != nil {
			b.Fatal(err)
		}
	}
	factRecs := make([]*kgo.Record, n)
	for i := range factRecs {
		if factRecs[i], err = f.codec.Record(routerFact(i)); err != nil {
			b.Fatal(err)
		}
	}
	cl, err := kgo.NewClient(producerOpts(f.brokers)...)
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	conn := kafkaconn.Plain(f.brokers...)
	domains := make([]string, routerHotDomains)
	for i := range domains {
		domains[i] = routerHotDomain(i)
	}
	want := router.Stats{
		Records:   2 * int64(n), // each fact on the raw bus, then its copy on the central bus
		Forwarded: int64(n),
		Delivered: routerFanout * int64(n),
	}
	for b.Loop() {
		b.StopTimer()
		names := events.Topics{Prefix: "benchrouter" + strconv.Itoa(subs) + "-" + strconv.FormatInt(routerRuns.Add(1), 10)}
		group := names.Prefix + ".router"
		specs := names.Specs(partitions, domains...)
		if err := conn.EnsureTopics(ctx, specs...); err != nil {
			b.Fatal(err)
		}
		if err := produceCopies(ctx, cl, names.Central(), defRecs); err != nil {
			b.Fatal(err)
		}
		if err := produceCopies(ctx, cl, names.Domain(events.DomainRaw), factRecs); err != nil {
			b.Fatal(err)
		}
		if err := commitStart(ctx, f.adm, group, names, domains); err != nil {
			b.Fatal(err)
		}
		done := make(chan struct{})
		var once sync.Once
		rt, err := router.New(proc.Config{Conn: conn, Topics: names, Group: group}, f.codec,
			router.OnCommit(func(s router.Stats) {
				if s.Records >= want.Records {
					once.Do(func() { close(done) })
				}
			}))
		if err != nil {
			b.Fatal(err)
		}
		runCtx, stop := context.WithCancel(ctx)
		ran := make(chan error, 1)
		b.StartTimer()
		go func() { ran <- rt.Run(runCtx) }()
		select {
		case <-done:
		case err := <-ran:
			b.Fatalf("router stopped before routing every fact: %v (%+v)", err, rt.Stats())
		case <-ctx.Done():
			b.Fatalf("router did not route every fact: %v (%+v)", ctx.Err(), rt.Stats())
		}
		b.StopTimer()
		stop()
		if err := <-ran; err != nil && !errors.Is(err, context.Canceled) {
			b.Fatal(err)
		}
		if got := rt.Stats(); got != want {
			b.Fatalf("router stats %+v, want %+v", got, want)
		}
		// Dropping the topics keeps kfake's memory flat across iterations.
		for _, s := range specs {
			f.deleteTopic(b, s.Name)
		}
		b.StartTimer()
	}
	reportEvents(b)
}

func routerHotProduct(i int) string { return events.DomainRaw + ".hot" + strconv.Itoa(i) }
func routerHotDomain(i int) string  { return "hot" + strconv.Itoa(i) }

// routerColdProduct is the i-th product no fact is about, and its owner:
// o00.p0, o01.p0, ..., o99.p0, o00.p1, ...
func routerColdProduct(i int) (product, owner string) {
	owner = fmt.Sprintf("o%02d", i%routerColdOwners)
	return owner + ".p" + strconv.Itoa(i/routerColdOwners), owner
}

// routerDefinitions returns the benchmark mesh's definitions as `logmesh
// apply` puts them on the central bus: every product, subs subscriptions
// and a grant for each subscription.
func routerDefinitions(subs int) ([]events.Event, error) {
	if subs < routerHotSubs {
		return nil, fmt.Errorf("%d subscriptions: the benchmark mesh needs at least %d", subs, routerHotSubs)
	}
	env := func(kind, name string) events.Envelope {
		return events.Envelope{EventID: events.DeriveID("bench-definition", kind, name), OccurredAt: routerEpoch,
			Domain: events.DomainCentral, CorrelationID: "bench-router"}
	}
	product := func(name, owner string) events.Event {
		return &events.ProductPublished{Envelope: env("product", name), Product: name, OwnerDomain: owner,
			Kind: "source-aligned", Inputs: []string{}, OutputTable: name, Visibility: events.VisibilityEnterprise,
			Trigger: "all", Owners: []string{}, PrimaryKey: []string{}, Mode: "append", Contacts: []string{},
			Tags: []string{}, DefinitionHash: events.DeriveID("hash", name)}
	}
	grant := func(product, owner, grantee string) events.Event {
		return &events.ShareGranted{Envelope: env("grant", product+"→"+grantee),
			GrantID: events.DeriveID("grant", product, grantee), Product: product, OwnerDomain: owner,
			GranteeDomain: grantee, GrantedBy: "mesh.yaml", DefinitionHash: events.DeriveID("hash", product, grantee)}
	}
	subscription := func(domain, name string, p map[string]any) (events.Event, error) {
		compiled, err := pattern.Compile(p)
		if err != nil {
			return nil, fmt.Errorf("subscription %s/%s: %w", domain, name, err)
		}
		id := domain + "/" + name
		return &events.SubscriptionDefined{Envelope: env("subscription", id), Subscription: id,
			SubscriberDomain: domain, Pattern: compiled.String(), DefinitionHash: events.DeriveID("hash", id)}, nil
	}

	var out []events.Event
	for i := range routerHotProducts {
		out = append(out, product(routerHotProduct(i), events.DomainRaw))
	}
	for i := range routerColdProducts {
		p, owner := routerColdProduct(i)
		out = append(out, product(p, owner))
	}
	// Each hot product: routerFanout subscribers, the first on the product
	// alone, the others also on a row count every fact has.
	for i := range routerHotProducts {
		p := routerHotProduct(i)
		for j := range routerFanout {
			d := routerHotDomain((i + j) % routerHotDomains)
			pat := map[string]any{"event": []any{"ProductRefreshed"}, "product": []any{p}}
			if j > 0 {
				pat["rows_total"] = []any{map[string]any{"numeric": []any{">", 0}}}
			}
			s, err := subscription(d, "sub-"+p, pat)
			if err != nil {
				return nil, err
			}
			out = append(out, grant(p, events.DomainRaw, d), s)
		}
	}
	// The others: subscription k is domain s(k mod 1,000)'s, on cold product
	// (k mod 1,000 + 100·(k/1,000)) mod 1,000, so no domain subscribes to a
	// product twice. Most are on the product's refreshes; two in ten also
	// on its retirement, with a row count; one in ten on the publications
	// and grants of the owner's products. Each is filed in the router's index
	// under its product or under an event no fact is; one filed under
	// ProductRefreshed alone (a product prefix, an owner_domain) would be
	// checked against every fact.
	for k := range subs - routerHotSubs {
		d := fmt.Sprintf("s%03d", k%routerColdSubscribers)
		p, owner := routerColdProduct((k%routerColdSubscribers + 100*(k/routerColdSubscribers)) % routerColdProducts)
		var pat map[string]any
		switch k % 10 {
		case 7, 8:
			pat = map[string]any{"event": []any{"ProductRefreshed", "ProductRetired"}, "product": []any{p},
				"rows_total": []any{map[string]any{"numeric": []any{">", 1000}}}}
		case 9:
			pat = map[string]any{"event": []any{"ProductPublished", "ShareGranted"},
				"product": []any{map[string]any{"prefix": owner + "."}}}
		default:
			pat = map[string]any{"event": []any{"ProductRefreshed"}, "product": []any{p}}
		}
		s, err := subscription(d, "sub-"+p, pat)
		if err != nil {
			return nil, err
		}
		out = append(out, grant(p, owner, d), s)
	}
	return out, nil
}

// routerFact is the i-th benchmark fact: a refresh of hot product i mod
// routerHotProducts on the raw domain's bus, as the loader writes it.
func routerFact(i int) *events.ProductRefreshed {
	p := routerHotProduct(i % routerHotProducts)
	version := int64(i/routerHotProducts + 1)
	at := routerEpoch.Add(time.Hour + time.Duration(i)*time.Millisecond)
	return &events.ProductRefreshed{
		Envelope: events.Envelope{EventID: events.DeriveID("bench-refresh", p, strconv.FormatInt(version, 10)),
			OccurredAt: at, Domain: events.DomainRaw, CorrelationID: p},
		Product: p, OwnerDomain: events.DomainRaw, Visibility: events.VisibilityEnterprise, Table: p,
		Version: version, SnapshotID: 7_000_000_000_000_000_000 + int64(i),
		MetadataLocation: fmt.Sprintf("file:///warehouse/raw/%s/metadata/%05d.metadata.json", p, version),
		RowsTotal:        1_000_000 + int64(i), DataAsOf: ptr(at.Add(-time.Minute)),
	}
}

// produceCopies produces a copy of each of recs to topic and waits for all
// of them.
func produceCopies(ctx context.Context, cl *kgo.Client, topic string, recs []*kgo.Record) error {
	var firstErr atomic.Pointer[error]
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			firstErr.CompareAndSwap(nil, &err)
		}
	}
	for _, r := range recs {
		cl.Produce(ctx, &kgo.Record{Topic: topic, Key: r.Key, Value: r.Value, Headers: r.Headers}, promise)
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	if p := firstErr.Load(); p != nil {
		return *p
	}
	return nil
}

// commitStart commits group's offsets on every partition of the events
// topics of names: at the end for the central bus, at the start for the
// others. Committing the partitions the router should read from the start
// too makes its consumer load every start offset in one go: with only the
// central bus committed, its first fetch can go out with those partitions
// alone, all at their end, and wait out fetch.max.wait (5s) before the
// others are fetched.
func commitStart(ctx context.Context, adm *kadm.Client, group string, names events.Topics, domains []string) error {
	ends, err := adm.ListEndOffsets(ctx, names.Central())
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return err
	}
	topics := []string{names.Domain(events.DomainRaw)}
	for _, d := range domains {
		topics = append(topics, names.Domain(d))
	}
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return err
	}
	offs := ends.Offsets()
	starts.Offsets().Each(offs.Add)
	return adm.CommitAllOffsets(ctx, group, offs)
}
