package events_test

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/logmesh/logmesh/events"
)

// FuzzDecode states the decoder's invariants: Decode never panics on any
// input, and whatever it accepts re-encodes to bytes that decode to an equal
// event and re-encode to the same bytes (decode → encode → decode is stable).
func FuzzDecode(f *testing.F) {
	golden, err := filepath.Glob(filepath.Join("testdata", "golden", "*.bin"))
	if err != nil {
		f.Fatal(err)
	}
	if len(golden) == 0 {
		f.Fatal("no golden files to seed from; run go test ./events -update")
	}
	for _, g := range golden {
		b, err := os.ReadFile(g)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 0, 1})
	// Golden files were written with ids 1..N in name order, which the
	// in-memory test registry assigns too.
	c, _ := newMemCodec(f)
	ctx := context.Background()

	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := c.Decode(ctx, b)
		if err != nil {
			return
		}
		b1, err := c.Encode(ev)
		if err != nil {
			t.Fatalf("decoded %s does not encode: %v", ev.Name(), err)
		}
		ev2, err := c.Decode(ctx, b1)
		if err != nil {
			t.Fatalf("re-encoded %s does not decode: %v", ev.Name(), err)
		}
		b2, err := c.Encode(ev2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b1, b2) {
			t.Fatalf("encode is not stable:\n%x\n%x", b1, b2)
		}
		if fd, ok := ev.(*events.FeedDefined); ok && math.IsNaN(fd.RejectThreshold) {
			return // NaN != NaN; the byte comparison above covers it
		}
		if !reflect.DeepEqual(ev, ev2) {
			t.Fatalf("decode → encode → decode differs:\n%+v\n%+v", ev, ev2)
		}
		if _, err := events.JSON(ev); err != nil && !isNaNEvent(ev) {
			t.Fatalf("JSON(%s): %v", ev.Name(), err)
		}
	})
}

func isNaNEvent(ev events.Event) bool {
	fd, ok := ev.(*events.FeedDefined)
	return ok && (math.IsNaN(fd.RejectThreshold) || math.IsInf(fd.RejectThreshold, 0))
}
