package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/logmesh/logmesh/internal/kafkatest"
)

// shopMesh has one feed that reads an upstream topic instead of files.
const shopMesh = `
domains:
  - name: shop
feeds:
  - name: orders
    table: shop.orders
    topic: shop.orders
    schema:
      type: record
      name: Order
      fields:
        - {name: id, type: string}
        - {name: qty, type: long}
        - {name: note, type: ["null", string], default: null}
        - {name: at, type: {type: long, logicalType: timestamp-micros}}
    primary_key: [id]
    mode: upsert
    rules:
      - {field: qty, rule: min, value: "1"}
    reject_threshold: 0.5
`

// A topic-sourced feed, end to end: `logmesh produce` writes Avro records
// to an upstream topic; the spool stages them, the loader validates them
// (a qty of 0 and a value that is not Avro at all are rejected and
// recorded, the rest committed) and they are rows of shop.orders; a
// breaking schema is refused with the registry's reason; after a restart
// the spool resumes where its landed files end, so no row is loaded twice.
func TestE2ETopicFeed(t *testing.T) {
	if os.Getenv(kafkatest.EnvBrokers) != "" {
		kafkatest.New(t).Reset(t, "logmesh.")
	}
	dir := t.TempDir()
	cfg := meshConfig(t, dir, shopMesh)
	if os.Getenv(kafkatest.EnvBrokers) != "" {
		kafkatest.New(t).Reset(t, "shop.")
	}
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	schema := write("order.avsc", `{"type":"record","name":"Order","namespace":"shop","fields":[
		{"name":"id","type":"string"},
		{"name":"qty","type":"long"},
		{"name":"note","type":["null","string"],"default":null},
		{"name":"at","type":{"type":"long","logicalType":"timestamp-micros"}}]}`)
	breaking := write("breaking.avsc", `{"type":"record","name":"Order","namespace":"shop","fields":[
		{"name":"id","type":"string"},
		{"name":"qty","type":"long"},
		{"name":"note","type":["null","string"],"default":null},
		{"name":"at","type":{"type":"long","logicalType":"timestamp-micros"}},
		{"name":"channel","type":"string"}]}`)

	first := &e2e{cli: &cli{t: t, p: startDev(t, cfg)}, cfg: cfg}
	if _, err := first.run("produce", "--topic", "shop.orders", "--schema", schema, "--key", "id", "--create", "-f",
		write("one.ndjson", `{"id":"O1","qty":3,"at":"2026-12-01T09:00:00Z"}
{"id":"O2","qty":0,"note":"empty order","at":"2026-12-01T09:01:00Z"}
{"id":"O3","qty":7,"note":"rush","at":"2026-12-01T09:02:00Z"}
`)); err != nil {
		t.Fatal(err)
	}
	// A producer that does not speak Avro: the record is staged as a line
	// the loader rejects, with the reason.
	cl := (&kafkatest.Cluster{Brokers: first.p.Brokers}).Client(t)
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "shop.orders", Key: []byte("O3"),
		Value: []byte(`{"id":"O4"}`)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// Wait until every record was staged and every staged file loaded.
	deadline := time.Now().Add(3 * time.Minute)
	files := map[string]map[string]any{}
	for rows, rejected := 0.0, 0.0; rows != 2 || rejected != 2; {
		if time.Now().After(deadline) {
			t.Fatalf("rows %v, rejected %v; files %v", rows, rejected, files)
		}
		time.Sleep(200 * time.Millisecond)
		files = first.files(0)
		rows, rejected = 0, 0
		for k, f := range files {
			if !strings.HasPrefix(k, "_spool/orders/shop.orders/") {
				t.Fatalf("unexpected file %s", k)
			}
			// A run whose only record is the undecodable one fails as a
			// whole (above the threshold), with the reject recorded.
			if s := f["status"]; s == "PROCESSED" || s == "FAILED" {
				rows += f["rows_written"].(float64)
				rejected += f["rows_rejected"].(float64)
			}
		}
	}
	var reasons []string
	for _, f := range files {
		if rs, ok := f["rejections"].([]any); ok {
			for _, r := range rs {
				reasons = append(reasons, r.(string))
			}
		}
	}
	joined := strings.Join(reasons, "\n")
	if !strings.Contains(joined, "qty") || !strings.Contains(joined, "not a Confluent-framed Avro value") {
		t.Errorf("rejections do not name the bad qty and the undecodable value:\n%s", joined)
	}
	if got := column(first.query("SELECT id, qty FROM shop.orders ORDER BY id"), "id", "qty"); got != "O1:3,O3:7" {
		t.Errorf("shop.orders = %s, want O1:3,O3:7", got)
	}

	_, err := first.run("produce", "--topic", "shop.orders", "--schema", breaking, "-f",
		write("b.ndjson", `{"id":"O9","qty":1,"at":0,"channel":"web"}`))
	var re *sr.ResponseError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "incompatible") || !strings.Contains(err.Error(), "channel") {
		t.Fatalf("breaking schema: %v, want the registry's reason naming channel", err)
	}
	if err := first.p.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	// Restarted: the spool resumes after what it landed; only the new
	// records make files, and O1 is upserted.
	second := &e2e{cli: &cli{t: t, p: startDev(t, cfg)}, cfg: cfg}
	if _, err := second.run("produce", "--topic", "shop.orders", "--schema", schema, "--key", "id", "-f",
		write("two.ndjson", `{"id":"O1","qty":30,"at":"2026-12-01T10:00:00Z"}
{"id":"O5","qty":5,"at":"2026-12-01T10:01:00Z"}
`)); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(3 * time.Minute)
	for {
		got := column(second.query("SELECT id, qty FROM shop.orders ORDER BY id"), "id", "qty")
		if got == "O1:30,O3:7,O5:5" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("shop.orders = %s after the restart, want O1:30,O3:7,O5:5", got)
		}
		time.Sleep(250 * time.Millisecond)
	}
	var total float64
	for _, f := range second.files(0) {
		if s := f["status"]; s == "PROCESSED" || s == "FAILED" {
			total += f["rows_written"].(float64) + f["rows_rejected"].(float64)
		}
	}
	if total != 6 {
		t.Errorf("the files hold %v records, want 6 (each produced record staged once)", total)
	}
}
