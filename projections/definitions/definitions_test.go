package definitions_test

import (
	"strings"
	"testing"
	"time"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/projections/definitions"
	"github.com/logmesh/logmesh/projections/projectiontest"
)

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func feed(name, domain, hash string, sec int) *events.FeedDefined {
	return &events.FeedDefined{Envelope: events.Envelope{EventID: events.DeriveID(name, hash), OccurredAt: t0.Add(time.Duration(sec) * time.Second),
		Domain: domain}, Feed: name, Table: domain + "." + name, KeyPattern: name + "/*", DefinitionHash: hash}
}

// The latest definition wins: later in a scope, later occurred_at across
// scopes (a feed moved to another domain), whatever order scopes are read.
func TestLatestWins(t *testing.T) {
	st := projectiontest.NewScopes()
	p := definitions.Projection{}
	central, raw, lab := st.Scope("central/0"), st.Scope("raw/1"), st.Scope("lab/2")
	steps := []struct {
		s  projectiontest.MemStore
		ev events.Event
	}{
		{central, &events.DomainDefined{Envelope: events.Envelope{EventID: "d1", OccurredAt: t0, Domain: "central"}, DomainName: "lab", DefinitionHash: "h1"}},
		{central, &events.DomainDefined{Envelope: events.Envelope{EventID: "d2", OccurredAt: t0, Domain: "central"}, DomainName: "lab", DefinitionHash: "h2"}},
		{raw, feed("trades", "raw", "f1", 1)},
		{lab, feed("trades", "lab", "f2", 2)},
		{raw, feed("quotes", "raw", "q1", 1)},
		{raw, &events.FileLanded{Envelope: events.Envelope{EventID: "x"}}},
	}
	for _, s := range steps {
		if err := p.Apply(s.s, s.ev); err != nil {
			t.Fatal(err)
		}
	}
	for _, rev := range []bool{false, true} {
		st.Reverse = rev
		all, err := definitions.All(st)
		if err != nil {
			t.Fatal(err)
		}
		want := map[definitions.Key]string{
			{Kind: definitions.KindDomain, Name: "lab"}:  "h2",
			{Kind: definitions.KindFeed, Name: "trades"}: "f2",
			{Kind: definitions.KindFeed, Name: "quotes"}: "q1",
		}
		if len(all) != len(want) {
			t.Fatalf("%d definitions, want %d: %v", len(all), len(want), all)
		}
		for k, h := range want {
			if all[k].Hash != h {
				t.Errorf("reverse=%v %v: hash %q, want %q", rev, k, all[k].Hash, h)
			}
		}
		if d := all[definitions.Key{Kind: definitions.KindFeed, Name: "trades"}]; d.Domain != "lab" || d.Feed == nil || d.Feed.Table != "lab.trades" || d.Feed.KeyPattern != "trades/*" {
			t.Errorf("trades moved to lab, projection says %q, %+v", d.Domain, d.Feed)
		}
	}
}

func TestLocations(t *testing.T) {
	st := projectiontest.NewScopes()
	if _, ok, err := definitions.CurrentLocations(st); ok || err != nil {
		t.Fatalf("locations before any: %v %v", ok, err)
	}
	ep := "127.0.0.1:9000"
	for i, wh := range []string{"s3://w/one", "s3://w/two"} {
		ev := &events.LocationsDefined{Envelope: events.Envelope{EventID: wh, OccurredAt: t0.Add(time.Duration(i) * time.Second), Domain: "central"},
			Landing: "s3://l/", Warehouse: wh, S3Endpoint: &ep, S3Insecure: true, DefinedBy: "logmesh dev", DefinitionHash: wh}
		if err := (definitions.Projection{}).Apply(st.Scope("central/0"), ev); err != nil {
			t.Fatal(err)
		}
	}
	l, ok, err := definitions.CurrentLocations(st)
	if err != nil || !ok || l.Warehouse != "s3://w/two" || l.S3Endpoint != ep || !l.S3Insecure || l.DefinedBy != "logmesh dev" {
		t.Fatalf("locations %+v %v %v", l, ok, err)
	}
}

// Products, grants and subscriptions fold with their retirements; a
// retired definition published again is live again.
func TestProductsGrantsSubscriptions(t *testing.T) {
	st := projectiontest.NewScopes()
	p := definitions.Projection{}
	sc := st.Scope("central/0")
	env := func(id string, sec int) events.Envelope {
		return events.Envelope{EventID: id, OccurredAt: t0.Add(time.Duration(sec) * time.Second), Domain: "central"}
	}
	exp := t0.Add(time.Hour)
	for _, ev := range []events.Event{
		&events.ProductPublished{Envelope: env("p1", 1), Product: "eq.pos", OwnerDomain: "eq", Kind: "consumer-aligned", Visibility: "enterprise", OutputTable: "eq.pos", DefinitionHash: "h1"},
		&events.ShareGranted{Envelope: env("g1", 2), GrantID: "gid", Product: "eq.pos", OwnerDomain: "eq", GranteeDomain: "wm", ExpiresAt: &exp, DefinitionHash: "gh"},
		&events.SubscriptionDefined{Envelope: env("s1", 3), Subscription: "wm/pos", SubscriberDomain: "wm", Pattern: `{"event":["ProductRefreshed"]}`, DefinitionHash: "sh"},
		&events.ShareRevoked{Envelope: env("g2", 4), GrantID: "gid", Product: "eq.pos", OwnerDomain: "eq", GranteeDomain: "wm", RevokedBy: "governance"},
		&events.ProductRetired{Envelope: env("p2", 5), Product: "eq.pos", OwnerDomain: "eq"},
		&events.ProductPublished{Envelope: env("p3", 6), Product: "eq.pos", OwnerDomain: "eq", Kind: "consumer-aligned", Visibility: "domain", OutputTable: "eq.pos", DefinitionHash: "h2"},
	} {
		if err := p.Apply(sc, ev); err != nil {
			t.Fatal(err)
		}
	}
	prods, err := definitions.Live(st, definitions.KindProduct)
	if err != nil || len(prods) != 1 || prods[0].Hash != "h2" || prods[0].Product.Visibility != "domain" {
		t.Fatalf("products %+v %v", prods, err)
	}
	grants, err := definitions.Live(st, definitions.KindGrant)
	if err != nil || len(grants) != 0 {
		t.Fatalf("live grants after the revoke: %+v %v", grants, err)
	}
	all, _ := definitions.All(st)
	g := all[definitions.Key{Kind: definitions.KindGrant, Name: definitions.GrantName("eq.pos", "wm")}]
	if !g.Retired || g.Grant == nil || g.Grant.Grantee != "wm" || g.Grant.Live(exp) || !g.Grant.Live(t0) {
		t.Errorf("revoked grant %+v", g)
	}
	subs, err := definitions.Live(st, definitions.KindSubscription)
	if err != nil || len(subs) != 1 || subs[0].Subscription.Domain != "wm" {
		t.Errorf("subscriptions %+v %v", subs, err)
	}
}

