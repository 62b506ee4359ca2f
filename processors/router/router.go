// Package router is the mesh bus: it carries what domains publish about
// their data products to the domains that subscribed to it and may see it.
//
// It consumes every domain's events topic (the central bus is the central
// domain's) on the transactional loop (processors/txn), so each record's
// forwards commit exactly once, with its offset:
//
//   - From a domain's own bus, a fact about a product (ProductRefreshed) is
//     checked against the product's definition: a domain may publish only
//     about products it owns; a spoofed fact is dropped and recorded as a
//     RouteRefused on the central bus, with the reason. A fact about one of
//     the domain's enterprise-visible products is forwarded to the central
//     bus; a fact about any of its live products goes to the domain's own
//     inbox if one of its subscriptions matches.
//   - From the central bus, a fact about a product (ProductRefreshed,
//     ProductPublished, ProductRetired, ShareGranted, ShareRevoked) goes to
//     the inbox of every other domain that has a matching subscription and
//     may see the product: it is enterprise-visible and the domain holds a
//     live grant (not revoked, not expired at the fact's time).
//
// Definitions (products, grants, subscriptions) come from the definitions
// projection, kept in memory by a view that catches up before each poll:
// a revoke, a retirement or a removed subscription takes effect for every
// fact handled after it is on the log, and a new grant does not deliver
// facts handled before it. Subscriptions are content patterns
// (internal/pattern) over the fact as `logmesh tail --json` shows it, with
// "event" the fact's short name (ProductRefreshed); they are indexed by
// event, product and owner domain, so a decision costs what the rules that
// can match cost, not what all rules cost. No document is built for a fact
// nobody could receive (a domain's own fact when it has no subscription, a
// central fact about a product with no grant).
//
// A product's inputs subscribe its domain to them: a refresh of an input
// reaches the inbox of every domain with a live product that reads it (and
// may see it), with no subscription. A domain's inbox also gets the
// definitions of its own products (ProductPublished, ProductRetired, from
// the central bus) and the facts of its orchestration from its own bus
// (JobFinished, RunRequested, only about its own products), so that its
// orchestrator reads everything it decides on in one order.
//
// Forwards keep the fact's bytes (its event id and schema). On the central
// bus they are keyed by product; in an inbox by the domain, so all of a
// domain's inbox is one partition in one order (each product's facts in
// order too). A logmesh.route.from header says where a fact came from.
package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/pattern"
	"github.com/logmesh/logmesh/processors/host"
	"github.com/logmesh/logmesh/processors/proc"
	"github.com/logmesh/logmesh/processors/txn"
	"github.com/logmesh/logmesh/projections/definitions"
	"github.com/logmesh/logmesh/state"
)

// indexFields are the fields subscriptions are indexed by: a pattern that
// names exact values of one of them is tried only for facts with one of
// those values.
var indexFields = []string{"event", "product", "owner_domain"}

// DefaultGroup is the router's consumer group unless Group says otherwise.
const DefaultGroup = "logmesh.router"

// HeaderFrom is set on every forwarded record: "topic/partition@offset" of
// the record it copies.
const HeaderFrom = "logmesh.route.from"

type config struct {
	proc.Config
	txnOpts  []txn.Option
	perTxn   int
	progress func(Stats)
}

// Option configures a Router.
type Option func(*config)

// Transactions adds options to the router's transactional loop.
func Transactions(opts ...txn.Option) Option {
	return func(c *config) { c.txnOpts = append(c.txnOpts, opts...) }
}

// RecordsPerTransaction bounds the records routed in one transaction.
// Default 500.
func RecordsPerTransaction(n int) Option { return func(c *config) { c.perTxn = n } }

// OnCommit sets a callback run after each committed transaction with the
// router's counters so far.
func OnCommit(fn func(Stats)) Option { return func(c *config) { c.progress = fn } }

