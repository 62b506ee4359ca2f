package readout_test

import (
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/confluent"
	"github.com/logmesh/logmesh/internal/kafkatest"
	"github.com/logmesh/logmesh/internal/readout"
)

// A fact reads out with its envelope; an Avro value of another schema
// with its writer schema's name and id, or, without a registry, as an
// error naming the schema id; a value in no wire format is an error.
func TestDecode(t *testing.T) {
	ctx := context.Background()
	codec, url := kafkatest.Codec(t)
	rcl, err := sr.NewClient(sr.URLs(url))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	fact, err := codec.Record(&events.AccessDenied{Envelope: events.Envelope{EventID: "e-1", OccurredAt: at, Domain: events.DomainCentral},
		Principal: "d", Action: "tail", Resource: "t", API: "catalog", Reason: "r"})
	if err != nil {
		t.Fatal(err)
	}
	const text = `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"string"}]}`
	ss, err := rcl.CreateSchema(ctx, "orders-value", sr.Schema{Schema: text, Type: sr.TypeAvro})
	if err != nil {
		t.Fatal(err)
	}
	body, err := avro.Marshal(avro.MustParse(text), map[string]any{"id": "o-1"})
	if err != nil {
		t.Fatal(err)
	}
	order := &kgo.Record{Topic: "shop.orders", Value: append(binary.BigEndian.AppendUint32([]byte{0}, uint32(ss.ID)), body...)}

	ro, err := readout.New(codec, nil).Decode(ctx, fact)
	if err != nil || !ro.Fact || ro.Name != (&events.AccessDenied{}).Name() || ro.EventID != "e-1" || !ro.OccurredAt.Equal(at) ||
		!strings.Contains(string(ro.JSON), `"principal":"d"`) {
		t.Errorf("the fact: %+v %s, %v", ro, ro.JSON, err)
	}
	ro, err = readout.New(codec, confluent.NewDecoder(rcl)).Decode(ctx, order)
	if err != nil || ro.Fact || ro.Name != "shop.Order" || ro.SchemaID != ss.ID || string(ro.JSON) != `{"id":"o-1"}` {
		t.Errorf("the order: %+v %s, %v", ro, ro.JSON, err)
	}
	_, err = readout.New(codec, nil).Decode(ctx, order)
	if !errors.Is(err, readout.ErrNotFact) || !strings.Contains(err.Error(), "not a logmesh fact (schema id ") {
		t.Errorf("the order without a registry: %v", err)
	}
	if _, err := readout.New(codec, confluent.NewDecoder(rcl)).Decode(ctx, &kgo.Record{Value: []byte("plain")}); !errors.Is(err, confluent.ErrUndecodable) {
		t.Errorf("plain text: %v", err)
	}
}
