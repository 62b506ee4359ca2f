// Package platform starts logmesh's embedded defaults in one process: a Kafka
// cluster (franz-go's kfake, persisted under the data directory), the
// built-in schema registry, the topics, the registered schemas, and the
// processors. It is what `logmesh dev` runs and what end-to-end tests start.
package platform

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/examples"
	"github.com/logmesh/logmesh/internal/mesh"
	"github.com/logmesh/logmesh/internal/registry"
	"github.com/logmesh/logmesh/internal/tables"
	"github.com/logmesh/logmesh/processors/host"
	"github.com/logmesh/logmesh/processors/ingest"
	"github.com/logmesh/logmesh/processors/loader"
	"github.com/logmesh/logmesh/processors/planner"
	"github.com/logmesh/logmesh/projections/lineage"
	"github.com/logmesh/logmesh/state"
)

// Config is the platform's configuration. The zero value of a field means
// its default.
type Config struct {
	// DataDir holds Kafka's data, processor state and (later) the
	// warehouse. Default "./.logmesh".
	DataDir string
	// KafkaPort is the embedded Kafka's port on 127.0.0.1. Default 9092;
	// -1 picks a free port.
	KafkaPort int
	// RegistryPort is the built-in registry's port on 127.0.0.1. Default
	// 8081; -1 picks a free port.
	RegistryPort int
	// Domains whose topics are created besides raw and central.
	Domains []string
	// Partitions of each fact topic. Default 6.
	Partitions int32
	// Mesh is the mesh definition. Nil loads the embedded example mesh and,
	// on an empty landing directory, its example files.
	Mesh *mesh.Mesh
	// Landing is the landing area: a local directory (default
	// <DataDir>/landing) or s3://bucket/prefix (with S3).
	Landing string
	// Warehouse is the table warehouse: a local directory (default
	// <DataDir>/warehouse) or s3://bucket/prefix (with S3).
	Warehouse string
	// S3 is how to reach the object store of s3:// locations.
	S3 S3
	// Brokers, when set, are an external Kafka cluster to run on instead of
	// the embedded one (KafkaPort is then unused).
	Brokers []string
	// Webhook, when set, receives a POST of every incident the loader opens.
	Webhook string
	// Skip names processors not to run here ("watcher", "planner",
	// "loader"), for deployments and tests that run them elsewhere.
	Skip []string
	// PlanInterval is how often the planner batches landed files. Default
	// 10s.
	PlanInterval time.Duration
	// ScanInterval is how often the landing area is listed. Default 2s.
	ScanInterval time.Duration
	// Logger; the default discards.
	Logger *slog.Logger
}

// S3 is an S3-compatible object store (AWS S3, MinIO).
type S3 struct {
	Endpoint  string // host:port, no scheme
	AccessKey string
	SecretKey string
	Region    string // default us-east-1
	Insecure  bool   // plain HTTP (a local MinIO)
}

// Platform is a running embedded platform. Close stops it. Its fields are
// read-only after Start.
type Platform struct {
	// Brokers is the embedded Kafka's address.
	Brokers []string
	// RegistryURL is the built-in registry's base URL.
	RegistryURL string
	// Codec encodes and decodes events against the registry.
	Codec *events.Codec
	// Mesh is the mesh the platform runs.
	Mesh *mesh.Mesh
	// Landing is the landing area.
	Landing ingest.Source
	// Warehouse holds the tables.
	Warehouse *tables.Warehouse

	log      *slog.Logger
	cluster  *kfake.Cluster
	client   *kgo.Client
	registry *registry.Registry
	server   *http.Server
	stores   []*state.Store
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	errs     chan error
	once     sync.Once
}

