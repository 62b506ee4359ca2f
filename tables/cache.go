package tables

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"

	icebergio "github.com/apache/iceberg-go/io"
)

// FileCache gives readers without S3 (the embedded DuckDB) local copies of
// a warehouse's data files. Not safe for concurrent use.
type FileCache struct {
	// IO is the warehouse's IO.
	IO icebergio.IO
	// Dir is where copies go; "" means <user cache dir>/logmesh/files,
	// resolved on first download.
	Dir string
}

// Local returns a local path DuckDB can read for a table's data file: a
// local file as it is; a remote one (s3://) downloaded through the
// warehouse's IO into the cache directory, under its scheme, bucket and key.
// A file already there with the remote size is not downloaded again: data
// files are never rewritten in place, each table version writes new ones.
func (c *FileCache) Local(ctx context.Context, loc string) (string, error) {
	if p, ok := strings.CutPrefix(loc, "file://"); ok {
		return p, nil
	}
	if !strings.Contains(loc, "://") {
		return loc, nil
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	u, err := url.Parse(loc)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("data file %q: not a URL with a bucket", loc)
	}
	rel := filepath.FromSlash(path.Join(u.Scheme, u.Host, u.Path))
	if !filepath.IsLocal(rel) {
		return "", fmt.Errorf("data file %q: key escapes the cache directory", loc)
	}
	if c.Dir == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("no cache directory (give --cache): %w", err)
		}
		c.Dir = filepath.Join(dir, "logmesh", "files")
	}
	dst := filepath.Join(c.Dir, rel)
	f, err := c.IO.Open(loc)
	if err != nil {
		return "", err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("data file %s: %w", loc, err)
	}
	if have, err := os.Stat(dst); err == nil && have.Mode().IsRegular() && have.Size() == info.Size() {
		return dst, nil
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", fmt.Errorf("cache: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".download-*")
	if err != nil {
		return "", fmt.Errorf("cache: %w", err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	n, err := io.Copy(tmp, f)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil && n != info.Size() {
		err = fmt.Errorf("got %d of %d bytes", n, info.Size())
	}
	if err != nil {
		return "", fmt.Errorf("download %s: %w", loc, err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return "", fmt.Errorf("cache: %w", err)
	}
	return dst, nil
}
