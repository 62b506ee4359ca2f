package ingest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// LocalSource is a landing area in a local directory. Keys are paths
// relative to the directory, with slashes. It is safe for concurrent use and
// holds no resources to close.
type LocalSource struct {
	dir string
}

var _ Source = (*LocalSource)(nil)

// NewLocalSource returns a Source over dir, which must exist and be a
// directory.
func NewLocalSource(dir string) (*LocalSource, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("ingest: landing directory %s: %w", dir, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("ingest: landing directory: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("ingest: landing directory %s is not a directory", abs)
	}
	return &LocalSource{dir: abs}, nil
}

// Dir returns the absolute landing directory.
func (s *LocalSource) Dir() string { return s.dir }

// Name returns events.SourceLocal ("local").
func (s *LocalSource) Name() string { return "local" }

// List walks the directory and returns every regular file, skipping
// temporary files and hidden directories (see IsTemp) and symbolic links.
// Files that vanish during the walk are left out.
func (s *LocalSource) List(ctx context.Context) ([]Object, error) {
	var out []Object
	err := filepath.WalkDir(s.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p != s.dir {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if p == s.dir {
			return nil
		}
		rel, err := filepath.Rel(s.dir, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if d.IsDir() {
			if IsTemp(key) {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || IsTemp(key) || ValidKey(key) != nil {
			return nil
		}
		fi, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		out = append(out, Object{Key: key, Size: fi.Size(), ModTime: fi.ModTime()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ingest: listing %s: %w", s.dir, err)
	}
	return out, nil
}

// Open opens the file with the given key; the caller closes it.
func (s *LocalSource) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := ValidKey(key); err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(s.dir, filepath.FromSlash(key)))
	if err != nil {
		return nil, fmt.Errorf("ingest: open %s: %w", key, err)
	}
	return f, nil
}

// Put writes size bytes from r to a temporary file (".<name>.<random>.tmp")
// beside the target, syncs it and renames it to key, so List never sees a
// partly written file. Missing directories are created. It fails if r gives
// fewer or more than size bytes; size < 0 means unknown.
func (s *LocalSource) Put(ctx context.Context, key string, r io.Reader, size int64) (err error) {
	if err := ValidKey(key); err != nil {
		return err
	}
	target := filepath.Join(s.dir, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return fmt.Errorf("ingest: put %s: %w", key, err)
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	tmp := filepath.Join(filepath.Dir(target), "."+filepath.Base(target)+"."+hex.EncodeToString(rnd[:])+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("ingest: put %s: %w", key, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	n, err := copyCtx(ctx, f, r)
	if err != nil {
		return fmt.Errorf("ingest: put %s: %w", key, err)
	}
	if size >= 0 && n != size {
		return fmt.Errorf("ingest: put %s: read %d bytes, want %d", key, n, size)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("ingest: put %s: %w", key, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("ingest: put %s: %w", key, err)
	}
	if err := os.Rename(tmp, target); err != nil {
		return fmt.Errorf("ingest: put %s: %w", key, err)
	}
	return nil
}

// copyCtx copies r to w through one 64 KiB buffer, checking ctx between
// reads, and returns the bytes copied. It never holds more than the buffer.
func copyCtx(ctx context.Context, w io.Writer, r io.Reader) (int64, error) {
	buf := make([]byte, 64<<10)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		m, err := r.Read(buf)
		if m > 0 {
			if _, werr := w.Write(buf[:m]); werr != nil {
				return n, werr
			}
			n += int64(m)
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}
