// Package catalog is the central catalog: an HTTP API over the catalog
// projection (projections/catalog: definitions, table versions and the file
// audit, folded from every domain's bus) that knows every domain, product,
// table, version, grant, subscription and landed file, enforces who may
// read what, and answers as of any moment; and, on the same state and rules, an Iceberg REST catalog
// for outside engines, which read the tables they may read and write the
// tables of their own products (iceberg_commit.go: each commit a
// TableCommitted and a ProductRefreshed in one Kafka transaction).
//
// Every request names its principal with a bearer token (Tokens, stored
// hashed). A domain sees its own products and enterprise-visible ones; it
// reads a table's metadata and data location only if it owns the product
// or holds a live grant; governance sees and reads everything and grants
// and revokes (owners too with Rules.OwnerGrants). A refused request is
// answered 401 or 403 with the reason and recorded as an AccessDenied fact
// on the central bus; a grant or revoke is a ShareGranted or ShareRevoked.
//
// As of: every GET takes as_of, an RFC 3339 time (the catalog folded from
// the facts that occurred until then, and grants judged at that time) or a
// position, the opaque token every answer carries in its Logmesh-Position
// header (the catalog folded to exactly that point of the log). An as-of
// answer folds the log again into a fresh store: its cost is the log's.
//
// Live tail: GET /v1/tail reads a topic straight from the log (no group,
// read_committed) and answers its records decoded (package readout);
// governance tails any topic of the installation, a domain its own events
// topic. It is live and takes no as_of.
package catalog

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/confluent"
	"github.com/logmesh/logmesh/internal/kafkaconn"
	"github.com/logmesh/logmesh/internal/readout"
	"github.com/logmesh/logmesh/processors/catalog/console"
	"github.com/logmesh/logmesh/processors/host"
	"github.com/logmesh/logmesh/processors/proc"
	"github.com/logmesh/logmesh/projections"
	"github.com/logmesh/logmesh/projections/catalog"
	"github.com/logmesh/logmesh/projections/definitions"
	"github.com/logmesh/logmesh/projections/pointers"
	"github.com/logmesh/logmesh/state"
	"github.com/logmesh/logmesh/tables"
)

// DefaultAddr is where the catalog listens unless Addr says otherwise.
const DefaultAddr = "127.0.0.1:8080"

// PositionHeader carries the log position an answer was read at.
const PositionHeader = "Logmesh-Position"

type config struct {
	proc.Config
	addr    string
	tokens  Tokens
	tls     *tls.Config
	rules   Rules
	applier Applier
	lag     func(ctx context.Context) ([]console.ProcessorLag, error)
	generic *confluent.Decoder
	// contracts and txnID serve the Iceberg write path (iceberg_commit.go).
	contracts Contracts
	txnID     string
}

// Option configures a Server.
type Option func(*config)

// Addr sets the listen address; default DefaultAddr.
func Addr(a string) Option { return func(c *config) { c.addr = a } }

// WithTokens sets the bearer tokens; without any, every request is
// anonymous and reads nothing.
func WithTokens(t Tokens) Option { return func(c *config) { c.tokens = t } }

// TLS serves the catalog over TLS with cfg. When cfg verifies client
// certificates (ClientCAs with tls.VerifyClientCertIfGiven or
// RequireAndVerifyClientCert), a request without a valid bearer token is
// the principal its certificate's common name names (a domain or
// governance): mutual TLS.
func TLS(cfg *tls.Config) Option { return func(c *config) { c.tls = cfg } }

// WithRules sets the authorization rules.
func WithRules(r Rules) Option { return func(c *config) { c.rules = r } }

// Server is the catalog. Create it with New; Run serves until ctx ends, or
// mount Handler yourself.
type Server struct {
	cfg   config
	log   *slog.Logger
	codec *events.Codec
	// readout decodes the records GET /v1/tail answers.
	readout *readout.Decoder
	conn    kafkaconn.Conn
	wh      *tables.Warehouse

	mu    sync.Mutex // the live store and view
	store *state.Store
	view  *host.View

	pmu      sync.Mutex
	producer *kgo.Client
	txn      *kgo.Client // the transactional producer of Iceberg commits

	cmu sync.Mutex // one Iceberg write at a time

	ln net.Listener
}

