package loader_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkatest"
	"github.com/logmesh/logmesh/internal/mesh"
	"github.com/logmesh/logmesh/internal/platform"
	"github.com/logmesh/logmesh/internal/tables"
	"github.com/logmesh/logmesh/processors/ingest"
	"github.com/logmesh/logmesh/processors/loader"
)

const meshYAML = `
domains:
  - name: raw
feeds:
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
	codec   *events.Codec
	landing string
	src     *ingest.LocalSource
	wh      *tables.Warehouse
	mesh    *mesh.Mesh
}

func newRig(t *testing.T) *rig {
	t.Helper()
	ctx := context.Background()
	c := kafkatest.New(t)
	codec, _ := kafkatest.Codec(t)
	if !c.Real {
		cl := c.Client(t)
		if err := platform.EnsureTopics(ctx, cl, events.DefaultTopics()); err != nil {
			t.Fatal(err)
		}
	} else {
		t.Skip("loader tests use the fixed topic names of the raw domain; run on kfake only for now")
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
	return &rig{cluster: c, codec: codec, landing: landing, src: src, wh: wh, mesh: m}
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
	b := &events.BatchPlanned{
		Envelope: events.Envelope{EventID: events.DeriveID("bp", id), OccurredAt: time.Now().UTC().Truncate(time.Microsecond), Domain: "raw", CorrelationID: id},
		BatchID:  id, Table: "raw.trades", Feed: "trades", Trigger: "manual", Files: files,
	}
	rec, err := r.codec.Record(b)
	if err != nil {
		t.Fatal(err)
	}
	rec.Topic = events.BatchesTopic
	if err := r.cluster.Client(t).ProduceSync(context.Background(), rec).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// run runs a loader until n batches are committed.
func (r *rig) run(t *testing.T, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	done := 0
	l, err := loader.New(r.mesh, r.src, r.wh, r.codec, loader.Brokers(r.cluster.Brokers...),
		loader.Logger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))),
		loader.OnBatch(func(res loader.Result) {
			t.Logf("batch: %+v", res)
			if done++; done == n {
				cancel()
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if done < n {
		t.Fatalf("%d of %d batches committed before the timeout", done, n)
	}
}

// outputs reads every event of the raw and central topics.
func (r *rig) outputs(t *testing.T) map[string][]events.Event {
	t.Helper()
	out := map[string][]events.Event{}
	seen := map[string]bool{}
	for _, rec := range kafkatest.ReadAll(t, r.cluster.Brokers, events.DomainTopic("raw"), events.CentralTopic) {
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
	r.run(t, 3)

	out := r.outputs(t)
	for name, evs := range out {
		t.Logf("%s: %d", name, len(evs))
	}
	if n := len(out[events.NameTableCommitted]); n != 2 {
		t.Fatalf("%d TableCommitted, want 2 (the duplicate batch must not commit again)", n)
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
	if n := len(out[events.NameProductRefreshed]); n != 2 {
		t.Errorf("%d ProductRefreshed, want 2", n)
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
	if info.Version != 2 || info.Rows != 4 {
		t.Fatalf("table: version %d rows %d, want version 2 with 4 rows (T1, T3, T4, T5)", info.Version, info.Rows)
	}
}
