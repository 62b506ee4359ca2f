package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/logmesh/logmesh/processors/ingest"
)

// traversalKeys are landing keys that would leave the landing area or
// name something it cannot hold.
var traversalKeys = []string{
	"../../etc/passwd",
	"../outside.csv",
	"/etc/passwd",
	"/tmp/outside.csv",
	"a/../../b.csv",
	"a/../b.csv",
	"..",
	".",
	"./a.csv",
	"a//b.csv",
	"a\x00b.csv",
	"a\\..\\..\\b.csv",
	"..\\outside.csv",
	"",
}

// Hostile landing keys are refused, with a reason, by every way into the
// landing area — `logmesh land --key` and --prefix, ingest.Land, and
// LocalSource.Put — and nothing is written anywhere: the landing area sits
// three folders deep in a temporary root whose whole tree is checked.
func TestHostileTraversalKeys(t *testing.T) {
	root := t.TempDir()
	landing := filepath.Join(root, "x", "y", "landing")
	if err := os.MkdirAll(landing, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(root, "x", "y", "in.csv")
	if err := os.WriteFile(file, []byte("a,b\nx,1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := ingest.NewLocalSource(landing)
	if err != nil {
		t.Fatal(err)
	}
	var rows []hostileRow
	refused := func(via, key string, err error, wantBadKey bool) {
		t.Helper()
		row := hostileRow{via + " " + strings.ReplaceAll(strings.ReplaceAll(quote(key), "\x00", `\x00`), "\n", ""), "REFUSED", ""}
		switch {
		case err == nil:
			row.outcome = "LANDED"
			t.Errorf("%s %q: accepted", via, key)
		case err.Error() == "":
			t.Errorf("%s %q: refused without a reason", via, key)
		case wantBadKey && !errors.Is(err, ingest.ErrBadKey):
			t.Errorf("%s %q: %v, want an error wrapping ingest.ErrBadKey", via, key, err)
		default:
			row.reason = err.Error()
		}
		rows = append(rows, row)
	}
	for _, key := range traversalKeys {
		// An empty --key or key is no key (the base name), fine for
		// land; only Put takes it as a key.
		if key != "" {
			_, _, err := runLand(t, "land", "--landing", landing, "--key", key, file)
			refused("land --key", key, err, true)
			_, _, err = runLand(t, "land", "--landing", landing, "--prefix", key+"/", file)
			refused("land --prefix", key+"/", err, true)
			_, err = ingest.Land(context.Background(), src, []string{file}, key)
			refused("ingest.Land", key, err, true)
		}
		err := src.Put(context.Background(), key, strings.NewReader("a,b\nx,1\n"), 8)
		refused("LocalSource.Put", key, err, true)
	}
	logTable(t, rows)

	// Nothing but the input file and the (empty) landing area, anywhere
	// under root.
	err = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch p {
		case root, filepath.Join(root, "x"), filepath.Join(root, "x", "y"), landing, file:
			return nil
		}
		t.Errorf("written by a refused landing: %s", p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// quote renders a key for the table.
func quote(key string) string { return "\"" + key + "\"" }
