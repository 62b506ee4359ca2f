package ingest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ErrKeyWithManyFiles is returned by Land and Plan when a key is given for
// more than one file, or for a folder.
var ErrKeyWithManyFiles = errors.New("ingest: a key can name only one file")

// ErrNotLandable is returned by Plan for a path given to it that is
// neither a regular file nor a folder (a socket, a device).
var ErrNotLandable = errors.New("ingest: not a regular file or folder")

// KeyOptions say which keys Plan gives the files it finds. The zero value
// gives each file given by name its base name, and each file found in a
// folder its path relative to that folder.
type KeyOptions struct {
	// Key is the key of the one file given. It cannot go with Prefix,
	// with a folder or with more than one file. Default "": see Prefix.
	Key string
	// Prefix goes, as given, before every key: a file given by name lands
	// under Prefix + its base name, a file found in a folder under Prefix
	// + its path relative to that folder, with "/" separators. End it with
	// "/" to land under a folder ("lab/"). It may not be absolute, hold a
	// ".." or "." segment, a backslash or NUL. Default "".
	Prefix string
}

// Landing is one local file to copy into a landing area and the key it
// lands under. It is plain data.
type Landing struct {
	// Path is the local file.
	Path string
	// Key is the landing key, slash-separated.
	Key string
	// Size is the file's size in bytes when Plan saw it.
	Size int64
}

// Skipped is an entry of a folder that Plan leaves out, and why.
type Skipped struct {
	// Path is the local path of the entry.
	Path string
	// Reason says why it is left out.
	Reason string
}

// Plan resolves paths (files, and folders walked recursively) into the
// files to land, with their keys (see KeyOptions), in the order of paths
// and, within a folder, in lexical order. It reads the local file system
// only, and checks everything before Copy copies anything: each path must
// exist and be a regular file or a folder, and each key must be valid
// (ValidKey), outside SpoolPrefix and given once. It returns every problem
// at once, one per line, each naming its path.
//
// In a folder, hidden and temporary names (IsTemp, such as .git or
// x.csv.part: the watcher would ignore them), symbolic links to folders
// (not followed) and anything but regular files are left out and
// returned as skipped. A symbolic link to a regular file is followed.
func Plan(paths []string, opts KeyOptions) ([]Landing, []Skipped, error) {
	if len(paths) == 0 {
		return nil, nil, errors.New("ingest: land: no files")
	}
	if opts.Key != "" && opts.Prefix != "" {
		return nil, nil, fmt.Errorf("ingest: land: a key (%q) and a prefix (%q) together: give one", opts.Key, opts.Prefix)
	}
	if opts.Key != "" && len(paths) > 1 {
		return nil, nil, fmt.Errorf("%w (%d files given)", ErrKeyWithManyFiles, len(paths))
	}
	if err := validPrefix(opts.Prefix); err != nil {
		return nil, nil, err
	}
	var (
		out     []Landing
		skipped []Skipped
		errs    []error
		byKey   = map[string]string{}
	)
	add := func(path, rel string, size int64) {
		key := opts.Key
		if key == "" {
			key = opts.Prefix + filepath.ToSlash(rel)
		}
		switch err := ValidKey(key); {
		case IsSpooled(key):
			errs = append(errs, fmt.Errorf("ingest: land %s: %w: %q is under %s, which the spool writes", path, ErrBadKey, key, SpoolPrefix))
		case err != nil:
			errs = append(errs, fmt.Errorf("ingest: land %s: %w", path, err))
		case byKey[key] != "":
			errs = append(errs, fmt.Errorf("ingest: land: %s and %s would both land as %q", byKey[key], path, key))
		default:
			byKey[key] = path
			out = append(out, Landing{Path: path, Key: key, Size: size})
		}
	}
	for _, p := range paths {
		fi, err := os.Stat(p)
		switch {
		case err != nil:
			errs = append(errs, statError(p, err))
		case fi.Mode().IsRegular():
			add(p, filepath.Base(p), fi.Size())
		case fi.IsDir() && opts.Key != "":
			errs = append(errs, fmt.Errorf("%w (%s is a folder)", ErrKeyWithManyFiles, p))
		case fi.IsDir():
			found, s, err := walk(p, add)
			skipped = append(skipped, s...)
			switch {
			case err != nil:
				errs = append(errs, err)
			case found == 0:
				errs = append(errs, fmt.Errorf("ingest: land %s: no files in the folder (%d left out)", p, len(s)))
			}
		default:
			errs = append(errs, fmt.Errorf("ingest: land %s: %w (%s)", p, ErrNotLandable, modeName(fi.Mode())))
		}
	}
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	return out, skipped, nil
}