// Claims race on the log: of two claims planned against one base the first
// wins and the second is refused with the winner's id, principal and time;
// a definition without the claim marker folds unconditionally, and a
// duplicate delivery changes nothing. Folding the same events again from
// empty gives the same digest.
func TestClaims(t *testing.T) {
	domain := func(id, corr, cause, hash string, sec int) *events.DomainDefined {
		return &events.DomainDefined{Envelope: events.Envelope{EventID: id, OccurredAt: t0.Add(time.Duration(sec) * time.Second), Domain: "central",
			CorrelationID: corr, CausationID: cause}, DomainName: "qa", DefinitionHash: hash}
	}
	claimBy := func(apply, by string) string { return definitions.ClaimCorrelation(apply, by) }
	log := []events.Event{
		domain("old", "6f1c0b2e-0000-8000-8000-000000000000", "", "h0", 0), // before claims: unconditional
		domain("a", claimBy("A", "cli:alice"), "old", "h1", 1),             // based on old: wins
		domain("b", claimBy("B", "api:qa"), "old", "h2", 2),                // also based on old: refused
		domain("a", claimBy("A", "cli:alice"), "old", "h1", 1),             // a duplicate of a: no change
		domain("new", claimBy("N", "cli:bob"), "", "h3", 3),                // claims a new domain, but qa exists: refused
		domain("c", claimBy("C", "api:governance"), "a", "h4", 4),          // based on a: wins
		&events.DomainRetired{Envelope: events.Envelope{EventID: "r", OccurredAt: t0.Add(5 * time.Second), Domain: "central"},
			DomainName: "qa", RetiredBy: "api:governance"},
		domain("d", claimBy("D", "cli:alice"), "r", "h5", 6), // adds the retired domain back
		&events.DomainRetired{Envelope: events.Envelope{EventID: "r2", OccurredAt: t0.Add(7 * time.Second), Domain: "central",
			CorrelationID: claimBy("R", "api:qa"), CausationID: "c"}, DomainName: "qa", RetiredBy: "api:qa"}, // a retirement planned before d: refused
	}
	fold := func() projectiontest.MemStore {
		st := projectiontest.MemStore{}
		for _, ev := range log {
			if err := (definitions.Projection{}).Apply(st, ev); err != nil {
				t.Fatal(err)
			}
		}
		return st
	}
	st := projectiontest.NewScopes()
	st.M["central/0"] = fold()
	for _, tc := range []struct {
		id       string
		accepted bool
		winner   string
		by       string
	}{
		{"a", true, "", ""}, {"b", false, "a", "cli:alice"}, {"new", false, "a", "cli:alice"}, {"c", true, "", ""}, {"d", true, "", ""},
		{"r2", false, "d", "cli:alice"},
	} {
		c, ok, err := definitions.ClaimOutcome(st, tc.id)
		if err != nil || !ok || c.Accepted != tc.accepted || c.Winner != tc.winner || c.WinnerBy != tc.by {
			t.Errorf("claim %s: %+v %v %v; want accepted %v, winner %q by %q", tc.id, c, ok, err, tc.accepted, tc.winner, tc.by)
		}
	}
	if c, _, _ := definitions.ClaimOutcome(st, "b"); !strings.Contains(c.Reason(), "domain qa's definitions changed since this plan: applied by cli:alice at 2026-12-01T09:00:01Z") ||
		!strings.HasSuffix(c.Reason(), "plan again") {
		t.Errorf("reason %q", c.Reason())
	}
	if _, ok, _ := definitions.ClaimOutcome(st, "old"); ok {
		t.Error("a definition without the claim marker is recorded as a claim")
	}
	all, err := definitions.All(st)
	if err != nil {
		t.Fatal(err)
	}
	if d := all[definitions.Key{Kind: definitions.KindDomain, Name: "qa"}]; d.EventID != "d" || d.Hash != "h5" || d.Retired || d.AppliedBy != "cli:alice" || d.Apply != "D" {
		t.Errorf("qa = %+v", d)
	}
	if a, b := fold().Digest(), fold().Digest(); a != b {
		t.Error("two folds of the same claims differ")
	}
	for _, corr := range []string{"apply:", "apply::x", "mesh", ""} {
		if _, _, ok := definitions.ParseClaim(corr); ok {
			t.Errorf("ParseClaim(%q) is a claim", corr)
		}
	}
}
