package ingest_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/logmesh/logmesh/processors/ingest"
)

// tree writes files (slash-separated path → content) under a new folder
// and returns it.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// Plan's keys: the prefix as given before the base name of a file given by
// name, or before the path relative to the folder given; keys that would
// leave the landing area are refused, naming the path or the prefix.
func TestPlanKeys(t *testing.T) {
	nested := tree(t, map[string]string{"a/b.csv": "1", "a/deep/er/c.csv": "22", "d.csv": "333"})
	other := tree(t, map[string]string{"d.csv": "4"})
	file := filepath.Join(nested, "d.csv")
	missing := filepath.Join(t.TempDir(), "nope.csv")
	tests := []struct {
		name    string
		paths   []string
		opts    ingest.KeyOptions
		want    []string
		wantErr error    // checked with errors.Is when set
		errHas  []string // substrings of the error
	}{
		{name: "file by base name", paths: []string{file}, want: []string{"d.csv"}},
		{name: "file with a prefix", paths: []string{file}, opts: ingest.KeyOptions{Prefix: "lab/"}, want: []string{"lab/d.csv"}},
		{name: "file with a key", paths: []string{file}, opts: ingest.KeyOptions{Key: "in/x.csv"}, want: []string{"in/x.csv"}},
		{name: "nested folder with a prefix", paths: []string{nested}, opts: ingest.KeyOptions{Prefix: "lab/"},
			want: []string{"lab/a/b.csv", "lab/a/deep/er/c.csv", "lab/d.csv"}},
		{name: "nested folder without a prefix", paths: []string{nested},
			want: []string{"a/b.csv", "a/deep/er/c.csv", "d.csv"}},
		{name: "deep prefix", paths: []string{nested}, opts: ingest.KeyOptions{Prefix: "lab/2026/11/"},
			want: []string{"lab/2026/11/a/b.csv", "lab/2026/11/a/deep/er/c.csv", "lab/2026/11/d.csv"}},
		{name: "prefix joined as given", paths: []string{file}, opts: ingest.KeyOptions{Prefix: "lab/run1-"}, want: []string{"lab/run1-d.csv"}},
		{name: "folder and file in order", paths: []string{other, filepath.Join(nested, "a", "b.csv")}, opts: ingest.KeyOptions{Prefix: "p/"},
			want: []string{"p/d.csv", "p/b.csv"}},
		{name: "prefix with ..", paths: []string{nested}, opts: ingest.KeyOptions{Prefix: "../up/"}, wantErr: ingest.ErrBadKey, errHas: []string{`"../up/"`, `".."`}},
		{name: "prefix with .. inside", paths: []string{file}, opts: ingest.KeyOptions{Prefix: "lab/../../x/"}, wantErr: ingest.ErrBadKey, errHas: []string{`".."`}},
		{name: "prefix that is only ..", paths: []string{file}, opts: ingest.KeyOptions{Prefix: ".."}, wantErr: ingest.ErrBadKey},
		{name: "absolute prefix", paths: []string{file}, opts: ingest.KeyOptions{Prefix: "/etc/"}, wantErr: ingest.ErrBadKey, errHas: []string{"absolute"}},
		{name: "prefix with //", paths: []string{file}, opts: ingest.KeyOptions{Prefix: "a//b/"}, wantErr: ingest.ErrBadKey},
		{name: "prefix with a backslash", paths: []string{file}, opts: ingest.KeyOptions{Prefix: `a\b/`}, wantErr: ingest.ErrBadKey},
		{name: "prefix into the spool", paths: []string{file}, opts: ingest.KeyOptions{Prefix: ingest.SpoolPrefix}, wantErr: ingest.ErrBadKey, errHas: []string{file}},
		{name: "hidden prefix", paths: []string{file}, opts: ingest.KeyOptions{Prefix: ".staging/"}, wantErr: ingest.ErrBadKey},
		{name: "key with ..", paths: []string{file}, opts: ingest.KeyOptions{Key: "a/../../x.csv"}, wantErr: ingest.ErrBadKey, errHas: []string{`".."`}},
		{name: "key for a folder", paths: []string{nested}, opts: ingest.KeyOptions{Key: "x.csv"}, wantErr: ingest.ErrKeyWithManyFiles, errHas: []string{nested}},
		{name: "key for two files", paths: []string{file, file}, opts: ingest.KeyOptions{Key: "x.csv"}, wantErr: ingest.ErrKeyWithManyFiles},
		{name: "key and prefix", paths: []string{file}, opts: ingest.KeyOptions{Key: "x.csv", Prefix: "lab/"}, errHas: []string{"prefix"}},
		{name: "same key from two folders", paths: []string{nested, other}, errHas: []string{`"d.csv"`, file, filepath.Join(other, "d.csv")}},
		{name: "missing file", paths: []string{file, missing}, wantErr: fs.ErrNotExist, errHas: []string{missing}},
		{name: "no paths", errHas: []string{"no files"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := ingest.Plan(tt.paths, tt.opts)
			if tt.want == nil {
				if err == nil {
					t.Fatalf("Plan = %v, want an error", got)
				}
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Errorf("Plan: %v, want %v", err, tt.wantErr)
				}
				for _, s := range tt.errHas {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("Plan: %q does not say %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, l := range got {
				keys = append(keys, l.Key)
			}
			if !slices.Equal(keys, tt.want) {
				t.Errorf("keys %q, want %q", keys, tt.want)
			}
		})
	}
}

// Every missing path is named, one line each, and nothing else is planned.
func TestPlanNamesEveryMissingPath(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.csv"), filepath.Join(dir, "sub", "b.csv")
	got, _, err := ingest.Plan([]string{a, tree(t, map[string]string{"x.csv": "1"}), b}, ingest.KeyOptions{Prefix: "lab/"})
	if err == nil || got != nil {
		t.Fatalf("Plan = %v, %v; want an error and nothing", got, err)
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], a) || !strings.Contains(lines[1], b) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %q: want one line for %s, one for %s", err, a, b)
	}
}

