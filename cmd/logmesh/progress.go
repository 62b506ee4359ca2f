package main

import (
	"fmt"
	"io"
	"time"

	"github.com/logmesh/logmesh/platform"
)

// meter draws the progress of long work on one line of a terminal, at
// most once every interval and whenever a part of the work is done: the
// helper behind land's and apply's progress lines (replay's fold counts
// offsets, with progressPrinter). Commands make one only when stderr is a
// terminal, so piped they stay quiet. It is not safe for concurrent use.
type meter struct {
	w           io.Writer
	now         func() time.Time
	every       time.Duration
	start, last time.Time
	shown       bool
}

func newMeter(w io.Writer, now func() time.Time, every time.Duration) *meter {
	return &meter{w: w, now: now, every: every, start: now()}
}

// due reports whether to draw now, the work being finished or not, and
// the seconds since the start (never zero).
func (m *meter) due(finished bool) (elapsed float64, ok bool) {
	t := m.now()
	if !finished && m.shown && t.Sub(m.last) < m.every {
		return 0, false
	}
	m.last, m.shown = t, true
	return max(t.Sub(m.start).Seconds(), 1e-3), true
}

// restart counts the rate from now, for a new part of the work.
func (m *meter) restart() { m.start = m.now() }

// draw writes line over the one before.
func (m *meter) draw(line string) { fmt.Fprintf(m.w, "\r%s   ", line) }

// finish ends the line, if one was drawn.
func (m *meter) finish() {
	if m.shown {
		fmt.Fprintln(m.w)
	}
}

// eta is the time left to reach total at the rate done took in elapsed
// seconds: "0s" when finished, "?" before any rate.
func eta(done, total int64, elapsed float64, finished bool) string {
	switch {
	case finished:
		return "0s"
	case done <= 0:
		return "?"
	}
	rate := float64(done) / elapsed
	return time.Duration(float64(total-done) / rate * float64(time.Second)).Round(time.Second).String()
}

// applyMeter shows an apply's progress: the stage, units done of its
// total, their rate and the ETA of the stage.
type applyMeter struct {
	*meter
	stage string
}

func newApplyMeter(w io.Writer, now func() time.Time) *applyMeter {
	return &applyMeter{meter: newMeter(w, now, 200*time.Millisecond)}
}

// update is a platform.ApplyInput.Progress function.
func (m *applyMeter) update(p platform.ApplyProgress) {
	if p.Stage != m.stage {
		m.stage = p.Stage
		m.restart()
	}
	finished := p.Done >= p.Total
	el, ok := m.due(finished || p.Done == 0)
	if !ok {
		return
	}
	m.draw(fmt.Sprintf("apply: %s %d/%d, %.0f/s, ETA %s", p.Stage, p.Done, p.Total, float64(p.Done)/el,
		eta(int64(p.Done), int64(p.Total), el, finished)))
}
