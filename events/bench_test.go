package events_test

import (
	"context"
	"testing"

	"github.com/logmesh/logmesh/events"
)

func BenchmarkEncode(b *testing.B) {
	c, _ := newMemCodec(b)
	ev := populated(b, events.NameFileLanded)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Encode(ev); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	c, _ := newMemCodec(b)
	buf, err := c.Encode(populated(b, events.NameFileLanded))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Decode(ctx, buf); err != nil {
			b.Fatal(err)
		}
	}
}
