package mesh

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/logmesh/logmesh/events"
)

// Kinds of definitions, as in Change.Kind and in definition event ids.
const (
	KindDomain       = "domain"
	KindFeed         = "feed"
	KindProduct      = "product"
	KindGrant        = "grant"
	KindSubscription = "subscription"
)

// Ops of a Change.
const (
	OpAdd    = "add"
	OpChange = "change"
	OpRemove = "remove"
)

// canonicalDomain and canonicalFeed fix the encoding a definition hash is
// computed over: JSON of these structs, fields in declaration order. Adding
// a field here changes every hash (and so plans a "change" of every
// definition once); add fields with omitempty to avoid that.
type canonicalDomain struct {
	Kind        string   `json:"kind"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Owners      []string `json:"owners"`
}

type canonicalFeed struct {
	Kind            string        `json:"kind"`
	Name            string        `json:"name"`
	Table           string        `json:"table"`
	KeyPattern      string        `json:"key_pattern"`
	Topic           string        `json:"topic,omitempty"`
	Format          string        `json:"format"`
	Options         FormatOptions `json:"options"`
	Schema          string        `json:"schema"`
	PrimaryKey      []string      `json:"primary_key"`
	OrderingField   string        `json:"ordering_field"`
	Mode            string        `json:"mode"`
	UniqueKey       bool          `json:"unique_key"`
	RejectThreshold float64       `json:"reject_threshold"`
	Rules           []Rule        `json:"rules"`
	Batch           BatchPolicy   `json:"batch"`

	AllowControlCharacters bool `json:"allow_control_characters,omitempty"`
}

type canonicalProduct struct {
	Kind        string        `json:"kind"`
	Name        string        `json:"name"`
	Domain      string        `json:"domain"`
	ProductKind string        `json:"product_kind"`
	Description string        `json:"description"`
	Inputs      []string      `json:"inputs"`
	Transform   string        `json:"transform"`
	Output      Output        `json:"output"`
	Visibility  string        `json:"visibility"`
	Trigger     string        `json:"trigger"`
	Schedule    string        `json:"schedule"`
	Freshness   time.Duration `json:"freshness"`
	MaxInputAge time.Duration `json:"max_input_age"`
	Timeout     time.Duration `json:"timeout,omitempty"`
	Engine      string        `json:"engine,omitempty"`
	Retry       [2]int64      `json:"retry"`
	Owners      []string      `json:"owners"`
	Contacts    []string      `json:"contacts"`
	Tags        []string      `json:"tags"`
	Feed        string        `json:"feed,omitempty"`
}

type canonicalGrant struct {
	Kind    string `json:"kind"`
	Product string `json:"product"`
	Owner   string `json:"owner"`
	Grantee string `json:"grantee"`
	Purpose string `json:"purpose"`
	Expires int64  `json:"expires"`
}

type canonicalSubscription struct {
	Kind        string `json:"kind"`
	Domain      string `json:"domain"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Pattern     string `json:"pattern"`
}

// DefinitionHash returns the SHA-256 hex of the product's canonical
// encoding.
func (p *Product) DefinitionHash() string {
	inputs := make([]string, 0, len(p.Inputs))
	for _, in := range p.Inputs {
		inputs = append(inputs, in.String())
	}
	return hashJSON(canonicalProduct{
		Kind: KindProduct, Name: p.Name, Domain: p.Domain, ProductKind: p.Kind, Description: p.Description,
		Inputs: inputs, Transform: p.Transform, Output: p.Output, Visibility: p.Visibility, Trigger: p.Trigger,
		Schedule: p.Schedule, Freshness: p.Freshness, MaxInputAge: p.MaxInputAge, Timeout: p.Timeout, Engine: p.Engine,
		Retry: [2]int64{int64(p.Retry.MaxAttempts), int64(p.Retry.Backoff)}, Owners: p.Owners, Contacts: p.Contacts,
		Tags: p.Tags, Feed: p.Feed,
	})
}

// DefinitionHash returns the SHA-256 hex of the grant's canonical encoding.
func (g *Grant) DefinitionHash() string {
	var exp int64
	if !g.Expires.IsZero() {
		exp = g.Expires.UnixMicro()
	}
	return hashJSON(canonicalGrant{Kind: KindGrant, Product: g.Product, Owner: g.Owner, Grantee: g.Grantee, Purpose: g.Purpose, Expires: exp})
}

// DefinitionHash returns the SHA-256 hex of the subscription's canonical
// encoding (the pattern in its canonical form).
func (s *Subscription) DefinitionHash() string {
	return hashJSON(canonicalSubscription{Kind: KindSubscription, Domain: s.Domain, Name: s.Name,
		Description: s.Description, Pattern: s.Pattern.String()})
}

func hashJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		// Only a NaN or infinite RejectThreshold fails to encode, and Parse
		// refuses those; a hand-built Feed still gets a stable hash.
		b = fmt.Appendf(nil, "%+v", v)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// DefinitionHash returns the SHA-256 hex of the domain's canonical
