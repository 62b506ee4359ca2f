// Package confluent decodes values in the Confluent wire format (a zero
// magic byte, a 4-byte big-endian schema id, the Avro binary body) written
// by any Confluent-compatible producer, with the writer's schema fetched
// from the registry once per id. `logmesh tail` prints such values and the
// spool processor stages them as NDJSON rows.
package confluent

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"sync"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/sr"
)

// ErrUndecodable is wrapped by every error of a value that cannot ever be
// decoded: it is not in the wire format, its schema id is unknown to the
// registry or not Avro, or its body does not match its schema. Other
// errors (the registry unreachable, say) may pass.
var ErrUndecodable = errors.New("confluent: undecodable value")

// Decoder decodes Confluent-framed Avro values. Safe for concurrent use.
type Decoder struct {
	sr      *sr.Client
	mu      sync.Mutex
	schemas map[int]avro.Schema
}

// NewDecoder returns a Decoder that looks schemas up in cl.
func NewDecoder(cl *sr.Client) *Decoder {
	return &Decoder{sr: cl, schemas: map[int]avro.Schema{}}
}

// Decode decodes b into generic Go values (maps, slices, strings, numbers,
// time.Time for timestamps, *big.Rat for decimals; a union is its branch's
// value) and returns the writer schema's full name and id.
func (d *Decoder) Decode(ctx context.Context, b []byte) (name string, v any, id int, err error) {
	if len(b) < 5 || b[0] != 0 {
		return "", nil, 0, fmt.Errorf("%w: not a Confluent-framed Avro value (no magic byte and schema id)", ErrUndecodable)
	}
	id = int(binary.BigEndian.Uint32(b[1:5]))
	s, err := d.schema(ctx, id)
	if err != nil {
		return "", nil, id, err
	}
	if err := avro.Unmarshal(s, b[5:], &v); err != nil {
		return "", nil, id, fmt.Errorf("%w: schema id %d: %w", ErrUndecodable, id, err)
	}
	name = string(s.Type())
	if n, ok := s.(avro.NamedSchema); ok {
		name = n.FullName()
	}
	return name, v, id, nil
}

func (d *Decoder) schema(ctx context.Context, id int) (avro.Schema, error) {
	d.mu.Lock()
	s, ok := d.schemas[id]
	d.mu.Unlock()
	if ok {
		return s, nil
	}
	ss, err := d.sr.SchemaByID(ctx, id)
	if err != nil {
		var re *sr.ResponseError
		if errors.As(err, &re) && re.StatusCode == http.StatusNotFound {
			return nil, fmt.Errorf("%w: schema id %d: %w", ErrUndecodable, id, err)
		}
		return nil, fmt.Errorf("schema id %d: %w", id, err)
	}
	if ss.Type != sr.TypeAvro {
		return nil, fmt.Errorf("%w: schema id %d is %s, not Avro", ErrUndecodable, id, ss.Type)
	}
	s, err = avro.ParseWithCache(ss.Schema, "", &avro.SchemaCache{})
	if err != nil {
		return nil, fmt.Errorf("%w: schema id %d: %w", ErrUndecodable, id, err)
	}
	d.mu.Lock()
	d.schemas[id] = s
	d.mu.Unlock()
	return s, nil
}

// JSON encodes a decoded value as JSON: as encoding/json does, except that
// a decimal is its exact decimal text ("12.50" is 12.5) rather than a
// fraction, timestamps are RFC 3339 and bytes are base64.
func JSON(v any) ([]byte, error) {
	return json.Marshal(plain(v))
}

// plain replaces the *big.Rat of decimals, wherever they are, by JSON
// numbers with their exact decimal digits.
func plain(v any) any {
	switch x := v.(type) {
	case *big.Rat:
		return json.Number(decimalText(x))
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = plain(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = plain(e)
		}
		return out
	default:
		return v
	}
}

// decimalText is r in decimal with the fewest digits after the point that
// are exact; an Avro decimal always has some (its scale, at most).
func decimalText(r *big.Rat) string {
	if r.IsInt() {
		return r.Num().String()
	}
	ten := big.NewInt(10)
	d := new(big.Int).Set(r.Denom())
	for prec := 1; prec <= 1000; prec++ {
		if new(big.Int).Mod(new(big.Int).Exp(ten, big.NewInt(int64(prec)), nil), d).Sign() == 0 {
			return r.FloatString(prec)
		}
	}
	return r.FloatString(38)
}
