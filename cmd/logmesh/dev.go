package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/logmesh/logmesh/examples"
	"github.com/logmesh/logmesh/internal/kafkaconn"
	"github.com/logmesh/logmesh/mesh"
	"github.com/logmesh/logmesh/platform"
)

// procFlags are the flags of the commands that run processors, dev and run.
type procFlags struct {
	data, config, landing, warehouse, webhook, admin, groups string
	catalogAddr, tokens, openLineage                         string
	catalogCert, catalogKey, catalogCA                       string
	ownerGrants, static                                      bool
	plan, scan, session                                      time.Duration
	partitions                                               int
	recordMesh                                               bool
	s3                                                       *s3Flags
}

func addProcFlags(fs *flag.FlagSet, admin string) *procFlags {
	f := &procFlags{}
	fs.StringVar(&f.data, "data", "./.logmesh", "data directory (processor state; the embedded Kafka's log for dev)")
	fs.StringVar(&f.config, "config", "", "the mesh file")
	fs.StringVar(&f.landing, "landing", "", "the landing area: DIR or s3://bucket/prefix (default <data>/landing)")
	fs.StringVar(&f.warehouse, "warehouse", "", "the table warehouse: DIR or s3://bucket/prefix (default <data>/warehouse)")
	fs.DurationVar(&f.plan, "plan-interval", 10*time.Second, "how often the planner batches landed files")
	fs.DurationVar(&f.scan, "scan-interval", 2*time.Second, "how often the watcher lists the landing area")
	fs.StringVar(&f.webhook, "webhook", "", "URL that receives a POST of every incident (the notifier)")
	fs.StringVar(&f.admin, "admin-addr", admin, `host:port of the admin endpoint (/livez, /readyz, /metrics, live stores for replay --verify); "" for none`)
	fs.StringVar(&f.groups, "group-prefix", "logmesh", "first part of every consumer group (<prefix>.<processor>)")
	fs.IntVar(&f.partitions, "partitions", 6, "partitions of each topic created")
	fs.BoolVar(&f.recordMesh, "record-mesh", false, "record the mesh's new and changed definitions on the log at start (dev always does)")
	fs.DurationVar(&f.session, "session-timeout", 0, "consumer-group session timeout: how soon a dead member's partitions move (default 45s)")
	fs.StringVar(&f.catalogAddr, "catalog-addr", "127.0.0.1:8080", "host:port of the catalog (its HTTP API and the Iceberg REST catalog under /iceberg)")
	fs.StringVar(&f.tokens, "tokens", "", "the catalog's bearer tokens file (dev default: <data>/"+platform.DevTokensFile+", written on first start)")
	fs.StringVar(&f.catalogCert, "catalog-tls-cert", "", "PEM certificate: serve the catalog over HTTPS (with --catalog-tls-key)")
	fs.StringVar(&f.catalogKey, "catalog-tls-key", "", "PEM key of --catalog-tls-cert")
	fs.StringVar(&f.catalogCA, "catalog-client-ca", "", "PEM CA of client certificates: mutual TLS, the certificate's common name is the principal")
	fs.StringVar(&f.openLineage, "openlineage-url", "", "an OpenLineage receiver (e.g. Marquez's http://HOST:5000/api/v1/lineage) that gets every job attempt")
	fs.BoolVar(&f.static, "static-membership", false, "join the groups of the transactional processors as static members (KIP-345) under the instance's id: a restart takes over at once (for instances with a stable identity)")
	fs.BoolVar(&f.ownerGrants, "owner-grants", false, "let a product's owner grant and revoke it through the catalog, besides governance")
	f.s3 = addS3Flags(fs)
	return f
}

// config maps the flags and the global ones to a platform.Config; it loads
// the --config mesh file and starts nothing.
func (f *procFlags) platformConfig(g global) (platform.Config, error) {
	if f.plan <= 0 || f.scan <= 0 {
		return platform.Config{}, fmt.Errorf("--plan-interval and --scan-interval must be positive: %w", errUsage)
	}
	cfg := platform.Config{
		Kafka:            g.kafka,
		RegistryURL:      g.registry,
		Topics:           g.topics,
		Partitions:       int32(f.partitions),
		GroupPrefix:      f.groups,
		DataDir:          f.data,
		Landing:          f.landing,
		Warehouse:        f.warehouse,
		PlanInterval:     f.plan,
		ScanInterval:     f.scan,
		Webhook:          f.webhook,
		AdminAddr:        f.admin,
		SessionTimeout:   f.session,
		RecordMesh:       f.recordMesh,
		CatalogAddr:      f.catalogAddr,
		CatalogTokens:    f.tokens,
		OwnerGrants:      f.ownerGrants,
		OpenLineageURL:   f.openLineage,
		StaticMembership: f.static,
		CatalogTLSCert:   f.catalogCert,
		CatalogTLSKey:    f.catalogKey,
		CatalogClientCA:  f.catalogCA,
		Logger:           g.log,
	}
	if cfg.Landing == "" {
		cfg.Landing = filepath.Join(f.data, "landing")
	}
	if cfg.Warehouse == "" {
		cfg.Warehouse = filepath.Join(f.data, "warehouse")
	}
	if strings.HasPrefix(cfg.Landing, "s3://") || strings.HasPrefix(cfg.Warehouse, "s3://") {
		var err error
		if cfg.S3, err = f.s3.config(); err != nil {
			return platform.Config{}, err
		}
	}
	if f.config != "" {
		m, err := mesh.Load(f.config)
		if err != nil {
			return platform.Config{}, err
		}
		cfg.Mesh = m
	}
	return cfg, nil
}