// In a folder, hidden and temporary names and symbolic links to folders are
// left out and reported; a symbolic link to a file is followed; a folder
// with nothing to land is an error.
func TestPlanSkips(t *testing.T) {
	dir := tree(t, map[string]string{
		"a.csv": "1", ".DS_Store": "x", ".git/config": "x", "up.csv.part": "x", "sub/.hidden.csv": "x", "sub/b.csv": "2",
	})
	target := tree(t, map[string]string{"t.csv": "333"})
	if err := os.Symlink(filepath.Join(target, "t.csv"), filepath.Join(dir, "link.csv")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(dir, "linkdir")); err != nil {
		t.Fatal(err)
	}
	got, skipped, err := ingest.Plan([]string{dir}, ingest.KeyOptions{Prefix: "lab/"})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, l := range got {
		keys = append(keys, l.Key)
	}
	if want := []string{"lab/a.csv", "lab/link.csv", "lab/sub/b.csv"}; !slices.Equal(keys, want) {
		t.Errorf("keys %q, want %q", keys, want)
	}
	if got[1].Size != 3 {
		t.Errorf("the linked file's size is %d, want 3 (its target's)", got[1].Size)
	}
	var left []string
	for _, s := range skipped {
		rel, _ := filepath.Rel(dir, s.Path)
		left = append(left, filepath.ToSlash(rel))
		if s.Reason == "" {
			t.Errorf("%s skipped without a reason", s.Path)
		}
	}
	if want := []string{".DS_Store", ".git", "linkdir", "sub/.hidden.csv", "up.csv.part"}; !slices.Equal(left, want) {
		t.Errorf("skipped %q, want %q", left, want)
	}

	empty := tree(t, map[string]string{".only-hidden": "x"})
	if _, _, err := ingest.Plan([]string{empty}, ingest.KeyOptions{}); err == nil || !strings.Contains(err.Error(), empty) {
		t.Errorf("a folder with nothing to land: %v, want an error naming it", err)
	}
}

// Copy reports its progress after each file, and the landing area holds
// every file under its key.
func TestCopyProgress(t *testing.T) {
	dir := tree(t, map[string]string{"a/1.csv": "1", "a/2.csv": "22", "b/3.csv": "333"})
	src, err := ingest.NewLocalSource(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	plan, _, err := ingest.Plan([]string{dir}, ingest.KeyOptions{Prefix: "lab/"})
	if err != nil {
		t.Fatal(err)
	}
	var seen []ingest.Progress
	keys, err := ingest.Copy(context.Background(), src, plan, func(p ingest.Progress) { seen = append(seen, p) })
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"lab/a/1.csv", "lab/a/2.csv", "lab/b/3.csv"}; !slices.Equal(keys, want) {
		t.Errorf("keys %q, want %q", keys, want)
	}
	want := []ingest.Progress{
		{Files: 1, Bytes: 1, TotalFiles: 3, TotalBytes: 6},
		{Files: 2, Bytes: 3, TotalFiles: 3, TotalBytes: 6},
		{Files: 3, Bytes: 6, TotalFiles: 3, TotalBytes: 6},
	}
	if !slices.Equal(seen, want) {
		t.Errorf("progress %+v, want %+v", seen, want)
	}
	for _, k := range keys {
		if _, err := os.Stat(filepath.Join(src.Dir(), filepath.FromSlash(k))); err != nil {
			t.Errorf("%s not in the landing area: %v", k, err)
		}
	}
}
