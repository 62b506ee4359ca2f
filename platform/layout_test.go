package platform_test

import (
	"bufio"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/logmesh/logmesh"

// goList runs `go list` in the module's root with args and returns its
// output lines.
func goList(t *testing.T, args ...string) []string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list"}, args...)...)
	cmd.Dir = moduleRoot(t)
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			stderr = ee.Stderr
		}
		t.Fatalf("go list %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		t.Fatalf("no go.mod above platform/: %v", err)
	}
	return dir
}

// TestLayout checks the house's dependency direction with `go list`:
// internal/ holds leaf mechanics only (it imports nothing above it and has
// no main), and a domain application's sdk pulls in no processor and not
// the platform.
func TestLayout(t *testing.T) {
	above := []string{module + "/platform", module + "/processors", module + "/projections", module + "/cmd", module + "/sdk"}
	for _, line := range goList(t, "-f", `{{.ImportPath}} {{.Name}} {{join .Imports " "}}`, "./internal/...") {
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		pkg, name := fields[0], fields[1]
		if name == "main" {
			t.Errorf("%s is a main package under internal/; mains live under cmd/ or bench/", pkg)
		}
		for _, imp := range fields[2:] {
			for _, a := range above {
				if imp == a || strings.HasPrefix(imp, a+"/") {
					t.Errorf("%s imports %s, which is above internal/", pkg, imp)
				}
			}
		}
	}
	for _, dep := range goList(t, "-deps", "./sdk") {
		if dep == module+"/platform" || strings.HasPrefix(dep, module+"/processors/") {
			t.Errorf("sdk depends on %s: a domain application would pull in the platform", dep)
		}
	}
}

// TestInternalShare: internal/ holds at most a quarter of the non-test Go
// lines (the platform's own concepts have top-level homes).
func TestInternalShare(t *testing.T) {
	root := moduleRoot(t)
	var total, internal int
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); name == ".git" || name == "testdata" || (strings.HasPrefix(name, ".") && path != root) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		n := 0
		for sc := bufio.NewScanner(bytes.NewReader(b)); sc.Scan(); {
			n++
		}
		total += n
		if rel, _ := filepath.Rel(root, path); strings.HasPrefix(rel, "internal"+string(filepath.Separator)) {
			internal += n
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	share := 100 * float64(internal) / float64(total)
	t.Logf("internal/ holds %d of %d non-test Go lines: %.1f%%", internal, total, share)
	if share > 25 {
		t.Errorf("internal/ holds %.1f%% of the non-test Go lines, more than 25%%", share)
	}
}
