package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/logging"
)

// global holds the flags every command shares.
type global struct {
	brokers []string
	// brokersSet reports that the user chose the brokers (--brokers or
	// $LOGMESH_BROKERS) rather than taking the default.
	brokersSet bool
	registry   string
	verbose    bool
	log        *slog.Logger
}

func parseGlobal(args []string, stderr io.Writer) (global, []string, error) {
	fs := flag.NewFlagSet("logmesh", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	brokers := fs.String("brokers", envOr("LOGMESH_BROKERS", "127.0.0.1:9092"), "Kafka brokers, comma-separated")
	reg := fs.String("registry", envOr("LOGMESH_REGISTRY", "http://127.0.0.1:8081"), "schema registry URL")
	verbose := fs.Bool("v", false, "verbose logging")
	if err := fs.Parse(args); err != nil {
		return global{}, nil, fmt.Errorf("%v: %w", err, errUsage)
	}
	brokersSet := os.Getenv("LOGMESH_BROKERS") != ""
	fs.Visit(func(f *flag.Flag) { brokersSet = brokersSet || f.Name == "brokers" })
	level, libLevel := slog.LevelInfo, slog.LevelWarn
	if *verbose {
		level, libLevel = slog.LevelDebug, slog.LevelDebug
	}
	g := global{
		brokers:    splitList(*brokers),
		brokersSet: brokersSet,
		registry:   *reg,
		verbose:    *verbose,
		log:        slog.New(logging.Quiet(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}), libLevel)),
	}
	return g, fs.Args(), nil
}

// codec returns a codec that reads schemas from the global registry.
func (g global) codec() (*events.Codec, *sr.Client, error) {
	cl, err := sr.NewClient(sr.URLs(g.registry))
	if err != nil {
		return nil, nil, fmt.Errorf("registry %s: %w", g.registry, err)
	}
	c, err := events.NewCodec(events.SRRegistry(cl))
	if err != nil {
		return nil, nil, err
	}
	return c, cl, nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// interspersed parses flags that may appear before or after positional
// arguments, as users type them ("tail --json topic" or "tail topic --json").
func interspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, fmt.Errorf("%v: %w", err, errUsage)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
