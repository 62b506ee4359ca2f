package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/logmesh/logmesh/internal/mesh"
	"github.com/logmesh/logmesh/internal/platform"
)

// cmdDev runs the platform until ctx ends (Ctrl-C).
func cmdDev(ctx context.Context, g global, args []string, stderr io.Writer) error {
	cfg, meshName, err := devConfig(g, args, stderr)
	if err != nil {
		return err
	}
	p, err := platform.Start(ctx, cfg)
	if err != nil {
		return err
	}
	kafka := strings.Join(p.Brokers, ",") + " (embedded, data " + cfg.DataDir + ")"
	if len(cfg.Brokers) > 0 {
		kafka = strings.Join(p.Brokers, ",") + " (external)"
	}
	fmt.Fprintf(stderr, `logmesh dev is up — Ctrl-C to stop
  kafka      %s
  registry   %s
  landing    %s
  warehouse  %s
  mesh       %s: %d domains, %d feeds
`, kafka, p.RegistryURL, cfg.Landing, cfg.Warehouse, meshName, len(p.Mesh.Domains), len(p.Mesh.Feeds))
	select {
	case <-ctx.Done():
		g.log.Info("stopping")
	case err = <-p.Err():
	}
	if cerr := p.Close(); err == nil {
		err = cerr
	}
	return err
}

// devConfig maps dev's flags (and the global --brokers, when the user chose
// them) to the platform's configuration. It loads the --config mesh file and
// starts nothing. meshName names the mesh for the start-up message.
func devConfig(g global, args []string, stderr io.Writer) (cfg platform.Config, meshName string, err error) {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "./.logmesh", "data directory (Kafka log, state)")
	kport := fs.Int("kafka-port", 9092, "embedded Kafka port on 127.0.0.1 (unused with --brokers)")
	rport := fs.Int("registry-port", 8081, "built-in schema registry port on 127.0.0.1")
	config := fs.String("config", "", "the mesh file (default: the built-in example mesh and its files)")
	landing := fs.String("landing", "", "the landing area: DIR or s3://bucket/prefix (default <data>/landing)")
	warehouse := fs.String("warehouse", "", "the table warehouse: DIR or s3://bucket/prefix (default <data>/warehouse)")
	plan := fs.Duration("plan-interval", 10*time.Second, "how often the planner batches landed files")
	webhook := fs.String("webhook", "", "URL that receives a POST of every incident the loader opens")
	s3 := addS3Flags(fs)
	pos, err := interspersed(fs, args)
	if err != nil {
		return cfg, "", err
	}
	if len(pos) > 0 {
		return cfg, "", fmt.Errorf("dev takes no arguments, got %q: %w", pos, errUsage)
	}
	if *plan <= 0 {
		return cfg, "", fmt.Errorf("--plan-interval %s: must be positive: %w", *plan, errUsage)
	}
	cfg = platform.Config{
		DataDir:      *data,
		KafkaPort:    *kport,
		RegistryPort: *rport,
		Landing:      *landing,
		Warehouse:    *warehouse,
		PlanInterval: *plan,
		Webhook:      *webhook,
		Logger:       g.log,
	}
	if cfg.Landing == "" {
		cfg.Landing = filepath.Join(*data, "landing")
	}
	if cfg.Warehouse == "" {
		cfg.Warehouse = filepath.Join(*data, "warehouse")
	}
	if strings.HasPrefix(cfg.Landing, "s3://") || strings.HasPrefix(cfg.Warehouse, "s3://") {
		if cfg.S3, err = s3.config(); err != nil {
			return platform.Config{}, "", err
		}
	}
	if g.brokersSet {
		cfg.Brokers = g.brokers
	}
	meshName = "built-in example mesh"
	if *config != "" {
		if cfg.Mesh, err = mesh.Load(*config); err != nil {
			return platform.Config{}, "", err
		}
		meshName = *config
	}
	return cfg, meshName, nil
}
