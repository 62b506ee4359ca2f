package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/logmesh/logmesh/platform"
)

// The apply progress line: the stage, done of total, a rate and an ETA;
// at most five times a second but always at a stage's start and end; a
// new stage counts its rate afresh; finish ends the line.
func TestApplyMeter(t *testing.T) {
	var buf bytes.Buffer
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	m := newApplyMeter(&buf, func() time.Time { return now })
	step := func(d time.Duration, p platform.ApplyProgress) string {
		now = now.Add(d)
		buf.Reset()
		m.update(p)
		return buf.String()
	}
	if got := step(0, platform.ApplyProgress{Stage: platform.StageEmit, Total: 40}); !strings.Contains(got, "\rapply: emitting definitions 0/40") ||
		!strings.Contains(got, "ETA ?") {
		t.Errorf("the start: %q", got)
	}
	got := step(time.Second, platform.ApplyProgress{Stage: platform.StageEmit, Done: 10, Total: 40})
	for _, want := range []string{"\rapply: emitting definitions 10/40", "10/s", "ETA 3s"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q lacks %q", got, want)
		}
	}
	if got := step(100*time.Millisecond, platform.ApplyProgress{Stage: platform.StageEmit, Done: 11, Total: 40}); got != "" {
		t.Errorf("printed again within 200ms: %q", got)
	}
	if got := step(time.Millisecond, platform.ApplyProgress{Stage: platform.StageEmit, Done: 40, Total: 40}); !strings.Contains(got, "40/40") ||
		!strings.Contains(got, "ETA 0s") {
		t.Errorf("the last definition: %q, want 40/40 and ETA 0s", got)
	}
	step(10*time.Second, platform.ApplyProgress{Stage: platform.StageRegister, Total: 4})
	if got := step(2*time.Second, platform.ApplyProgress{Stage: platform.StageRegister, Done: 2, Total: 4}); !strings.Contains(got, "registering contracts 2/4, 1/s, ETA 2s") {
		t.Errorf("a new stage's rate: %q", got)
	}
	buf.Reset()
	m.finish()
	if buf.String() != "\n" {
		t.Errorf("finish printed %q, want a newline", buf.String())
	}
}

// Piped, apply draws nothing: one debug log line per finished stage.
func TestApplyProgressPiped(t *testing.T) {
	var stderr, logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	progress, done := applyProgress(&stderr, log)
	for i := 0; i <= 3; i++ {
		progress(platform.ApplyProgress{Stage: platform.StageEmit, Done: i, Total: 3})
	}
	done()
	if stderr.Len() != 0 {
		t.Errorf("piped stderr got %q", stderr.String())
	}
	if got := logs.String(); strings.Count(got, "\n") != 1 || !strings.Contains(got, `stage="emitting definitions" done=3 total=3`) {
		t.Errorf("logs %q", got)
	}
}
