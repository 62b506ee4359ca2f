package tables_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	icebergio "github.com/apache/iceberg-go/io"

	"github.com/logmesh/logmesh/tables"
)

// The download cache of query and the SDK: an S3 data file is fetched once, under
// its bucket and key, and again only when the remote size differs.
func TestFileCache(t *testing.T) {
	remote := fstest.MapFS{"wh/raw/trades/data/a.parquet": {Data: []byte("version 1")}}
	// A test double for the S3 IO: s3://bucket/key opens bucket/key in remote.
	fsys := icebergio.FSPreProcName(remote, func(name string) string { return strings.TrimPrefix(name, "s3://") })
	fc := &tables.FileCache{IO: fsys, Dir: t.TempDir()}
	ctx := context.Background()
	read := func(loc string) string {
		t.Helper()
		p, err := fc.Local(ctx, loc)
		if err != nil {
			t.Fatal(err)
		}
		if want := filepath.Join(fc.Dir, "s3", "wh", "raw", "trades", "data", "a.parquet"); p != want {
			t.Fatalf("cached at %s, want %s", p, want)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	const loc = "s3://wh/raw/trades/data/a.parquet"
	if got := read(loc); got != "version 1" {
		t.Fatalf("downloaded %q", got)
	}
	remote["wh/raw/trades/data/a.parquet"].Data = []byte("version 2") // same size: not fetched again
	if got := read(loc); got != "version 1" {
		t.Fatalf("same size, cached copy replaced by %q", got)
	}
	remote["wh/raw/trades/data/a.parquet"].Data = []byte("version 3, longer")
	if got := read(loc); got != "version 3, longer" {
		t.Fatalf("size changed, got %q", got)
	}

	if p, err := fc.Local(ctx, "file:///w/a.parquet"); err != nil || p != "/w/a.parquet" {
		t.Errorf("local file: %q, %v", p, err)
	}
	if _, err := fc.Local(ctx, "s3://wh/../../etc/passwd"); err == nil {
		t.Error("a key escaping the cache directory was accepted")
	}
	if _, err := fc.Local(ctx, "s3://wh/missing.parquet"); err == nil {
		t.Error("a missing remote file gave no error")
	}
}
