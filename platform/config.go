// Package platform is logmesh's wiring: the registry of processors by name,
// the one place that starts any subset of them as one OS process against a
// Kafka cluster and a schema registry (`logmesh run NAME...`), and the
// embedded Kafka and registry that `logmesh dev` runs them on.
//
// Whatever starts processors here first creates the topics of every domain
// of the mesh it runs, registers every fact's schema, and records where the
// landing area and warehouse are (LocationsDefined), so that the CLI
// pointed at the cluster finds them. The processors then run in an errgroup:
// the first one to fail stops the others, and Close returns within a bound
// whatever the processors do.
package platform

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkaconn"
	"github.com/logmesh/logmesh/internal/metrics"
	"github.com/logmesh/logmesh/mesh"
	"github.com/logmesh/logmesh/processors/txn"
	"github.com/logmesh/logmesh/tables"
)

// staticMember is the txn option of an instance id when StaticMembership
// is on.
func (cfg Config) staticMember(id string) txn.Option {
	if !cfg.StaticMembership {
		id = "" // a dynamic member
	}
	return txn.StaticMember(id)
}

// groupOpts are the options of every consumer-group client of the process.
func (cfg Config) groupOpts() []kgo.Opt {
	if cfg.SessionTimeout > 0 {
		return []kgo.Opt{kgo.SessionTimeout(cfg.SessionTimeout)}
	}
	return nil
}

// Config is what a process running processors needs. The zero value of a
// field means its default; Config is plain data.
type Config struct {
	// Kafka is the connection setting every Kafka client of the process
	// uses. Brokers are required (dev fills them in with the embedded
	// cluster's).
	Kafka kafkaconn.Config
	// RegistryURL is the Confluent-compatible schema registry. Required
	// (dev fills it in with the built-in registry's).
	RegistryURL string
	// Topics names the installation's topics. Default events.Topics{}.
	Topics events.Topics
	// Partitions of each topic this process creates. Default 6.
	Partitions int32
	// GroupPrefix is the first part of every consumer group: a processor's
	// group is GroupPrefix + "." + its name. Default "logmesh".
	GroupPrefix string
	// Mesh is a mesh file given at start (`--config`), or nil. No
	// processor reads its definitions from it: they all follow the
	// definitions on the log (processors/feeds, projections/definitions).
	// With RecordMesh its new and changed definitions are recorded on the
	// log at start; its domains' topics are created; the runner takes its
	// external engines from it.
	Mesh *mesh.Mesh
	// RecordMesh records the mesh's new and changed definitions on the
	// log at start (products, grants, subscriptions, ...), as `logmesh dev`
	// does; retirements stay `logmesh apply`'s. Default false.
	RecordMesh bool
	// DataDir holds the processors' state stores, under state/<name>.
	// Default "./.logmesh".
	DataDir string
	// Landing is the landing area: a local directory (default
	// <DataDir>/landing) or s3://bucket/prefix.
	Landing string
	// Warehouse is the table warehouse: a local directory (default
	// <DataDir>/warehouse) or s3://bucket/prefix.
	Warehouse string
	// S3 is how to reach the object store of s3:// locations.
	S3 S3
	// Webhook, when set, receives a POST of every incident (the notifier).
	Webhook string
	// CatalogAddr is the catalog's listen address (its HTTP API and the
	// Iceberg REST catalog). Default "127.0.0.1:0", a free port; `logmesh
	// dev` and `run` default to 127.0.0.1:8080.
	CatalogAddr string
	// CatalogTokens is the catalog's tokens file (catalog.LoadTokens).
	// Default: none, so every request is anonymous and reads nothing;
	// `logmesh dev` writes one under its data directory.
	CatalogTokens string
	// CatalogTLSCert and CatalogTLSKey, when set, serve the catalog over
	// TLS; with CatalogClientCA, a client certificate that CA signed names
	// its principal by its common name (mutual TLS), besides tokens.
	CatalogTLSCert, CatalogTLSKey, CatalogClientCA string
	// OwnerGrants lets a product's owner grant and revoke it through the
	// catalog, besides governance.
	OwnerGrants bool
	// StaticMembership makes the transactional processors (loader,
	// router, orchestrator, runner) static members of their groups
	// (KIP-345) under their Instance: a restarted instance takes its place
	// at once instead of waiting out its dead predecessor's session. For
	// deployments whose instances keep their identity (a StatefulSet); a
	// static member that stops does not leave its group, so its
	// partitions move only after the session timeout.
	StaticMembership bool
	// OpenLineageURL, when set, receives every job attempt as OpenLineage
	// RunEvents (the olpush processor), such as Marquez's
	// http://HOST:5000/api/v1/lineage.
	OpenLineageURL string
	// PlanInterval is how often the planner batches landed files. Default
	// 10s.
	PlanInterval time.Duration
	// ScanInterval is how often the watcher lists the landing area.
	// Default 2s.
	ScanInterval time.Duration
	// AdminAddr, when set, is the host:port of the process's admin HTTP
	// endpoint (health, processors, the live stores' checkpoints for
	// `logmesh replay --verify`).
	AdminAddr string
	// LagOf names processors, run elsewhere, whose consumer lag this
	// process's /metrics also reports (beside its own processors'). For a
	// monitoring process, and for tests. Default none.
	LagOf []string
	// DefinedBy names the process in the LocationsDefined it records.
	// Default "logmesh".
	DefinedBy string
	// StopTimeout bounds how long Close waits for the processors. Default
	// 30s.
	StopTimeout time.Duration
	// SessionTimeout is the consumer-group session timeout of every
	// processor: how soon the group notices a member that died. Default
	// franz-go's, 45s.
	SessionTimeout time.Duration
	// Instance names this process among the instances of a processor; it
	// makes the loader's transactional id, so a restarted instance fences
	// its dead predecessor's open transaction at once instead of waiting
	// for it to time out. Default: a hash of the host name and the
	// absolute data directory, so the same deployment restarted on the
	// same volume is the same instance.
	Instance string
	// Logger; the default discards.
	Logger *slog.Logger
	// Metrics is the process's metrics registry, served on the admin
	// endpoint's /metrics. Default: a fresh one per Start (StartDev shares
	// one between the built-in registry and the processors).
	Metrics *metrics.Metrics
}

