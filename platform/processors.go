package platform

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/confluent"
	"github.com/logmesh/logmesh/internal/kafkaconn"
	"github.com/logmesh/logmesh/internal/metrics"
	"github.com/logmesh/logmesh/internal/openlineage"
	"github.com/logmesh/logmesh/processors/catalog"
	"github.com/logmesh/logmesh/processors/feeds"
	"github.com/logmesh/logmesh/processors/host"
	"github.com/logmesh/logmesh/processors/ingest"
	"github.com/logmesh/logmesh/processors/loader"
	"github.com/logmesh/logmesh/processors/notifier"
	"github.com/logmesh/logmesh/processors/olpush"
	"github.com/logmesh/logmesh/processors/orchestrator"
	"github.com/logmesh/logmesh/processors/planner"
	"github.com/logmesh/logmesh/processors/proc"
	"github.com/logmesh/logmesh/processors/router"
	"github.com/logmesh/logmesh/processors/runner"
	"github.com/logmesh/logmesh/processors/scheduler"
	"github.com/logmesh/logmesh/processors/spool"
	"github.com/logmesh/logmesh/processors/txn"
	"github.com/logmesh/logmesh/projections"
	"github.com/logmesh/logmesh/projections/audit"
	catalogproj "github.com/logmesh/logmesh/projections/catalog"
	"github.com/logmesh/logmesh/projections/definitions"
	"github.com/logmesh/logmesh/projections/lineage"
	"github.com/logmesh/logmesh/projections/orchestration"
	"github.com/logmesh/logmesh/projections/pointers"
	"github.com/logmesh/logmesh/state"
	"github.com/logmesh/logmesh/tables"
)

// Processor is a running piece of the platform: Run blocks until ctx ends
// (returning nil) or the processor cannot go on (returning why). Run is
// called once.
type Processor interface {
	Run(ctx context.Context) error
}

// RunFunc adapts a function to Processor.
type RunFunc func(ctx context.Context) error

// Run calls f.
func (f RunFunc) Run(ctx context.Context) error { return f(ctx) }

// Spec is one entry of the processor registry.
type Spec struct {
	// Name is what `logmesh run` takes; the consumer group is
	// Config.Group(Name) and the state store <DataDir>/state/<Name>.
	Name string
	// Doc says in one line what the processor does.
	Doc string
	// Projection is the projection whose live store the processor keeps,
	// for `logmesh replay --verify`; nil if none.
	Projection projections.Projection
	// New builds the processor from the process's environment.
	New func(ctx context.Context, env *Env) (Processor, error)
}

// Processors returns the registry: every processor by name, in the order
// `logmesh dev` starts them. The slice is the caller's.
func Processors() []Spec {
	return []Spec{
		{Name: "watcher", Doc: "lists the landing area and records each new file (FileLanded, or UNMATCHED)", New: newWatcher},
		{Name: "spool", Doc: "stages the records of topic feeds as landed NDJSON files (FileLanded)", New: newSpool},
		{Name: "planner", Doc: "batches landed files per table (BatchPlanned)", Projection: audit.Projection{}, New: newPlanner},
		{Name: "loader", Doc: "parses, validates and commits batches into Iceberg tables, one transaction per batch",
			New: newLoader},
		{Name: "audit", Doc: "the file audit: each landed file's status, rows and errors", Projection: audit.Projection{},
			New: projectionHost(audit.Projection{}, upgradeAudit)},
		{Name: "lineage", Doc: "every event's cause and correlation", Projection: lineage.Projection{},
			New: projectionHost(lineage.Projection{})},
		{Name: "pointers", Doc: "every table's versions (TableCommitted)", Projection: pointers.Projection{},
			New: projectionHost(pointers.Projection{})},
		{Name: "definitions", Doc: "the latest definition of every domain and feed, and the platform's locations",
			Projection: definitions.Projection{}, New: projectionHost(definitions.Projection{})},
		{Name: "router", Doc: "the mesh bus: own-product facts to the central bus, central facts to the inboxes that subscribed and may see them",
			New: newRouter},
		{Name: "orchestrator", Doc: "decides each domain's product runs from its inbox: JobStarted pinned to input versions, retries, incidents",
			Projection: orchestration.Projection{}, New: newOrchestrator},
		{Name: "scheduler", Doc: "emits each scheduled product's due times (RunRequested by schedule) from its cron schedule",
			New: newScheduler},
		{Name: "runner", Doc: "runs product jobs (DuckDB SQL over the pinned inputs), writes the output version, JobFinished",
			New: newRunner},
		{Name: "catalog", Doc: "the central catalog: HTTP API and Iceberg REST catalog with enforced access, as of any moment",
			Projection: catalogproj.Projection{}, New: newCatalog},
		{Name: "olpush", Doc: "pushes every job attempt as OpenLineage RunEvents to --openlineage-url, at least once",
			New: newOlpush},
		{Name: "notifier", Doc: "delivers every incident at least once (log, webhook)", New: newNotifier},
	}
}

