package platform

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/metrics"
	"github.com/logmesh/logmesh/mesh"
	"github.com/logmesh/logmesh/processors/host"
	"github.com/logmesh/logmesh/projections/audit"
	"github.com/logmesh/logmesh/state"
)

// startBare starts a dev platform that runs no processor, with its admin
// endpoint.
func startBare(t *testing.T) *Dev {
	t.Helper()
	d, err := StartDev(context.Background(), DevConfig{Config: Config{DataDir: t.TempDir(), Mesh: &mesh.Mesh{}, AdminAddr: "127.0.0.1:0"},
		KafkaPort: -1, RegistryPort: -1, Skip: ProcessorNames()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// landedRecord is the record of a FileLanded of key, on its topic.
func landedRecord(t *testing.T, d *Dev, key string) *kgo.Record {
	t.Helper()
	landed := &events.FileLanded{
		Envelope: events.Envelope{EventID: events.NewID(), OccurredAt: time.Now().UTC().Truncate(time.Microsecond), Domain: "raw", CorrelationID: key},
		Key:      key, Source: events.SourceLocal, Size: 10, Checksum: strings.Repeat("ab", 32),
	}
	rec, err := d.Env.Codec.Record(landed)
	if err != nil {
		t.Fatal(err)
	}
	rec.Topic = d.Env.Config.Topics.For(landed)
	return rec
}

// memStore is an empty in-memory store, closed with t.
func memStore(t *testing.T) *state.Store {
	t.Helper()
	st, err := state.Open("", &state.Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// /livez and /healthz answer 200; /readyz is 503 naming the store that has
// not caught up, and 200 once it has folded up to the end offsets.
func TestLivezReadyz(t *testing.T) {
	ctx := context.Background()
	d := startBare(t)
	for _, path := range []string{"/livez", "/healthz"} {
		if code, body := get(t, d.AdminURL+path); code != http.StatusOK || body != "ok\n" {
			t.Errorf("%s = %d %q, want 200 ok", path, code, body)
		}
	}
	if code, body := get(t, d.AdminURL+"/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz with no store = %d %q, want 200", code, body)
	}

	// A fact on a topic the audit folds, and an audit store short of it.
	rec := landedRecord(t, d, "a.csv")
	kc, err := d.Env.Conn.Client(kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	if err := kc.ProduceSync(ctx, rec).FirstErr(); err != nil {
		t.Fatal(err)
	}
	st := memStore(t)
	d.Env.serveLive("audit", audit.Projection{}.Name(), func() *state.Store { return st })

	code, body := get(t, d.AdminURL+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "audit: catching up ("+rec.Topic+"/") {
		t.Fatalf("/readyz behind = %d %q, want 503 naming the audit's partition", code, body)
	}
	proj := audit.Projection{}
	if _, err := host.Replay(ctx, proj, st, d.Env.Codec, d.Env.Conn, proj.Topics(d.Env.Config.Topics), host.Sync(false)); err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, d.AdminURL+"/readyz"); code != http.StatusOK || body != "ok\n" {
		t.Fatalf("/readyz caught up = %d %q, want 200 ok", code, body)
	}
}

// /metrics serves the platform's own registry: the logmesh_ metrics and the
// kprom metrics of the process's Kafka clients, which count what a client
// of the process produced.
func TestMetricsEndpoint(t *testing.T) {
	ctx := context.Background()
	d := startBare(t)
	kc, err := d.Env.Conn.Client(kgo.DefaultProduceTopic(d.Env.Config.Topics.Central()))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	if err := kc.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	fams, err := metrics.Scrape(ctx, d.AdminURL+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := fams.Sum("logmesh_produce_bytes_total", map[string]string{"topic": d.Env.Config.Topics.Central()}); !ok || n <= 0 {
		t.Errorf("logmesh_produce_bytes_total of the central topic = %v (present %v), want > 0", n, ok)
	}
	for _, name := range []string{"logmesh_process_cpu_seconds_total", "go_goroutines"} {
		if _, ok := fams[name]; !ok {
			t.Errorf("no %s", name)
		}
	}
	// A second platform in the same process has its own registry.
	d2 := startBare(t)
	fams2, err := metrics.Scrape(ctx, d2.AdminURL+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := fams2.Sum("logmesh_produce_bytes_total", map[string]string{"topic": d.Env.Config.Topics.Central()}); n != 0 {
		t.Errorf("the second platform counts the first's bytes: %v", n)
	}
}

// A store whose offset stops after a transaction's last record, before its
// commit marker (as the orchestrator's does), has caught up.
func TestReadyzPastTransactionMarkers(t *testing.T) {
	ctx := context.Background()
	d := startBare(t)
	rec := landedRecord(t, d, "b.csv")
	rec.Partition = 0
	kc, err := d.Env.Conn.Client(kgo.TransactionalID("readyz-test"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	if err := kc.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := kc.ProduceSync(ctx, rec).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := kc.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	st := memStore(t)
	b := st.NewBatch()
	b.SetOffset(rec.Topic, 0, rec.Offset+1) // the marker is at rec.Offset+1
	if err := b.Commit(false); err != nil {
		t.Fatal(err)
	}
	d.Env.serveLive("orchestrator", audit.Projection{}.Name(), func() *state.Store { return st })
	if code, body := get(t, d.AdminURL+"/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz = %d %q, want 200: only a marker is left", code, body)
	}
}

// A store of one instance of a processor that consumes in a group holds
// only its partitions: a partition the group committed up to its end (as
// another instance folded it) does not hold /readyz back; one the group
// has not reached does.
func TestReadyzPartitionsOfOtherInstances(t *testing.T) {
	ctx := context.Background()
	d := startBare(t)
	rec := landedRecord(t, d, "c.csv")
	rec.Partition = 0
	kc, err := d.Env.Conn.Client(kgo.ProducerLinger(0), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	if err := kc.ProduceSync(ctx, rec).FirstErr(); err != nil {
		t.Fatal(err)
	}
	st := memStore(t)
	d.Env.serveLive("audit", audit.Projection{}.Name(), func() *state.Store { return st })
	adm, err := d.Env.admin()
	if err != nil {
		t.Fatal(err)
	}
	commit := func(at int64) {
		t.Helper()
		var os kadm.Offsets
		os.Add(kadm.Offset{Topic: rec.Topic, Partition: 0, At: at, LeaderEpoch: -1})
		resp, err := adm.CommitOffsets(ctx, d.Env.Config.Group("audit"), os)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	commit(rec.Offset) // the group is short of the record
	if code, body := get(t, d.AdminURL+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "audit: catching up") {
		t.Fatalf("/readyz with the group behind = %d %q, want 503", code, body)
	}
	commit(rec.Offset + 1)
	if code, body := get(t, d.AdminURL+"/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz with the group at the end = %d %q, want 200", code, body)
	}
}
