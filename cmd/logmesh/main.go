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
	"syscall"
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

const usage = `logmesh — an event-sourced data-mesh platform on Kafka

Usage: logmesh [global flags] <command> [flags] [args]

Commands:
  dev                     run the platform on embedded defaults (Kafka, registry) until Ctrl-C
  tail [TOPIC...]         print events as they arrive (--from-beginning, --json)
  land FILE... [--key K] [--landing DIR]
                          copy files into the landing area
  tables [--json]         tables with their current version, rows and location
  query 'SQL' [--json|--csv] [--as-of VERSION]
                          SQL over the tables (by domain.table name), run by embedded DuckDB
  files [--status S] [--json]
                          the file audit: each landed file's status, rows and errors
  schema list             list registered subjects with their versions and ids
  schema check FILE.avsc --subject S
                          check a contract change against the registry's compatibility rules
  version                 print the version

Global flags (before the command):
  --brokers host:port,... Kafka brokers (default 127.0.0.1:9092, or $LOGMESH_BROKERS)
  --registry URL          schema registry (default http://127.0.0.1:8081, or $LOGMESH_REGISTRY)
  -v                      verbose logging
`

// run parses the global flags and dispatches to a command.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	g, rest, err := parseGlobal(args, stderr)
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("no command: %w", errUsage)
	}
	cmd, cargs := rest[0], rest[1:]
	switch cmd {
	case "dev":
		return cmdDev(ctx, g, cargs, stderr)
	case "tail":
		return cmdTail(ctx, g, cargs, stdout, stderr)
	case "land":
		return cmdLand(ctx, g, cargs, stdout, stderr)
	case "tables":
		return cmdTables(ctx, g, cargs, stdout, stderr)
	case "query":
		return cmdQuery(ctx, g, cargs, stdout, stderr)
	case "files":
		return cmdFiles(ctx, g, cargs, stdout, stderr)
	case "schema":
		return cmdSchema(ctx, g, cargs, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "logmesh", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q: %w", cmd, errUsage)
	}
}
