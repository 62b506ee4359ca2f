package loader_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkatest"
	"github.com/logmesh/logmesh/mesh"
	"github.com/logmesh/logmesh/processors/ingest"
	"github.com/logmesh/logmesh/processors/loader"
	"github.com/logmesh/logmesh/processors/proc"
	"github.com/logmesh/logmesh/processors/txn"
	"github.com/logmesh/logmesh/tables"
)

const meshYAML = `
domains:
  - name: raw
  - name: lab
feeds:
  - name: labtrades
    table: lab.trades
    key_pattern: "lab/*.csv"
    format: csv
    options: {header: true}
    schema:
      type: record
      name: LabTrade
      fields:
        - {name: trade_id, type: string}
        - {name: qty, type: long}
  - name: trades
    table: raw.trades
    key_pattern: "trades/*.csv"
    format: csv
    options: {header: true}
    schema:
      type: record
      name: Trade
      fields:
        - {name: trade_id, type: string}
        - {name: qty, type: long}
        - {name: traded_at, type: {type: long, logicalType: timestamp-micros}}
    primary_key: [trade_id]
    ordering_field: traded_at
    mode: upsert
    unique_key: true
    reject_threshold: 0.5
    rules:
      - {field: qty, rule: min, value: "1"}
`

type rig struct {
	cluster *kafkatest.Cluster
	names   events.Topics
	group   string
	codec   *events.Codec
	landing string
	src     *ingest.LocalSource
	wh      *tables.Warehouse
	mesh    *mesh.Mesh
	// clientOpts are added to the loader's clients.
	clientOpts []kgo.Opt
}

