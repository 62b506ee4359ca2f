// Command logmesh is the single logmesh binary: it runs the embedded platform
// (dev), follows the log (tail), governs contracts (schema) and, as the
// issues add them, everything else. main only wires flags to packages.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/logmesh/logmesh/platform"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// errUsage marks a command-line mistake; main prints usage and exits 2.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case err == nil:
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, "logmesh:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "logmesh:", err)
		os.Exit(1)
	}
}

// usageHead is the top of the top-level usage; the commands follow,
// from the command table.
const usageHead = `logmesh — an event-sourced data-mesh platform on Kafka

Usage: logmesh <command> [flags] [args]     (global flags may go before or after the command)
       logmesh help <command>               (or logmesh <command> --help: its arguments and flags)

Commands:
`

// usageTail follows the commands and the processors in the top-level
// usage.
const usageTail = `Processor flags (dev, run):
  --config mesh.yaml       the mesh (dev default: the built-in example mesh and its files)
  --data DIR               processor state under DIR/state (default ./.logmesh)
  --landing DIR|s3://...   the landing area (default <data>/landing)
  --warehouse DIR|s3://... the warehouse (default <data>/warehouse)
  --plan-interval 10s      --scan-interval 2s     --webhook URL (incidents)
  --catalog-addr 127.0.0.1:8080   --tokens FILE (catalog bearer tokens)   --owner-grants
  --partitions 6           --group-prefix logmesh     --session-timeout 45s
  [S3 flags]

S3 flags (for s3:// locations):
  --s3-endpoint host:port  ($LOGMESH_S3_ENDPOINT, then $AWS_ENDPOINT_URL_S3; an http:// URL implies --s3-insecure)
  --s3-access-key KEY      ($AWS_ACCESS_KEY_ID)
  --s3-secret-key KEY      ($AWS_SECRET_ACCESS_KEY)
  --s3-region REGION       ($AWS_REGION, then us-east-1)
  --s3-insecure            plain HTTP (a local MinIO)

Global flags (anywhere on the line; each also from its environment variable):
  --brokers host:port,...  Kafka brokers ($LOGMESH_BROKERS; default 127.0.0.1:9092);
                           given to dev, it runs on that cluster instead of an embedded one
  --registry URL           schema registry ($LOGMESH_REGISTRY; default http://127.0.0.1:8081)
  --at TIME                products, subscriptions, files, jobs, incidents, tables and query as of an
                           RFC 3339 time ($LOGMESH_AT): the versions committed by then
  --client-id ID           Kafka client id ($LOGMESH_CLIENT_ID; default logmesh)
  --tls                    TLS to the brokers ($LOGMESH_TLS)
  --tls-ca FILE            CA certificates to trust ($LOGMESH_TLS_CA)
  --tls-cert FILE --tls-key FILE
                           client certificate for mutual TLS ($LOGMESH_TLS_CERT, $LOGMESH_TLS_KEY)
  --tls-server-name NAME   name to check in the brokers' certificates ($LOGMESH_TLS_SERVER_NAME)
  --sasl-mechanism M       PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 ($LOGMESH_SASL_MECHANISM)
  --sasl-user U            ($LOGMESH_SASL_USER)
  --sasl-password P        ($LOGMESH_SASL_PASSWORD; prefer the variable to the flag)
  --topic-prefix P         first part of every topic name ($LOGMESH_TOPIC_PREFIX; default logmesh)
  -v                       verbose logging
`

// usageText is the top-level usage: every command of table (and its
// sub-commands) with its synopsis and summary, the processors, then the
// flags shared by several commands.
func usageText(table []*command) string {
	var b strings.Builder
	b.WriteString(usageHead)
	for _, c := range table {
		if c.flags != nil {
			writeEntry(&b, c)
		}
		for _, s := range c.subs {
			writeEntry(&b, s)
		}
	}
	b.WriteString("\nProcessors (run PROCESSOR..., dev --processors; run --list says what each does):\n")
	line := " "
	for i, n := range platform.ProcessorNames() {
		if i > 0 {
			line += ","
		}
		if len(line)+len(n) > 100 {
			b.WriteString(line + "\n")
			line = " "
		}
		line += " " + n
	}
	b.WriteString(line + "\n\n")
	b.WriteString(usageTail)
	return b.String()
}

// writeEntry writes a command's line of a usage: the synopsis, then the
// summary in the second column (on a line of its own after a long
// synopsis).
func writeEntry(w io.Writer, c *command) {
	const col = 23
	if len(c.synopsis) < col {
		fmt.Fprintf(w, "  %-*s %s\n", col, c.synopsis, c.summary)
		return
	}
	fmt.Fprintf(w, "  %s\n  %-*s %s\n", c.synopsis, col, "", c.summary)
}

// run parses the global flags and dispatches to a command.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	g, rest, err := parseGlobal(args, stderr)
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		fmt.Fprint(stderr, usageText(commands()))
		return fmt.Errorf("no command: %w", errUsage)
	}
	table := commands()
	switch rest[0] {
	case "help", "-h", "-help", "--help":
		return help(table, rest[1:], stdout, stderr)
	}
	c, cargs := lookup(table, rest)
	if c == nil {
		fmt.Fprint(stderr, usageText(table))
		return fmt.Errorf("unknown command %q (logmesh help lists them): %w", rest[0], errUsage)
	}
	return c.execute(ctx, g, cargs, &cmdInput{stdin: os.Stdin, stdout: stdout, stderr: stderr})
}