// Start brings the platform up and returns once Kafka and the registry serve,
// every schema is registered and every topic exists. The processors run in
// the background until Close; their fatal errors arrive on Err.
func Start(ctx context.Context, cfg Config) (_ *Platform, err error) {
	if cfg.DataDir == "" {
		cfg.DataDir = "./.logmesh"
	}
	if cfg.KafkaPort == 0 {
		cfg.KafkaPort = 9092
	}
	if cfg.RegistryPort == 0 {
		cfg.RegistryPort = 8081
	}
	if cfg.Partitions == 0 {
		cfg.Partitions = 6
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Landing == "" {
		cfg.Landing = filepath.Join(cfg.DataDir, "landing")
	}
	if cfg.Warehouse == "" {
		cfg.Warehouse = filepath.Join(cfg.DataDir, "warehouse")
	}
	if cfg.PlanInterval == 0 {
		cfg.PlanInterval = 10 * time.Second
	}
	if cfg.ScanInterval == 0 {
		cfg.ScanInterval = 2 * time.Second
	}
	p := &Platform{log: cfg.Logger, errs: make(chan error, 4)}
	defer func() {
		if err != nil {
			p.Close()
		}
	}()

	if len(cfg.Brokers) > 0 {
		p.Brokers = cfg.Brokers
		p.log.Info("using external kafka", "brokers", p.Brokers)
	} else {
		kport := max(cfg.KafkaPort, 0)
		p.cluster, err = kfake.NewCluster(
			kfake.NumBrokers(1),
			kfake.Ports(kport),
			kfake.DataDir(filepath.Join(cfg.DataDir, "kafka")),
		)
		if err != nil {
			return nil, fmt.Errorf("platform: start embedded kafka on port %d: %w", kport, err)
		}
		p.Brokers = p.cluster.ListenAddrs()
		p.log.Info("embedded kafka up", "brokers", p.Brokers, "data", cfg.DataDir)
	}

	p.client, err = kgo.NewClient(kgo.SeedBrokers(p.Brokers...))
	if err != nil {
		return nil, fmt.Errorf("platform: kafka client: %w", err)
	}
	domains := append([]string{"raw", "central"}, cfg.Domains...)
	if err := EnsureTopics(ctx, p.client, events.DefaultTopics(domains...)); err != nil {
		return nil, err
	}

	p.registry, err = registry.New(ctx, p.client, registry.Logger(p.log))
	if err != nil {
		return nil, fmt.Errorf("platform: registry: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(max(cfg.RegistryPort, 0)))
	if err != nil {
		return nil, fmt.Errorf("platform: registry listener: %w", err)
	}
	p.server = &http.Server{Handler: p.registry.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.server.Serve(ln) }()
	p.RegistryURL = "http://" + ln.Addr().String()
	p.log.Info("schema registry up", "url", p.RegistryURL)

	src, err := sr.NewClient(sr.URLs(p.RegistryURL))
	if err != nil {
		return nil, fmt.Errorf("platform: registry client: %w", err)
	}
	p.Codec, err = events.NewCodec(events.SRRegistry(src))
	if err != nil {
		return nil, err
	}
	if err := p.Codec.Register(ctx); err != nil {
		return nil, fmt.Errorf("platform: register schemas: %w", err)
	}

	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p.cancel = cancel
	if err := p.startLineage(runCtx, cfg, domains); err != nil {
		return nil, err
	}
	if err := p.startIngestion(runCtx, cfg); err != nil {
		return nil, err
	}
	return p, nil
}

// startIngestion runs the landing watcher, the planner and the loader.
func (p *Platform) startIngestion(ctx context.Context, cfg Config) error {
	m := cfg.Mesh
	if m == nil {
		var err error
		if m, err = ExampleMesh(); err != nil {
			return err
		}
		if !strings.HasPrefix(cfg.Landing, "s3://") {
			if err := seedLanding(cfg.Landing); err != nil {
				return err
			}
		}
	}
	p.Mesh = m
	src, err := OpenLanding(ctx, cfg.Landing, cfg.S3)
	if err != nil {
		return err
	}
	p.Landing = src
	wh, err := OpenWarehouse(ctx, cfg.Warehouse, cfg.S3)
	if err != nil {
		return err
	}
	p.Warehouse = wh

	match := ingest.MatcherFunc(func(key string) (string, string, bool) {
		f, ok := m.FeedFor(key)
		if !ok {
			return "", "", false
		}
		return f.Name, f.Table, true
	})
	w, err := ingest.NewWatcher(src, p.Codec, ingest.Brokers(p.Brokers...), ingest.WithMatcher(match),
		ingest.Interval(cfg.ScanInterval), ingest.Logger(p.log))
	if err != nil {
		return err
	}
	pst, err := state.Open(filepath.Join(cfg.DataDir, "state", "planner"), &state.Options{Logger: p.log})
	if err != nil {
		return fmt.Errorf("platform: planner state: %w", err)
	}
	p.stores = append(p.stores, pst)
	policy := func(table string) (int, int64) {
		for _, f := range m.Feeds {
			if f.Table == table {
				return f.Batch.MaxFiles, f.Batch.MaxBytes
			}
		}
		return mesh.DefaultBatchMaxFiles, mesh.DefaultBatchMaxBytes
	}
	pl, err := planner.New(pst, p.Codec, planner.Brokers(p.Brokers...), planner.Interval(cfg.PlanInterval),
		planner.WithPolicy(policy), planner.Logger(p.log))
	if err != nil {
		return err
	}
	lopts := []loader.Option{loader.Brokers(p.Brokers...), loader.Logger(p.log)}
	if cfg.Webhook != "" {
		lopts = append(lopts, loader.Notify(loader.Webhook(cfg.Webhook)))
	}
	ld, err := loader.New(m, src, wh, p.Codec, lopts...)
	if err != nil {
		return err
	}
	for name, run := range map[string]func(context.Context) error{"watcher": w.Run, "planner": pl.Run, "loader": ld.Run} {
		if slices.Contains(cfg.Skip, name) {
			continue
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			if err := run(ctx); err != nil && ctx.Err() == nil {
				p.log.Error("processor stopped", "processor", name, "err", err)
				p.errs <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	return nil
}

// ExampleMesh returns the embedded example mesh (examples/mesh.yaml).
func ExampleMesh() (*mesh.Mesh, error) {
	data, err := examples.FS.ReadFile("mesh.yaml")
	if err != nil {
		return nil, err
	}
	return mesh.Parse(data, "examples/mesh.yaml", ".")
}

// seedLanding copies the example files into an empty or missing landing
// directory, so a first `logmesh dev` has files to load.
func seedLanding(dir string) error {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return nil
	}
	return fs.WalkDir(examples.FS, "landing", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := examples.FS.ReadFile(path)
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(path, "landing/")))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o644)
	})
}

// startLineage runs the lineage projection over every domain's fact topic.
func (p *Platform) startLineage(ctx context.Context, cfg Config, domains []string) error {
	st, err := state.Open(filepath.Join(cfg.DataDir, "state", "lineage"), &state.Options{Logger: p.log})
	if err != nil {
		return fmt.Errorf("platform: lineage state: %w", err)
	}
	p.stores = append(p.stores, st)
	topics := []string{events.CentralTopic}
	for _, d := range domains {
		if d != "central" {
			topics = append(topics, events.DomainTopic(d))
		}
	}
	h, err := host.New(lineage.Projection{}, st, p.Codec,
		host.Brokers(p.Brokers...), host.Group("logmesh.lineage"), host.Topics(topics...), host.Logger(p.log))
	if err != nil {
		return err
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		if err := h.Run(ctx); err != nil {
			p.log.Error("lineage processor stopped", "err", err)
			p.errs <- err
		}
	}()
	return nil
}

// Err delivers fatal errors of background processors.
func (p *Platform) Err() <-chan error { return p.errs }

// Close stops the processors, the registry and Kafka, flushing Kafka's data
// to the data directory. It is idempotent.
func (p *Platform) Close() error {
	var errs []error
	p.once.Do(func() {
		if p.cancel != nil {
			p.cancel()
		}
		p.wg.Wait()
		for _, st := range p.stores {
			errs = append(errs, st.Close())
		}
		if p.server != nil {
			// Shutdown waits for connections a client opened but has not
			// used yet; past a short grace period, close them.
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			if err := p.server.Shutdown(ctx); err != nil {
				errs = append(errs, p.server.Close())
			}
			cancel()
		}
		if p.registry != nil {
			errs = append(errs, p.registry.Close())
		}
		if p.client != nil {
			p.client.Close()
		}
		if p.cluster != nil {
			p.cluster.Close()
		}
	})
	return errors.Join(errs...)
}

// EnsureTopics creates the topics that do not exist yet. Existing topics are
// left as they are.
func EnsureTopics(ctx context.Context, cl *kgo.Client, specs []events.TopicSpec) error {
	adm := kadm.NewClient(cl)
	for _, s := range specs {
		resp, err := adm.CreateTopic(ctx, s.Partitions, -1, s.Configs, s.Name)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("platform: create topic %s: %w", s.Name, err)
		}
	}
	return nil
}