// encoding. Equal definitions have equal hashes.
func (d *Domain) DefinitionHash() string {
	return hashJSON(canonicalDomain{Kind: KindDomain, Name: d.Name, Description: d.Description, Owners: d.Owners})
}

// DefinitionHash returns the SHA-256 hex of the feed's canonical encoding,
// which covers every field of the Feed (the schema as its compact JSON).
// Equal definitions have equal hashes.
func (f *Feed) DefinitionHash() string {
	return hashJSON(canonicalFeed{
		Kind: KindFeed, Name: f.Name, Table: f.Table, KeyPattern: f.KeyPattern, Topic: f.Topic, Format: f.Format,
		Options: f.Options, Schema: f.Schema, PrimaryKey: f.PrimaryKey, OrderingField: f.OrderingField,
		Mode: f.Mode, UniqueKey: f.UniqueKey, RejectThreshold: f.RejectThreshold, Rules: f.Rules, Batch: f.Batch,
		AllowControlCharacters: f.AllowControlCharacters,
	})
}

// Definitions returns one DomainDefined per domain and one FeedDefined per
// feed, in declaration order, for `logmesh apply`. Each event id is
// events.DeriveID("definition", kind, name, definition_hash), so applying
// the same definition twice yields the same id and consumers drop the
// repeat; a changed definition gets a new id. All events share a
// correlation id derived from every definition hash (one apply of one mesh
// file), have no causation id, and occur at at (UTC, microseconds).
// DomainDefined goes to the central domain, FeedDefined to the domain of
// its table.
//
// Every field of a Feed is in its FeedDefined (Feed.Event), so a
// processor rebuilds the feed from the log alone (FeedFromEvent).
func (m *Mesh) Definitions(at time.Time) []events.Event {
	at = at.UTC().Truncate(time.Microsecond)
	parts := []string{"mesh"}
	for i := range m.Domains {
		parts = append(parts, m.Domains[i].DefinitionHash())
	}
	for i := range m.Feeds {
		parts = append(parts, m.Feeds[i].DefinitionHash())
	}
	for i := range m.Products {
		parts = append(parts, m.Products[i].DefinitionHash())
	}
	for i := range m.Grants {
		parts = append(parts, m.Grants[i].DefinitionHash())
	}
	for i := range m.Subscriptions {
		parts = append(parts, m.Subscriptions[i].DefinitionHash())
	}
	correlation := events.DeriveID(parts...)

	out := make([]events.Event, 0, len(m.Domains)+len(m.Feeds))
	for i := range m.Domains {
		d := &m.Domains[i]
		hash := d.DefinitionHash()
		ev := &events.DomainDefined{
			Envelope: events.Envelope{
				EventID:       events.DeriveID("definition", KindDomain, d.Name, hash),
				OccurredAt:    at,
				Domain:        events.DomainCentral,
				CorrelationID: correlation,
			},
			DomainName:     d.Name,
			Owners:         slices.Clone(d.Owners),
			DefinitionHash: hash,
		}
		if ev.Owners == nil {
			ev.Owners = []string{}
		}
		if d.Description != "" {
			ev.Description = new(d.Description)
		}
		out = append(out, ev)
	}
	for i := range m.Feeds {
		f := &m.Feeds[i]
		out = append(out, f.Event(events.Envelope{
			EventID:       events.DeriveID("definition", KindFeed, f.Name, f.DefinitionHash()),
			OccurredAt:    at,
			Domain:        f.Domain(),
			CorrelationID: correlation,
		}))
	}
	env := func(kind, name, hash string) events.Envelope {
		return events.Envelope{
			EventID:       events.DeriveID("definition", kind, name, hash),
			OccurredAt:    at,
			Domain:        events.DomainCentral,
			CorrelationID: correlation,
		}
	}
	for i := range m.Products {
		p := &m.Products[i]
		hash := p.DefinitionHash()
		ev := &events.ProductPublished{
			Envelope: env(KindProduct, p.Name, hash), Product: p.Name, OwnerDomain: p.Domain, Kind: p.Kind,
			Inputs: []string{}, OutputTable: p.Output.Table, Visibility: p.Visibility, Trigger: p.Trigger,
			Owners: nonNil(p.Owners), PrimaryKey: nonNil(p.Output.PrimaryKey), Mode: p.Output.Mode,
			Contacts: nonNil(p.Contacts), Tags: nonNil(p.Tags), DefinitionHash: hash,
		}
		for _, in := range p.Inputs {
			ev.Inputs = append(ev.Inputs, in.String())
		}
		if p.Description != "" {
			ev.Description = new(p.Description)
		}
		if p.Transform != "" {
			ev.Transform = new(p.Transform)
		}
		if p.Schedule != "" {
			ev.Schedule = new(p.Schedule)
		}
		if p.Engine != "" {
			ev.Engine = new(p.Engine)
		}
		if p.Freshness > 0 {
			ev.FreshnessSeconds = new(int64(p.Freshness / time.Second))
		}
		if p.MaxInputAge > 0 {
			ev.MaxInputAgeSeconds = new(int64(p.MaxInputAge / time.Second))
		}
		if p.Timeout > 0 {
			ev.TimeoutSeconds = new(int64(p.Timeout / time.Second))
		}
		if p.Output.Schema != "" {
			ev.OutputSchema = new(p.Output.Schema)
		}
		if p.Kind == KindConsumerAligned {
			ev.RetryMaxAttempts = new(int32(p.Retry.MaxAttempts))
			ev.RetryBackoffSeconds = new(int64(p.Retry.Backoff / time.Second))
		}
		out = append(out, ev)
	}
	for i := range m.Grants {
		g := &m.Grants[i]
		hash := g.DefinitionHash()
		ev := &events.ShareGranted{
			Envelope: env(KindGrant, g.Name(), hash), GrantID: g.ID(), Product: g.Product, OwnerDomain: g.Owner,
			GranteeDomain: g.Grantee, GrantedBy: "mesh.yaml", DefinitionHash: hash,
		}
		if g.Purpose != "" {
			ev.Purpose = new(g.Purpose)
		}
		if !g.Expires.IsZero() {
			ev.ExpiresAt = new(g.Expires)
		}
		out = append(out, ev)
	}
	for i := range m.Subscriptions {
		sub := &m.Subscriptions[i]
		hash := sub.DefinitionHash()
		ev := &events.SubscriptionDefined{
			Envelope: env(KindSubscription, sub.ID(), hash), Subscription: sub.ID(), SubscriberDomain: sub.Domain,
			Pattern: sub.Pattern.String(), DefinitionHash: hash,
		}
		if sub.Description != "" {
			ev.Description = new(sub.Description)
		}
		out = append(out, ev)
	}
	return out
}