// ProcessorNames returns the names of Processors(), in order.
func ProcessorNames() []string {
	var out []string
	for _, s := range Processors() {
		out = append(out, s.Name)
	}
	return out
}

// Projections returns every projection the platform hosts, by name, once.
func Projections() []projections.Projection {
	var out []projections.Projection
	for _, s := range Processors() {
		if s.Projection != nil && !slices.ContainsFunc(out, func(p projections.Projection) bool { return p.Name() == s.Projection.Name() }) {
			out = append(out, s.Projection)
		}
	}
	return out
}

func lookup(name string) (Spec, bool) {
	for _, s := range Processors() {
		if s.Name == name {
			return s, true
		}
	}
	return Spec{}, false
}

// Env is what a processor is built from: the process's configuration, its
// Kafka connection and codec, and the landing area, warehouse and state
// stores, opened once on first use. Its methods are safe for concurrent use.
type Env struct {
	// Config is the process's configuration, defaults applied.
	Config Config
	// Conn is the process's one Kafka connection setting.
	Conn kafkaconn.Conn
	// Codec encodes and decodes events against the registry.
	Codec *events.Codec
	// Registry is the schema registry's client.
	Registry *sr.Client
	// Metrics is the process's Prometheus registry and metrics, served on
	// the admin endpoint's /metrics; nil records nothing.
	Metrics *metrics.Metrics

	mu        sync.Mutex
	feeds     *feeds.View
	landing   ingest.Source
	warehouse *tables.Warehouse
	stores    map[string]*state.Store
	live      []liveStore
	adm       *kadm.Client
	admClient *kgo.Client
	// catalogURL is the catalog's base URL once it listens.
	catalogURL string
}

// liveStore is a store a processor keeps a projection in, served to
// `logmesh replay --verify`.
type liveStore struct {
	processor  string
	projection string
	store      func() *state.Store
}

// Landing opens the landing area once.
func (e *Env) Landing(ctx context.Context) (ingest.Source, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.landing == nil {
		src, err := OpenLanding(ctx, e.Config.Landing, e.Config.S3)
		if err != nil {
			return nil, err
		}
		e.landing = src
	}
	return e.landing, nil
}

// Warehouse opens the warehouse once.
func (e *Env) Warehouse(ctx context.Context) (*tables.Warehouse, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.warehouse == nil {
		wh, err := OpenWarehouse(ctx, e.Config.Warehouse, e.Config.S3)
		if err != nil {
			return nil, err
		}
		e.warehouse = wh
	}
	return e.warehouse, nil
}

// Feeds returns the process's live view of the feeds' definitions on the
// log, opened once and shared by its processors (watcher, spool, planner,
// loader); the platform closes it after they stop.
func (e *Env) Feeds() (*feeds.View, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.feeds == nil {
		v, err := feeds.New(e.procConfig("feeds"), e.Codec)
		if err != nil {
			return nil, err
		}
		e.feeds = v
	}
	return e.feeds, nil
}

// The live feeds serve every ingesting processor.
var (
	_ ingest.Matcher      = (*feeds.View)(nil)
	_ ingest.Explainer    = (*feeds.View)(nil)
	_ ingest.Follower     = (*feeds.View)(nil)
	_ planner.Definitions = (*feeds.View)(nil)
	_ loader.Feeds        = (*feeds.View)(nil)
)

// Store opens the processor's state store, <DataDir>/state/<name>, once;
// the platform closes it after the processors stop.
func (e *Env) Store(name string) (*state.Store, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if st, ok := e.stores[name]; ok {
		return st, nil
	}
	st, err := state.Open(filepath.Join(e.Config.DataDir, "state", name), &state.Options{Logger: e.Config.Logger})
	if err != nil {
		return nil, fmt.Errorf("platform: %s state: %w", name, err)
	}
	if e.stores == nil {
		e.stores = map[string]*state.Store{}
	}
	e.stores[name] = st
	return st, nil
}

