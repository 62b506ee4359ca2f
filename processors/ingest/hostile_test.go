package ingest_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logmesh/logmesh/processors/ingest"
)

// changingSource is a LocalSource whose first Open of key changes the
// file on disk after the first read from it: the file changes while the
// watcher hashes it. It is a test double.
type changingSource struct {
	*ingest.LocalSource
	key    string
	change func(path string) error
	once   sync.Once
}

func (s *changingSource) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	rc, err := s.LocalSource.Open(ctx, key)
	if err != nil || key != s.key {
		return rc, err
	}
	now := false
	s.once.Do(func() { now = true }) // changed once only
	if !now {
		return rc, nil
	}
	var changeErr error
	return &changingReader{ReadCloser: rc, change: func() {
		changeErr = s.change(filepath.Join(s.Dir(), filepath.FromSlash(key)))
	}, err: &changeErr}, nil
}

// changingReader calls change after its first read. Stat passes through
// to the file, as the watcher asks a local file for it.
type changingReader struct {
	io.ReadCloser
	change func()
	done   bool
	err    *error
}

func (r *changingReader) Read(b []byte) (int, error) {
	n, err := r.ReadCloser.Read(b)
	if !r.done {
		r.done = true
		r.change()
		if *r.err != nil {
			return n, *r.err
		}
	}
	return n, err
}

func (r *changingReader) Stat() (os.FileInfo, error) {
	return r.ReadCloser.(*os.File).Stat()
}

// A file that changes while the watcher hashes it (appended, truncated,
// rewritten in place with the same size) is not landed with the checksum
// of a torn read: the scan skips it, and the next scan lands its content
// at rest, once. The file is bigger than the watcher's 64 KiB read buffer
// and its modification time is set an hour back, so the change shows even
// on a file system with coarse timestamps.
func TestHostileFileChangedWhileHashed(t *testing.T) {
	before := strings.Repeat("0123456789abcdef", 16<<10) // 256 KiB
	for _, tc := range []struct {
		name   string
		change func(string) error
		after  string
	}{
		{"appended", func(p string) error {
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.WriteString("tail")
			return err
		}, before + "tail"},
		{"truncated", func(p string) error { return os.Truncate(p, 100<<10) }, before[:100<<10]},
		{"same size", func(p string) error {
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.WriteAt([]byte("ZZZZ"), int64(len(before)-4))
			return err
		}, before[:len(before)-4] + "ZZZZ"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			local, err := ingest.NewLocalSource(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			const key = "trades/big.csv"
			put(t, local, key, before)
			past := time.Now().Add(-time.Hour)
			if err := os.Chtimes(filepath.Join(local.Dir(), "trades", "big.csv"), past, past); err != nil {
				t.Fatal(err)
			}
			src := &changingSource{LocalSource: local, key: key, change: tc.change}
			w := r.watcher(t, src)
			scan(t, w, 0) // changed while hashed: skipped
			scan(t, w, 1) // at rest: landed
			scan(t, w, 0)
			got := r.landed(t)
			if len(got) != 1 || got[0].Checksum != sum(tc.after) || got[0].Size != int64(len(tc.after)) {
				var sums []string
				for _, g := range got {
					sums = append(sums, g.Checksum[:12])
				}
				t.Fatalf("landed %d (%v), want one FileLanded with the content at rest (%s, %d bytes)", len(got), sums, sum(tc.after)[:12], len(tc.after))
			}
		})
	}
}
