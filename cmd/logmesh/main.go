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

Usage: logmesh <command> [flags] [args]     (global flags may go before or after the command)

Commands:
  dev                     run the platform until Ctrl-C: embedded Kafka (or --brokers), the built-in
                          registry and every processor
      [--data DIR] [--kafka-port 9092] [--registry-port 8081] [--admin-addr 127.0.0.1:8082]
      [--http-port 8080] [--processors LIST|none] [processor flags]
  run PROCESSOR...        run processors in this process against --brokers and --registry until Ctrl-C
      [--list] [--admin-addr HOST:PORT] [processor flags]
                          processors: watcher, spool, planner, loader, audit, lineage, pointers,
                          definitions, router, orchestrator, scheduler, runner, catalog, notifier
                          (run --list says what each does)
  apply -f mesh.yaml|DIR [--plan] [--retire-domain D] [--catalog URL --token T]
                          plan the mesh file (or a folder's *.yaml/*.yml files) against the
                          definitions of the domains they declare, then emit the new, changed
                          and retired ones; other domains are never touched (--plan: print the
                          plan only; --retire-domain: retire a domain with nothing of its own
                          live; --catalog: plan and apply through the catalog, as the token)
  land FILE|DIR... [--prefix P | --key K] [--landing DIR|s3://bucket/prefix] [S3 flags]
                          copy files, and folders' files, into the landing area (default: the
                          platform's, from the log) under P + the path relative to the DIR given
                          (a FILE: P + its base name); every path checked first; land --help
  files [--status S] [--json] [--catalog URL --token T]
                          the file audit: each landed file's status (RECEIVED, BATCHED, PROCESSED,
                          FAILED, UNMATCHED), rows and errors (rebuilt from the log; with --catalog,
                          read from the catalog's live store as the token's principal may)
  files retry KEY... | --status UNMATCHED|FAILED [--since T] [--reason R] [--by WHO]
                          try files again that no feed took or that failed: the watcher lands each
                          as its next attempt, matched against the feeds in force then
  products [--domain D] [--json]
                          data products: owner, kind, visibility, output table, last version, grants
  grant PRODUCT --to DOMAIN [--purpose P] [--expires T] [--by DOMAIN | --catalog URL --token T]
                          let a domain read an enterprise-visible product (owner or central grants;
                          with --catalog, through the catalog's API and rules as the token's principal)
  revoke PRODUCT --from DOMAIN [--reason R] [--by DOMAIN | --catalog URL --token T]
                          end a grant; the router stops delivering from that point of the log on
  run-product PRODUCT [--reason R] [--by WHO]
                          run a consumer-aligned product now, whatever its trigger (RunRequested)
  jobs [--product P] [--status S] [--json]
                          product job attempts: trigger, pinned inputs, status, version, error
  incidents [--open] [--json]
                          incidents opened (failed files, failed jobs) and how they were resolved
  why PRODUCT [--job J]   the facts, in inbox order, that started a run, the policy that fired,
                          the pinned inputs and each attempt's outcome, replayed from the log
  contract PRODUCT [--json] [--config mesh.yaml]
                          the product's data contract as an ODCS v3.0.2 document (YAML): schema, key,
                          quality rules, freshness SLA, owners, contacts; from the log, or the file
  subscriptions [--domain D] [--json]
                          the content patterns that route mesh events to domain inboxes
  tables [--json] [--warehouse DIR|s3://bucket/prefix] [S3 flags]
                          tables with their current version, rows and location
  query 'SQL' [--json|--csv] [--as-of VERSION] [--warehouse DIR|s3://...] [--cache DIR] [S3 flags]
                          SQL over the tables (by domain.table name), run by embedded DuckDB;
                          files of an S3 warehouse are downloaded to --cache first
  replay [--projection P|all] [--list] [--twice] [--verify [--admin URL,...]] [--progress]
                          rebuild a projection from offset 0 and print its digest; --verify
                          compares it, partition by partition, with the live stores of a
                          running dev or run (exit 1 on any difference); progress on a terminal
  tail [TOPIC...] [--from-beginning] [--json] [-n N]
                          print records as they arrive, decoded with their writer's schema
  schema list             list registered subjects with their versions and ids
  schema check FILE.avsc --subject S
                          check a contract change against the registry's compatibility rules
  schema register FILE.avsc --subject S
                          register a contract under a subject
  produce --topic T --schema FILE.avsc [--subject S] [--key FIELD] [--create] [-f FILE|-]
                          register the schema under S (default T-value; the registry's
                          compatibility rule decides), then produce NDJSON lines (default stdin)
                          as Confluent-framed Avro, keyed by FIELD; nothing if any line is bad
  version                 print the version

Processor flags (dev, run):
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
	case "run":
		return cmdRun(ctx, g, cargs, stdout, stderr)
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
	case "products":
		return cmdProducts(ctx, g, cargs, stdout, stderr)
	case "subscriptions":
		return cmdSubscriptions(ctx, g, cargs, stdout, stderr)
	case "grant":
		return cmdGrant(ctx, g, cargs, stdout, stderr)
	case "revoke":
		return cmdRevoke(ctx, g, cargs, stdout, stderr)
	case "run-product":
		return cmdRunProduct(ctx, g, cargs, stdout, stderr)
	case "jobs":
		return cmdJobs(ctx, g, cargs, stdout, stderr)
	case "incidents":
		return cmdIncidents(ctx, g, cargs, stdout, stderr)
	case "why":
		return cmdWhy(ctx, g, cargs, stdout, stderr)
	case "contract":
		return cmdContract(ctx, g, cargs, stdout, stderr)
	case "schema":
		return cmdSchema(ctx, g, cargs, stdout, stderr)
	case "produce":
		return cmdProduce(ctx, g, cargs, os.Stdin, stdout, stderr)
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
