// Package examples embeds the example mesh that `logmesh dev` loads when it
// is given no --config: a raw domain with trades (CSV), securities (JSON),
// accounts (XML) and positions (fixed-width) feeds, and files for each.
package examples

import (
	"embed"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/logmesh/logmesh/mesh"
)

// FS holds mesh.yaml and the files under landing/. It is read-only.
//
//go:embed mesh.yaml landing
var FS embed.FS

// Mesh returns the example mesh (mesh.yaml), parsed.
func Mesh() (*mesh.Mesh, error) {
	data, err := FS.ReadFile("mesh.yaml")
	if err != nil {
		return nil, err
	}
	return mesh.Parse(data, "examples/mesh.yaml", ".")
}

// SeedLanding copies the example files into an empty or missing landing
// directory, so a first `logmesh dev` has files to load; a directory that
// holds anything is left as it is.
func SeedLanding(dir string) error {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return nil
	}
	return fs.WalkDir(FS, "landing", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := FS.ReadFile(path)
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(path, "landing/")))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o644)
	})
}