// New returns a catalog over pc.Conn, reading table metadata from wh;
// pc.Clock is the clock grants are judged by and facts are stamped with,
// and pc.Group is not used (the catalog consumes in no group).
func New(pc proc.Config, codec *events.Codec, wh *tables.Warehouse, opts ...Option) (*Server, error) {
	cfg := config{Config: pc.WithDefaults(""), addr: DefaultAddr, tokens: Tokens{}}
	for _, o := range opts {
		o(&cfg)
	}
	if codec == nil || wh == nil {
		return nil, errors.New("catalog: nil codec or warehouse")
	}
	s := &Server{cfg: cfg, log: cfg.Logger.With("processor", "catalog"), codec: codec, readout: readout.New(codec, cfg.generic),
		conn: cfg.Conn, wh: wh}
	var err error
	if s.store, s.view, err = s.openView(catalog.Projection{}); err != nil {
		return nil, err
	}
	return s, nil
}

// Store returns the live store, for `logmesh replay --verify`.
func (s *Server) Store() *state.Store { return s.store }

// openView opens an in-memory store and a view of proj over the catalog's
// topics.
func (s *Server) openView(proj projections.Projection) (*state.Store, *host.View, error) {
	st, err := state.Open("", &state.Options{FS: vfs.NewMem(), Logger: s.cfg.Logger})
	if err != nil {
		return nil, nil, err
	}
	v, err := host.NewView(proj, st, s.codec, s.conn, catalog.Projection{}.Topics(s.cfg.Topics), host.Sync(false),
		host.Logger(s.cfg.Logger), host.ClientOpts(s.cfg.ClientOpts...))
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return st, v, nil
}

// Listen binds the listen address (Run does if it was not called); it
// returns the address bound, useful with port 0.
func (s *Server) Listen() (string, error) {
	if s.ln == nil {
		ln, err := net.Listen("tcp", s.cfg.addr)
		if err != nil {
			return "", fmt.Errorf("catalog: %w", err)
		}
		s.ln = ln
	}
	return s.ln.Addr().String(), nil
}

// Run serves the catalog until ctx ends; it returns nil then.
func (s *Server) Run(ctx context.Context) error {
	defer s.close()
	if err := s.codec.Register(ctx); err != nil {
		return fmt.Errorf("catalog: %w", err)
	}
	if _, err := s.Listen(); err != nil {
		return err
	}
	srv := &http.Server{Handler: s.cfg.Metrics.Catalog(s.Handler()), ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	ln := s.ln
	if s.cfg.tls != nil {
		ln = tls.NewListener(s.ln, s.cfg.tls)
	}
	s.log.Info("catalog serving", "addr", s.ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		return nil
	case err := <-errc:
		return fmt.Errorf("catalog: %w", err)
	}
}

func (s *Server) close() {
	s.mu.Lock()
	s.view.Close()
	_ = s.store.Close()
	s.mu.Unlock()
	s.pmu.Lock()
	if s.producer != nil {
		s.producer.Close()
	}
	if s.txn != nil {
		s.txn.Close()
	}
	s.pmu.Unlock()
}

// principal is who r is: its bearer token's principal or, over mutual
// TLS, the common name of its verified client certificate; else
// Anonymous.
func (s *Server) principal(r *http.Request) string {
	if p := s.cfg.tokens.Principal(r); p != Anonymous {
		return p
	}
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return Anonymous
	}
	cn := r.TLS.VerifiedChains[0][0].Subject.CommonName
	if cn == Governance || events.ValidDomain(cn) == nil {
		return cn
	}
	return Anonymous
}

// snapshot is the catalog as one request reads it.
type snapshot struct {
	st   *state.Store
	defs map[definitions.Key]definitions.Definition
	// byTable is the live product of each output table.
	byTable map[string]definitions.Definition
	pos     map[state.TopicPartition]int64
	at      time.Time // the time grants are judged at
}

