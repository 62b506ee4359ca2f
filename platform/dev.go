package platform

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/logmesh/logmesh/internal/kafkaconn"
	"github.com/logmesh/logmesh/internal/metrics"
	"github.com/logmesh/logmesh/mesh"
	"github.com/logmesh/logmesh/processors/catalog"
	"github.com/logmesh/logmesh/processors/ingest"
	"github.com/logmesh/logmesh/registry"
	"github.com/logmesh/logmesh/tables"
)

// Embedded is the Kafka cluster and schema registry of `logmesh dev`: an
// in-process kfake cluster persisted under the data directory (unless an
// external cluster is given) and the built-in registry, its state in the
// registry topic. Close stops both.
type Embedded struct {
	// Kafka is the connection setting of the cluster.
	Kafka kafkaconn.Config
	// RegistryURL is the built-in registry's base URL.
	RegistryURL string

	cluster  *kfake.Cluster
	registry *registry.Registry
	server   *http.Server
}

// EmbeddedConfig configures StartEmbedded.
type EmbeddedConfig struct {
	// DataDir holds Kafka's data under kafka/. Default "./.logmesh".
	DataDir string
	// KafkaPort is the embedded Kafka's port on 127.0.0.1. Default 9092;
	// -1 picks a free port.
	KafkaPort int
	// RegistryPort is the built-in registry's port on 127.0.0.1. Default
	// 8081; -1 picks a free port.
	RegistryPort int
	// External, when it has brokers, is a cluster to run the registry on
	// instead of starting one.
	External kafkaconn.Config
	// Config supplies the topic names and the logger.
	Config Config
}

// StartEmbedded starts Kafka (unless External is set) and the registry.
func StartEmbedded(ctx context.Context, ec EmbeddedConfig) (_ *Embedded, err error) {
	cfg := ec.Config.withDefaults()
	if ec.DataDir == "" {
		ec.DataDir = cfg.DataDir
	}
	if ec.KafkaPort == 0 {
		ec.KafkaPort = 9092
	}
	if ec.RegistryPort == 0 {
		ec.RegistryPort = 8081
	}
	e := &Embedded{Kafka: ec.External}
	defer func() {
		if err != nil {
			e.Close()
		}
	}()
	if len(ec.External.Brokers) == 0 {
		port := max(ec.KafkaPort, 0)
		e.cluster, err = kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port),
			kfake.DataDir(filepath.Join(ec.DataDir, "kafka")))
		if err != nil {
			return nil, fmt.Errorf("platform: start embedded kafka on port %d: %w", port, err)
		}
		e.Kafka = kafkaconn.Config{Brokers: e.cluster.ListenAddrs()}
		cfg.Logger.Info("embedded kafka up", "brokers", e.Kafka.Brokers, "data", ec.DataDir)
	}
	conn, err := kafkaconn.New(e.Kafka)
	if err != nil {
		return nil, err
	}
	if err := conn.Ping(ctx, 15*time.Second); err != nil {
		return nil, err
	}
	cl, err := conn.Client()
	if err != nil {
		return nil, err
	}
	e.registry, err = registry.New(ctx, cl, registry.Topic(cfg.Topics.Schemas()), registry.Logger(cfg.Logger))
	// The registry keeps its own clients, made from cl's options.
	cl.Close()
	if err != nil {
		return nil, fmt.Errorf("platform: registry: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(max(ec.RegistryPort, 0)))
	if err != nil {
		return nil, fmt.Errorf("platform: registry listener: %w", err)
	}
	e.server = &http.Server{Handler: cfg.Metrics.RegistryHandler(e.registry.Handler()), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = e.server.Serve(ln) }()
	e.RegistryURL = "http://" + ln.Addr().String()
	cfg.Logger.Info("schema registry up", "url", e.RegistryURL)
	return e, nil
}

// Close stops the registry and Kafka, flushing Kafka's data to the data
// directory. It is idempotent.
func (e *Embedded) Close() error {
	var errs []error
	if e.server != nil {
		// Shutdown waits for connections a client opened but has not used
		// yet; past a short grace period, close them.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if err := e.server.Shutdown(ctx); err != nil {
			errs = append(errs, e.server.Close())
		}
		cancel()
		e.server = nil
	}
	if e.registry != nil {
		errs = append(errs, e.registry.Close())
		e.registry = nil
	}
	if e.cluster != nil {
		e.cluster.Close()
		e.cluster = nil
	}
	return errors.Join(errs...)
}

// DevConfig is `logmesh dev`: the processors' Config plus the embedded
// Kafka and registry.
type DevConfig struct {
	Config
	// KafkaPort and RegistryPort are the embedded services' ports on
	// 127.0.0.1 (see EmbeddedConfig).
	KafkaPort, RegistryPort int
	// Skip names processors not to run here, for tests and deployments
	// that run them elsewhere.
	Skip []string
}