// S3 is an S3-compatible object store (AWS S3, MinIO).
type S3 = tables.S3

// withDefaults returns cfg with every zero field set to its default.
func (cfg Config) withDefaults() Config {
	if cfg.DataDir == "" {
		cfg.DataDir = "./.logmesh"
	}
	if cfg.Partitions <= 0 {
		cfg.Partitions = events.DefaultPartitions
	}
	if cfg.GroupPrefix == "" {
		cfg.GroupPrefix = "logmesh"
	}
	if cfg.Landing == "" {
		cfg.Landing = filepath.Join(cfg.DataDir, "landing")
	}
	if cfg.Warehouse == "" {
		cfg.Warehouse = filepath.Join(cfg.DataDir, "warehouse")
	}
	if cfg.PlanInterval <= 0 {
		cfg.PlanInterval = 10 * time.Second
	}
	if cfg.ScanInterval <= 0 {
		cfg.ScanInterval = 2 * time.Second
	}
	if cfg.DefinedBy == "" {
		cfg.DefinedBy = "logmesh"
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = 30 * time.Second
	}
	if cfg.Instance == "" {
		host, _ := os.Hostname()
		dir, err := filepath.Abs(cfg.DataDir)
		if err != nil {
			dir = cfg.DataDir
		}
		sum := sha256.Sum256([]byte(host + "\x00" + dir))
		cfg.Instance = hex.EncodeToString(sum[:6])
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return cfg
}

// Group returns the consumer group of the named processor.
func (cfg Config) Group(processor string) string {
	return cfg.withDefaults().GroupPrefix + "." + processor
}

// domains returns raw, central and every domain of the mesh.
func (cfg Config) domains() []string {
	out := []string{events.DomainRaw, events.DomainCentral}
	if cfg.Mesh != nil {
		for _, d := range cfg.Mesh.Domains {
			out = append(out, d.Name)
		}
		for i := range cfg.Mesh.Feeds {
			out = append(out, cfg.Mesh.Feeds[i].Domain())
		}
	}
	return out
}

func (cfg Config) validate() error {
	switch {
	case len(cfg.Kafka.Brokers) == 0:
		return fmt.Errorf("platform: no Kafka brokers")
	case cfg.RegistryURL == "":
		return fmt.Errorf("platform: no schema registry URL")
	case strings.HasPrefix(cfg.Landing, "s3://") || strings.HasPrefix(cfg.Warehouse, "s3://"):
		if cfg.S3.Endpoint == "" {
			return fmt.Errorf("platform: s3:// locations need an S3 endpoint")
		}
	}
	return nil
}
