package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/mesh"
	"github.com/logmesh/logmesh/platform"
	"github.com/logmesh/logmesh/processors/ingest"
)

// fakeBroker listens on 127.0.0.1 and hands each connection to serve,
// with a channel closed when the test ends; it counts the connections. It
// is no Kafka.
func fakeBroker(t *testing.T, serve func(c net.Conn, stop <-chan struct{})) (addr string, accepted *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted = new(atomic.Int32)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			wg.Go(func() {
				defer c.Close()
				serve(c, done)
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		close(done)
		wg.Wait()
	})
	return ln.Addr().String(), accepted
}

// refusedAddr is an address nothing listens on.
func refusedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// runLand runs the command line without a platform.
func runLand(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = run(ctx, args, &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestLandHelp(t *testing.T) {
	for _, flag := range []string{"--help", "-h", "-help"} {
		t.Run(flag, func(t *testing.T) {
			out, errOut, err := runLand(t, "land", flag)
			if err != nil {
				t.Fatalf("land %s: %v, want exit 0", flag, err)
			}
			for _, want := range []string{"Usage: logmesh land [flags] FILE|DIR...\n", "-prefix", "-key", "-landing", "-connect-timeout", "Global flags"} {
				if !strings.Contains(out, want) {
					t.Errorf("land %s printed no %q on stdout:\n%s", flag, want, out)
				}
			}
			if errOut != "" {
				t.Errorf("land %s wrote on stderr: %q", flag, errOut)
			}
		})
	}
	_, errOut, err := runLand(t, "land", "--no-such-flag", "x")
	if !errors.Is(err, errUsage) || !strings.Contains(errOut, "Usage: logmesh land") {
		t.Errorf("a bad flag: %v, stderr %q; want a usage error and the usage on stderr", err, errOut)
	}
	if _, _, err := runLand(t, "land"); !errors.Is(err, errUsage) {
		t.Errorf("no FILE or DIR: %v, want a usage error", err)
	}
	if _, _, err := runLand(t, "land", "a.csv", "--key", "k.csv", "--prefix", "lab/"); !errors.Is(err, errUsage) {
		t.Errorf("--key with --prefix: %v, want a usage error", err)
	}
}

// A missing path fails the command, naming the path, before anything
// reaches Kafka or the landing area.
func TestLandChecksPathsFirst(t *testing.T) {
	dir := t.TempDir()
	present := filepath.Join(dir, "present.csv")
	if err := os.WriteFile(present, []byte("a\n1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "sub", "missing.csv")
	landing := t.TempDir()
	tests := []struct {
		name string
		args []string
	}{
		{"platform's landing area", []string{"land", present, missing, "--prefix", "lab/"}},
		{"--landing", []string{"land", present, missing, "--prefix", "lab/", "--landing", landing}},
		{"a folder and a missing file", []string{"land", dir, missing}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, accepted := fakeBroker(t, func(net.Conn, <-chan struct{}) {})
			out, _, err := runLand(t, append([]string{"--brokers", addr}, tt.args...)...)
			if err == nil {
				t.Fatalf("land with a missing file succeeded: %q", out)
			}
			if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q: want one line naming %s", err, missing)
			}
			if errors.Is(err, errUsage) {
				t.Errorf("error %q is a usage error (exit 2); want exit 1", err)
			}
			if n := accepted.Load(); n != 0 {
				t.Errorf("%d connections to the broker before the paths were checked", n)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			if ents, _ := os.ReadDir(landing); len(ents) != 0 {
				t.Errorf("%d entries in the landing area, want none", len(ents))
			}
		})
	}
}

// With no Kafka to read the landing area from, land says so on one line
// that names the address and the next step, and shows nothing of the
// client's internals; it waits no longer than --connect-timeout.
func TestLandUnreachableBroker(t *testing.T) {
	file := filepath.Join(t.TempDir(), "a.csv")
	if err := os.WriteFile(file, []byte("a\n1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		addr   func(t *testing.T) string
		args   []string
		reason string
	}{
		{name: "nothing listens", addr: refusedAddr, reason: "connection refused"},
		{name: "a silent listener", addr: func(t *testing.T) string {
			addr, _ := fakeBroker(t, func(_ net.Conn, stop <-chan struct{}) { <-stop })
			return addr
		}, args: []string{"--connect-timeout", "1s"}, reason: "no answer within 1s"},
		{name: "an HTTP server", addr: func(t *testing.T) string {
			addr, _ := fakeBroker(t, func(c net.Conn, _ <-chan struct{}) {
				_, _ = c.Read(make([]byte, 64))
				_, _ = io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
			})
			return addr
		}, reason: "does not answer as a Kafka broker"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := tt.addr(t)
			start := time.Now()
			out, errOut, err := runLand(t, append([]string{"--brokers", addr, "land", file, "--prefix", "lab/"}, tt.args...)...)
			if took := time.Since(start); took > 20*time.Second {
				t.Errorf("land waited %s for an unreachable broker", took)
			}
			if err == nil {
				t.Fatalf("land succeeded with no Kafka: %q", out)
			}
			msg := err.Error()
			var ue *unreachableError
			if !errors.As(err, &ue) {
				t.Errorf("error %q is a %T, want an *unreachableError", msg, err)
			}
			for _, want := range []string{addr, tt.reason, "start `logmesh dev`", "--brokers HOST:PORT"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not say %q", msg, want)
				}
			}
			for _, noise := range []string{"\n", "^", "logview", "list topics", "unable to dial", "[a-z", "invalid large response", "franz"} {
				if strings.Contains(msg, noise) {
					t.Errorf("error %q shows %q", msg, noise)
				}
			}
			if strings.Contains(errOut, "^") || strings.Contains(errOut, "level=") {
				t.Errorf("stderr shows the client's noise: %q", errOut)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
		})
	}
	// -v adds what the client saw, still on one line.
	_, _, err := runLand(t, "--brokers", refusedAddr(t), "-v", "land", file)
	if err == nil || !strings.Contains(err.Error(), "connection refused") || !strings.Contains(err.Error(), " [") || strings.Contains(err.Error(), "\n") {
		t.Errorf("land -v: %v, want the cause in brackets on the one line", err)
	}
	// The default brokers are said to be the default (not run: something
	// may listen on 127.0.0.1:9092 here).
	def := &unreachableError{service: "Kafka", addr: "127.0.0.1:9092", defaulted: true, reason: "connection refused", next: nextStart}
	if msg := def.Error(); !strings.Contains(msg, "127.0.0.1:9092 (the default; connection refused)") {
		t.Errorf("on the default brokers: %q, want them called the default", msg)
	}
}

// The progress line: files done of the total, bytes, rates, ETA; at most
// five times a second, always the last file; finish ends the line.
func TestLandMeter(t *testing.T) {
	var buf bytes.Buffer
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	m := newLandMeter(&buf, func() time.Time { return now })
	step := func(d time.Duration, p ingest.Progress) string {
		now = now.Add(d)
		buf.Reset()
		m.update(p)
		return buf.String()
	}
	got := step(time.Second, ingest.Progress{Files: 1, Bytes: 2048, TotalFiles: 4, TotalBytes: 8192})
	for _, want := range []string{"\rlanding: 1/4 files", "2.0 KiB of 8.0 KiB", "2.0 KiB/s", "1 files/s", "ETA 3s"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q lacks %q", got, want)
		}
	}
	if got := step(100*time.Millisecond, ingest.Progress{Files: 2, Bytes: 4096, TotalFiles: 4, TotalBytes: 8192}); got != "" {
		t.Errorf("printed again within 200ms: %q", got)
	}
	if got := step(time.Millisecond, ingest.Progress{Files: 4, Bytes: 8192, TotalFiles: 4, TotalBytes: 8192}); !strings.Contains(got, "4/4 files") || !strings.Contains(got, "ETA 0s") {
		t.Errorf("the last file: %q, want 4/4 and ETA 0s", got)
	}
	buf.Reset()
	m.finish()
	if buf.String() != "\n" {
		t.Errorf("finish printed %q, want a newline", buf.String())
	}
}

func TestLandHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 5 << 20: "5.0 MiB", 3 << 30: "3.0 GiB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

// `land DIR --prefix lab/` lands a folder of 200 files in nested folders in
// one call: every key is lab/ + the file's path relative to DIR, in the
// landing area, and the watcher records each once.
func TestLandDirWithPrefix(t *testing.T) {
	var skip []string
	for _, n := range platform.ProcessorNames() {
		if n != "watcher" {
			skip = append(skip, n)
		}
	}
	cfg := platform.DevConfig{Config: platform.Config{DataDir: t.TempDir(), Mesh: &mesh.Mesh{},
		ScanInterval: 100 * time.Millisecond}, KafkaPort: -1, RegistryPort: -1, Skip: skip}
	e := startE2E(t, cfg)

	dir := t.TempDir()
	want := map[string]bool{}
	for i := range 200 {
		rel := fmt.Sprintf("d%d/s%d/f%03d.csv", i%4, i%7, i)
		if i%10 == 0 {
			rel = fmt.Sprintf("top%03d.csv", i)
		}
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, fmt.Appendf(nil, "id,v\nk%d,%d\n", i, i), 0o644); err != nil {
			t.Fatal(err)
		}
		want["lab/"+rel] = true
	}
	out, err := e.run("land", dir, "--prefix", "lab/")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "landed 200 files (") || !strings.HasSuffix(strings.TrimSpace(out), "/lab/") || strings.Count(out, "\n") != 1 {
		t.Errorf("land printed %q, want the one summary line", out)
	}

	objs, err := e.p.Landing.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range objs {
		got = append(got, o.Key)
		if !want[o.Key] {
			t.Errorf("unexpected key %q in the landing area", o.Key)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d keys in the landing area, want %d", len(got), len(want))
	}

	// The watcher records each file once: 200 FileLanded, each a file
	// of the audit (UNMATCHED: this mesh has no feed).
	e.awaitAudit("lab/", len(want))
	landed := map[string]int{}
	for _, ev := range readAll(t, e)[events.NameFileLanded] {
		landed[ev.(*events.FileLanded).Key]++
	}
	var keys []string
	for k, n := range landed {
		keys = append(keys, k)
		if !want[k] || n != 1 {
			t.Errorf("FileLanded %q %d times, want once and only for the folder's files", k, n)
		}
	}
	if len(keys) != len(want) {
		slices.Sort(keys)
		t.Errorf("%d keys landed (FileLanded), want %d", len(keys), len(want))
	}
}

// awaitAudit waits until the audit (files --json) holds n files whose keys
// start with prefix, each at a terminal status.
func (e *e2e) awaitAudit(prefix string, n int) {
	e.t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	errc := e.p.Err()
	for {
		files := e.files(0)
		done := 0
		for k, f := range files {
			if s := f["status"]; strings.HasPrefix(k, prefix) && (s == "UNMATCHED" || s == "PROCESSED" || s == "FAILED") {
				done++
			}
		}
		if done >= n {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%d of %d files under %s in the audit before the deadline", done, n, prefix)
		}
		select {
		case err, ok := <-errc:
			if ok {
				e.t.Fatalf("a processor stopped: %v", err)
			}
			errc = nil // none runs here
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// With Kafka up and the registry down, land names the registry, not Kafka.
func TestLandRegistryUnreachable(t *testing.T) {
	c := newCLI(t)
	file := filepath.Join(t.TempDir(), "a.csv")
	if err := os.WriteFile(file, []byte("a\n1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	reg := "http://" + refusedAddr(t)
	out, err := c.run("land", file, "--registry", reg)
	if err == nil {
		t.Fatalf("land with no registry succeeded: %q", out)
	}
	msg := err.Error()
	for _, want := range []string{"schema registry at " + reg, "connection refused", "--registry URL"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
	for _, noise := range []string{"\n", "^", "schemas/ids", "logmesh.central"} {
		if strings.Contains(msg, noise) {
			t.Errorf("error %q shows %q", msg, noise)
		}
	}
}
