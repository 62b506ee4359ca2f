// Package proc is what every processor is built from: one Config holding
// the values each processor used to declare as options of its own (the
// Kafka connection, the topic names, the consumer group, the logger, the
// clock and the extra franz-go options). The platform builds one Config per
// processor from its environment and passes it to the processor's New;
// what is specific to one processor stays that processor's option.
//
// proc imports no processor, so every processor and the platform can
// import it.
package proc

import (
	"errors"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkaconn"
	"github.com/logmesh/logmesh/internal/metrics"
)

// ErrNoBrokers is returned by Config.Validate when the connection names no
// broker.
var ErrNoBrokers = errors.New("proc: no brokers")

// Config is the processor configuration every processor constructor takes.
// The zero value of each field but Conn means its default; WithDefaults
// fills them in. Config is plain data: copy it freely, but do not change
// ClientOpts' backing array after passing it.
type Config struct {
	// Conn is the process's Kafka connection; every client the processor
	// makes starts from Conn.Opts. Required.
	Conn kafkaconn.Conn
	// Topics are the installation's topic names. Default events.Topics{}
	// (the default prefix).
	Topics events.Topics
	// Group is the processor's consumer group. Default the processor's
	// DefaultGroup; processors that consume in no group ignore it.
	Group string
	// Logger is the processor's logger; the default discards.
	Logger *slog.Logger
	// Clock is the processor's clock, for the times it stamps on what it
	// emits. Default time.Now; processors that stamp no time ignore it.
	Clock func() time.Time
	// ClientOpts are franz-go options (a session timeout, fetch sizes, ...)
	// added to each of the processor's clients, after the connection's
	// own. Default none.
	ClientOpts []kgo.Opt
	// Metrics is the process's metrics registry, which the processor
	// records its counters and histograms into. Default nil, which
	// records nothing.
	Metrics *metrics.Metrics
}

// WithDefaults returns c with every unset field but Conn given its default;
// group is the processor's default consumer group ("" for one that
// consumes in no group).
func (c Config) WithDefaults(group string) Config {
	if c.Group == "" {
		c.Group = group
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	return c
}

// Validate reports what c lacks that no default supplies: a connection
// with at least one broker (ErrNoBrokers).
func (c Config) Validate() error {
	if len(c.Conn.Brokers()) == 0 {
		return ErrNoBrokers
	}
	return nil
}