// Stats counts what the router did; the counts are for the life of the
// Router.
type Stats struct {
	Records   int64 // records handled (committed)
	Forwarded int64 // copies produced to the central bus
	Delivered int64 // copies produced to inboxes
	Refused   int64 // facts refused (RouteRefused)
}

// Router routes mesh facts. Create it with New, run it with Run; it is
// single-use, and Close stops it.
type Router struct {
	cfg   config
	log   *slog.Logger
	codec *events.Codec
	loop  *txn.Loop
	store *state.Store
	view  *host.View

	// Routing tables, rebuilt when the definitions change. Used by the
	// loop's goroutine only.
	built    bool
	products map[string]definitions.Product
	grants   map[string]definitions.Grant // by GrantName
	subs     *pattern.Set[string]
	subDom   map[string]string   // subscription → its domain
	subbers  map[string]bool     // domains with a subscription
	granted  map[string]bool     // products with a grant (live or not) to some domain
	readers  map[string][]string // product or table → domains of live products that read it, sorted

	pending  Stats    // of the transaction in flight
	refusals []string // the refusal kinds of the transaction in flight
	mu       sync.Mutex
	stats    Stats

	runMu  sync.Mutex
	stop   context.CancelFunc
	closed bool
}

// New returns a router over pc.Conn, consuming in pc.Group (default
// DefaultGroup); pc.Clock is not used.
func New(pc proc.Config, codec *events.Codec, opts ...Option) (*Router, error) {
	cfg := config{Config: pc.WithDefaults(DefaultGroup), perTxn: 500}
	for _, o := range opts {
		o(&cfg)
	}
	if codec == nil {
		return nil, errors.New("router: nil codec")
	}
	st, err := state.Open("", &state.Options{FS: vfs.NewMem(), Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	r := &Router{cfg: cfg, log: cfg.Logger.With("processor", "router"), codec: codec, store: st,
		products: map[string]definitions.Product{}, grants: map[string]definitions.Grant{},
		subs: pattern.NewSet[string](indexFields...), subDom: map[string]string{}}
	proj := definitions.Projection{}
	if r.view, err = host.NewView(proj, st, codec, cfg.Conn, proj.Topics(cfg.Topics), host.Sync(false),
		host.Logger(cfg.Logger), host.ClientOpts(cfg.ClientOpts...)); err != nil {
		st.Close()
		return nil, err
	}
	topts := append([]txn.Option{txn.Name("router"),
		txn.RecordsPerTransaction(cfg.perTxn)}, cfg.txnOpts...)
	if r.loop, err = txn.New(cfg.Config, cfg.Topics.AllDomains(), codec, r, topts...); err != nil {
		st.Close()
		return nil, err
	}
	return r, nil
}

// Stats returns the router's counters. Safe for concurrent use.
func (r *Router) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

// Run routes until ctx ends or Close is called; it returns nil then.
func (r *Router) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r.runMu.Lock()
	if r.closed {
		r.runMu.Unlock()
		return errors.New("router: closed")
	}
	r.stop = cancel
	r.runMu.Unlock()
	defer func() {
		r.view.Close()
		_ = r.store.Close()
	}()
	return r.loop.Run(ctx)
}

// Close stops Run. It is idempotent and does not wait.
func (r *Router) Close() error {
	r.runMu.Lock()
	defer r.runMu.Unlock()
	r.closed = true
	if r.stop != nil {
		r.stop()
	}
	return nil
}

// Prepare implements txn.Preparer: the definitions catch up with the log,
// and the routing tables follow them.
func (r *Router) Prepare(ctx context.Context) error {
	prog, err := r.view.CatchUp(ctx)
	if err != nil {
		return fmt.Errorf("router: definitions: %w", err)
	}
	if prog.Changed == 0 && r.built {
		return nil
	}
	r.built = true
	return r.rebuild()
}

// rebuild reloads the routing tables from the definitions store.
func (r *Router) rebuild() error {
	all, err := definitions.All(r.store)
	if err != nil {
		return err
	}
	products := map[string]definitions.Product{}
	grants := map[string]definitions.Grant{}
	subs := pattern.NewSet[string](indexFields...)
	subDom, subbers, granted := map[string]string{}, map[string]bool{}, map[string]bool{}
	readers := map[string][]string{}
	for k, d := range all {
		if d.Retired {
			continue
		}
		switch {
		case k.Kind == definitions.KindProduct && d.Product != nil:
			products[k.Name] = *d.Product
			for _, in := range d.Product.Inputs {
				if !strings.HasPrefix(in, "topic:") && !slices.Contains(readers[in], d.Product.Owner) {
					readers[in] = append(readers[in], d.Product.Owner)
				}
			}
		case k.Kind == definitions.KindGrant && d.Grant != nil:
			grants[k.Name] = *d.Grant
			granted[d.Grant.Product] = true
		case k.Kind == definitions.KindSubscription && d.Subscription != nil:
			var v any
			dec := json.NewDecoder(strings.NewReader(d.Subscription.Pattern))
			dec.UseNumber()
			if err := dec.Decode(&v); err != nil {
				r.log.Error("subscription with an unreadable pattern; ignored", "subscription", k.Name, "err", err)
				continue
			}
			p, err := pattern.Compile(v)
			if err != nil {
				r.log.Error("subscription with an invalid pattern; ignored", "subscription", k.Name, "err", err)
				continue
			}
			subs.Add(k.Name, p)
			subDom[k.Name] = d.Subscription.Domain
			subbers[d.Subscription.Domain] = true
		}
	}
	for _, ds := range readers {
		slices.Sort(ds)
	}
	r.products, r.grants, r.subs, r.subDom, r.subbers, r.granted, r.readers = products, grants, subs, subDom, subbers, granted, readers
	r.log.Info("routing tables", "products", len(products), "grants", len(grants), "subscriptions", subs.Len())
	return nil
}

// Handle implements txn.Handler.
func (r *Router) Handle(_ context.Context, rec *kgo.Record, ev events.Event) ([]*kgo.Record, error) {
	r.pending.Records++
	from, ok := r.cfg.Topics.DomainOf(rec.Topic)
	if !ok {
		return nil, nil
	}
	product, claimed, routable := productOf(ev)
	if !routable {
		return nil, nil
	}
	if from == events.DomainCentral {
		return r.fromCentral(rec, ev, product, claimed)
	}
	if orchestration(ev) {
		return r.orchestration(rec, ev, from, product)
	}
	return r.fromDomain(rec, ev, from, product, claimed)
}

// orchestration reports whether ev is a fact of a domain's orchestration,
// which travels from the domain's bus to its own inbox only.
func orchestration(ev events.Event) bool {
	switch ev.(type) {
	case *events.JobFinished, *events.RunRequested:
		return true
	}
	return false
}

// orchestration delivers a fact of domain from's orchestration about one
// of its products to its own inbox, where its orchestrator reads it.
func (r *Router) orchestration(rec *kgo.Record, ev events.Event, from, product string) ([]*kgo.Record, error) {
	def, known := r.products[product]
	switch {
	case !known:
		return r.refuse(rec, ev, from, product, "", fmt.Sprintf("product %s is not published (or is retired)", product))
	case def.Owner != from:
		return r.refuse(rec, ev, from, product, "", fmt.Sprintf("domain %s published a fact about product %s, which domain %s owns", from, product, def.Owner))
	}
	r.pending.Delivered++
	return []*kgo.Record{r.copyTo(rec, r.cfg.Topics.Inbox(from), from)}, nil
}

// fromDomain handles a fact on domain from's own bus.
func (r *Router) fromDomain(rec *kgo.Record, ev events.Event, from, product, claimed string) ([]*kgo.Record, error) {
	if _, ok := ev.(*events.ProductRefreshed); !ok {
		return nil, nil // only refreshes travel from a domain's bus
	}
	def, known := r.products[product]
	switch {
	case !known:
		return r.refuse(rec, ev, from, product, claimed, fmt.Sprintf("product %s is not published (or is retired)", product))
	case def.Owner != from:
		return r.refuse(rec, ev, from, product, claimed, fmt.Sprintf("domain %s published a fact about product %s, which domain %s owns", from, product, def.Owner))
	case claimed != "" && claimed != def.Owner:
		return r.refuse(rec, ev, from, product, claimed, fmt.Sprintf("the fact claims owner %s; product %s belongs to %s", claimed, product, def.Owner))
	}
	var outs []*kgo.Record
	if def.Visibility == events.VisibilityEnterprise {
		outs = append(outs, r.copyTo(rec, r.cfg.Topics.Central(), product))
		r.pending.Forwarded++
	}
	deliver := slices.Contains(r.readers[product], from) // its own products read it
	if !deliver && r.subbers[from] {
		doc, err := events.Document(ev)
		if err != nil {
			return nil, err
		}
		deliver = r.subscribed(doc, from)
	}
	if deliver {
		outs = append(outs, r.copyTo(rec, r.cfg.Topics.Inbox(from), from))
		r.pending.Delivered++
	}
	return outs, nil
}

// fromCentral handles a fact on the central bus: every other domain that
// subscribed, or owns a product that reads it, and may see the product gets
// a copy; the owner gets the definitions of its own products (its
// orchestrator learns of them so, in the order of its inbox).
func (r *Router) fromCentral(rec *kgo.Record, ev events.Event, product, owner string) ([]*kgo.Record, error) {
	var outs []*kgo.Record
	switch ev.(type) {
	case *events.ProductPublished, *events.ProductRetired:
		if events.ValidDomain(owner) == nil && owner != events.DomainCentral {
			outs = append(outs, r.copyTo(rec, r.cfg.Topics.Inbox(owner), owner))
			r.pending.Delivered++
		}
	}
	def, known := r.products[product]
	if !known || def.Visibility != events.VisibilityEnterprise || !r.granted[product] {
		return outs, nil // nobody but its owner may see it
	}
	at := ev.Meta().OccurredAt
	var domains []string
	consider := func(d string) {
		if d == def.Owner || slices.Contains(domains, d) {
			return // the owner has it from its own bus
		}
		if g, ok := r.grants[definitions.GrantName(product, d)]; ok && g.Live(at) {
			domains = append(domains, d)
		}
	}
	if _, refresh := ev.(*events.ProductRefreshed); refresh {
		for _, d := range r.readers[product] {
			consider(d)
		}
	}
	doc, err := events.Document(ev)
	if err != nil {
		return nil, err
	}
	r.subs.Matches(doc, func(id string) { consider(r.subDom[id]) })
	slices.Sort(domains)
	for _, d := range domains {
		outs = append(outs, r.copyTo(rec, r.cfg.Topics.Inbox(d), d))
	}
	r.pending.Delivered += int64(len(domains))
	return outs, nil
}

// subscribed reports whether one of domain's subscriptions matches doc.
func (r *Router) subscribed(doc any, domain string) bool {
	found := false
	r.subs.Matches(doc, func(id string) { found = found || r.subDom[id] == domain })
	return found
}

// refuse records a RouteRefused on the central bus instead of forwarding.
func (r *Router) refuse(rec *kgo.Record, ev events.Event, from, product, claimed, reason string) ([]*kgo.Record, error) {
	r.log.Warn("refused a fact", "topic", rec.Topic, "partition", rec.Partition, "offset", rec.Offset,
		"product", product, "event", ev.Name(), "reason", reason)
	m := ev.Meta()
	rr := &events.RouteRefused{
		Envelope: events.Envelope{
			EventID:       events.DeriveID("route-refused", m.EventID, rec.Topic, strconv.Itoa(int(rec.Partition)), strconv.FormatInt(rec.Offset, 10)),
			OccurredAt:    m.OccurredAt,
			Domain:        events.DomainCentral,
			CorrelationID: m.CorrelationID,
			CausationID:   m.EventID,
		},
		RefusedEventID: m.EventID, Event: ev.Name(), FromDomain: from,
		Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset, Reason: reason,
	}
	if product != "" {
		rr.Product = &product
	}
	if claimed != "" {
		rr.ClaimedOwner = &claimed
	}
	out, err := r.codec.Record(rr)
	if err != nil {
		return nil, fmt.Errorf("router: encode RouteRefused: %w", err)
	}
	out.Topic = r.cfg.Topics.Central()
	out.Key = []byte(product)
	r.pending.Refused++
	r.refusals = append(r.refusals, refusalKind(reason))
	return []*kgo.Record{out}, nil
}

// refusalKind is the reason label of logmesh_router_refusals_total: one of
// a few kinds, not the reason's text (which names products and domains).
func refusalKind(reason string) string {
	switch {
	case strings.Contains(reason, "is not published"):
		return "not_published"
	case strings.Contains(reason, "claims owner"):
		return "claimed_owner"
	case strings.Contains(reason, "which domain"):
		return "not_owner"
	}
	return "other"
}

// copyTo is a copy of rec for topic, with the given key: the product on
// the central bus (each product's facts in order), the domain in an inbox
// (all of a domain's facts in one partition, in one order, which its
// orchestrator's decisions follow).
func (r *Router) copyTo(rec *kgo.Record, topic, key string) *kgo.Record {
	headers := slices.DeleteFunc(slices.Clone(rec.Headers), func(h kgo.RecordHeader) bool { return h.Key == HeaderFrom })
	headers = append(headers, kgo.RecordHeader{Key: HeaderFrom,
		Value: []byte(rec.Topic + "/" + strconv.Itoa(int(rec.Partition)) + "@" + strconv.FormatInt(rec.Offset, 10))})
	return &kgo.Record{Topic: topic, Key: []byte(key), Value: rec.Value, Headers: headers}
}

// Committed implements txn.Committer: the counters of the transaction count.
func (r *Router) Committed(context.Context, []*kgo.Record) {
	r.mu.Lock()
	r.stats.Records += r.pending.Records
	r.stats.Forwarded += r.pending.Forwarded
	r.stats.Delivered += r.pending.Delivered
	r.stats.Refused += r.pending.Refused
	s := r.stats
	r.mu.Unlock()
	r.cfg.Metrics.Delivered("central", int(r.pending.Forwarded))
	r.cfg.Metrics.Delivered("inbox", int(r.pending.Delivered))
	for _, k := range r.refusals {
		r.cfg.Metrics.Refused(k)
	}
	r.pending, r.refusals = Stats{}, r.refusals[:0]
	if r.cfg.progress != nil {
		r.cfg.progress(s)
	}
}

// Aborted implements txn.Aborter: the transaction's counters do not count.
func (r *Router) Aborted(context.Context) { r.pending, r.refusals = Stats{}, r.refusals[:0] }

var (
	_ txn.Handler   = (*Router)(nil)
	_ txn.Preparer  = (*Router)(nil)
	_ txn.Committer = (*Router)(nil)
	_ txn.Aborter   = (*Router)(nil)
)

// productOf returns the product a fact is about and the owner it claims;
// routable is false for facts the router does not carry.
func productOf(ev events.Event) (product, claimedOwner string, routable bool) {
	switch e := ev.(type) {
	case *events.ProductRefreshed:
		return e.Product, e.OwnerDomain, true
	case *events.ProductPublished:
		return e.Product, e.OwnerDomain, true
	case *events.ProductRetired:
		return e.Product, e.OwnerDomain, true
	case *events.ShareGranted:
		return e.Product, e.OwnerDomain, true
	case *events.ShareRevoked:
		return e.Product, e.OwnerDomain, true
	case *events.JobFinished:
		return e.Product, "", true
	case *events.RunRequested:
		return e.Product, "", true
	}
	return "", "", false
}
