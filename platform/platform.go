package platform

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/twmb/franz-go/pkg/sr"
	"golang.org/x/sync/errgroup"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkaconn"
	"github.com/logmesh/logmesh/internal/metrics"
	"github.com/logmesh/logmesh/processors/host"
	"github.com/logmesh/logmesh/projections/definitions"
	"github.com/logmesh/logmesh/state"
)

// ErrUnknownProcessor is returned by Start for a name not in the registry.
var ErrUnknownProcessor = errors.New("platform: unknown processor")

// NoProcessors is the name Start takes for "none": it prepares the topics
// and schemas and serves the admin endpoint, and runs no processor.
const NoProcessors = "none"

// Platform is a running set of processors in this process. Start it with
// Start; stop it with Close. Its fields are read-only after Start.
type Platform struct {
	// Env is what the processors were built from.
	Env *Env
	// Names are the processors that run, in registry order.
	Names []string
	// AdminURL is the admin endpoint's base URL, "" if none.
	AdminURL string

	log    *slog.Logger
	status *statuses
	cancel context.CancelFunc
	done   chan struct{} // closed when every processor returned
	errc   chan error    // the first processor error, once
	err    error         // the first processor error, after done
	admin  *http.Server
	once   sync.Once
}

// Start connects (failing fast with a clear error if the brokers, TLS or
// SASL are wrong), registers every fact's schema, creates the topics of
// every domain of the mesh, records the platform's locations if it runs a
// processor that uses them, builds the named processors (every one if names
// is empty) and runs them in the background until Close or the first
// failure. Duplicate names run once.
func Start(ctx context.Context, cfg Config, names ...string) (_ *Platform, err error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if len(names) == 0 {
		names = ProcessorNames()
	}
	specs := make([]Spec, 0, len(names))
	for _, n := range names {
		if n == NoProcessors {
			continue
		}
		s, ok := lookup(n)
		if !ok {
			return nil, fmt.Errorf("%w %q (known: %s)", ErrUnknownProcessor, n, strings.Join(ProcessorNames(), ", "))
		}
		if !slices.ContainsFunc(specs, func(x Spec) bool { return x.Name == n }) {
			specs = append(specs, s)
		}
	}
	conn, err := kafkaconn.New(cfg.Kafka)
	if err != nil {
		return nil, err
	}
	if err := conn.Ping(ctx, 15*time.Second); err != nil {
		return nil, err
	}
	met := cfg.Metrics
	if met == nil {
		met = metrics.New()
	}
	conn = conn.WithHooks(met.Hooks)
	codec, reg, err := newCodec(ctx, cfg.RegistryURL)
	if err != nil {
		return nil, err
	}
	if err := conn.EnsureTopics(ctx, cfg.Topics.Specs(cfg.Partitions, cfg.domains()...)...); err != nil {
		return nil, fmt.Errorf("platform: %w", err)
	}
	env := &Env{Config: cfg, Conn: conn, Codec: codec, Registry: reg, Metrics: met}
	p := &Platform{Env: env, log: cfg.Logger, status: &statuses{}, done: make(chan struct{}), errc: make(chan error, 1)}
	defer func() {
		if err != nil {
			_ = env.closeStores()
		}
	}()
	if _, err := EnsureInstallation(ctx, conn, codec, cfg.Topics, cfg.DefinedBy); err != nil {
		return nil, err
	}
	if slices.ContainsFunc(specs, func(s Spec) bool { return s.Name == "watcher" || s.Name == "loader" }) {
		if err := RecordLocations(ctx, env); err != nil {
			return nil, err
		}
	}
	if cfg.RecordMesh && cfg.Mesh != nil {
		n, err := RecordMesh(ctx, env, cfg.Mesh)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			p.log.Info("recorded the mesh's new and changed definitions", "definitions", n)
		}
	}
	procs := make([]Processor, 0, len(specs))
	defer func() {
		if err != nil { // release what was built and will not run
			for _, proc := range procs {
				if c, ok := proc.(interface{ Close() error }); ok {
					_ = c.Close()
				}
			}
		}
	}()
	for _, s := range specs {
		proc, err := s.New(ctx, env)
		if err != nil {
			return nil, fmt.Errorf("platform: %s: %w", s.Name, err)
		}
		procs = append(procs, proc)
		p.Names = append(p.Names, s.Name)
	}
	if err := p.registerCollectors(); err != nil {
		return nil, err
	}
	if cfg.AdminAddr != "" {
		if err := p.serveAdmin(cfg.AdminAddr); err != nil {
			return nil, err
		}
	}

	p.launch(context.WithoutCancel(ctx), procs)
	return p, nil
}