// walk calls add for each regular file under dir, with its path relative
// to dir, and returns how many it found and what it left out.
func walk(dir string, add func(path, rel string, size int64)) (int, []Skipped, error) {
	var (
		found   int
		skipped []Skipped
	)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return statError(p, err)
		}
		if p == dir {
			return nil
		}
		if IsTemp(d.Name()) {
			skipped = append(skipped, Skipped{Path: p, Reason: "a hidden or temporary name"})
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		fi, err := os.Stat(p) // follows a symbolic link
		switch {
		case err != nil:
			return statError(p, err)
		case fi.IsDir():
			skipped = append(skipped, Skipped{Path: p, Reason: "a symbolic link to a folder (not followed)"})
			return nil
		case !fi.Mode().IsRegular():
			skipped = append(skipped, Skipped{Path: p, Reason: "not a regular file (" + modeName(fi.Mode()) + ")"})
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return fmt.Errorf("ingest: land %s: %w", p, err)
		}
		found++
		add(p, rel, fi.Size())
		return nil
	})
	return found, skipped, err
}

// modeName names the type of a file that is neither regular nor a folder.
func modeName(m fs.FileMode) string {
	switch {
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "an irregular file"
}

// statError is the error of a path that cannot be read: "ingest: land
// PATH: no such file or directory", which errors.Is matches with
// fs.ErrNotExist.
func statError(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("ingest: land %s: %w", path, err)
}

// validPrefix checks a key prefix: relative, no "." or ".." segment, no
// empty segment but the last, no backslash or NUL.
func validPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	bad := func(why string) error {
		return fmt.Errorf("ingest: land: prefix %q %s: %w", prefix, why, ErrBadKey)
	}
	if strings.ContainsAny(prefix, "\\\x00") {
		return bad("contains a backslash or NUL")
	}
	if strings.HasPrefix(prefix, "/") {
		return bad("is absolute; keys are relative to the landing area")
	}
	segs := strings.Split(prefix, "/")
	for i, s := range segs {
		switch {
		case s == "..":
			return bad(`has a ".." segment, which would leave the landing area`)
		case s == ".":
			return bad(`has a "." segment`)
		case s == "" && i < len(segs)-1:
			return bad(`has an empty segment ("//")`)
		}
	}
	return nil
}

// Progress is how far Copy has got. It is plain data.
type Progress struct {
	// Files and Bytes are the files and bytes copied so far.
	Files int
	Bytes int64
	// TotalFiles and TotalBytes are those of every file to copy.
	TotalFiles int
	TotalBytes int64
}

// Copy copies the files of landings (from Plan) into the landing area src,
// in order, each atomically (see Source.Put); the watcher lands them at its
// next scan. After each file it calls progress, if not nil, on the calling
// goroutine. It returns the keys copied; if a copy fails, the files copied
// before it stay landed and their keys are returned with the error.
func Copy(ctx context.Context, src Source, landings []Landing, progress func(Progress)) ([]string, error) {
	if src == nil {
		return nil, errors.New("ingest: land: nil Source")
	}
	p := Progress{TotalFiles: len(landings)}
	for _, l := range landings {
		p.TotalBytes += l.Size
	}
	keys := make([]string, 0, len(landings))
	for _, l := range landings {
		n, err := put(ctx, src, l.Path, l.Key)
		if err != nil {
			return keys, err
		}
		keys = append(keys, l.Key)
		p.Files++
		p.Bytes += n
		if progress != nil {
			progress(p)
		}
	}
	return keys, nil
}

// Land copies local files (or the files of folders) into the landing area
// src, as `logmesh land` does, and returns their keys in order. A file
// lands under key if key is not empty (allowed with one file only), else
// under its base name, or its path relative to the folder given. Land
// checks every path and key before copying any (see Plan; what Plan skips
// in a folder is not landed); if a copy fails, the files copied before it
// stay landed and their keys are returned with the error.
func Land(ctx context.Context, src Source, files []string, key string) ([]string, error) {
	if src == nil {
		return nil, errors.New("ingest: land: nil Source")
	}
	landings, _, err := Plan(files, KeyOptions{Key: key})
	if err != nil {
		return nil, err
	}
	return Copy(ctx, src, landings, nil)
}

// put copies one local file to src under key and returns its size.
func put(ctx context.Context, src Source, file, key string) (int64, error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, statError(file, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, statError(file, err)
	}
	if err := src.Put(ctx, key, f, fi.Size()); err != nil {
		return 0, fmt.Errorf("ingest: land %s: %w", file, err)
	}
	return fi.Size(), nil
}
