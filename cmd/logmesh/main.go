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
  dev                     run the platform until Ctrl-C: embedded Kafka (or --brokers), registry, processors
      [--data DIR] [--kafka-port 9092] [--registry-port 8081] [--config mesh.yaml]
      [--landing DIR|s3://bucket/prefix] [--warehouse DIR|s3://bucket/prefix]
      [--plan-interval 10s] [--webhook URL] [S3 flags]
  apply -f mesh.yaml [--dry-run]
                          plan the mesh file against the definitions on the log, then emit
                          the new and changed ones (--dry-run: print the plan only)
  tail [TOPIC...]         print events as they arrive (--from-beginning, --json, -n N)
  land FILE... [--key K] [--landing DIR|s3://bucket/prefix] [S3 flags]
                          copy files into the landing area
  tables [--json] [--warehouse DIR|s3://bucket/prefix] [S3 flags]
                          tables with their current version, rows and location
  query 'SQL' [--json|--csv] [--as-of VERSION] [--warehouse DIR|s3://...] [--cache DIR] [S3 flags]
                          SQL over the tables (by domain.table name), run by embedded DuckDB;
                          files of an S3 warehouse are downloaded to --cache first
  replay [--projection audit|lineage] [--twice]
                          rebuild a projection from offset 0 and print its digest
  files [--status S] [--json]
                          the file audit: each landed file's status, rows and errors
  schema list             list registered subjects with their versions and ids
  schema check FILE.avsc --subject S
                          check a contract change against the registry's compatibility rules
  schema register FILE.avsc --subject S
                          register a contract under a subject
  version                 print the version

S3 flags (for s3:// locations):
  --s3-endpoint host:port  ($LOGMESH_S3_ENDPOINT, then $AWS_ENDPOINT_URL_S3; an http:// URL implies --s3-insecure)
  --s3-access-key KEY      ($AWS_ACCESS_KEY_ID)
  --s3-secret-key KEY      ($AWS_SECRET_ACCESS_KEY)
  --s3-region REGION       ($AWS_REGION, then us-east-1)
  --s3-insecure            plain HTTP (a local MinIO)

Global flags (before the command):
  --brokers host:port,... Kafka brokers (default 127.0.0.1:9092, or $LOGMESH_BROKERS);
                          given to dev, it runs on that cluster instead of an embedded one
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
	case "apply":
		return cmdApply(ctx, g, cargs, stdout, stderr)
	case "tail":
		return cmdTail(ctx, g, cargs, stdout, stderr)
	case "land":
		return cmdLand(ctx, g, cargs, stdout, stderr)
	case "tables":
		return cmdTables(ctx, g, cargs, stdout, stderr)
	case "query":
		return cmdQuery(ctx, g, cargs, stdout, stderr)
	case "replay":
		return cmdReplay(ctx, g, cargs, stdout, stderr)
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