// list returns the options that are set as name=value pairs in a fixed
// order; lists are JSON arrays.
func (o *FormatOptions) list() []events.Option {
	out := []events.Option{}
	add := func(name, value string) {
		if value != "" {
			out = append(out, events.Option{Name: name, Value: value})
		}
	}
	add("delimiter", o.Delimiter)
	if o.Header {
		add("header", "true")
	}
	if len(o.Columns) > 0 {
		add("columns", jsonList(o.Columns))
	}
	add("record_path", o.RecordPath)
	if len(o.FixedWidth) > 0 {
		b, _ := json.Marshal(o.FixedWidth)
		add("fixed_width", string(b))
	}
	add("encoding", o.Encoding)
	add("comment", o.Comment)
	if o.TrimSpace {
		add("trim_space", "true")
	}
	if o.MaxRecordBytes > 0 {
		add("max_record_bytes", strconv.Itoa(o.MaxRecordBytes))
	}
	if o.MaxRawBytes > 0 {
		add("max_raw_bytes", strconv.Itoa(o.MaxRawBytes))
	}
	if len(o.TimestampLayouts) > 0 {
		add("timestamp_layouts", jsonList(o.TimestampLayouts))
	}
	if len(o.DateLayouts) > 0 {
		add("date_layouts", jsonList(o.DateLayouts))
	}
	return out
}

func jsonList(s []string) string {
	if s == nil {
		s = []string{}
	}
	b, _ := json.Marshal(s)
	return string(b)
}

// Change is one step of a plan: a definition added, changed or removed.
type Change struct {
	// Kind is KindDomain or KindFeed.
	Kind string
	// Name is the domain's or feed's name.
	Name string
	// Op is OpAdd, OpChange or OpRemove.
	Op string
}

// Diff returns what applying new over old changes, sorted by kind (domains
// first), then name. A definition whose hash is unchanged is not listed.
// A nil mesh is an empty one.
func Diff(old, new *Mesh) []Change {
	if old == nil {
		old = &Mesh{}
	}
	if new == nil {
		new = &Mesh{}
	}
	var out []Change
	diff := func(kind string, oldHashes, newHashes map[string]string) {
		for name, h := range newHashes {
			if oh, ok := oldHashes[name]; !ok {
				out = append(out, Change{Kind: kind, Name: name, Op: OpAdd})
			} else if oh != h {
				out = append(out, Change{Kind: kind, Name: name, Op: OpChange})
			}
		}
		for name := range oldHashes {
			if _, ok := newHashes[name]; !ok {
				out = append(out, Change{Kind: kind, Name: name, Op: OpRemove})
			}
		}
	}
	domains := func(m *Mesh) map[string]string {
		h := map[string]string{}
		for i := range m.Domains {
			h[m.Domains[i].Name] = m.Domains[i].DefinitionHash()
		}
		return h
	}
	feeds := func(m *Mesh) map[string]string {
		h := map[string]string{}
		for i := range m.Feeds {
			h[m.Feeds[i].Name] = m.Feeds[i].DefinitionHash()
		}
		return h
	}
	diff(KindDomain, domains(old), domains(new))
	diff(KindFeed, feeds(old), feeds(new))
	kindOrder := map[string]int{KindDomain: 0, KindFeed: 1}
	slices.SortFunc(out, func(a, b Change) int {
		return cmp.Or(cmp.Compare(kindOrder[a.Kind], kindOrder[b.Kind]), cmp.Compare(a.Name, b.Name))
	})
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return slices.Clone(s)
}

// optional returns nil for "" and &s otherwise.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
