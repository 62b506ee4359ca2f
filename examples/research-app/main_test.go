package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logmesh/logmesh/examples"
	"github.com/logmesh/logmesh/platform"
	"github.com/logmesh/logmesh/sdk"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The example application, on a dev running the example mesh: the router
// delivers raw.trades' first version to research's inbox, and the app reads
// that version's rows through the SDK.
func TestResearchApp(t *testing.T) {
	ctx := context.Background()
	d, err := platform.StartDev(ctx, exampleDev(t))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var out syncBuffer
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- run(runCtx, sdk.Config{Domain: "research", Kafka: sdk.Kafka{Brokers: d.Embedded.Kafka.Brokers},
			Registry: d.Env.Config.RegistryURL, Products: []string{"raw.trades"}}, &out)
	}()
	// The example trades once both files are in: T0001 BUY 100, T0002 SELL
	// 60, T0003 BUY 20, T0006 BUY 75, T0007 SELL 15.
	deadline := time.Now().Add(2 * time.Minute)
	const want = "(5 rows): BUY 3 trades, qty 195; SELL 2 trades, qty 75;"
	for !strings.Contains(out.String(), want) {
		select {
		case err := <-done:
			t.Fatalf("the app stopped: %v\n%s", err, out.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no refresh reached the app:\n%s", out.String())
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := out.String()
	if !strings.Contains(got, "following logmesh.research.inbox for raw.trades") || !strings.Contains(got, "raw.trades version ") {
		t.Errorf("the app printed:\n%s", got)
	}
}

// exampleDev is a dev platform's configuration on the example mesh, with
// its files, in a fresh data directory.
func exampleDev(t *testing.T) platform.DevConfig {
	t.Helper()
	m, err := examples.Mesh()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := examples.SeedLanding(filepath.Join(dir, "landing")); err != nil {
		t.Fatal(err)
	}
	return platform.DevConfig{Config: platform.Config{DataDir: dir, Mesh: m,
		PlanInterval: 300 * time.Millisecond, ScanInterval: 200 * time.Millisecond}, KafkaPort: -1, RegistryPort: -1}
}
