package ingest_test

import (
	"context"
	"io"
	"sync/atomic"
	"testing"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkatest"
	"github.com/logmesh/logmesh/processors/ingest"
)

// countingS3 counts the objects the watcher opens (hashes). Embedding
// *S3Source keeps its Bucket method, so it is still an object store.
type countingS3 struct {
	*ingest.S3Source
	opens atomic.Int64
}

func (s *countingS3) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	s.opens.Add(1)
	return s.S3Source.Open(ctx, key)
}

// TestS3RestartTrustsETags checks that a restarted watcher does not re-hash
// objects whose (key, ETag) a FileLanded on the log already names.
func TestS3RestartTrustsETags(t *testing.T) {
	src := &countingS3{S3Source: newS3(t)}
	r := newRig(t)
	for _, k := range []string{"a.csv", "b.csv", "trades/c.csv"} {
		put(t, src, k, "content of "+k)
	}
	scan(t, r.watcher(t, src), 3)
	if got := src.opens.Load(); got != 3 {
		t.Fatalf("first scan opened %d objects, want 3", got)
	}
	scan(t, r.watcher(t, src), 0)
	if got := src.opens.Load(); got != 3 {
		t.Fatalf("a restarted watcher opened %d more objects, want 0", got-3)
	}
	put(t, src, "a.csv", "new content")
	scan(t, r.watcher(t, src), 1)
	if got := src.opens.Load(); got != 4 {
		t.Fatalf("after a change, %d objects opened in all, want 4", got)
	}
}

// TestNoTopicYet checks that a watcher whose topic does not exist yet reads
// an empty history instead of failing.
func TestNoTopicYet(t *testing.T) {
	r := newRig(t)
	src, err := ingest.NewLocalSource(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	domain := kafkatest.Unique("ingestnotopic")
	w := r.watcher(t, src, ingest.Domain(domain))
	if w.Topic() != events.DomainTopic(domain) {
		t.Fatalf("Topic() = %s", w.Topic())
	}
	scan(t, w, 0)
}