// serveLive records that processor keeps projection in the store store
// returns, for the admin endpoint.
func (e *Env) serveLive(processor, projection string, store func() *state.Store) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.live = append(e.live, liveStore{processor, projection, store})
}

func (e *Env) liveStores() []liveStore {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.live)
}

func (e *Env) closeStores() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	var errs []error
	for _, st := range e.stores {
		errs = append(errs, st.Close())
	}
	e.stores = nil
	if e.admClient != nil {
		e.admClient.Close()
		e.adm, e.admClient = nil, nil
	}
	if e.feeds != nil {
		errs = append(errs, e.feeds.Close())
		e.feeds = nil
	}
	return errors.Join(errs...)
}

// admin returns the process's admin client, made once; closed with the
// stores.
func (e *Env) admin() (*kadm.Client, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.adm == nil {
		cl, err := e.Conn.Client()
		if err != nil {
			return nil, err
		}
		e.adm, e.admClient = kadm.NewClient(cl), cl
	}
	return e.adm, nil
}

// projectionTopics is the topic set the named projection folds.
func (e *Env) projectionTopics(name string) events.TopicSet {
	for _, p := range Projections() {
		if p.Name() == name {
			return p.Topics(e.Config.Topics)
		}
	}
	return events.TopicSet{}
}

// procConfig is the configuration of the named processor: the process's
// connection, topics, logger and group-client options, and the processor's
// consumer group.
func (e *Env) procConfig(name string) proc.Config {
	return proc.Config{Conn: e.Conn, Topics: e.Config.Topics, Group: e.Config.Group(name), Logger: e.Config.Logger,
		ClientOpts: e.Config.groupOpts(), Metrics: e.Metrics}
}

func (e *Env) hostOpts() []host.Option {
	return []host.Option{host.Logger(e.Config.Logger), host.ClientOpts(e.Config.groupOpts()...), host.WithMetrics(e.Metrics)}
}

// projectionHost builds a processor that hosts proj over its topics in
// its own group and store, after each upgrade has run over the store.
func projectionHost(proj projections.Projection, upgrades ...func(*Env, *state.Store) error) func(context.Context, *Env) (Processor, error) {
	return func(_ context.Context, e *Env) (Processor, error) {
		st, err := e.Store(proj.Name())
		if err != nil {
			return nil, err
		}
		for _, up := range upgrades {
			if err := up(e, st); err != nil {
				return nil, err
			}
		}
		h, err := host.New(proj, st, e.Codec, e.Conn, e.Config.Group(proj.Name()), proj.Topics(e.Config.Topics), e.hostOpts()...)
		if err != nil {
			return nil, err
		}
		e.serveLive(proj.Name(), proj.Name(), func() *state.Store { return st })
		return h, nil
	}
}

// upgradeAudit indexes by status the audit of a store folded by a version
// from before the audit's status index (planner.UpgradeAudit).
func upgradeAudit(e *Env, st *state.Store) error {
	n, err := planner.UpgradeAudit(st)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if n > 0 {
		e.Config.Logger.Info("indexed the audit by status (a store folded by an older version)", "processor", "audit", "files", n)
	}
	return nil
}

func newWatcher(ctx context.Context, e *Env) (Processor, error) {
	fv, err := e.Feeds()
	if err != nil {
		return nil, err
	}
	src, err := e.Landing(ctx)
	if err != nil {
		return nil, err
	}
	w, err := ingest.NewWatcher(e.procConfig("watcher"), src, e.Codec, ingest.WithMatcher(fv),
		ingest.Interval(e.Config.ScanInterval))
	if err != nil {
		return nil, err
	}
	return RunFunc(func(ctx context.Context) error {
		defer w.Close()
		return w.Run(ctx)
	}), nil
}

// topicFeeds is the spool's view of the live feeds: those that read an
// upstream topic.
type topicFeeds struct{ *feeds.View }

func (t topicFeeds) Feeds() []spool.Feed {
	var out []spool.Feed
	for _, f := range t.TopicFeeds() {
		out = append(out, spool.Feed{Name: f.Name, Table: f.Table, Topic: f.Topic})
	}
	return out
}

