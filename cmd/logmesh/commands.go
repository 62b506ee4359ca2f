package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/logmesh/logmesh/platform"
)

// command is one entry of the command table: what `logmesh help` shows of
// it and how it runs.
type command struct {
	// name is the words that select the command: "tail", "files retry".
	name string
	// synopsis follows "Usage: logmesh " and shows the positional
	// arguments in capitals: "why PRODUCT [--job J]".
	synopsis string
	// summary is one line for the top-level usage.
	summary string
	// doc, if set, is printed by `logmesh help CMD` after the summary.
	doc string
	// minArgs and maxArgs bound the positional arguments; maxArgs < 0
	// means any number. The zero value takes none.
	minArgs, maxArgs int
	// flags registers the command's flags on fs and returns the function
	// that runs the command with them, once fs is parsed. Nil for a
	// command that only groups sub-commands.
	flags func(fs *flag.FlagSet) runFunc
	// subs are the sub-commands ("schema list"); the first positional
	// argument chooses one.
	subs []*command
}

// runFunc runs a command whose flags are parsed.
type runFunc func(ctx context.Context, g global, in *cmdInput) error

// cmdInput is what a command's run function gets besides the global
// flags: its positional arguments and the standard streams.
type cmdInput struct {
	args           []string
	stdin          io.Reader
	stdout, stderr io.Writer
}

// anyArgs is the maxArgs of a command that takes any number of arguments.
const anyArgs = -1

