package platform_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkatest"
	"github.com/logmesh/logmesh/mesh"
	"github.com/logmesh/logmesh/platform"
	"github.com/logmesh/logmesh/schemas"
)

// registryState is every subject with its versions and their ids.
func registryState(t *testing.T, url string) map[string][]int {
	t.Helper()
	cl, err := sr.NewClient(sr.URLs(url))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	subjects, err := cl.Subjects(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st := map[string][]int{}
	for _, s := range subjects {
		all, err := cl.Schemas(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		for _, ss := range all {
			st[s] = append(st[s], ss.Version, ss.ID)
		}
	}
	return st
}

// A restart of the embedded platform on the same data directory keeps every
// subject, version and id of the registry.
func TestRestartKeepsRegistry(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	p, err := platform.StartDev(ctx, platform.DevConfig{Config: platform.Config{DataDir: dir, Mesh: &mesh.Mesh{}}, KafkaPort: -1, RegistryPort: -1})
	if err != nil {
		t.Fatal(err)
	}
	// A second version of one subject and an extra subject.
	cl, err := sr.NewClient(sr.URLs(p.Env.Config.RegistryURL))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.CreateSchema(ctx, "orders-value", sr.Schema{Schema: `{"type":"record","name":"Order","fields":[{"name":"id","type":"string"}]}`}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.CreateSchema(ctx, "orders-value", sr.Schema{Schema: `{"type":"record","name":"Order","fields":[{"name":"id","type":"string"},{"name":"note","type":["null","string"],"default":null}]}`}); err != nil {
		t.Fatal(err)
	}
	landed := &events.FileLanded{
		Envelope: events.Envelope{EventID: events.NewID(), OccurredAt: time.Now().UTC().Truncate(time.Microsecond), Domain: "raw", CorrelationID: "trades.csv"},
		Key:      "trades.csv", Source: events.SourceLocal, Size: 10, Checksum: strings.Repeat("ab", 32),
	}
	rec, err := p.Env.Codec.Record(landed)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := kgo.NewClient(kgo.SeedBrokers(p.Embedded.Kafka.Brokers...))
	if err != nil {
		t.Fatal(err)
	}
	if err := kc.ProduceSync(ctx, rec).FirstErr(); err != nil {
		t.Fatal(err)
	}
	kc.Close()
	before := registryState(t, p.Env.Config.RegistryURL)
	all, err := schemas.All()
	if err != nil {
		t.Fatal(err)
	}
	if len(before) != len(all)+1 || len(before["orders-value"]) != 4 {
		t.Fatalf("before restart: %d subjects (want %d), orders-value %v", len(before), len(all)+1, before["orders-value"])
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}

	p2, err := platform.StartDev(ctx, platform.DevConfig{Config: platform.Config{DataDir: dir, Mesh: &mesh.Mesh{}}, KafkaPort: -1, RegistryPort: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	after := registryState(t, p2.Env.Config.RegistryURL)
	// The event survived too.
	recs := kafkatest.ReadAll(t, p2.Embedded.Kafka.Brokers, events.DomainTopic("raw"))
	var got events.Event
	for _, r := range recs {
		if ev, err := p2.Env.Codec.Decode(ctx, r.Value); err == nil && ev.Name() == events.NameFileLanded {
			got = ev
		}
	}
	if !reflect.DeepEqual(got, events.Event(landed)) {
		t.Fatalf("after restart: %+v, want %+v", got, landed)
	}
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("registry changed across restart:\nbefore %v\nafter  %v", before, after)
	}
	// The codec of the restarted platform got the same ids back.
	for _, s := range all {
		id, ok := p2.Env.Codec.SchemaID(s.Name)
		if !ok || id != after[s.Subject][1] {
			t.Errorf("%s: codec id %d (ok=%v), registry id %d", s.Name, id, ok, after[s.Subject][1])
		}
	}
}

// TestInstallationIDs: each installation records its own id once, at its
// first start; a restart on the same data keeps it; a second installation
// gets another. The products either applies get the id, so their job ids
// differ (projections/orchestration TestJobIDsPerInstallation).
func TestInstallationIDs(t *testing.T) {
	ctx := context.Background()
	start := func(dir string) *platform.Dev {
		t.Helper()
		d, err := platform.StartDev(ctx, platform.DevConfig{Config: platform.Config{DataDir: dir, Mesh: &mesh.Mesh{}},
			KafkaPort: -1, RegistryPort: -1, Skip: platform.ProcessorNames()})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	id := func(d *platform.Dev) string {
		t.Helper()
		got, err := platform.EnsureInstallation(ctx, d.Env.Conn, d.Env.Codec, d.Env.Config.Topics, "test")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 32 {
			t.Fatalf("installation id %q, want 32 hex digits", got)
		}
		return got
	}
	dirA := t.TempDir()
	a := start(dirA)
	idA := id(a)
	if again := id(a); again != idA {
		t.Errorf("a second read of the installation gave %s, then %s", idA, again)
	}
	a.Close()
	a = start(dirA)
	if restarted := id(a); restarted != idA {
		t.Errorf("a restart on the same data changed the installation id from %s to %s", idA, restarted)
	}
	a.Close()
	b := start(t.TempDir())
	defer b.Close()
	if idB := id(b); idB == idA {
		t.Errorf("two installations share the id %s", idA)
	}
}