func newSpool(ctx context.Context, e *Env) (Processor, error) {
	fv, err := e.Feeds()
	if err != nil {
		return nil, err
	}
	src, err := e.Landing(ctx)
	if err != nil {
		return nil, err
	}
	dec := confluent.NewDecoder(e.Registry)
	start := func(ctx context.Context, fs []spool.Feed) (*spool.Spool, error) {
		// A topic feed's upstream topic is created if missing, so the
		// spool does not wait on a topic its producers have not made yet.
		var topics []events.TopicSpec
		for _, f := range fs {
			topics = append(topics, events.TopicSpec{Name: f.Topic, Partitions: e.Config.Partitions})
		}
		if err := e.Conn.EnsureTopics(ctx, topics...); err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
		return spool.New(e.procConfig("spool"), fs, src, e.Codec, dec)
	}
	return RunFunc(func(ctx context.Context) error {
		return spool.Live(ctx, topicFeeds{fv}, e.Config.ScanInterval, e.Config.Logger, start)
	}), nil
}

func newPlanner(_ context.Context, e *Env) (Processor, error) {
	fv, err := e.Feeds()
	if err != nil {
		return nil, err
	}
	st, err := e.Store("planner")
	if err != nil {
		return nil, err
	}
	p, err := planner.New(e.procConfig("planner"), st, e.Codec,
		planner.Interval(e.Config.PlanInterval), planner.WithDefinitions(fv))
	if err != nil {
		return nil, err
	}
	e.serveLive("planner", audit.Projection{}.Name(), func() *state.Store { return st })
	return RunFunc(func(ctx context.Context) error {
		defer p.Close()
		return p.Run(ctx)
	}), nil
}

func newLoader(ctx context.Context, e *Env) (Processor, error) {
	fv, err := e.Feeds()
	if err != nil {
		return nil, err
	}
	src, err := e.Landing(ctx)
	if err != nil {
		return nil, err
	}
	wh, err := e.Warehouse(ctx)
	if err != nil {
		return nil, err
	}
	group := e.Config.Group("loader")
	l, err := loader.New(e.procConfig("loader"), fv, src, wh, e.Codec,
		loader.Transactions(txn.TransactionalID(group+"-"+e.Config.Instance), e.Config.staticMember(group+"-"+e.Config.Instance)))
	if err != nil {
		return nil, err
	}
	// The loader's pointers run ahead of its view's offsets for a moment
	// after each commit (it reads its own writes), so its store is not one
	// replay --verify can compare; the pointers processor's is.
	return l, nil
}

func newNotifier(_ context.Context, e *Env) (Processor, error) {
	st, err := e.Store("notifier")
	if err != nil {
		return nil, err
	}
	var opts []notifier.Option
	if e.Config.Webhook != "" {
		opts = append(opts, notifier.WithSink(notifier.Webhook(e.Config.Webhook, nil)))
	}
	return notifier.New(e.procConfig("notifier"), st, e.Codec, opts...)
}

func newOrchestrator(_ context.Context, e *Env) (Processor, error) {
	st, err := e.Store("orchestrator")
	if err != nil {
		return nil, err
	}
	group := e.Config.Group("orchestrator")
	o, err := orchestrator.New(e.procConfig("orchestrator"), st, e.Codec,
		orchestrator.Transactions(txn.TransactionalID(group+"-"+e.Config.Instance), e.Config.staticMember(group+"-"+e.Config.Instance)))
	if err != nil {
		return nil, err
	}
	e.serveLive("orchestrator", orchestration.Projection{}.Name(), func() *state.Store { return st })
	return o, nil
}

func newRunner(ctx context.Context, e *Env) (Processor, error) {
	wh, err := e.Warehouse(ctx)
	if err != nil {
		return nil, err
	}
	group := e.Config.Group("runner")
	opts := []runner.Option{runner.Transactions(txn.TransactionalID(group+"-"+e.Config.Instance), e.Config.staticMember(group+"-"+e.Config.Instance))}
	if e.Config.Mesh != nil {
		// The mesh's external engines; a job on an engine this process
		// does not know fails with that reason.
		for _, eng := range e.Config.Mesh.Engines {
			opts = append(opts, runner.WithLauncher(eng.Name, &runner.Command{Args: eng.Command, Dir: eng.Dir}))
		}
	}
	return runner.New(e.procConfig("runner"), wh, e.Codec, opts...)
}