// commands is the command table, in the order of the top-level usage.
func commands() []*command {
	files := &command{name: "files", synopsis: "files [--status S] [--json] [--catalog URL --token T]",
		summary: "the file audit: each landed file's status, rows and errors",
		doc: `Each landed file's status (RECEIVED, BATCHED, PROCESSED, FAILED, UNMATCHED),
rows and errors, rebuilt from the log; with --catalog, read from the
catalog's live store as the token's principal may.`,
		flags: filesFlags}
	files.subs = []*command{{name: "files retry", synopsis: retrySynopsis,
		summary: "try files again that no feed took or that failed",
		doc: `The watcher lands each file again as its next attempt, matched against the
feeds in force then. Give the files by KEY (the latest file with that key)
or by --status (every UNMATCHED or FAILED file, landed since --since).`,
		maxArgs: anyArgs, flags: filesRetryFlags}}
	schema := &command{name: "schema", synopsis: "schema list|check|register ...",
		summary: "govern contracts in the schema registry"}
	schema.subs = []*command{
		{name: "schema list", synopsis: "schema list", summary: "list registered subjects with their versions and ids",
			flags: schemaListFlags},
		{name: "schema check", synopsis: "schema check FILE.avsc --subject S",
			summary: "check a contract change against the registry's compatibility rules",
			minArgs: 1, maxArgs: 1, flags: schemaCheckFlags},
		{name: "schema register", synopsis: "schema register FILE.avsc --subject S",
			summary: "register a contract under a subject", minArgs: 1, maxArgs: 1, flags: schemaRegisterFlags},
	}
	return []*command{
		{name: "dev", synopsis: "dev [--data DIR] [--processors LIST|none] [flags]",
			summary: "run the platform until Ctrl-C: embedded Kafka (or --brokers), registry, every processor",
			doc:     "--processors takes " + strings.Join(platform.ProcessorNames(), ", ") + ", or none.",
			flags:   devFlags},
		{name: "run", synopsis: "run [flags] PROCESSOR...",
			summary: "run processors in this process against --brokers and --registry until Ctrl-C",
			doc: "PROCESSOR is one or more of " + strings.Join(platform.ProcessorNames(), ", ") +
				".\nrun --list says what each does.",
			maxArgs: anyArgs, flags: runFlags},
		{name: "apply", synopsis: "apply -f mesh.yaml|DIR [--plan] [--retire-domain D] [--catalog URL --token T]",
			summary: "plan the mesh files against the definitions of the domains they declare, then apply the plan",
			doc:     applyDoc, flags: applyFlags},
		{name: "land", synopsis: "land [flags] FILE|DIR...",
			summary: "copy files, and folders' files, into the landing area",
			doc:     landDoc, minArgs: 1, maxArgs: anyArgs, flags: landFlags},
		files,
		{name: "products", synopsis: "products [--domain D] [--json]",
			summary: "data products: owner, kind, visibility, output table, last version, grants", flags: productsFlags},
		{name: "grant", synopsis: "grant PRODUCT --to DOMAIN [--purpose P] [--expires T] [--by DOMAIN | --catalog URL --token T]",
			summary: "let a domain read an enterprise-visible product (owner or central grants)",
			minArgs: 1, maxArgs: 1, flags: grantFlags},
		{name: "revoke", synopsis: "revoke PRODUCT --from DOMAIN [--reason R] [--by DOMAIN | --catalog URL --token T]",
			summary: "end a grant; the router stops delivering from that point of the log on",
			minArgs: 1, maxArgs: 1, flags: revokeFlags},
		{name: "run-product", synopsis: "run-product PRODUCT [--reason R] [--by WHO]",
			summary: "run a consumer-aligned product now, whatever its trigger (RunRequested)",
			minArgs: 1, maxArgs: 1, flags: runProductFlags},
		{name: "jobs", synopsis: "jobs [--product P] [--status S] [--json]",
			summary: "product job attempts: trigger, pinned inputs, status, version, error", flags: jobsFlags},
		{name: "incidents", synopsis: "incidents [--open] [--json]",
			summary: "incidents opened (failed files, failed jobs) and how they were resolved", flags: incidentsFlags},
		{name: "why", synopsis: "why PRODUCT [--job J | --pending [--json]]",
			summary: "the facts that started a run, the policy that fired, the pinned inputs, each outcome; with --pending, what the trigger waits for (as of --at)",
			minArgs: 1, maxArgs: 1, flags: whyFlags},
		{name: "contract", synopsis: "contract PRODUCT [--json] [--config mesh.yaml]",
			summary: "the product's data contract as an ODCS v3.0.2 document, from the log or the mesh file",
			minArgs: 1, maxArgs: 1, flags: contractFlags},
		{name: "subscriptions", synopsis: "subscriptions [--domain D] [--json]",
			summary: "the content patterns that route mesh events to domain inboxes", flags: subscriptionsFlags},
		{name: "tables", synopsis: "tables [--json] [--warehouse DIR|s3://bucket/prefix] [S3 flags]",
			summary: "tables with their current version, rows and location", flags: tablesFlags},
		{name: "query", synopsis: "query [flags] 'SQL'",
			summary: "SQL over the tables (by domain.table name), run by embedded DuckDB",
			doc:     "Files of an S3 warehouse are downloaded to --cache first.",
			minArgs: 1, maxArgs: 1, flags: queryFlags},
		{name: "replay", synopsis: "replay [--projection P|all] [--list] [--twice] [--verify [--admin URL,...]] [--progress]",
			summary: "rebuild a projection from offset 0 and print its digest",
			doc: `--verify compares it, partition by partition, with the live stores of a
running dev or run (exit 1 on any difference); progress on a terminal.`,
			flags: replayFlags},
		{name: "tail", synopsis: "tail [flags] [TOPIC...]",
			summary: "print records as they arrive, decoded with their writer's schema",
			maxArgs: anyArgs, flags: tailFlags},
		schema,
		{name: "produce", synopsis: "produce --topic T --schema FILE.avsc [--subject S] [--key FIELD] [--create] [-f FILE|-]",
			summary: "register the schema, then produce NDJSON lines as Confluent-framed Avro",
			doc: `The schema is registered under S (default T-value; the registry's
compatibility rule decides), then the NDJSON lines (default stdin) are
produced keyed by FIELD; nothing is produced if any line is bad.`,
			flags: produceFlags},
		{name: "version", synopsis: "version", summary: "print the version",
			flags: func(*flag.FlagSet) runFunc {
				return func(_ context.Context, _ global, in *cmdInput) error {
					_, err := fmt.Fprintln(in.stdout, "logmesh", version)
					return err
				}
			}},
	}
}

// lookup finds the command that args start with, descending into
// sub-commands, and returns the arguments after its name.
func lookup(table []*command, args []string) (*command, []string) {
	if len(args) == 0 {
		return nil, nil
	}
	for _, c := range table {
		if c.name != args[0] && !strings.HasSuffix(c.name, " "+args[0]) {
			continue
		}
		rest := args[1:]
		if len(rest) > 0 {
			if sub, subRest := lookup(c.subs, rest); sub != nil {
				return sub, subRest
			}
		}
		return c, rest
	}
	return nil, nil
}

// flagSet returns a flag set with the command's flags and its run
// function (nil for a group of sub-commands). The flag set prints nothing:
// the runner prints usage on the stream that fits.
func (c *command) flagSet() (*flag.FlagSet, runFunc) {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	var run runFunc
	if c.flags != nil {
		run = c.flags(fs)
	}
	return fs, run
}