// launch runs procs (named p.Names) in an errgroup until Close or the first
// failure.
func (p *Platform) launch(ctx context.Context, procs []Processor) {
	runCtx, cancel := context.WithCancel(ctx)
	p.cancel = cancel
	g, gctx := errgroup.WithContext(runCtx)
	for i, proc := range procs {
		name := p.Names[i]
		p.status.set(name, StateRunning, nil)
		g.Go(func() error {
			p.log.Info("processor started", "processor", name)
			err := proc.Run(gctx)
			p.status.set(name, StateStopped, err)
			switch {
			case err != nil && runCtx.Err() == nil:
				p.log.Error("processor stopped", "processor", name, "err", err)
				return fmt.Errorf("%s: %w", name, err)
			case err != nil:
				p.log.Debug("processor stopped after shutdown began", "processor", name, "err", err)
			}
			return nil
		})
	}
	go func() {
		p.err = g.Wait()
		if p.err != nil {
			p.errc <- p.err
		}
		close(p.errc)
		close(p.done)
	}()
}

// Err delivers the first processor failure, after which the others stop;
// it is closed when every processor has returned.
func (p *Platform) Err() <-chan error { return p.errc }

// Close stops the processors and waits for them, at most StopTimeout, then
// closes their stores and the admin endpoint. It returns the first
// processor failure, if any, or an error naming the timeout. It is
// idempotent and never blocks beyond the timeout.
func (p *Platform) Close() error {
	var err error
	p.once.Do(func() {
		p.cancel()
		t := time.NewTimer(p.Env.Config.StopTimeout)
		defer t.Stop()
		select {
		case <-p.done:
			err = errors.Join(p.err, p.Env.closeStores())
		case <-t.C:
			// The stores stay open: a processor still uses them.
			err = fmt.Errorf("platform: processors did not stop within %v", p.Env.Config.StopTimeout)
		}
		if p.admin != nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			if p.admin.Shutdown(ctx) != nil {
				_ = p.admin.Close()
			}
			cancel()
		}
	})
	return err
}

func newCodec(ctx context.Context, url string) (*events.Codec, *sr.Client, error) {
	cl, err := sr.NewClient(sr.URLs(url))
	if err != nil {
		return nil, nil, fmt.Errorf("platform: registry %s: %w", url, err)
	}
	codec, err := events.NewCodec(events.SRRegistry(cl))
	if err != nil {
		return nil, nil, err
	}
	if err := codec.Register(ctx); err != nil {
		return nil, nil, fmt.Errorf("platform: register schemas at %s: %w", url, err)
	}
	return codec, cl, nil
}

