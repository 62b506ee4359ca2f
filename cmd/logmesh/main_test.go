package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/mesh"
	"github.com/logmesh/logmesh/platform"
)

// cli runs the command line against an embedded platform.
type cli struct {
	t *testing.T
	p *devPlatform
}

// devPlatform is a running `logmesh dev` with the handles tests use.
type devPlatform struct {
	*platform.Dev
	Brokers     []string
	RegistryURL string
	Codec       *events.Codec
	Mesh        *mesh.Mesh
}

// startDev starts a `logmesh dev` closed when the test ends.
func startDev(t *testing.T, cfg platform.DevConfig) *devPlatform {
	t.Helper()
	d, err := platform.StartDev(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return &devPlatform{Dev: d, Brokers: d.Embedded.Kafka.Brokers, RegistryURL: d.Env.Config.RegistryURL,
		Codec: d.Env.Codec, Mesh: d.Env.Config.Mesh}
}

func newCLI(t *testing.T) *cli {
	t.Helper()
	return &cli{t: t, p: startDev(t, platform.DevConfig{Config: platform.Config{DataDir: t.TempDir(), Mesh: &mesh.Mesh{}},
		KafkaPort: -1, RegistryPort: -1})}
}

func (c *cli) run(args ...string) (string, error) {
	c.t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	all := append([]string{"--brokers", c.p.Brokers[0], "--registry", c.p.RegistryURL}, args...)
	err := run(ctx, all, &out, &errOut)
	if err != nil {
		c.t.Logf("logmesh %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), err
}

func TestSchemaListShowsEveryFact(t *testing.T) {
	c := newCLI(t)
	out, err := c.run("schema", "list")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range events.Names() {
		if !strings.Contains(out, name+" ") {
			t.Errorf("schema list lacks %s:\n%s", name, out)
		}
	}
	if !strings.Contains(out, "BACKWARD") {
		t.Errorf("schema list shows no compatibility level:\n%s", out)
	}
}

func TestSchemaCheck(t *testing.T) {
	c := newCLI(t)
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	v1 := write("v1.avsc", `{"type":"record","name":"Trade","fields":[{"name":"id","type":"string"}]}`)
	optional := write("v2.avsc", `{"type":"record","name":"Trade","fields":[{"name":"id","type":"string"},{"name":"note","type":["null","string"],"default":null}]}`)
	breaking := write("v3.avsc", `{"type":"record","name":"Trade","fields":[{"name":"id","type":"string"},{"name":"qty","type":"long"}]}`)

	out, err := c.run("schema", "check", v1, "--subject", "trades-value")
	if err != nil || !strings.Contains(out, "new subject") {
		t.Fatalf("check on a new subject: %q, %v", out, err)
	}
	if out, err = c.run("schema", "register", v1, "--subject", "trades-value"); err != nil || !strings.Contains(out, "version 1") {
		t.Fatalf("register: %q, %v", out, err)
	}
	if out, err = c.run("schema", "check", optional, "--subject", "trades-value"); err != nil || !strings.Contains(out, "compatible") {
		t.Fatalf("optional field: %q, %v", out, err)
	}
	out, err = c.run("schema", "check", breaking, "--subject", "trades-value")
	if !errors.Is(err, errIncompatible) || !strings.Contains(out, "INCOMPATIBLE") || !strings.Contains(out, "qty") {
		t.Fatalf("breaking change: %q, %v; want INCOMPATIBLE naming qty", out, err)
	}
	if _, err := c.run("schema", "check", v1); !errors.Is(err, errUsage) {
		t.Fatalf("missing --subject: %v, want a usage error", err)
	}
}

func TestTailJSON(t *testing.T) {
	c := newCLI(t)
	ev := &events.FileLanded{
		Envelope: events.Envelope{EventID: "e-1", OccurredAt: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC), Domain: "raw", CorrelationID: "a.csv"},
		Key:      "a.csv", Source: events.SourceLocal, Size: 3, Checksum: strings.Repeat("0", 64),
	}
	rec, err := c.p.Codec.Record(ev)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := kgo.NewClient(kgo.SeedBrokers(c.p.Brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	if err := kc.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
		t.Fatal(err)
	}
	out, err := c.run("tail", "--from-beginning", "--json", "-n", "1", events.DomainTopic("raw"))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &got); err != nil {
		t.Fatalf("tail --json printed %q: %v", out, err)
	}
	if got["event"] != events.NameFileLanded || got["key"] != "a.csv" {
		t.Fatalf("tail --json = %v", got)
	}
	env, _ := got["envelope"].(map[string]any)
	if env["event_id"] != "e-1" {
		t.Fatalf("envelope = %v", env)
	}
}

func TestUsageErrors(t *testing.T) {
	var out, errOut bytes.Buffer
	for _, args := range [][]string{nil, {"frobnicate"}, {"--nope"}, {"schema"}, {"schema", "drop"}} {
		if err := run(context.Background(), args, &out, &errOut); !errors.Is(err, errUsage) {
			t.Errorf("logmesh %v: %v, want a usage error", args, err)
		}
	}
	out.Reset()
	if err := run(context.Background(), []string{"version"}, &out, &errOut); err != nil || !strings.HasPrefix(out.String(), "logmesh ") {
		t.Errorf("version: %q, %v", out.String(), err)
	}
}

// usage is the top-level usage.
func usage() string { return usageText(commands()) }

// Global flags go before or after the command; the usage text lists every
// command on a line of its own.
func TestGlobalFlagsAnywhere(t *testing.T) {
	c := newCLI(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, args := range [][]string{
		{"--brokers", c.p.Brokers[0], "--registry", c.p.RegistryURL, "files", "--json"},
		{"files", "--json", "--brokers", c.p.Brokers[0], "--registry=" + c.p.RegistryURL},
		{"files", "--brokers=" + c.p.Brokers[0], "--json", "-v", "--registry", c.p.RegistryURL},
	} {
		var out, errOut bytes.Buffer
		if err := run(ctx, args, &out, &errOut); err != nil || strings.TrimSpace(out.String()) != "[]" {
			t.Errorf("logmesh %q: %v %q\n%s", args, err, out.String(), errOut.String())
		}
	}
	for _, cmd := range []string{"dev", "run", "apply", "land", "files", "products", "grant", "revoke", "subscriptions",
		"tables", "query", "replay", "tail", "produce", "schema", "version"} {
		if !strings.Contains(usage(), "\n  "+cmd+" ") {
			t.Errorf("usage does not list %s on a line of its own", cmd)
		}
	}
	if !strings.Contains(usage(), "  version                 print the version\n\n") {
		t.Error("usage runs the version line into the next one")
	}
}
