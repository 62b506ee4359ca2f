package router_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkaconn"
	"github.com/logmesh/logmesh/internal/kafkatest"
	"github.com/logmesh/logmesh/internal/proctest"
	"github.com/logmesh/logmesh/mesh"
	"github.com/logmesh/logmesh/processors/proc"
	"github.com/logmesh/logmesh/processors/router"
	"github.com/logmesh/logmesh/processors/txn"
)

// matrixMesh: equities (eq) owns a domain-private product, an
// enterprise one nobody was granted, one granted to wealth (wm) and to
// research (rs), one granted then revoked, one granted then retired;
// fixedincome (fi) owns an enterprise product granted to wm. wm subscribes
// to every refresh of eq's products; eq to its own; rs to nothing; fi to
// nothing.
const matrixMesh = `domains:
  - name: eq
  - name: fi
  - name: wm
  - name: rs
products:
  - {name: private, domain: eq, inputs: ["topic:t"], transform: "SELECT 1", output: {schema: {type: record, name: A, fields: [{name: a, type: string}]}}}
  - {name: ungranted, domain: eq, visibility: enterprise, inputs: ["topic:t"], transform: "SELECT 1", output: {schema: {type: record, name: A, fields: [{name: a, type: string}]}}}
  - {name: public, domain: eq, visibility: enterprise, inputs: ["topic:t"], transform: "SELECT 1", output: {schema: {type: record, name: A, fields: [{name: a, type: string}]}}}
  - {name: revoked, domain: eq, visibility: enterprise, inputs: ["topic:t"], transform: "SELECT 1", output: {schema: {type: record, name: A, fields: [{name: a, type: string}]}}}
  - {name: retired, domain: eq, visibility: enterprise, inputs: ["topic:t"], transform: "SELECT 1", output: {schema: {type: record, name: A, fields: [{name: a, type: string}]}}}
  - {name: bonds, domain: fi, visibility: enterprise, inputs: ["topic:t"], transform: "SELECT 1", output: {schema: {type: record, name: A, fields: [{name: a, type: string}]}}}
grants:
  - {product: eq.public, to: wm}
  - {product: eq.public, to: rs}
  - {product: eq.revoked, to: wm}
  - {product: eq.retired, to: wm}
  - {product: fi.bonds, to: wm}
subscriptions:
  - {domain: wm, name: eq-refreshes, pattern: {event: [ProductRefreshed], product: [{prefix: "eq."}]}}
  - {domain: eq, name: own, pattern: {event: [ProductRefreshed], owner_domain: [eq]}}
`

type rig struct {
	t       *testing.T
	cluster *kafkatest.Cluster
	codec   *events.Codec
	regURL  string
	names   events.Topics
	cl      *kgo.Client
	mesh    *mesh.Mesh
}

func newRig(t *testing.T) *rig {
	t.Helper()
	return newRigWith(t, matrixMesh)
}

// newRigWith is a rig for another mesh of the domains eq, fi, wm and rs.
func newRigWith(t *testing.T, meshText string) *rig {
	t.Helper()
	c := kafkatest.New(t)
	codec, url := kafkatest.Codec(t)
	names := events.Topics{Prefix: kafkatest.Unique("rt")}
	m, err := mesh.Parse([]byte(meshText), "mesh.yaml", ".")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Conn().EnsureTopics(context.Background(), names.Specs(3, "eq", "fi", "wm", "rs")...); err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, cluster: c, codec: codec, regURL: url, names: names, cl: c.Client(t), mesh: m}
	r.produce(m.Definitions(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))...)
	return r
}

// produce writes events to their topics under the rig's names.
func (r *rig) produce(evs ...events.Event) {
	r.t.Helper()
	for _, ev := range evs {
		rec, err := r.codec.Record(ev)
		if err != nil {
			r.t.Fatal(err)
		}
		rec.Topic = r.names.For(ev)
		if err := r.cl.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
			r.t.Fatal(err)
		}
	}
}

// refreshed is a ProductRefreshed of product on the bus of domain from.
func refreshed(from, product string, round int) *events.ProductRefreshed {
	owner, _, _ := strings.Cut(product, ".")
	return &events.ProductRefreshed{
		Envelope: events.Envelope{EventID: events.DeriveID("refresh", from, product, fmt.Sprint(round)),
			OccurredAt: time.Date(2026, 12, 1, 10, round, 0, 0, time.UTC), Domain: from, CorrelationID: product},
		Product: product, OwnerDomain: owner, Visibility: "enterprise", Table: product, Version: int64(round),
	}
}

