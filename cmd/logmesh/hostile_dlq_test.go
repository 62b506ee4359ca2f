package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkaconn"
	"github.com/logmesh/logmesh/internal/kafkatest"
	"github.com/logmesh/logmesh/processors/host"
)

// poisonKinds are the undecodable records put on every consumed topic.
var poisonKinds = []string{"random-bytes", "unknown-schema-id", "foreign-schema", "incompatible-writer"}

// TestHostileDeadLetters puts poison records on every topic the
// platform's processors consume (the raw domain's events and inbox, the
// central bus, the planner's batches), on every partition: (a) random
// bytes, (b) a Confluent frame with a schema id the registry does not
// know, (c) a valid frame of a registered schema that is no logmesh fact,
// (d) a frame of a fact's name whose writer schema cannot be resolved;
// and (e) on the batches topic, a valid fact that is no BatchPlanned. A
// good file lands after them and must load (no processor stalled on a
// partition), and each processor that consumes a topic must have copied
// each poison record to the topic's dead-letter topic with a reason.
func TestHostileDeadLetters(t *testing.T) {
	e := startHostile(t)
	ctx := context.Background()
	rcl, err := sr.NewClient(sr.URLs(e.p.RegistryURL))
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := rcl.CreateSchema(ctx, "hostile-foreign-value", sr.Schema{Type: sr.TypeAvro,
		Schema: `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"string"}]}`})
	if err != nil {
		t.Fatal(err)
	}
	incompatible, err := rcl.CreateSchema(ctx, "hostile-incompatible-value", sr.Schema{Type: sr.TypeAvro,
		Schema: `{"type":"record","name":"FileLanded","namespace":"logmesh.events","fields":[{"name":"nonsense","type":"int"}]}`})
	if err != nil {
		t.Fatal(err)
	}
	frame := func(id int, body []byte) []byte {
		b := []byte{0, 0, 0, 0, 0}
		binary.BigEndian.PutUint32(b[1:], uint32(id))
		return append(b, body...)
	}
	random := make([]byte, 64)
	_, _ = rand.Read(random)
	random[0] = 0xff // never a Confluent magic byte
	values := map[string][]byte{
		"random-bytes":        random,
		"unknown-schema-id":   frame(999_999, []byte{2, 'x'}),
		"foreign-schema":      frame(foreign.ID, []byte{2, 'x'}),
		"incompatible-writer": frame(incompatible.ID, []byte{2}),
	}
	topics := []string{events.DomainTopic("raw"), events.InboxTopic("raw"), events.CentralTopic, events.BatchesTopic}
	parts := e.p.Env.Config.Partitions
	cl, err := kafkaconn.Plain(e.p.Brokers...).Client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for _, topic := range topics {
		for p := range parts {
			for _, kind := range poisonKinds {
				recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Key: []byte("hostile-" + kind), Value: values[kind],
					Headers: []kgo.RecordHeader{{Key: "hostile.kind", Value: []byte(kind)}}})
			}
		}
	}
	// (e) A valid fact of the wrong type for the loader, on the batches
	// topic: a RunRequested, which the audit folds as nothing.
	for p := range parts {
		wrong, err := e.p.Codec.Record(&events.RunRequested{Envelope: events.Envelope{EventID: fmt.Sprintf("hostile-wrong-fact-%d", p),
			OccurredAt: time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC), Domain: "raw"}, Product: "hostile.none", RequestedBy: "hostile"})
		if err != nil {
			t.Fatal(err)
		}
		wrong.Topic, wrong.Partition = events.BatchesTopic, p
		wrong.Headers = append(wrong.Headers, kgo.RecordHeader{Key: "hostile.kind", Value: []byte("wrong-fact")})
		recs = append(recs, wrong)
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	// A good file after the poison loads.
	e.land("csv/after-poison.csv", "a,b\nx,1\n")
	if f := e.finalFiles([]string{"csv/after-poison.csv"}, 90*time.Second)["csv/after-poison.csv"]; f.Status != "PROCESSED" || f.RowsWritten != 1 {
		t.Errorf("the file after the poison: %s, %d rows, %q", f.Status, f.RowsWritten, f.Error)
	}

	// Each group consumer of each topic dead-letters each poison record
	// of every partition once, under its projection's or its own name:
	// the audit projection's twice, as the audit processor and the
	// planner both fold it. The read models that follow a topic in a view
	// (the watcher's and spool's landed files, the catalog, the
	// scheduler, the loader's table pointers) skip poison with a warning:
	// its dead letter is the group consumers'.
	want := map[string]map[string]int{
		events.DomainTopic("raw"): {"audit": 2, "definitions": 1, "lineage": 1, "notifier": 1, "pointers": 1, "router": 1, "runner": 1},
		events.CentralTopic:       {"definitions": 1, "lineage": 1, "notifier": 1, "pointers": 1, "router": 1, "runner": 1},
		events.BatchesTopic:       {"audit": 2, "loader": 1},
		events.InboxTopic("raw"):  {"orchestrator": 1},
	}
	wantKeys := map[string]int{}
	for topic, names := range want {
		for name, n := range names {
			for _, kind := range poisonKinds {
				wantKeys[topic+" "+name+" "+kind] = n * int(parts)
			}
		}
	}
	wantKeys[events.BatchesTopic+" loader wrong-fact"] = int(parts)
	deadline := time.Now().Add(90 * time.Second)
	var got map[string]*deadLetter
	for {
		got = deadLetters(t, e, topics)
		done := len(got) == len(wantKeys)
		for k, n := range wantKeys {
			if got[k] == nil || got[k].records < n {
				done = false
			}
		}
		if done || time.Now().After(deadline) {
			break
		}
		select {
		case err, ok := <-e.p.Err():
			if ok {
				t.Fatalf("a processor stopped: %v", err)
			}
		case <-time.After(250 * time.Millisecond):
		}
	}
	keys := make([]string, 0, len(got))
	for k := range got {
		keys = append(keys, k)
	}
	for k := range wantKeys {
		if got[k] == nil {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var rows []hostileRow
	for _, k := range keys {
		d, n := got[k], wantKeys[k]
		switch {
		case d == nil:
			t.Errorf("%s: no dead letter, want %d", k, n)
			rows = append(rows, hostileRow{k, "MISSING", ""})
			continue
		case n == 0:
			t.Errorf("%s: %d dead letters from a consumer not expected", k, d.records)
		case d.records != n:
			t.Errorf("%s: %d dead letters, want %d (one per partition per consumer)", k, d.records, n)
		}
		if d.noReason > 0 {
			t.Errorf("%s: %d dead letters without a reason", k, d.noReason)
		}
		if wantReason := "decode: "; strings.HasSuffix(k, " wrong-fact") {
			if wantReason = "not a BatchPlanned: " + events.NameRunRequested; d.reason != wantReason {
				t.Errorf("%s: reason %q, want %q", k, d.reason, wantReason)
			}
		} else if !strings.HasPrefix(d.reason, wantReason) {
			t.Errorf("%s: reason %q, want the decode error", k, d.reason)
		}
		rows = append(rows, hostileRow{k, fmt.Sprintf("DLQ ×%d", d.records), d.reason})
	}
	logTable(t, rows)
}

// deadLetter is what the dead-letter topics hold for one (topic,
// processor, kind).
type deadLetter struct {
	records  int
	noReason int
	reason   string
}

// deadLetters reads the dead-letter topics of topics and groups their
// records by "topic processor kind".
func deadLetters(t *testing.T, e *e2e, topics []string) map[string]*deadLetter {
	t.Helper()
	var dlqs []string
	for _, tp := range topics {
		dlqs = append(dlqs, events.DeadLetterTopic(tp))
	}
	out := map[string]*deadLetter{}
	for _, r := range kafkatest.ReadAll(t, e.p.Brokers, dlqs...) {
		h := map[string]string{}
		for _, hd := range r.Headers {
			h[hd.Key] = string(hd.Value)
		}
		k := h[host.HeaderTopic] + " " + h[host.HeaderProjection] + " " + h["hostile.kind"]
		d := out[k]
		if d == nil {
			d = &deadLetter{}
			out[k] = d
		}
		d.records++
		if h[host.HeaderReason] == "" || h[host.HeaderOffset] == "" {
			d.noReason++
		}
		d.reason = cmp.Or(d.reason, h[host.HeaderReason])
	}
	return out
}
