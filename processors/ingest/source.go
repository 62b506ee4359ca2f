package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"time"
)

// ErrBadKey is returned (wrapped, with the key) for a landing key that is not
// a clean, relative, slash-separated path.
var ErrBadKey = errors.New("ingest: bad key")

// Object is one file in a landing area, as Source.List reports it.
type Object struct {
	// Key is the slash-separated path relative to the landing root
	// ("trades/2026-11-02.csv").
	Key string
	// Size is the size in bytes.
	Size int64
	// ModTime is the last modification time.
	ModTime time.Time
	// Version is the store's version id or ETag, "" when it has none (a
	// local directory). When it is set, the same (key, version) is assumed
	// to mean the same content, which lets a restarted watcher skip
	// re-hashing files it landed before.
	Version string
	// ContentType is the store's content type, "" when unknown. The watcher
	// prefers a type derived from the key's extension (see ContentType).
	ContentType string
}

// Source is one landing area: a local directory (LocalSource) or an S3
// bucket under a prefix (S3Source). Implementations must be safe for
// concurrent use.
//
// A Source that also has a method Bucket() string is an object store: its
// files land with FileLanded.Source = events.SourceS3 and Bucket set. Every
// other Source lands files with events.SourceLocal and no bucket.
type Source interface {
	// List returns every object in the landing area, temporary files
	// excluded, in no particular order.
	List(ctx context.Context) ([]Object, error)
	// Open opens the object with the given key for reading; the caller
	// closes the reader. A missing object gives an error wrapping
	// fs.ErrNotExist.
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	// Put stores size bytes from r under key so that List never shows a
	// partly written object; an existing object is replaced.
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	// Name returns "local" for a directory, or the bucket name.
	Name() string
}

// bucketer is the optional capability of an object-store Source.
type bucketer interface{ Bucket() string }

// ValidKey reports whether key can name a landed file: non-empty, relative,
// slash-separated, clean (no "." or ".." elements, no empty elements, no
// trailing slash), without backslashes or NUL bytes, and not a temporary
// name (see IsTemp).
func ValidKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty", ErrBadKey)
	case len(key) > 1024:
		return fmt.Errorf("%w: %d bytes, more than 1024", ErrBadKey, len(key))
	case strings.ContainsAny(key, "\\\x00"):
		return fmt.Errorf("%w: %q contains a backslash or NUL", ErrBadKey, key)
	case strings.HasPrefix(key, "/"):
		return fmt.Errorf("%w: %q is absolute", ErrBadKey, key)
	case slices.Contains(strings.Split(key, "/"), ".."):
		return fmt.Errorf("%w: %q has a \"..\" segment, which would leave the landing root", ErrBadKey, key)
	case path.Clean(key) != key:
		return fmt.Errorf("%w: %q is not clean (want %q)", ErrBadKey, key, path.Clean(key))
	case key == ".":
		return fmt.Errorf("%w: %q is the landing root itself", ErrBadKey, key)
	case IsTemp(key):
		return fmt.Errorf("%w: %q is a temporary name the watcher ignores", ErrBadKey, key)
	}
	return nil
}

// IsTemp reports whether a key names a temporary file the watcher ignores:
// one whose path has an element starting with "." or whose name ends in
// ".tmp" or ".part". Writers that cannot rename atomically can upload under
// such a name and rename when done.
func IsTemp(key string) bool {
	for el := range strings.SplitSeq(key, "/") {
		if strings.HasPrefix(el, ".") {
			return true
		}
	}
	base := path.Base(key)
	return strings.HasSuffix(base, ".tmp") || strings.HasSuffix(base, ".part")
}

// SpoolPrefix is the part of the landing area the spool processor
// (processors/spool) writes the records of topic feeds to, as NDJSON
// files it lands itself. The watcher passes over keys under it, and Land
// refuses them.
const SpoolPrefix = "_spool/"

// IsSpooled reports whether key lies under SpoolPrefix.
func IsSpooled(key string) bool { return strings.HasPrefix(key, SpoolPrefix) }

// ContentType returns the content type for a key by its extension
// (case-insensitive), or "" for an unknown extension. The table is fixed
// here, not read from the system's MIME tables, so that the same key gives
// the same content type on every machine.
func ContentType(key string) string {
	switch strings.ToLower(path.Ext(key)) {
	case ".csv":
		return "text/csv"
	case ".tsv":
		return "text/tab-separated-values"
	case ".txt", ".dat":
		return "text/plain"
	case ".json":
		return "application/json"
	case ".ndjson", ".jsonl":
		return "application/x-ndjson"
	case ".xml":
		return "application/xml"
	case ".avro":
		return "application/avro"
	case ".parquet":
		return "application/vnd.apache.parquet"
	case ".gz":
		return "application/gzip"
	case ".zip":
		return "application/zip"
	case ".zst":
		return "application/zstd"
	}
	return ""
}
