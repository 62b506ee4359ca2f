package retry_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/logmesh/logmesh/internal/retry"
)

// waitTimeout bounds every wait of these tests; a safety net, not a timed
// assertion.
const waitTimeout = time.Minute

var errFlaky = errors.New("flaky: the receiver said 503")

// logged is one record a recorder kept: its level, message and attributes.
type logged struct {
	level slog.Level
	msg   string
	attrs map[string]slog.Value
}

// recorder is a slog.Handler that keeps every record (a test double). It is
// safe for concurrent use.
type recorder struct {
	mu      sync.Mutex
	records []logged
	warned  chan struct{} // if not nil, signalled after each WARN record
}

var _ slog.Handler = (*recorder)(nil)

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }

func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	l := logged{level: rec.Level, msg: rec.Message, attrs: map[string]slog.Value{}}
	rec.Attrs(func(a slog.Attr) bool {
		l.attrs[a.Key] = a.Value.Resolve()
		return true
	})
	r.mu.Lock()
	r.records = append(r.records, l)
	r.mu.Unlock()
	if r.warned != nil && l.level == slog.LevelWarn {
		select {
		case r.warned <- struct{}{}:
		default:
		}
	}
	return nil
}

func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

func (r *recorder) all() []logged {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.records)
}

// calls records when each call of a flaky function began and ended.
type calls struct {
	mu         sync.Mutex
	start, end []time.Time
}

// flaky returns a function that fails its first failures calls with
// errFlaky and succeeds after, recording each call in c.
func (c *calls) flaky(failures int) func(context.Context) error {
	return func(context.Context) error {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.start = append(c.start, time.Now())
		defer func() { c.end = append(c.end, time.Now()) }()
		if len(c.start) <= failures {
			return errFlaky
		}
		return nil
	}
}

// The waits between attempts start at first and double up to max; each
// failure is logged at WARN with its attempt and the wait that follows,
// and a success after failures at INFO with the number of attempts. Do
// never calls again before the wait it logged has passed.
func TestDoBackoff(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name       string
		first, max time.Duration
		failures   int
		waits      []time.Duration // logged, in order
	}{
		{name: "first call succeeds", first: ms, max: 8 * ms, failures: 0},
		{name: "one failure", first: 2 * ms, max: 8 * ms, failures: 1, waits: []time.Duration{2 * ms}},
		{name: "doubles up to max", first: ms, max: 8 * ms, failures: 6,
			waits: []time.Duration{ms, 2 * ms, 4 * ms, 8 * ms, 8 * ms, 8 * ms}},
		{name: "max not a power of two of first", first: ms, max: 5 * ms, failures: 5,
			waits: []time.Duration{ms, 2 * ms, 4 * ms, 5 * ms, 5 * ms}},
		{name: "first equal to max", first: 3 * ms, max: 3 * ms, failures: 3,
			waits: []time.Duration{3 * ms, 3 * ms, 3 * ms}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			c := &calls{}
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			if err := retry.Do(ctx, tc.first, tc.max, slog.New(rec), "webhook", c.flaky(tc.failures)); err != nil {
				t.Fatalf("Do = %v, want nil once fn succeeds", err)
			}
			if n := len(c.start); n != tc.failures+1 {
				t.Fatalf("fn called %d times, want %d", n, tc.failures+1)
			}
			var waits []time.Duration
			var infos []logged
			for i, l := range rec.all() {
				switch l.level {
				case slog.LevelWarn:
					if l.msg != "webhook failed; retrying" {
						t.Errorf("WARN %q, want %q", l.msg, "webhook failed; retrying")
					}
					if got := l.attrs["attempt"].Int64(); got != int64(i+1) {
						t.Errorf("WARN %d: attempt %d, want %d", i, got, i+1)
					}
					if err, _ := l.attrs["err"].Any().(error); !errors.Is(err, errFlaky) {
						t.Errorf("WARN %d: err %v, want fn's error", i, l.attrs["err"])
					}
					waits = append(waits, l.attrs["retry_in"].Duration())
				case slog.LevelInfo:
					infos = append(infos, l)
				default:
					t.Errorf("logged %v %q", l.level, l.msg)
				}
			}
			if !slices.Equal(waits, tc.waits) {
				t.Errorf("waits %v, want %v", waits, tc.waits)
			}
			switch {
			case tc.failures == 0 && len(infos) != 0:
				t.Errorf("a first-time success logged %v", infos)
			case tc.failures > 0 && (len(infos) != 1 || infos[0].msg != "webhook succeeded" ||
				infos[0].attrs["attempts"].Int64() != int64(tc.failures+1)):
				t.Errorf("INFO records %v, want one \"webhook succeeded\" with attempts=%d", infos, tc.failures+1)
			}
			// A timer never fires early: the gap before each retry is at
			// least the wait logged for it.
			for i := 1; i < len(c.start) && i <= len(waits); i++ {
				if gap := c.start[i].Sub(c.end[i-1]); gap < waits[i-1] {
					t.Errorf("attempt %d began %v after attempt %d ended, before its wait of %v", i+1, gap, i, waits[i-1])
				}
			}
		})
	}
}