// Dev is a running `logmesh dev`.
type Dev struct {
	*Platform
	// Embedded is the Kafka and registry the processors run on.
	Embedded *Embedded
	// Landing is the landing area.
	Landing ingest.Source
	// Warehouse holds the tables.
	Warehouse *tables.Warehouse
}

// StartDev starts the embedded Kafka (unless Config.Kafka names brokers)
// and the built-in registry, then every processor but those in Skip. Its
// mesh, if any, is recorded on the log at start (`logmesh dev` gives the
// example mesh, examples.Mesh, when it is given none).
func StartDev(ctx context.Context, dc DevConfig) (_ *Dev, err error) {
	cfg := dc.Config.withDefaults()
	if cfg.Mesh == nil {
		cfg.Mesh = &mesh.Mesh{}
	}
	if cfg.DefinedBy == "logmesh" {
		cfg.DefinedBy = "logmesh dev"
	}
	// dev runs the mesh it is given: the log must know its products,
	// grants and subscriptions for the router to route.
	cfg.RecordMesh = true
	if cfg.CatalogTokens == "" {
		cfg.CatalogTokens = filepath.Join(cfg.DataDir, DevTokensFile)
		if err := ensureDevTokens(cfg.CatalogTokens, cfg.Mesh); err != nil {
			return nil, err
		}
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.New() // shared by the registry and the processors
	}
	emb, err := StartEmbedded(ctx, EmbeddedConfig{DataDir: cfg.DataDir, KafkaPort: dc.KafkaPort, RegistryPort: dc.RegistryPort,
		External: cfg.Kafka, Config: cfg})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			emb.Close()
		}
	}()
	cfg.Kafka = emb.Kafka
	if cfg.RegistryURL == "" {
		cfg.RegistryURL = emb.RegistryURL
	}
	var names []string
	for _, n := range ProcessorNames() {
		if !slices.Contains(dc.Skip, n) {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		names = []string{NoProcessors}
	}
	p, err := Start(ctx, cfg, names...)
	if err != nil {
		return nil, err
	}
	d := &Dev{Platform: p, Embedded: emb}
	if d.Landing, err = p.Env.Landing(ctx); err != nil {
		p.Close()
		return nil, err
	}
	if d.Warehouse, err = p.Env.Warehouse(ctx); err != nil {
		p.Close()
		return nil, err
	}
	return d, nil
}

// Close stops the processors, then the registry and Kafka. It is
// idempotent.
func (d *Dev) Close() error {
	return errors.Join(d.Platform.Close(), d.Embedded.Close())
}

// DevTokensFile is the catalog tokens file StartDev writes under the data
// directory when none is configured: a token for governance and for each
// domain of the mesh, in clear text (a dev platform's file, 0600).
const DevTokensFile = "catalog-tokens.yaml"

// ensureDevTokens writes path with a random token per principal, keeping
// the tokens of a file already there and adding the missing principals.
func ensureDevTokens(path string, m *mesh.Mesh) error {
	have := map[string]string{}
	if b, err := os.ReadFile(path); err == nil {
		var f struct {
			Tokens []struct {
				Principal string `yaml:"principal"`
				Token     string `yaml:"token"`
			} `yaml:"tokens"`
		}
		if err := yaml.Unmarshal(b, &f); err != nil {
			return fmt.Errorf("platform: %s: %w", path, err)
		}
		for _, t := range f.Tokens {
			have[t.Principal] = t.Token
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("platform: %w", err)
	}
	principals := []string{catalog.Governance}
	for _, d := range m.Domains {
		principals = append(principals, d.Name)
	}
	var b strings.Builder
	b.WriteString("# catalog bearer tokens of this dev platform (logmesh dev writes them; use --tokens for your own)\ntokens:\n")
	for _, p := range principals {
		tok := have[p]
		if tok == "" {
			r := make([]byte, 16)
			if _, err := rand.Read(r); err != nil {
				return err
			}
			tok = "lm_" + p + "_" + hex.EncodeToString(r)
		}
		fmt.Fprintf(&b, "  - {principal: %s, token: %s}\n", p, tok)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("platform: %w", err)
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

// DevToken returns the token of principal in a dev tokens file.
func DevToken(path, principal string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	var f struct {
		Tokens []struct {
			Principal string `yaml:"principal"`
			Token     string `yaml:"token"`
		} `yaml:"tokens"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		return "", err
	}
	for _, t := range f.Tokens {
		if t.Principal == principal {
			return t.Token, nil
		}
	}
	return "", fmt.Errorf("no token of %s in %s", principal, path)
}
