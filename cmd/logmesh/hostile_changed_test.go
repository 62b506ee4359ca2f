package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logmesh/logmesh/mesh"
	"github.com/logmesh/logmesh/platform"
)

// A file that changes in the landing area after it landed (appended,
// truncated, rewritten in place with the same size, emptied) is never
// loaded torn: the loader checksums what it parses against the checksum
// the file landed with, so the version that landed fails at stage read
// with the change as its reason (the checksum, or the size when the new
// content does not even parse) and none of its rows; the watcher sees
// the new size or modification time and lands the new content as a new
// file, which loads on its own. The platform runs without its loader until
// every first version is batched, so each change is made, for certain,
// between the landing and the load.
func TestHostileFileChangedAfterLanding(t *testing.T) {
	m, err := mesh.Load(filepath.Join(corpusDir, "mesh.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := platform.DevConfig{Config: platform.Config{
		DataDir: t.TempDir(), Mesh: m, AdminAddr: "127.0.0.1:0",
		PlanInterval: 300 * time.Millisecond, ScanInterval: 200 * time.Millisecond,
	}, KafkaPort: -1, RegistryPort: -1, Skip: []string{"loader"}}
	e := startE2E(t, cfg)
	local := e.p.Env.Config.Landing
	if strings.HasPrefix(local, "s3://") {
		t.Skip("the change is made on a local landing area")
	}

	const first = "a,b\nx,1\ny,2\n"
	cases := []struct {
		key    string
		change func(path string) error
		later  string // the content after the change
		status string // the later version's
		rows   int64
	}{
		{"csv/changed-append.csv", func(p string) error { return appendTo(p, "z,3\n") }, first + "z,3\n", "PROCESSED", 3},
		{"csv/changed-truncate.csv", func(p string) error { return os.Truncate(p, int64(len("a,b\nx,1\n"))) }, "a,b\nx,1\n", "PROCESSED", 1},
		{"csv/changed-same-size.csv", func(p string) error { return writeAt(p, "9", int64(len(first)-2)) }, "a,b\nx,1\ny,9\n", "PROCESSED", 2},
		{"csv/changed-emptied.csv", func(p string) error { return os.Truncate(p, 0) }, "", "FAILED", 0},
	}
	want := map[string]string{}
	for _, c := range cases {
		e.land(c.key, first)
		want[c.key] = "BATCHED"
	}
	e.awaitStatuses(want) // every first version is in a batch no loader has read
	for _, c := range cases {
		if err := c.change(filepath.Join(local, filepath.FromSlash(c.key))); err != nil {
			t.Fatal(err)
		}
	}
	// The loader, started now, in this process, on the platform's log,
	// landing area and warehouse.
	lcfg := e.p.Env.Config
	lcfg.AdminAddr, lcfg.RecordMesh, lcfg.Metrics = "", false, nil
	loader, err := platform.Start(context.Background(), lcfg, "loader")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { loader.Close() })

	sum := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	byVersion := e.awaitVersions(2*len(cases), func(f fileJSON) bool {
		return f.Status == "PROCESSED" || f.Status == "FAILED"
	})
	var rows []hostileRow
	for _, c := range cases {
		v1, v2 := byVersion[c.key+"@"+sum(first)], byVersion[c.key+"@"+sum(c.later)]
		if v1.Status != "FAILED" || !strings.HasPrefix(v1.Error, "read: ") || !strings.Contains(v1.Error, "changed after it landed") || v1.RowsWritten != 0 {
			t.Errorf("%s, the version that landed: %s %q, %d rows written; want FAILED at read on the change, none written", c.key, v1.Status, v1.Error, v1.RowsWritten)
		}
		if v2.Status != c.status || v2.RowsWritten != c.rows {
			t.Errorf("%s, the changed content: %s %q, %d rows written; want %s, %d", c.key, v2.Status, v2.Error, v2.RowsWritten, c.status, c.rows)
		}
		rows = append(rows, hostileRow{c.key + " (as landed)", v1.Status, reasonOf(v1)},
			hostileRow{c.key + " (changed)", v2.Status, orOK(v2)})
	}
	logTable(t, rows)
}

// orOK is a file's reason, or what it loaded if it has none.
func orOK(f fileJSON) string {
	if r := reasonOf(f); r != "" {
		return r
	}
	return fmt.Sprintf("ok: %d rows written, none rejected", f.RowsWritten)
}

// awaitVersions waits until n file versions satisfy ok and returns every
// version by "key@checksum".
func (e *e2e) awaitVersions(n int, ok func(fileJSON) bool) map[string]fileJSON {
	e.t.Helper()
	out := map[string]fileJSON{}
	e.awaitFiles(n, "final", func(f fileJSON) bool {
		out[f.Key+"@"+f.Checksum] = f
		return ok(f)
	})
	return out
}

func appendTo(path, s string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(s); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func writeAt(path, s string, off int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt([]byte(s), off); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