func newRig(t *testing.T) *rig {
	t.Helper()
	ctx := context.Background()
	c := kafkatest.New(t)
	codec, _ := kafkatest.Codec(t)
	names := events.Topics{Prefix: kafkatest.Unique("lt")}
	if err := c.Conn().EnsureTopics(ctx, names.Specs(2)...); err != nil {
		t.Fatal(err)
	}
	landing := t.TempDir()
	src, err := ingest.NewLocalSource(landing)
	if err != nil {
		t.Fatal(err)
	}
	wh, err := tables.OpenWarehouse(ctx, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := mesh.Parse([]byte(meshYAML), "mesh.yaml", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return &rig{cluster: c, names: names, group: kafkatest.Unique("loader"), codec: codec, landing: landing, src: src, wh: wh, mesh: m}
}

// land writes a file and returns its batch entry.
func (r *rig) land(t *testing.T, key, content string) events.BatchFile {
	t.Helper()
	p := filepath.Join(r.landing, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(content))
	return events.BatchFile{Key: key, Checksum: hex.EncodeToString(sum[:]), Size: int64(len(content))}
}

func (r *rig) plan(t *testing.T, id string, files ...events.BatchFile) {
	t.Helper()
	r.planFor(t, "raw.trades", "trades", id, files...)
}

func (r *rig) planFor(t *testing.T, table, feed, id string, files ...events.BatchFile) {
	t.Helper()
	b := &events.BatchPlanned{
		Envelope: events.Envelope{EventID: events.DeriveID("bp", id), OccurredAt: time.Now().UTC().Truncate(time.Microsecond), Domain: "raw", CorrelationID: id},
		BatchID:  id, Table: table, Feed: feed, Trigger: "manual", Files: files,
	}
	rec, err := r.codec.Record(b)
	if err != nil {
		t.Fatal(err)
	}
	rec.Topic = r.names.Batches()
	if err := r.cluster.Client(t).ProduceSync(context.Background(), rec).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// run runs a loader until n batches are committed and returns their
// results.
func (r *rig) run(t *testing.T, n int, opts ...loader.Option) []loader.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	done := 0
	var results []loader.Result
	pc := proc.Config{Conn: r.cluster.Conn(), Topics: r.names, Group: r.group, ClientOpts: r.clientOpts,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	l, err := loader.New(pc, loader.Static(r.mesh), r.src, r.wh, r.codec, append([]loader.Option{loader.OnBatch(func(res loader.Result) {
		t.Logf("batch: %+v", res)
		results = append(results, res)
		if done++; done == n {
			cancel()
		}
	})}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if done < n {
		t.Fatalf("%d of %d batches committed before the timeout", done, n)
	}
	return results
}

// outputs reads every event of the raw and central topics.
func (r *rig) outputs(t *testing.T) map[string][]events.Event {
	t.Helper()
	out := map[string][]events.Event{}
	seen := map[string]bool{}
	for _, rec := range kafkatest.ReadAll(t, r.cluster.Brokers, r.names.Domain("raw"), r.names.Central(), r.names.Domain("lab")) {
		ev, err := r.codec.Decode(context.Background(), rec.Value)
		if err != nil {
			t.Errorf("undecodable output: %v", err)
			continue
		}
		// Consumers drop repeated event ids; so does this one.
		if !seen[ev.Meta().EventID] {
			seen[ev.Meta().EventID] = true
			out[ev.Name()] = append(out[ev.Name()], ev)
		}
	}
	return out
}

func TestLoaderBatch(t *testing.T) {
	r := newRig(t)
	good := r.land(t, "trades/a.csv", "trade_id,qty,traded_at\nT1,10,2026-11-24T09:00:00Z\nT2,0,2026-11-24T09:00:00Z\nT3,5,2026-11-24T09:01:00Z\nT1,11,2026-11-24T09:02:00Z\n")
	bad := r.land(t, "trades/b.csv", "trade_id,qty,traded_at\nT9,x,nope\nT8,0,2026-11-24T09:00:00Z\nT7,1,2026-11-24T09:00:00Z\n")
	garbled := r.land(t, "trades/c.csv", "trade_id,qty,traded_at\nT6,\"1,2026")
	r.plan(t, "batch-1", good, bad, garbled)
	r.plan(t, "batch-1", good, bad, garbled) // the planner produced it twice
	upd := r.land(t, "trades/d.csv", "trade_id,qty,traded_at\nT3,50,2026-11-25T09:00:00Z\nT4,1,2026-11-25T09:00:00Z\nT5,2,2020-01-01T00:00:00Z\n")
	r.plan(t, "batch-2", upd)
	old := r.land(t, "trades/e.csv", "trade_id,qty,traded_at\nT1,5,2020-01-01T00:00:00Z\n")
	r.plan(t, "batch-3", old)
	r.run(t, 4)

	out := r.outputs(t)
	for name, evs := range out {
		t.Logf("%s: %d", name, len(evs))
	}
	if n := len(out[events.NameTableCommitted]); n != 3 {
		t.Fatalf("%d TableCommitted, want 3 (the duplicate batch must not commit again)", n)
	}
	processed := map[string]*events.FileProcessed{}
	for _, e := range out[events.NameFileProcessed] {
		fp := e.(*events.FileProcessed)
		processed[fp.FileKey] = fp
	}
	failed := map[string]*events.FileFailed{}
	for _, e := range out[events.NameFileFailed] {
		ff := e.(*events.FileFailed)
		failed[ff.FileKey] = ff
	}
	if fp := processed["trades/a.csv"]; fp == nil || fp.RecordsRead != 4 || fp.RecordsLoaded != 2 || fp.RecordsRejected != 2 {
		t.Errorf("a.csv: %+v; want read 4, loaded 2 (T1, T3), rejected 2 (qty 0, duplicate T1)", fp)
	}
	for key, want := range map[string][2]int64{"trades/a.csv": {2, 0}, "trades/d.csv": {3, 0}, "trades/e.csv": {0, 1}} {
		fp := processed[key]
		if fp == nil || fp.RecordsInVersion == nil || *fp.RecordsInVersion != want[0] || fp.RecordsSuperseded != want[1] {
			t.Errorf("%s: %+v; want %d rows in the version and %d superseded", key, fp, want[0], want[1])
		}
	}
	if ff := failed["trades/b.csv"]; ff == nil || ff.Stage != "validate" {
		t.Errorf("b.csv: %+v; want FAILED at validate (2 of 3 rejected > 0.5)", ff)
	}
	if ff := failed["trades/c.csv"]; ff == nil || ff.Stage != "parse" {
		t.Errorf("c.csv: %+v; want FAILED at parse (unterminated quote)", ff)
	}
	if n := len(out[events.NameIncidentOpened]); n != 2 {
		t.Errorf("%d incidents, want one per failed file (2)", n)
	}
	var reasons []string
	for _, e := range out[events.NameRecordRejected] {
		rr := e.(*events.RecordRejected)
		if rr.Reason == "" || rr.Rule == "" {
			t.Errorf("rejection without reason: %+v", rr)
		}
		reasons = append(reasons, rr.FileKey+":"+rr.Rule)
	}
	sort.Strings(reasons)
	t.Logf("rejections: %v", reasons)
	if len(reasons) != 4 {
		t.Errorf("%d RecordRejected, want 4 (a.csv 2, b.csv 2)", len(reasons))
	}
	if n := len(out[events.NameProductRefreshed]); n != 3 {
		t.Errorf("%d ProductRefreshed, want 3", n)
	}

	// The table holds T1 (qty 10), T3 updated (50), T4; T5 is new too.
	ptrs := tables.NewMemPointers()
	for _, e := range out[events.NameTableCommitted] {
		if err := ptrs.Apply(e.(*events.TableCommitted)); err != nil {
			t.Fatal(err)
		}
	}
	cat, err := tables.NewCatalog(r.wh, ptrs, ptrs)
	if err != nil {
		t.Fatal(err)
	}
	info, err := cat.Info(context.Background(), "raw.trades")
	if err != nil {
		t.Fatal(err)
	}
	if info.Version != 3 || info.Rows != 4 {
		t.Fatalf("table: version %d rows %d, want version 3 with 4 rows (T1, T3, T4, T5)", info.Version, info.Rows)
	}
}

// A batch whose commit cannot succeed (its table's domain topic does not
// exist) is retried a bounded number of times, then each of its files fails
// with the cause and an incident: nothing stays BATCHED silently. Once the
// topic exists, the next batch of the table commits.
func TestLoaderGivesUpOnACommitThatCannotSucceed(t *testing.T) {
	r := newRig(t)
	f := r.land(t, "lab/a.csv", "trade_id,qty\nL1,1\nL2,2\n")
	r.planFor(t, "lab.trades", "labtrades", "lab-1", f)
	opts := []loader.Option{
		loader.Transactions(txn.MaxAttempts(2), txn.Backoff(10*time.Millisecond, 10*time.Millisecond)),
	}
	r.clientOpts = []kgo.Opt{kgo.UnknownTopicRetries(1), kgo.ProduceRequestTimeout(5 * time.Second)}
	res := r.run(t, 1, opts...)
	if len(res) != 1 || !res[0].GaveUp || res[0].FailedFiles != 1 {
		t.Fatalf("results %+v, want the batch given up with its file failed", res)
	}
	out := r.outputs(t)
	if n := len(out[events.NameTableCommitted]); n != 0 {
		t.Fatalf("%d TableCommitted for a commit that cannot succeed", n)
	}
	var ff *events.FileFailed
	for _, e := range out[events.NameFileFailed] {
		ff = e.(*events.FileFailed)
	}
	if ff == nil || ff.FileKey != "lab/a.csv" || ff.Stage != "commit" || !strings.Contains(ff.Reason, "UNKNOWN_TOPIC_OR_PARTITION") {
		t.Fatalf("FileFailed %+v, want lab/a.csv at stage commit naming the missing topic", ff)
	}
	if incs := out[events.NameIncidentOpened]; len(incs) != 1 || incs[0].(*events.IncidentOpened).Subject != "lab/a.csv" {
		t.Fatalf("incidents %v, want one for lab/a.csv", incs)
	}

	if err := r.cluster.Conn().EnsureTopics(context.Background(), r.names.Specs(2, "lab")...); err != nil {
		t.Fatal(err)
	}
	g := r.land(t, "lab/b.csv", "trade_id,qty\nL3,3\n")
	r.planFor(t, "lab.trades", "labtrades", "lab-2", g)
	if res := r.run(t, 1, opts...); len(res) != 1 || res[0].BatchID != "lab-2" || res[0].Version != 1 {
		t.Fatalf("after the topic exists: %+v, want version 1 of lab.trades", res)
	}
}
