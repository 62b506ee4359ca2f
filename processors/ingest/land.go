package ingest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ErrKeyWithManyFiles is returned by Land when a key is given for more than
// one file.
var ErrKeyWithManyFiles = errors.New("ingest: a key can name only one file")

// Land copies local files into the landing area src, as `logmesh land`
// does, and returns their keys in the order of files. A file lands under
// key if key is not empty (allowed with one file only), else under its base
// name. Each copy is atomic (see Source.Put); the watcher lands the files at
// its next scan. Land checks every file and key before copying any; if a
// copy fails, the files copied before it stay landed and their keys are
// returned with the error.
func Land(ctx context.Context, src Source, files []string, key string) ([]string, error) {
	if src == nil {
		return nil, errors.New("ingest: Land: nil Source")
	}
	if len(files) == 0 {
		return nil, errors.New("ingest: Land: no files")
	}
	if key != "" && len(files) > 1 {
		return nil, fmt.Errorf("%w (%d files given)", ErrKeyWithManyFiles, len(files))
	}
	keys := make([]string, len(files))
	byKey := map[string]string{}
	for i, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			return nil, fmt.Errorf("ingest: Land: %w", err)
		}
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("ingest: Land: %s is not a regular file", f)
		}
		k := key
		if k == "" {
			k = filepath.Base(f)
		}
		if IsSpooled(k) {
			return nil, fmt.Errorf("%w: %q is under %s, which the spool writes", ErrBadKey, k, SpoolPrefix)
		}
		if err := ValidKey(k); err != nil {
			return nil, fmt.Errorf("ingest: Land %s: %w", f, err)
		}
		if other, dup := byKey[k]; dup {
			return nil, fmt.Errorf("ingest: Land: %s and %s would both land as %q", other, f, k)
		}
		byKey[k] = f
		keys[i] = k
	}
	for i, f := range files {
		if err := put(ctx, src, f, keys[i]); err != nil {
			return keys[:i], err
		}
	}
	return keys, nil
}

// put copies one local file to src under key.
func put(ctx context.Context, src Source, file, key string) error {
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("ingest: Land: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("ingest: Land: %w", err)
	}
	if err := src.Put(ctx, key, f, fi.Size()); err != nil {
		return fmt.Errorf("ingest: Land %s: %w", file, err)
	}
	return nil
}