// Do returns ctx's error (it is what Do documents, not fn's error) as soon
// as ctx ends: before the next attempt, in the middle of a long wait, or
// while fn runs; fn's last error is only logged. A success wins over a
// done ctx: the effect happened.
func TestDoContext(t *testing.T) {
	past := time.Now().Add(-time.Hour)
	for _, tc := range []struct {
		name string
		// ctx returns the context Do runs with.
		ctx func() (context.Context, context.CancelFunc)
		// fn is the function retried; cancel ends Do's context.
		fn func(ctx context.Context, call int, cancel context.CancelFunc) error
		// cancelAfterFirst cancels from the test once the first failure
		// is logged, while Do waits an hour for the second call.
		cancelAfterFirst bool
		want             error // nil: Do succeeds
		calls            int
		warnings         int
	}{
		{
			name: "cancelled during a long wait",
			ctx:  func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
			fn:   func(context.Context, int, context.CancelFunc) error { return errFlaky },
			// The wait is an hour: returning at all is returning promptly.
			cancelAfterFirst: true, want: context.Canceled, calls: 1, warnings: 1,
		},
		{
			name: "deadline passed before Do",
			ctx:  func() (context.Context, context.CancelFunc) { return context.WithDeadline(context.Background(), past) },
			fn:   func(context.Context, int, context.CancelFunc) error { return errFlaky },
			want: context.DeadlineExceeded, calls: 1, warnings: 0,
		},
		{
			name: "cancelled while fn runs",
			ctx:  func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
			fn: func(ctx context.Context, call int, cancel context.CancelFunc) error {
				if call == 3 {
					cancel()
					<-ctx.Done() // fn gives up with ctx, as a request would
					return ctx.Err()
				}
				return errFlaky
			},
			want: context.Canceled, calls: 3, warnings: 2,
		},
		{
			name: "success with ctx done",
			ctx:  func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
			fn: func(_ context.Context, _ int, cancel context.CancelFunc) error {
				cancel()
				return nil
			},
			want: nil, calls: 1, warnings: 0,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := tc.ctx()
			defer cancel()
			first := time.Hour
			if !tc.cancelAfterFirst {
				first = time.Millisecond
			}
			rec := &recorder{warned: make(chan struct{}, 1)}
			var mu sync.Mutex
			n := 0
			fn := func(fctx context.Context) error {
				if fctx != ctx {
					t.Errorf("fn got a context other than Do's")
				}
				mu.Lock()
				n++
				call := n
				mu.Unlock()
				return tc.fn(fctx, call, cancel)
			}
			done := make(chan error, 1)
			go func() { done <- retry.Do(ctx, first, time.Hour, slog.New(rec), "push", fn) }()
			if tc.cancelAfterFirst {
				// Do logs the failure, then waits: cancelling before the
				// log would end Do before its wait, as "cancelled while fn
				// runs" does.
				select {
				case <-rec.warned:
				case <-time.After(waitTimeout):
					t.Fatal("Do never logged a failure")
				}
				cancel()
			}
			var err error
			select {
			case err = <-done:
			case <-time.After(waitTimeout):
				t.Fatalf("Do still running %v after its context ended", waitTimeout)
			}
			switch {
			case tc.want == nil && err != nil:
				t.Fatalf("Do = %v, want nil", err)
			case tc.want != nil && (!errors.Is(err, tc.want) || err != ctx.Err()):
				t.Fatalf("Do = %v, want ctx's error %v", err, tc.want)
			case errors.Is(err, errFlaky):
				t.Fatalf("Do = %v: fn's error, want ctx's", err)
			}
			mu.Lock()
			calls := n
			mu.Unlock()
			if calls != tc.calls {
				t.Errorf("fn called %d times, want %d", calls, tc.calls)
			}
			warnings := 0
			for _, l := range rec.all() {
				if l.level == slog.LevelWarn {
					warnings++
				}
			}
			if warnings != tc.warnings {
				t.Errorf("%d WARN records, want %d (a failure because ctx ended is not retried)", warnings, tc.warnings)
			}
		})
	}
}
