package trigger

import (
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
)

// Cron is a parsed cron schedule: five fields (minute, hour, day of
// month, month, day of week) or a descriptor such as @hourly, @daily or
// "@every 10m", in UTC unless it starts with CRON_TZ=zone.
type Cron struct {
	expr  string
	sched cron.Schedule
}

// ParseCron parses a cron expression; the error wraps ErrInvalid.
func ParseCron(expr string) (Cron, error) {
	s, err := cron.ParseStandard(expr)
	if err != nil {
		return Cron{}, fmt.Errorf("%w: schedule %q: %w", ErrInvalid, expr, err)
	}
	return Cron{expr: expr, sched: s}, nil
}

// String returns the expression.
func (s Cron) String() string { return s.expr }

// Next returns the first time the schedule is due after t.
func (s Cron) Next(t time.Time) time.Time { return s.sched.Next(t.UTC()) }

// dueWindows bound the walk of Due: it starts at the latest of after and
// now minus the first window that holds a due time, so it takes a bounded
// number of steps however long ago after was.
var dueWindows = []time.Duration{time.Hour, 24 * time.Hour, 31 * 24 * time.Hour, 366 * 24 * time.Hour}

// Due returns the latest time in (after, now] the schedule was due, and
// false if there is none. Missed times before it are not returned: a
// scheduler that was down runs a product once for them, not once each.
func (s Cron) Due(after, now time.Time) (time.Time, bool) {
	if s.sched == nil {
		return time.Time{}, false
	}
	start := after
	for _, w := range dueWindows {
		if from := now.Add(-w); from.After(after) && !s.Next(from).After(now) {
			start = from
			break
		}
	}
	t := s.Next(start)
	if t.After(now) || t.IsZero() {
		return time.Time{}, false
	}
	for {
		n := s.Next(t)
		if n.After(now) || n.IsZero() {
			return t, true
		}
		t = n
	}
}