// parse parses args for the command (flags anywhere, see interspersed)
// and checks the number of positional arguments. On -h or --help it
// returns flag.ErrHelp.
func (c *command) parse(fs *flag.FlagSet, args []string) ([]string, error) {
	pos, err := interspersed(fs, args)
	if err != nil {
		return nil, err
	}
	switch {
	case c.flags == nil && len(pos) == 0:
		return nil, fmt.Errorf("%s: want %s: %w", c.name, c.subNames(), errUsage)
	case c.flags == nil:
		return nil, fmt.Errorf("%s %q: want %s: %w", c.name, pos[0], c.subNames(), errUsage)
	case len(pos) < c.minArgs:
		return nil, fmt.Errorf("%s: missing %s: %w", c.name, c.argsWord(), errUsage)
	case c.maxArgs >= 0 && len(pos) > c.maxArgs:
		return nil, fmt.Errorf("%s: unexpected argument %q: %w", c.name, pos[c.maxArgs], errUsage)
	}
	return pos, nil
}

// argsWord names the positional arguments: the words in capitals of the
// synopsis outside brackets and not after a flag ("PRODUCT",
// "FILE|DIR...").
func (c *command) argsWord() string {
	syn := strings.TrimPrefix(c.synopsis, c.name)
	for {
		out := bracketed.ReplaceAllString(syn, "")
		if out == syn {
			break
		}
		syn = out
	}
	var words []string
	afterFlag := false
	for _, w := range strings.Fields(syn) {
		switch {
		case strings.HasPrefix(w, "-"):
			afterFlag = true
			continue
		case !afterFlag && w == strings.ToUpper(w) && strings.ContainsAny(w[:1], "ABCDEFGHIJKLMNOPQRSTUVWXYZ'"):
			words = append(words, w)
		}
		afterFlag = false
	}
	if len(words) == 0 {
		return "arguments"
	}
	return strings.Join(words, " ")
}

// bracketed is an innermost optional part of a synopsis.
var bracketed = regexp.MustCompile(`\[[^\[\]]*\]`)

func (c *command) subNames() string {
	var names []string
	for _, s := range c.subs {
		names = append(names, strings.TrimPrefix(s.name, c.name+" "))
	}
	return strings.Join(names, ", ")
}

// execute runs the command with args (the command's name taken off): it
// parses them, prints the command's help on -h/--help, the synopsis on a
// usage error, and otherwise calls the run function.
func (c *command) execute(ctx context.Context, g global, args []string, in *cmdInput) error {
	fs, run := c.flagSet()
	pos, err := c.parse(fs, args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		c.printHelp(fs, in.stdout)
		return nil
	case err != nil:
		c.printUsageError(in.stderr)
		return err
	}
	in.args = pos
	err = run(ctx, g, in)
	if errors.Is(err, errUsage) {
		c.printUsageError(in.stderr)
	}
	return err
}

// printHelp prints the command's usage: synopsis, summary, doc, flags and
// sub-commands.
func (c *command) printHelp(fs *flag.FlagSet, w io.Writer) {
	fmt.Fprintf(w, "Usage: logmesh %s\n\n%s\n", c.synopsis, c.summary)
	if c.doc != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(c.doc))
	}
	if len(c.subs) > 0 {
		fmt.Fprintln(w, "\nCommands:")
		for _, s := range c.subs {
			writeEntry(w, s)
		}
	}
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprintln(w, "\nFlags:")
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	fmt.Fprintln(w, "\nGlobal flags (--brokers, --registry, TLS, SASL, --topic-prefix, --at, -v) go anywhere on the line; see logmesh help.")
}

// printUsageError prints the synopsis and where the flags are said; the
// reason is the error, which main prints after it.
func (c *command) printUsageError(w io.Writer) {
	fmt.Fprintf(w, "Usage: logmesh %s\nRun 'logmesh help %s' for its flags.\n", c.synopsis, c.name)
}

// usageError is a usage error of the command: the reason, wrapped so
// that main exits 2.
func usageError(format string, a ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, a...), errUsage)
}

// help is `logmesh help [CMD...]`.
func help(table []*command, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stdout, usageText(table))
		return nil
	}
	c, rest := lookup(table, args)
	if c == nil || len(rest) > 0 {
		fmt.Fprint(stderr, usageText(table))
		return usageError("help: unknown command %q", strings.Join(args, " "))
	}
	fs, _ := c.flagSet()
	c.printHelp(fs, stdout)
	return nil
}
