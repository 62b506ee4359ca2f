// Package retry calls a function until it succeeds, with exponential
// backoff, for the processors whose effects must happen at least once (the
// notifier's webhook, the OpenLineage push).
package retry

import (
	"context"
	"log/slog"
	"time"
)

// Do calls fn until it returns nil or ctx ends, waiting first, then twice
// as long each time up to max, between attempts; each failure is logged at
// WARN on log with what. It returns nil, or ctx's error.
func Do(ctx context.Context, first, max time.Duration, log *slog.Logger, what string, fn func(context.Context) error) error {
	wait := first
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil {
			if attempt > 1 {
				log.Info(what+" succeeded", "attempts", attempt)
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		log.Warn(what+" failed; retrying", "attempt", attempt, "retry_in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, max)
	}
}