// start runs a router until the test ends.
func (r *rig) start(clientOpts []kgo.Opt, opts ...router.Option) *router.Router {
	r.t.Helper()
	pc := proc.Config{Conn: r.cluster.Conn(), Topics: r.names, Group: r.names.Prefix + ".router", ClientOpts: clientOpts}
	rt, err := router.New(pc, r.codec, append([]router.Option{router.Transactions(txn.Backoff(10*time.Millisecond, 50*time.Millisecond))}, opts...)...)
	if err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	r.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			r.t.Errorf("router: %v", err)
		}
	})
	return rt
}

// inbox returns "product/round" of every refresh in domain's inbox, and
// the name of every other fact but the domain's own product definitions,
// sorted; it fails on a repeated event id and on a fact not keyed by the
// domain.
func (r *rig) inbox(domain string) []string {
	r.t.Helper()
	var out []string
	seen := map[string]bool{}
	for _, rec := range kafkatest.ReadAll(r.t, r.cluster.Brokers, r.names.Inbox(domain)) {
		ev, err := r.codec.Decode(context.Background(), rec.Value)
		if err != nil {
			r.t.Fatal(err)
		}
		if seen[ev.Meta().EventID] {
			r.t.Errorf("%s inbox: %s delivered twice", domain, ev.Meta().EventID)
		}
		seen[ev.Meta().EventID] = true
		if string(rec.Key) != domain {
			r.t.Errorf("%s inbox: %s keyed %q, want the domain", domain, ev.Name(), rec.Key)
		}
		switch e := ev.(type) {
		case *events.ProductPublished:
			if e.OwnerDomain != domain {
				r.t.Errorf("%s inbox: the definition of %s, owned by %s", domain, e.Product, e.OwnerDomain)
			}
			continue
		case *events.ProductRetired:
			if e.OwnerDomain != domain {
				r.t.Errorf("%s inbox: the retirement of %s, owned by %s", domain, e.Product, e.OwnerDomain)
			}
			continue
		}
		pr, ok := ev.(*events.ProductRefreshed)
		if !ok {
			out = append(out, ev.Name())
			continue
		}
		out = append(out, fmt.Sprintf("%s/%d", pr.Product, pr.Version))
	}
	sort.Strings(out)
	return out
}

