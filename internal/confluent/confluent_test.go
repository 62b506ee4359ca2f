package confluent

import (
	"context"
	"encoding/binary"
	"errors"
	"math/big"
	"slices"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"
)

func TestJSON(t *testing.T) {
	at := time.Date(2026, 11, 24, 9, 30, 0, 0, time.UTC)
	v := map[string]any{
		"price": big.NewRat(1895, 10), "qty": int64(100), "at": at,
		"legs": []any{map[string]any{"fee": big.NewRat(1, 8)}, big.NewRat(-3, 1)},
		"note": nil, "raw": []byte("hi"),
	}
	got, err := JSON(v)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"at":"2026-11-24T09:30:00Z","legs":[{"fee":0.125},-3],"note":null,"price":189.5,"qty":100,"raw":"aGk="}`
	if string(got) != want {
		t.Errorf("JSON:\n got %s\nwant %s", got, want)
	}
}

func TestDecode(t *testing.T) {
	ctx := context.Background()
	reg := srfake.New()
	defer reg.Close()
	cl, err := sr.NewClient(sr.URLs(reg.URL()))
	if err != nil {
		t.Fatal(err)
	}
	const schema = `{"type":"record","name":"Order","namespace":"up","fields":[{"name":"id","type":"string"},{"name":"note","type":["null","string"],"default":null}]}`
	ss, err := cl.CreateSchema(ctx, "orders-value", sr.Schema{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	body, err := avro.Marshal(avro.MustParse(schema), map[string]any{"id": "O1", "note": map[string]any{"string": "rush"}})
	if err != nil {
		t.Fatal(err)
	}
	framed := binary.BigEndian.AppendUint32([]byte{0}, uint32(ss.ID))
	d := NewDecoder(cl)
	name, v, id, err := d.Decode(ctx, append(framed, body...))
	if err != nil || name != "up.Order" || id != ss.ID {
		t.Fatalf("Decode: %s %d %v", name, id, err)
	}
	if j, _ := JSON(v); string(j) != `{"id":"O1","note":"rush"}` {
		t.Errorf("decoded %s", j)
	}
	for what, b := range map[string][]byte{
		"no magic":       append([]byte{1}, framed[1:]...),
		"short":          {0, 0},
		"unknown id":     binary.BigEndian.AppendUint32([]byte{0}, 9999),
		"truncated body": append(slices.Clone(framed), body[:2]...),
	} {
		if _, _, _, err := d.Decode(ctx, b); !errors.Is(err, ErrUndecodable) {
			t.Errorf("%s: %v, want ErrUndecodable", what, err)
		}
	}
	reg.Close()
	other := NewDecoder(cl)
	if _, _, _, err := other.Decode(ctx, append(framed, body...)); err == nil || errors.Is(err, ErrUndecodable) {
		t.Errorf("registry down: %v, want an error that is not ErrUndecodable", err)
	}
}