// RecordLocations records the landing area and warehouse of env's
// configuration as a LocationsDefined on the central bus, unless the log
// already has exactly these. Credentials are never recorded.
func RecordLocations(ctx context.Context, env *Env) error {
	cfg := env.Config
	ev := &events.LocationsDefined{Landing: cfg.Landing, Warehouse: cfg.Warehouse, S3Insecure: cfg.S3.Insecure, DefinedBy: cfg.DefinedBy}
	if strings.HasPrefix(cfg.Landing, "s3://") || strings.HasPrefix(cfg.Warehouse, "s3://") {
		ev.S3Endpoint = optional(cfg.S3.Endpoint)
		ev.S3Region = optional(cfg.S3.Region)
	} else {
		ev.S3Insecure = false
	}
	b, _ := json.Marshal([]any{ev.Landing, ev.Warehouse, ev.S3Endpoint, ev.S3Region, ev.S3Insecure})
	sum := sha256.Sum256(b)
	ev.DefinitionHash = hex.EncodeToString(sum[:])
	cur, ok, err := ReadLocations(ctx, env.Conn, env.Codec, cfg.Topics)
	if err != nil {
		return err
	}
	if ok && cur.Hash == ev.DefinitionHash {
		return nil
	}
	ev.Envelope = events.Envelope{
		EventID:       events.NewID(), // a root event: A, B, then A again is three facts
		OccurredAt:    time.Now().UTC().Truncate(time.Microsecond),
		Domain:        events.DomainCentral,
		CorrelationID: events.DeriveID("locations", ev.DefinitionHash),
	}
	rec, err := env.Codec.Record(ev)
	if err != nil {
		return err
	}
	rec.Topic = cfg.Topics.For(ev)
	cl, err := env.Conn.Client()
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		return fmt.Errorf("platform: record locations: %w", err)
	}
	env.Config.Logger.Info("recorded the platform's locations", "landing", ev.Landing, "warehouse", ev.Warehouse)
	return nil
}

// Located is the latest LocationsDefined on the log, with its hash.
type Located struct {
	definitions.Locations
	Hash string
}

// ReadLocations reads the latest locations the platform recorded; ok is
// false if none.
func ReadLocations(ctx context.Context, conn kafkaconn.Conn, codec *events.Codec, names events.Topics) (Located, bool, error) {
	st, err := state.Open("", &state.Options{FS: vfs.NewMem()})
	if err != nil {
		return Located{}, false, err
	}
	defer st.Close()
	proj := definitions.Projection{}
	if _, err := host.Replay(ctx, proj, st, codec, conn, proj.Topics(names), host.Sync(false)); err != nil {
		return Located{}, false, fmt.Errorf("platform: read locations: %w", err)
	}
	all, err := definitions.All(st)
	if err != nil {
		return Located{}, false, err
	}
	d, ok := all[definitions.Key{Kind: definitions.KindLocations, Name: definitions.LocationsName}]
	if !ok || d.Locations == nil {
		return Located{}, false, nil
	}
	return Located{Locations: *d.Locations, Hash: d.Hash}, true, nil
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// serveAdmin starts the admin endpoint on addr.
func (p *Platform) serveAdmin(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("platform: admin endpoint %s: %w", addr, err)
	}
	p.admin = &http.Server{Handler: AdminHandler(p.Env, p.Processors), ReadHeaderTimeout: 10 * time.Second}
	p.AdminURL = "http://" + ln.Addr().String()
	go func() { _ = p.admin.Serve(ln) }()
	p.log.Info("admin endpoint up", "url", p.AdminURL)
	return nil
}

// States of a processor in ProcessorStatus.
const (
	StateRunning = "running"
	StateStopped = "stopped"
)

// ProcessorStatus is what the admin endpoint says of one processor.
type ProcessorStatus struct {
	Name  string `json:"name"`
	State string `json:"state"`
	Error string `json:"error,omitempty"`
}

// statuses is the state of every processor of a Platform. Safe for
// concurrent use.
type statuses struct {
	mu sync.Mutex
	m  []ProcessorStatus
}

func (s *statuses) set(name, state string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := ProcessorStatus{Name: name, State: state}
	if err != nil {
		st.Error = err.Error()
	}
	for i := range s.m {
		if s.m[i].Name == name {
			s.m[i] = st
			return
		}
	}
	s.m = append(s.m, st)
}

// Processors returns the state of every processor this platform runs, in
// registry order.
func (p *Platform) Processors() []ProcessorStatus {
	p.status.mu.Lock()
	defer p.status.mu.Unlock()
	return slices.Clone(p.status.m)
}