// read calls fn with the catalog as r asks for it: the live one caught up
// with the log, or as of r's as_of.
func (s *Server) read(ctx context.Context, r *http.Request, fn func(*snapshot) error) error {
	asOf := r.URL.Query().Get("as_of")
	if asOf == "" {
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, err := s.view.CatchUp(ctx); err != nil {
			return fmt.Errorf("catalog: catching up with the log: %w", err)
		}
		return s.with(s.store, s.cfg.Clock(), fn)
	}
	var (
		proj projections.Projection = catalog.Projection{}
		ends map[state.TopicPartition]int64
		at   time.Time
	)
	if t, err := time.Parse(time.RFC3339Nano, asOf); err == nil {
		proj, at = projections.AsOf{Projection: catalog.Projection{}, At: t}, t
	} else if ends, err = ParsePosition(asOf); err != nil {
		return fmt.Errorf("as_of %q is neither an RFC 3339 time nor a position (the %s header of an answer): %w", asOf, PositionHeader, errBadRequest)
	}
	st, v, err := s.openView(proj)
	if err != nil {
		return err
	}
	defer func() {
		v.Close()
		_ = st.Close()
	}()
	if ends == nil {
		_, err = v.CatchUp(ctx)
	} else {
		_, err = v.CatchUpTo(ctx, ends)
	}
	if err != nil {
		return fmt.Errorf("catalog: folding the log as of %s: %w", asOf, err)
	}
	// With a position, at stays zero: with judges grants at the time of
	// the latest fact folded.
	return s.with(st, at, fn)
}

// with reads st into a snapshot for fn, judging grants at at (the time
// of the latest fact in st if zero).
func (s *Server) with(st *state.Store, at time.Time, fn func(*snapshot) error) error {
	defs, err := definitions.All(st)
	if err != nil {
		return err
	}
	if at.IsZero() {
		at = latest(st, defs)
	}
	byTable := map[string]definitions.Definition{}
	for k, d := range defs {
		if k.Kind == definitions.KindProduct && !d.Retired && d.Product != nil {
			byTable[d.Product.OutputTable] = d
		}
	}
	cps, err := st.Checkpoints()
	if err != nil {
		return err
	}
	pos := map[state.TopicPartition]int64{}
	for tp, c := range cps {
		if c.HasOffset {
			pos[tp] = c.Next
		}
	}
	return fn(&snapshot{st: st, defs: defs, byTable: byTable, pos: pos, at: at})
}

// latest is the time of the latest definition (of defs, st's) or table
// version in st.
func latest(st *state.Store, defs map[definitions.Key]definitions.Definition) time.Time {
	var t time.Time
	for _, d := range defs {
		if d.At.After(t) {
			t = d.At
		}
	}
	if names, err := pointers.Tables(st); err == nil {
		for _, n := range names {
			if p, ok, err := pointers.Current(st, n); err == nil && ok && p.CommittedAt.After(t) {
				t = p.CommittedAt
			}
		}
	}
	return t
}

// Position encodes a log position as the opaque token of PositionHeader.
func Position(pos map[state.TopicPartition]int64) string {
	parts := make([]string, 0, len(pos))
	for _, tp := range slices.SortedFunc(maps.Keys(pos), state.TopicPartition.Compare) {
		parts = append(parts, tp.Topic+":"+strconv.Itoa(int(tp.Partition))+":"+strconv.FormatInt(pos[tp], 10))
	}
	return "p1." + base64.RawURLEncoding.EncodeToString([]byte(strings.Join(parts, ",")))
}

// ParsePosition decodes a Position token.
func ParsePosition(tok string) (map[state.TopicPartition]int64, error) {
	body, ok := strings.CutPrefix(tok, "p1.")
	if !ok {
		return nil, errors.New("not a position")
	}
	b, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return nil, fmt.Errorf("position: %w", err)
	}
	out := map[state.TopicPartition]int64{}
	if len(b) == 0 {
		return out, nil
	}
	for _, part := range strings.Split(string(b), ",") {
		i := strings.LastIndexByte(part, ':')
		j := strings.LastIndexByte(part[:max(i, 0)], ':')
		if i < 0 || j < 0 {
			return nil, fmt.Errorf("position: malformed %q", part)
		}
		p, err1 := strconv.ParseInt(part[j+1:i], 10, 32)
		off, err2 := strconv.ParseInt(part[i+1:], 10, 64)
		if err1 != nil || err2 != nil || off < 0 {
			return nil, fmt.Errorf("position: malformed %q", part)
		}
		out[state.TopicPartition{Topic: part[:j], Partition: int32(p)}] = off
	}
	return out, nil
}

