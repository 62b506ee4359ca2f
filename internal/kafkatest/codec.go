package kafkatest

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/logmesh/logmesh/events"
)

// Codec returns a codec with every fact's schema registered in an in-memory
// registry (franz-go's srfake, a test double that accepts any schema), and
// the registry's URL for other processes. The registry closes when the test
// ends.
func Codec(t testing.TB) (*events.Codec, string) {
	t.Helper()
	reg := srfake.New()
	t.Cleanup(reg.Close)
	return CodecAt(t, reg.URL()), reg.URL()
}

// CodecAt returns a codec over the registry at url, with every fact's schema
// registered.
func CodecAt(t testing.TB, url string) *events.Codec {
	t.Helper()
	cl, err := sr.NewClient(sr.URLs(url))
	if err != nil {
		t.Fatal(err)
	}
	codec, err := events.NewCodec(events.SRRegistry(cl))
	if err != nil {
		t.Fatal(err)
	}
	if err := codec.Register(context.Background()); err != nil {
		t.Fatal(err)
	}
	return codec
}