// devFlags registers the flags of dev, which runs the platform until ctx
// ends (Ctrl-C).
func devFlags(fs *flag.FlagSet) runFunc {
	config := addDevFlags(fs)
	return func(ctx context.Context, g global, in *cmdInput) error {
		stderr := in.stderr
		cfg, meshName, err := config(g)
		if err != nil {
			return err
		}
		d, err := platform.StartDev(ctx, cfg)
		if err != nil {
			return err
		}
		kafka := strings.Join(d.Embedded.Kafka.Brokers, ",") + " (embedded, data " + cfg.DataDir + ")"
		if len(cfg.Kafka.Brokers) > 0 {
			kafka = strings.Join(d.Embedded.Kafka.Brokers, ",") + " (external)"
		}
		admin := d.AdminURL
		if admin == "" {
			admin = "(none)"
		}
		m := d.Env.Config.Mesh
		fmt.Fprintf(stderr, `logmesh dev is up — Ctrl-C to stop
  kafka       %s
  registry    %s
  admin       %s
  catalog     %s (tokens in %s; Iceberg REST catalog at %s/iceberg)
  landing     %s
  warehouse   %s
  mesh        %s: %d domains, %d feeds
  processors  %s
`, kafka, d.Env.Config.RegistryURL, admin, cmp.Or(d.Env.CatalogURL(), "(none)"), d.Env.Config.CatalogTokens, d.Env.CatalogURL(), d.Env.Config.Landing, d.Env.Config.Warehouse, meshName,
			len(m.Domains), len(m.Feeds), strings.Join(d.Names, ", "))
		return waitAndClose(ctx, g, d.Err(), d.Close)
	}
}

// waitAndClose waits for ctx to end or a processor to fail, then closes.
func waitAndClose(ctx context.Context, g global, errc <-chan error, closeFn func() error) error {
	var err error
	select {
	case <-ctx.Done():
		g.log.Info("stopping")
	case err = <-errc:
	}
	if cerr := closeFn(); err == nil {
		err = cerr
	}
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// devConfig maps dev's flags (and the global ones; the brokers only when the
// user chose them) to the configuration of StartDev. It loads the --config
// mesh file and starts nothing. meshName names the mesh for the start-up
// message.
func devConfig(g global, args []string, stderr io.Writer) (cfg platform.DevConfig, meshName string, err error) {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	config := addDevFlags(fs)
	pos, err := interspersed(fs, args)
	if err != nil {
		return cfg, "", err
	}
	if len(pos) > 0 {
		return cfg, "", usageError("dev takes no arguments, got %q", pos)
	}
	return config(g)
}

// addDevFlags registers dev's flags on fs and returns the function that
// maps them, once parsed, to the configuration of StartDev.
func addDevFlags(fs *flag.FlagSet) func(g global) (cfg platform.DevConfig, meshName string, err error) {
	kport := fs.Int("kafka-port", 9092, "embedded Kafka port on 127.0.0.1 (unused with --brokers)")
	hport := fs.Int("http-port", 0, "the catalog's port on 127.0.0.1 (shorthand for --catalog-addr 127.0.0.1:PORT)")
	rport := fs.Int("registry-port", 8081, "built-in schema registry port on 127.0.0.1")
	procs := fs.String("processors", "", `processors to run, comma-separated, or "none" (default: all)`)
	pf := addProcFlags(fs, "127.0.0.1:8082")
	return func(g global) (cfg platform.DevConfig, meshName string, err error) {
		// The processors are checked before the example seeds the landing area.
		want := splitList(*procs)
		for _, n := range want {
			if n != platform.NoProcessors && !slices.Contains(platform.ProcessorNames(), n) {
				return cfg, "", usageError("dev --processors: unknown processor %q (%s, or none)",
					n, strings.Join(platform.ProcessorNames(), ", "))
			}
		}
		pc, err := pf.platformConfig(g)
		if err != nil {
			return cfg, "", err
		}
		// dev runs its own registry and, unless told otherwise, its own Kafka.
		pc.RegistryURL = ""
		if !g.brokersSet {
			pc.Kafka = platformKafkaDefaults(g)
		}
		pc.DefinedBy = "logmesh dev"
		if *hport != 0 {
			pc.CatalogAddr = fmt.Sprintf("127.0.0.1:%d", *hport)
		}
		meshName = "built-in example mesh"
		if pf.config != "" {
			meshName = pf.config
		}
		dc := platform.DevConfig{Config: pc, KafkaPort: *kport, RegistryPort: *rport}
		if pc.Mesh == nil {
			if err := withExample(&dc.Config); err != nil {
				return cfg, "", err
			}
		}
		if *procs != "" {
			for _, n := range platform.ProcessorNames() {
				if !slices.Contains(want, n) {
					dc.Skip = append(dc.Skip, n)
				}
			}
		}
		return dc, meshName, nil
	}
}

// platformKafkaDefaults is the connection of an embedded cluster: no
// brokers (dev starts them), the global client id.
func platformKafkaDefaults(g global) kafkaconn.Config {
	return kafkaconn.Config{ClientID: g.kafka.ClientID}
}

// withExample gives cfg the example mesh and, on an empty local landing
// area, its files: what `logmesh dev` runs when it is given no --config.
func withExample(cfg *platform.Config) error {
	m, err := examples.Mesh()
	if err != nil {
		return fmt.Errorf("the example mesh: %w", err)
	}
	cfg.Mesh = m
	if strings.HasPrefix(cfg.Landing, "s3://") {
		return nil
	}
	landing := cfg.Landing
	if landing == "" {
		landing = filepath.Join(cmp.Or(cfg.DataDir, "./.logmesh"), "landing")
	}
	if err := examples.SeedLanding(landing); err != nil {
		return fmt.Errorf("the example files: %w", err)
	}
	return nil
}