// product returns the live definition of product name.
func (sn *snapshot) product(name string) (*definitions.Definition, bool) {
	d, ok := sn.defs[definitions.Key{Kind: definitions.KindProduct, Name: name}]
	if !ok || d.Retired || d.Product == nil {
		return nil, false
	}
	return &d, true
}

// grant returns product's grant to domain, revoked or not.
func (sn *snapshot) grant(product, domain string) *definitions.Definition {
	d, ok := sn.defs[definitions.Key{Kind: definitions.KindGrant, Name: definitions.GrantName(product, domain)}]
	if !ok {
		return nil
	}
	return &d
}

// productOfTable returns the product whose output table is table.
func (sn *snapshot) productOfTable(table string) (*definitions.Definition, bool) {
	d, ok := sn.byTable[table]
	return &d, ok
}

func compareKeys(a, b definitions.Key) int {
	if c := strings.Compare(a.Kind, b.Kind); c != 0 {
		return c
	}
	return strings.Compare(a.Name, b.Name)
}

// unpublishedError is why a domain may not read a table no product
// publishes.
type unpublishedError struct{ table string }

func (e *unpublishedError) Error() string { return "no product publishes table " + e.table }

// readTable decides whether principal may read table in sn: the product
// that writes it, and why not (nil if principal may; an
// *unpublishedError if no product publishes table).
func (s *Server) readTable(sn *snapshot, principal, table string) (*definitions.Definition, error) {
	d, ok := sn.productOfTable(table)
	if !ok {
		if principal == Governance {
			return nil, nil
		}
		return nil, &unpublishedError{table: table}
	}
	if ok, why := s.cfg.rules.ReadTable(principal, d.Product, sn.grant(d.Name, principal), sn.at); !ok {
		return d, errors.New(why)
	}
	return d, nil
}

// openTable decides principal's read of table in sn through api, exists
// saying whether the table has a version: the product that writes it, or
// the error to answer. A table principal may not read is a 403 (recorded
// as an AccessDenied), except one that does not exist and that no product
// publishes: a 404, as for governance.
func (s *Server) openTable(ctx context.Context, sn *snapshot, principal, table, api string, exists bool) (*definitions.Definition, error) {
	d, denied := s.readTable(sn, principal, table)
	var unpublished *unpublishedError
	switch {
	case denied != nil && (exists || !errors.As(denied, &unpublished)):
		return nil, s.forbidden(ctx, principal, "read-table", table, api, denied.Error())
	case !exists:
		return nil, fmt.Errorf("no table %s: %w", table, ErrNotFound)
	}
	return d, nil
}

// deny records an AccessDenied.
func (s *Server) deny(ctx context.Context, principal, action, resource, api, reason string) {
	ev := &events.AccessDenied{
		Envelope: events.Envelope{EventID: events.NewID(), OccurredAt: s.cfg.Clock().UTC().Truncate(time.Microsecond),
			Domain: events.DomainCentral, CorrelationID: events.DeriveID("access", principal, resource)},
		Principal: principal, Action: action, Resource: resource, API: api, Reason: reason,
	}
	if err := s.emit(ctx, ev); err != nil {
		s.log.Error("catalog: recording a denied request failed", "principal", principal, "resource", resource, "err", err)
	}
}

// emit produces ev on its topic and waits for it.
func (s *Server) emit(ctx context.Context, ev events.Event) error {
	rec, err := s.codec.Record(ev)
	if err != nil {
		return err
	}
	rec.Topic = s.cfg.Topics.For(ev)
	cl, err := s.client()
	if err != nil {
		return err
	}
	return cl.ProduceSync(ctx, rec).FirstErr()
}

// client returns the server's shared client (producing facts, listing
// offsets), made on first use; close closes it.
func (s *Server) client() (*kgo.Client, error) {
	s.pmu.Lock()
	defer s.pmu.Unlock()
	if s.producer == nil {
		cl, err := s.conn.Client(s.cfg.ClientOpts...)
		if err != nil {
			return nil, err
		}
		s.producer = cl
	}
	return s.producer, nil
}

// readMetadata returns the bytes of a table's metadata file.
func (s *Server) readMetadata(loc string) ([]byte, error) {
	f, err := s.wh.IO().Open(loc)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// writeJSON writes v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
