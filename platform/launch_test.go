package platform

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func testPlatform(stop time.Duration, names ...string) *Platform {
	env := &Env{Config: Config{StopTimeout: stop, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}}
	return &Platform{Env: env, Names: names, log: env.Config.Logger, status: &statuses{}, done: make(chan struct{}), errc: make(chan error, 1)}
}

// The first processor to fail stops the others; Err delivers it once and is
// then closed; Close returns it.
func TestFirstFailureStopsTheRest(t *testing.T) {
	p := testPlatform(time.Minute, "ok", "broken", "ok2")
	stopped := make(chan string, 2)
	waits := func(name string) Processor {
		return RunFunc(func(ctx context.Context) error {
			<-ctx.Done()
			stopped <- name
			return nil
		})
	}
	boom := errors.New("boom")
	p.launch(context.Background(), []Processor{waits("ok"), RunFunc(func(context.Context) error { return boom }), waits("ok2")})
	err := <-p.Err()
	if !errors.Is(err, boom) || !strings.HasPrefix(err.Error(), "broken: ") {
		t.Fatalf("Err = %v, want broken's error", err)
	}
	for range 2 {
		<-stopped
	}
	if _, open := <-p.Err(); open {
		t.Fatal("Err delivered a second value")
	}
	if err := p.Close(); !errors.Is(err, boom) {
		t.Fatalf("Close = %v, want the failure", err)
	}
	for _, st := range p.Processors() {
		if st.State != StateStopped || (st.Name == "broken") != (st.Error == "boom") {
			t.Errorf("status %+v", st)
		}
	}
}

// Close returns within StopTimeout even when a processor ignores its
// context, naming the timeout; it is idempotent.
func TestCloseNeverBlocks(t *testing.T) {
	p := testPlatform(50*time.Millisecond, "stuck")
	release := make(chan struct{})
	defer close(release)
	p.launch(context.Background(), []Processor{RunFunc(func(context.Context) error { <-release; return nil })})
	if err := p.Close(); err == nil || !strings.Contains(err.Error(), "did not stop") {
		t.Fatalf("Close = %v, want a timeout error", err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
}
