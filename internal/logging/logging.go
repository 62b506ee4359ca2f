// Package logging gives franz-go a logger of its own level: the client logs
// every metadata refresh and rebalance at INFO, which drowns logmesh's own
// lines. Processors hand franz-go Kafka(logger); a handler wrapped with
// Quiet then keeps only franz-go's warnings and errors.
package logging

import (
	"context"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kslog"
)

// libKey marks the records of a library's logger.
const libKey = "lib"

// Kafka returns the franz-go logger for l: l's records, tagged lib=franz-go.
func Kafka(l *slog.Logger) kgo.Logger {
	return kslog.New(l.With(slog.String(libKey, "franz-go")))
}

// Quiet wraps h so that records of library loggers (see Kafka) below
// libLevel are dropped; logmesh's own records pass as h decides. The
// returned handler is safe for concurrent use if h is.
func Quiet(h slog.Handler, libLevel slog.Level) slog.Handler {
	return quiet{h: h, min: libLevel}
}

type quiet struct {
	h     slog.Handler
	min   slog.Level
	isLib bool
}

func (q quiet) Enabled(ctx context.Context, l slog.Level) bool {
	if q.isLib && l < q.min {
		return false
	}
	return q.h.Enabled(ctx, l)
}

func (q quiet) Handle(ctx context.Context, r slog.Record) error { return q.h.Handle(ctx, r) }

func (q quiet) WithAttrs(attrs []slog.Attr) slog.Handler {
	lib := q.isLib
	for _, a := range attrs {
		if a.Key == libKey {
			lib = true
		}
	}
	return quiet{h: q.h.WithAttrs(attrs), min: q.min, isLib: lib}
}

func (q quiet) WithGroup(name string) slog.Handler {
	return quiet{h: q.h.WithGroup(name), min: q.min, isLib: q.isLib}
}
