package ingest_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/logmesh/logmesh/processors/ingest"
)

// memSource wraps a LocalSource; its readers sample HeapInuse when the
// watcher has read the whole file, the moment a watcher that buffered the
// file would hold all of it.
type memSource struct {
	*ingest.LocalSource
	atEOF atomic.Uint64
}

func (s *memSource) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	rc, err := s.LocalSource.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	return &memReader{ReadCloser: rc, src: s}, nil
}

type memReader struct {
	io.ReadCloser
	src  *memSource
	done bool
}

func (r *memReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if err == io.EOF && !r.done {
		r.done = true
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		r.src.atEOF.Store(ms.HeapInuse)
	}
	return n, err
}

// TestChecksumStreams lands a 50 MB file and checks that the heap in use
// when the file has been read did not grow by anything near its size.
func TestChecksumStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 50 MB file")
	}
	const size = 50 << 20
	dir, staging := t.TempDir(), t.TempDir()
	f, err := os.Create(filepath.Join(staging, "big.csv"))
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	chunk := make([]byte, 1<<20)
	for i := range size / len(chunk) {
		for j := range chunk {
			chunk[j] = byte('a' + (i+j)%26)
		}
		f.Write(chunk)
		h.Write(chunk)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	chunk = nil
	want := hex.EncodeToString(h.Sum(nil))

	local, err := ingest.NewLocalSource(dir)
	if err != nil {
		t.Fatal(err)
	}
	src := &memSource{LocalSource: local}
	r := newRig(t)
	w := r.watcher(t, src)
	// Connect and read the (empty) log first, so the baseline includes the
	// Kafka clients.
	scan(t, w, 0)
	if err := os.Rename(filepath.Join(staging, "big.csv"), filepath.Join(dir, "big.csv")); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	scan(t, w, 1)
	grew := int64(src.atEOF.Load()) - int64(before.HeapInuse)
	t.Logf("HeapInuse %d MiB before the scan, %d MiB at EOF (grew %d KiB) for a %d MiB file",
		before.HeapInuse>>20, src.atEOF.Load()>>20, grew>>10, size>>20)
	// About 8 MiB of growth is fixed overhead, the same for a 10 MB file
	// (the in-process kfake cluster and the Kafka clients allocate during a
	// scan); a watcher that buffered the file would grow by 50 MiB or more.
	if grew > size/3 {
		t.Errorf("HeapInuse grew by %d bytes while hashing a %d-byte file", grew, size)
	}
	landed := r.landed(t)
	var got []string
	for _, fl := range landed {
		if fl.Size != size {
			t.Errorf("%s: size %d, want %d", fl.Key, fl.Size, size)
		}
		got = append(got, fl.Key+" "+fl.Checksum)
	}
	if len(got) != 1 || got[0] != "big.csv "+want {
		t.Fatalf("landed %v, want big.csv with checksum %s", got, want)
	}
}
