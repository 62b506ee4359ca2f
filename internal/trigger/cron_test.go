package trigger

import (
	"errors"
	"testing"
	"time"
)

func TestCronDue(t *testing.T) {
	at := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		expr, after, now, want string // want "" for none
	}{
		{"*/5 * * * *", "2026-12-01T09:00:00Z", "2026-12-01T09:12:00Z", "2026-12-01T09:10:00Z"},
		{"*/5 * * * *", "2026-12-01T09:10:00Z", "2026-12-01T09:14:59Z", ""},
		{"*/5 * * * *", "2026-12-01T09:10:00Z", "2026-12-01T09:15:00Z", "2026-12-01T09:15:00Z"},
		{"@hourly", "2026-12-01T09:00:00Z", "2026-12-01T09:59:59Z", ""},
		{"@hourly", "2025-01-01T00:00:00Z", "2026-12-01T09:30:00Z", "2026-12-01T09:00:00Z"},
		{"0 6 1 * *", "2025-01-01T00:00:00Z", "2026-12-01T09:30:00Z", "2026-12-01T06:00:00Z"},
		{"0 6 1 1 *", "2020-01-01T00:00:00Z", "2026-12-01T09:30:00Z", "2026-01-01T06:00:00Z"},
		{"* * * * *", "2000-01-01T00:00:00Z", "2026-12-01T09:30:30Z", "2026-12-01T09:30:00Z"},
		{"@every 10m", "2026-12-01T09:00:00Z", "2026-12-01T09:25:00Z", "2026-12-01T09:20:00Z"},
	} {
		s, err := ParseCron(tc.expr)
		if err != nil {
			t.Fatalf("%q: %v", tc.expr, err)
		}
		got, ok := s.Due(at(tc.after), at(tc.now))
		switch {
		case tc.want == "" && ok:
			t.Errorf("%q after %s at %s: due %s, want none", tc.expr, tc.after, tc.now, got)
		case tc.want != "" && (!ok || !got.Equal(at(tc.want))):
			t.Errorf("%q after %s at %s: due %s (%v), want %s", tc.expr, tc.after, tc.now, got, ok, tc.want)
		}
	}
}

func TestParseCronRefuses(t *testing.T) {
	for _, expr := range []string{"", "* * *", "61 * * * *", "@weekdays", "every 5m"} {
		if _, err := ParseCron(expr); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: %v, want ErrInvalid", expr, err)
		}
	}
}
