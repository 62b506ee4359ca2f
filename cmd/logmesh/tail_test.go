package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkaconn"
)

// tail on a topic written by a plain franz-go producer with an Avro schema
// of its own: each value is decoded with its writer's schema from the
// registry; a record that is not Confluent Avro is reported on stderr and
// counts toward -n, so tail -n exits.
func TestTailDecodesForeignAvro(t *testing.T) {
	c := newCLI(t)
	ctx := context.Background()
	const text = `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"string"},{"name":"qty","type":"long"}]}`
	rcl, err := sr.NewClient(sr.URLs(c.p.RegistryURL))
	if err != nil {
		t.Fatal(err)
	}
	ss, err := rcl.CreateSchema(ctx, "orders-value", sr.Schema{Schema: text, Type: sr.TypeAvro})
	if err != nil {
		t.Fatal(err)
	}
	schema := avro.MustParse(text)
	conn := kafkaconn.Plain(c.p.Brokers...)
	if err := conn.EnsureTopics(ctx, events.TopicSpec{Name: "shop.orders", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	cl, err := conn.Client(kgo.DefaultProduceTopic("shop.orders"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, o := range []struct {
		ID  string `avro:"id"`
		Qty int64  `avro:"qty"`
	}{{"o-1", 3}, {"o-2", 5}} {
		body, err := avro.Marshal(schema, o)
		if err != nil {
			t.Fatal(err)
		}
		v := binary.BigEndian.AppendUint32([]byte{0}, uint32(ss.ID))
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: append(v, body...)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("plain text")}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	var out, errOut bytes.Buffer
	tctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	err = run(tctx, []string{"tail", "shop.orders", "--from-beginning", "--json", "-n", "3",
		"--brokers", c.p.Brokers[0], "--registry", c.p.RegistryURL}, &out, &errOut)
	if err != nil || tctx.Err() != nil {
		t.Fatalf("tail: %v (ctx %v)\n%s", err, tctx.Err(), errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"id":"o-1"`) || !strings.Contains(lines[0], `"qty":3`) || !strings.Contains(lines[1], `"o-2"`) {
		t.Errorf("tail printed %q, want the two orders as JSON", out.String())
	}
	if !strings.Contains(errOut.String(), "shop.orders/0@2") || !strings.Contains(errOut.String(), "not a Confluent-framed Avro value") {
		t.Errorf("stderr %q, want the undecodable record reported", errOut.String())
	}

	out.Reset()
	if err := run(tctx, []string{"tail", "shop.orders", "--from-beginning", "-n", "1",
		"--brokers", c.p.Brokers[0], "--registry", c.p.RegistryURL}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "shop.Order schema-id=") || !strings.Contains(out.String(), `"o-1"`) {
		t.Errorf("tail without --json: %q", out.String())
	}
}
