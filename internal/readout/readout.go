// Package readout decodes a Kafka record for people to read: as a logmesh
// fact (its typed form as JSON, with its event name, id and time) or, when
// it is not one, as any Confluent-framed Avro value decoded with its
// writer's schema. `logmesh tail` prints readouts and the catalog's
// GET /v1/tail answers them.
package readout

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/confluent"
)

// ErrNotFact is wrapped by the error of a record that is not a logmesh fact
// when the Decoder has no registry to decode it generically.
var ErrNotFact = errors.New("readout: not a logmesh fact")

// Readout is one record decoded.
type Readout struct {
	// Fact says whether the record is a logmesh fact: Name is its event
	// name and EventID and OccurredAt are its envelope's. Otherwise Name
	// is the writer schema's full name and SchemaID its id.
	Fact       bool
	Name       string
	EventID    string
	OccurredAt time.Time
	SchemaID   int
	// JSON is the value as a JSON document.
	JSON []byte
}

// Decoder decodes records. Safe for concurrent use.
type Decoder struct {
	codec   *events.Codec
	generic *confluent.Decoder
}

// New returns a Decoder of logmesh facts with codec and, with generic (nil
// for none), of any other Confluent-framed Avro value; without generic
// such a value is an error wrapping ErrNotFact.
func New(codec *events.Codec, generic *confluent.Decoder) *Decoder {
	return &Decoder{codec: codec, generic: generic}
}

// Decode decodes r's value: a fact, else a generic Avro value. A value
// that looks like a fact but does not decode is an error, one that says
// so with the dead letter's reason on a dead-letter topic.
func (d *Decoder) Decode(ctx context.Context, r *kgo.Record) (Readout, error) {
	ev, err := d.codec.Decode(ctx, r.Value)
	if err != nil {
		if errors.Is(err, events.ErrUnknownEvent) || len(r.Value) < 5 || r.Value[0] != 0 {
			return d.decodeGeneric(ctx, r.Value)
		}
		if strings.HasSuffix(r.Topic, ".dlq") {
			return Readout{}, fmt.Errorf("dead letter (%s): %w", header(r, "logmesh.dlq.reason"), err)
		}
		return Readout{}, err
	}
	b, err := events.JSON(ev)
	if err != nil {
		return Readout{}, err
	}
	m := ev.Meta()
	return Readout{Fact: true, Name: ev.Name(), EventID: m.EventID, OccurredAt: m.OccurredAt, JSON: b}, nil
}

// decodeGeneric decodes a value that is not a logmesh fact with its
// writer's schema.
func (d *Decoder) decodeGeneric(ctx context.Context, v []byte) (Readout, error) {
	if d.generic == nil {
		if len(v) < 5 || v[0] != 0 {
			return Readout{}, fmt.Errorf("%w (not a Confluent-framed Avro value)", ErrNotFact)
		}
		return Readout{}, fmt.Errorf("%w (schema id %d)", ErrNotFact, binary.BigEndian.Uint32(v[1:5]))
	}
	name, val, id, err := d.generic.Decode(ctx, v)
	if err != nil {
		return Readout{}, err
	}
	b, err := confluent.JSON(val)
	if err != nil {
		return Readout{}, fmt.Errorf("schema id %d: %w", id, err)
	}
	return Readout{Name: name, SchemaID: id, JSON: b}, nil
}

// header returns the value of r's header key, "" if it has none.
func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}