func newCatalog(ctx context.Context, e *Env) (Processor, error) {
	wh, err := e.Warehouse(ctx)
	if err != nil {
		return nil, err
	}
	tokens := catalog.Tokens{}
	if e.Config.CatalogTokens != "" {
		if tokens, err = catalog.LoadTokens(e.Config.CatalogTokens); err != nil {
			return nil, err
		}
	} else {
		e.Config.Logger.Warn("catalog: no tokens file: every request is anonymous and reads nothing")
	}
	opts := []catalog.Option{catalog.Addr(cmp.Or(e.Config.CatalogAddr, "127.0.0.1:0")),
		catalog.WithTokens(tokens),
		catalog.WithRules(catalog.Rules{OwnerGrants: e.Config.OwnerGrants}), catalog.WithApplier(e.Definer().CatalogApplier()), catalog.ConsoleLag(consoleLag(e)),
		catalog.TransactionalID("logmesh-catalog-" + e.Config.Instance)}
	if e.Registry != nil {
		opts = append(opts, catalog.WithContracts(CatalogContracts(e.Registry, nil)))
	}
	if tc, err := catalogTLS(e.Config); err != nil {
		return nil, err
	} else if tc != nil {
		opts = append(opts, catalog.TLS(tc))
	}
	if e.Registry != nil {
		// The live tail decodes any Confluent-framed Avro value, not facts only.
		opts = append(opts, catalog.WithConfluent(confluent.NewDecoder(e.Registry)))
	}
	srv, err := catalog.New(e.procConfig("catalog"), e.Codec, wh, opts...)
	if err != nil {
		return nil, err
	}
	addr, err := srv.Listen()
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	scheme := "http://"
	if e.Config.CatalogTLSCert != "" {
		scheme = "https://"
	}
	e.catalogURL = scheme + addr
	e.mu.Unlock()
	e.serveLive("catalog", catalogproj.Projection{}.Name(), srv.Store)
	return srv, nil
}

// catalogTLS is the catalog's TLS setting, nil for plain HTTP.
func catalogTLS(cfg Config) (*tls.Config, error) {
	if cfg.CatalogTLSCert == "" && cfg.CatalogTLSKey == "" {
		if cfg.CatalogClientCA != "" {
			return nil, errors.New("platform: a catalog client CA needs the catalog's own TLS certificate and key")
		}
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(cfg.CatalogTLSCert, cfg.CatalogTLSKey)
	if err != nil {
		return nil, fmt.Errorf("platform: catalog TLS: %w", err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if cfg.CatalogClientCA != "" {
		pem, err := os.ReadFile(cfg.CatalogClientCA)
		if err != nil {
			return nil, fmt.Errorf("platform: catalog client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("platform: catalog client CA %s: no PEM certificate", cfg.CatalogClientCA)
		}
		tc.ClientCAs, tc.ClientAuth = pool, tls.VerifyClientCertIfGiven
	}
	return tc, nil
}

// CatalogURL is the base URL of the catalog this process serves, "" if
// none.
func (e *Env) CatalogURL() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.catalogURL
}

func newOlpush(ctx context.Context, e *Env) (Processor, error) {
	if e.Config.OpenLineageURL == "" {
		return RunFunc(func(ctx context.Context) error {
			e.Config.Logger.Debug("olpush: no --openlineage-url; lineage is not pushed")
			<-ctx.Done()
			return nil
		}), nil
	}
	st, err := e.Store("olpush")
	if err != nil {
		return nil, err
	}
	wh, err := e.Warehouse(ctx)
	if err != nil {
		return nil, err
	}
	ns := openlineage.Namespaces{Job: cmp.Or(e.Config.Topics.Prefix, events.DefaultPrefix), Tables: "iceberg://" + strings.TrimPrefix(wh.Location(), "file://"),
		Landing: e.Config.Landing}
	return olpush.New(e.procConfig("olpush"), e.Config.OpenLineageURL, st, e.Codec, olpush.Namespaces(ns))
}

func newScheduler(_ context.Context, e *Env) (Processor, error) {
	return scheduler.New(e.procConfig("scheduler"), e.Codec)
}

func newRouter(_ context.Context, e *Env) (Processor, error) {
	return router.New(e.procConfig("router"), e.Codec,
		router.Transactions(txn.TransactionalID(e.Config.Group("router")+"-"+e.Config.Instance),
			e.Config.staticMember(e.Config.Group("router")+"-"+e.Config.Instance)))
}
