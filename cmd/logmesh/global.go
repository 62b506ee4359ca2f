package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkaconn"
	"github.com/logmesh/logmesh/internal/logging"
)

// global holds the flags every command shares: where the cluster and the
// registry are, how to connect (TLS, SASL), and the topic prefix.
type global struct {
	kafka kafkaconn.Config
	// brokersSet reports that the user chose the brokers (--brokers or
	// $LOGMESH_BROKERS) rather than taking the default.
	brokersSet bool
	registry   string
	topics     events.Topics
	verbose    bool
	log        *slog.Logger
	// at, when set, is the moment the listings answer as of.
	at time.Time
}

// globalFlag is one global flag: its name, whether it takes a value, and
// its environment variable.
type globalFlag struct {
	name, env, def, usage string
	boolean               bool
}

var globalFlags = []globalFlag{
	{name: "brokers", env: "LOGMESH_BROKERS", def: "127.0.0.1:9092", usage: "Kafka brokers, comma-separated"},
	{name: "registry", env: "LOGMESH_REGISTRY", def: "http://127.0.0.1:8081", usage: "schema registry URL"},
	{name: "client-id", env: "LOGMESH_CLIENT_ID", def: "logmesh", usage: "Kafka client id"},
	{name: "topic-prefix", env: "LOGMESH_TOPIC_PREFIX", def: events.DefaultPrefix, usage: "first part of every topic name"},
	{name: "tls", env: "LOGMESH_TLS", boolean: true, usage: "TLS to the brokers (implied by the --tls-* files)"},
	{name: "tls-ca", env: "LOGMESH_TLS_CA", usage: "PEM CA certificates to trust"},
	{name: "tls-cert", env: "LOGMESH_TLS_CERT", usage: "PEM client certificate (mutual TLS)"},
	{name: "tls-key", env: "LOGMESH_TLS_KEY", usage: "PEM key of the client certificate"},
	{name: "tls-server-name", env: "LOGMESH_TLS_SERVER_NAME", usage: "name to check in the brokers' certificates"},
	{name: "sasl-mechanism", env: "LOGMESH_SASL_MECHANISM", usage: "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"},
	{name: "sasl-user", env: "LOGMESH_SASL_USER", usage: "SASL user"},
	{name: "sasl-password", env: "LOGMESH_SASL_PASSWORD", usage: "SASL password (prefer the environment variable)"},
	{name: "at", env: "LOGMESH_AT", usage: "an RFC 3339 time: products, subscriptions, files, jobs, incidents, tables and query as they stood then"},
	{name: "log-format", env: "LOGMESH_LOG_FORMAT", def: "text", usage: "log format on stderr: text or json"},
	{name: "v", boolean: true, usage: "verbose logging"},
}

// splitGlobal takes the global flags out of args wherever they stand
// (before or after the command, "--flag value" or "--flag=value"), up to a
// "--" terminator, and returns them apart from the rest.
func splitGlobal(args []string) (globals, rest []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return globals, append(rest, args[i:]...)
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		var f *globalFlag
		if strings.HasPrefix(a, "-") {
			for j := range globalFlags {
				if globalFlags[j].name == name {
					f = &globalFlags[j]
				}
			}
		}
		switch {
		case f == nil:
			rest = append(rest, a)
		case f.boolean || hasValue || i+1 == len(args):
			globals = append(globals, a)
		default:
			globals = append(globals, a, args[i+1])
			i++
		}
	}
	return globals, rest
}

func parseGlobal(args []string, stderr io.Writer) (global, []string, error) {
	gargs, rest := splitGlobal(args)
	fs := flag.NewFlagSet("logmesh", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usageText(commands())) }
	vals := map[string]*string{}
	bools := map[string]*bool{}
	for _, f := range globalFlags {
		def := f.def
		if f.env != "" && os.Getenv(f.env) != "" {
			def = os.Getenv(f.env)
		}
		if f.boolean {
			bools[f.name] = fs.Bool(f.name, def == "true" || def == "1", f.usage)
		} else {
			vals[f.name] = fs.String(f.name, def, f.usage)
		}
	}
	if err := fs.Parse(gargs); err != nil {
		return global{}, nil, fmt.Errorf("%w: %w", err, errUsage)
	}
	brokersSet := os.Getenv("LOGMESH_BROKERS") != ""
	fs.Visit(func(f *flag.Flag) { brokersSet = brokersSet || f.Name == "brokers" })
	level, libLevel := slog.LevelInfo, slog.LevelWarn
	if *bools["v"] {
		level, libLevel = slog.LevelDebug, slog.LevelDebug
	}
	g := global{
		kafka: kafkaconn.Config{
			Brokers:       splitList(*vals["brokers"]),
			ClientID:      *vals["client-id"],
			TLS:           *bools["tls"],
			TLSCA:         *vals["tls-ca"],
			TLSCert:       *vals["tls-cert"],
			TLSKey:        *vals["tls-key"],
			TLSServerName: *vals["tls-server-name"],
			SASLMechanism: *vals["sasl-mechanism"],
			SASLUser:      *vals["sasl-user"],
			SASLPassword:  *vals["sasl-password"],
		},
		brokersSet: brokersSet,
		registry:   *vals["registry"],
		topics:     events.Topics{Prefix: *vals["topic-prefix"]},
		verbose:    *bools["v"],
	}
	h, err := logHandler(*vals["log-format"], stderr, level)
	if err != nil {
		return global{}, nil, err
	}
	g.log = slog.New(logging.Quiet(h, libLevel))
	if v := *vals["at"]; v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return global{}, nil, fmt.Errorf("--at %q: want an RFC 3339 time, such as 2026-10-01T00:00:00Z: %w", v, errUsage)
		}
		g.at = t
	}
	return g, rest, nil
}

// logHandler is the slog handler of --log-format: "text" (the default) or
// "json", one object a line.
func logHandler(format string, w io.Writer, level slog.Level) (slog.Handler, error) {
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(format) {
	case "", "text":
		return slog.NewTextHandler(w, opts), nil
	case "json":
		return slog.NewJSONHandler(w, opts), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json: %w", format, errUsage)
}

// conn returns the connection setting of the global flags.
func (g global) conn() (kafkaconn.Conn, error) {
	c, err := kafkaconn.New(g.kafka)
	if err != nil {
		return kafkaconn.Conn{}, fmt.Errorf("%w: %w", err, errUsage)
	}
	return c, nil
}

// registryClient returns a client of the global registry.
func (g global) registryClient() (*sr.Client, error) {
	cl, err := sr.NewClient(sr.URLs(g.registry))
	if err != nil {
		return nil, fmt.Errorf("registry %s: %w", g.registry, err)
	}
	return cl, nil
}

// codec returns a codec that reads schemas from the global registry.
func (g global) codec() (*events.Codec, *sr.Client, error) {
	cl, err := g.registryClient()
	if err != nil {
		return nil, nil, err
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
			return nil, fmt.Errorf("%w: %w", err, errUsage)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