// OpenLanding opens a landing area: a local directory (created if missing)
// or s3://bucket/prefix.
func OpenLanding(ctx context.Context, location string, s3 S3) (ingest.Source, error) {
	if rest, ok := strings.CutPrefix(location, "s3://"); ok {
		bucket, prefix, _ := strings.Cut(rest, "/")
		src, err := ingest.NewS3Source(ctx, s3.Endpoint, bucket, prefix,
			ingest.S3Credentials(s3.AccessKey, s3.SecretKey), ingest.S3Secure(!s3.Insecure),
			ingest.S3Region(s3.Region), ingest.S3CreateBucket(true))
		if err != nil {
			return nil, fmt.Errorf("platform: landing %s: %w", location, err)
		}
		return src, nil
	}
	if err := os.MkdirAll(location, 0o755); err != nil {
		return nil, fmt.Errorf("platform: landing: %w", err)
	}
	src, err := ingest.NewLocalSource(location)
	if err != nil {
		return nil, fmt.Errorf("platform: landing: %w", err)
	}
	return src, nil
}

// OpenWarehouse opens a warehouse: a local directory (created if missing) or
// s3://bucket/prefix.
func OpenWarehouse(ctx context.Context, location string, s3 S3) (*tables.Warehouse, error) {
	props := map[string]string{}
	if rest, ok := strings.CutPrefix(location, "s3://"); ok {
		bucket, _, _ := strings.Cut(rest, "/")
		if err := ensureBucket(ctx, s3, bucket); err != nil {
			return nil, fmt.Errorf("platform: warehouse %s: %w", location, err)
		}
		scheme := "https://"
		if s3.Insecure {
			scheme = "http://"
		}
		props[tables.PropS3Endpoint] = scheme + s3.Endpoint
		props[tables.PropS3AccessKey] = s3.AccessKey
		props[tables.PropS3SecretKey] = s3.SecretKey
		if s3.Region != "" {
			props[tables.PropS3Region] = s3.Region
		}
	} else {
		if err := os.MkdirAll(location, 0o755); err != nil {
			return nil, fmt.Errorf("platform: warehouse: %w", err)
		}
		abs, err := filepath.Abs(location)
		if err != nil {
			return nil, err
		}
		location = abs
	}
	wh, err := tables.OpenWarehouse(ctx, location, props)
	if err != nil {
		return nil, fmt.Errorf("platform: warehouse %s: %w", location, err)
	}
	return wh, nil
}

// ensureBucket creates bucket if it does not exist.
func ensureBucket(ctx context.Context, s3 S3, bucket string) error {
	mc, err := minio.New(s3.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(s3.AccessKey, s3.SecretKey, ""),
		Secure: !s3.Insecure, Region: s3.Region,
	})
	if err != nil {
		return err
	}
	ok, err := mc.BucketExists(ctx, bucket)
	if err != nil || ok {
		return err
	}
	err = mc.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: s3.Region})
	if err != nil && minio.ToErrorResponse(err).Code == "BucketAlreadyOwnedByYou" {
		return nil
	}
	return err
}