// await waits until every domain's inbox holds at least the wanted number
// of facts, then returns them all.
func (r *rig) await(want map[string][]string) map[string][]string {
	r.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		got := map[string][]string{}
		done := true
		for d, w := range want {
			got[d] = r.inbox(d)
			done = done && len(got[d]) >= len(w)
		}
		if done || time.Now().After(deadline) {
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (r *rig) refused() []*events.RouteRefused {
	r.t.Helper()
	var out []*events.RouteRefused
	for _, rec := range kafkatest.ReadAll(r.t, r.cluster.Brokers, r.names.Central()) {
		if ev, err := r.codec.Decode(context.Background(), rec.Value); err == nil {
			if rr, ok := ev.(*events.RouteRefused); ok {
				out = append(out, rr)
			}
		}
	}
	return out
}

// The routing matrix: each consumer's inbox holds exactly the facts it
// subscribed to and may see, before and after a revoke and a retirement; a
// spoofed fact is dropped and recorded.
func TestRoutingMatrix(t *testing.T) {
	r := newRig(t)
	r.start(nil)
	products := []string{"eq.private", "eq.ungranted", "eq.public", "eq.revoked", "eq.retired"}
	for _, p := range products {
		r.produce(refreshed("eq", p, 1))
	}
	r.produce(refreshed("fi", "fi.bonds", 1))
	// fi publishes about a product it does not own.
	spoof := refreshed("fi", "eq.public", 7)
	spoof.OwnerDomain = "fi"
	r.produce(spoof)

	round1 := map[string][]string{
		"wm": {"eq.public/1", "eq.retired/1", "eq.revoked/1"},
		"eq": {"eq.private/1", "eq.public/1", "eq.retired/1", "eq.revoked/1", "eq.ungranted/1"},
		"rs": {}, "fi": {},
	}
	got := r.await(round1)
	for d, w := range round1 {
		if !slices.Equal(got[d], w) && !(len(w) == 0 && len(got[d]) == 0) {
			t.Errorf("round 1, %s inbox: %v, want %v", d, got[d], w)
		}
	}

	// The revoke and the retirement, then a second round.
	g := r.mesh.Grants[slices.IndexFunc(r.mesh.Grants, func(g mesh.Grant) bool { return g.Product == "eq.revoked" })]
	at := time.Date(2026, 12, 1, 11, 0, 0, 0, time.UTC)
	r.produce(
		&events.ShareRevoked{Envelope: events.Envelope{EventID: "revoke-1", OccurredAt: at, Domain: "central"},
			GrantID: g.ID(), Product: "eq.revoked", OwnerDomain: "eq", GranteeDomain: "wm", RevokedBy: "governance"},
		&events.ProductRetired{Envelope: events.Envelope{EventID: "retire-1", OccurredAt: at, Domain: "central"},
			Product: "eq.retired", OwnerDomain: "eq"},
	)
	for _, p := range products {
		r.produce(refreshed("eq", p, 2))
	}
	r.produce(refreshed("fi", "fi.bonds", 2))
	round2 := map[string][]string{
		"wm": {"eq.public/1", "eq.public/2", "eq.retired/1", "eq.revoked/1"},
		"eq": {"eq.private/1", "eq.private/2", "eq.public/1", "eq.public/2", "eq.retired/1", "eq.revoked/1", "eq.revoked/2",
			"eq.ungranted/1", "eq.ungranted/2"},
		"rs": {}, "fi": {},
	}
	// The last fact every router decision depends on: a marker refresh
	// routed to wm, after which nothing more can arrive.
	r.produce(refreshed("eq", "eq.public", 3))
	round2["wm"] = append(round2["wm"], "eq.public/3")
	round2["eq"] = append(round2["eq"], "eq.public/3")
	for d := range round2 {
		sort.Strings(round2[d])
	}
	got = r.await(round2)
	for d, w := range round2 {
		if !slices.Equal(got[d], w) && !(len(w) == 0 && len(got[d]) == 0) {
			t.Errorf("round 2, %s inbox: %v, want %v", d, got[d], w)
		}
	}
	rr := r.refused()
	if len(rr) != 2 {
		t.Fatalf("RouteRefused %d, want 2 (the spoof, and eq.retired/2 from a product no longer published)", len(rr))
	}
	var spoofed *events.RouteRefused
	for _, x := range rr {
		if x.RefusedEventID == spoof.Envelope.EventID {
			spoofed = x
		}
	}
	if spoofed == nil || spoofed.FromDomain != "fi" || *spoofed.Product != "eq.public" || !strings.Contains(spoofed.Reason, "domain eq owns") {
		t.Errorf("spoof record %+v", spoofed)
	}
}

// Env of the router child process.
const (
	envChild    = "LOGMESH_ROUTERTEST_CHILD"
	envBrokers  = "LOGMESH_ROUTERTEST_BROKERS"
	envRegistry = "LOGMESH_ROUTERTEST_REGISTRY"
	envPrefix   = "LOGMESH_ROUTERTEST_PREFIX"
)

// TestRouterChild is the router process TestRouterKilledMidStream kills. It
// prints "routed N" after each commit.
func TestRouterChild(t *testing.T) {
	if os.Getenv(envChild) != "1" {
		t.Skip("run as a child process by TestRouterKilledMidStream")
	}
	names := events.Topics{Prefix: os.Getenv(envPrefix)}
	rt, err := router.New(proc.Config{Conn: kafkaconn.Plain(strings.Split(os.Getenv(envBrokers), ",")...),
		Topics: names, Group: names.Prefix + ".router", ClientOpts: []kgo.Opt{kgo.SessionTimeout(6 * time.Second)}},
		kafkatest.CodecAt(t, os.Getenv(envRegistry)), router.RecordsPerTransaction(50),
		router.OnCommit(func(s router.Stats) { fmt.Printf("routed %d\n", s.Records) }))
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// A router SIGKILLed mid-stream and restarted: every refresh reaches the
// granted inbox exactly once, in order.
func TestRouterKilledMidStream(t *testing.T) {
	const n = 3000
	r := newRig(t)
	for i := 1; i <= n; i++ {
		r.produce(refreshed("eq", "eq.public", i))
	}
	child := proctest.Start(t, "router", []string{envChild + "=1", envBrokers + "=" + strings.Join(r.cluster.Brokers, ","),
		envRegistry + "=" + r.regURL, envPrefix + "=" + r.names.Prefix}, "-test.run=^TestRouterChild$", "-test.v")
	child.Await(child.OnLine(func(l string) bool {
		var routed int
		_, err := fmt.Sscanf(l, "routed %d", &routed)
		return err == nil && routed >= n/2
	}), "half the refreshes routed")
	child.Kill()

	r.start([]kgo.Opt{kgo.SessionTimeout(6 * time.Second)})
	want := make([]string, 0, n)
	for i := 1; i <= n; i++ {
		want = append(want, fmt.Sprintf("eq.public/%d", i))
	}
	sort.Strings(want)
	got := r.await(map[string][]string{"wm": want})["wm"]
	if !slices.Equal(got, want) {
		t.Fatalf("wm inbox holds %d facts, want each of the %d refreshes once", len(got), n)
	}
	// In order: the product's facts are in one partition, versions rising.
	last := int64(0)
	for _, rec := range kafkatest.ReadAll(t, r.cluster.Brokers, r.names.Inbox("wm")) {
		ev, err := r.codec.Decode(context.Background(), rec.Value)
		if err != nil {
			t.Fatal(err)
		}
		if v := ev.(*events.ProductRefreshed).Version; v <= last {
			t.Fatalf("version %d after %d: out of order", v, last)
		} else {
			last = v
		}
	}
}

// readersMesh: wm and eq own products that read eq.public, rs one that
// reads eq.hidden, which it was not granted; nobody subscribes.
const readersMesh = `domains:
  - name: eq
  - name: fi
  - name: wm
  - name: rs
products:
  - {name: public, domain: eq, visibility: enterprise, inputs: ["topic:t"], transform: "SELECT 1", output: {schema: {type: record, name: A, fields: [{name: a, type: string}]}}}
  - {name: hidden, domain: eq, visibility: enterprise, inputs: ["topic:t"], transform: "SELECT 1", output: {schema: {type: record, name: A, fields: [{name: a, type: string}]}}}
  - {name: daily, domain: eq, inputs: [eq.public], transform: "SELECT 1", output: {schema: {type: record, name: A, fields: [{name: a, type: string}]}}}
  - {name: book, domain: wm, inputs: [eq.public], transform: "SELECT 1", output: {schema: {type: record, name: A, fields: [{name: a, type: string}]}}}
  - {name: model, domain: rs, inputs: [eq.hidden], transform: "SELECT 1", output: {schema: {type: record, name: A, fields: [{name: a, type: string}]}}}
grants:
  - {product: eq.public, to: wm}
`

// A product's inputs subscribe its domain to them: their refreshes reach
// the inbox of every domain whose products read them and that may see
// them, with no subscription; a domain's inbox also gets the definitions of
// its own products and its orchestration facts, and a domain cannot speak
// for another's product there either.
func TestInputsAndOrchestrationFacts(t *testing.T) {
	r := newRigWith(t, readersMesh)
	r.start(nil)
	r.produce(refreshed("eq", "eq.public", 1), refreshed("eq", "eq.hidden", 1))
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	r.produce(
		&events.JobFinished{Envelope: events.Envelope{EventID: "job-1", OccurredAt: at, Domain: "wm"},
			JobID: "j1", Product: "wm.book", Attempt: 1, Status: events.StatusSucceeded},
		&events.RunRequested{Envelope: events.Envelope{EventID: "run-1", OccurredAt: at, Domain: "wm"},
			Product: "wm.book", RequestedBy: "test"},
		&events.JobFinished{Envelope: events.Envelope{EventID: "job-2", OccurredAt: at, Domain: "wm"},
			JobID: "j2", Product: "eq.daily", Attempt: 1, Status: events.StatusFailed},
	)
	// A last refresh for wm marks the end of what the router can deliver.
	r.produce(refreshed("eq", "eq.public", 2))
	want := map[string][]string{
		"wm": {"eq.public/1", "eq.public/2", events.NameJobFinished, events.NameRunRequested},
		"eq": {"eq.public/1", "eq.public/2"},
		"rs": {}, "fi": {},
	}
	for d := range want {
		sort.Strings(want[d])
	}
	got := r.await(want)
	for d, w := range want {
		if !slices.Equal(got[d], w) && !(len(w) == 0 && len(got[d]) == 0) {
			t.Errorf("%s inbox: %v, want %v", d, got[d], w)
		}
	}
	defs := map[string][]string{}
	for _, d := range []string{"eq", "wm", "rs"} {
		for _, rec := range kafkatest.ReadAll(t, r.cluster.Brokers, r.names.Inbox(d)) {
			if ev, err := r.codec.Decode(context.Background(), rec.Value); err == nil {
				if pp, ok := ev.(*events.ProductPublished); ok {
					defs[d] = append(defs[d], pp.Product)
				}
			}
		}
		sort.Strings(defs[d])
	}
	if !slices.Equal(defs["eq"], []string{"eq.daily", "eq.hidden", "eq.public"}) || !slices.Equal(defs["wm"], []string{"wm.book"}) ||
		!slices.Equal(defs["rs"], []string{"rs.model"}) {
		t.Errorf("definitions in the owners' inboxes: %v", defs)
	}
	rr := r.refused()
	if len(rr) != 1 || rr[0].Product == nil || *rr[0].Product != "eq.daily" || rr[0].FromDomain != "wm" {
		t.Errorf("refused %+v, want wm's JobFinished about eq.daily", rr)
	}
}
