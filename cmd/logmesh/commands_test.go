package main

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/logmesh/logmesh/platform"
)

// unreachable are global flags under which any use of Kafka or the
// registry fails: nothing listens on port 1.
var unreachable = []string{"--brokers", "127.0.0.1:1", "--registry", "http://127.0.0.1:1"}

// runOffline runs the command line with no Kafka or registry reachable,
// bounded in time so that a command that tries one fails rather than hangs.
func runOffline(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	err = run(ctx, append(append([]string{}, unreachable...), args...), &out, &errOut)
	return out.String(), errOut.String(), err
}

// everyCommand is the table with the sub-commands after their group.
func everyCommand() []*command {
	var all []*command
	for _, c := range commands() {
		all = append(all, c)
		all = append(all, c.subs...)
	}
	return all
}

// placeholder is a positional argument in a synopsis: a word in capitals
// perhaps in brackets ("PRODUCT", "FILE|DIR...", "'SQL'", "[TOPIC...]").
var placeholder = regexp.MustCompile(`(^|\s)\[?'?[A-Z][A-Z.|']*(\.\.\.)?\]?(\s|$)`)

// Every command and sub-command answers --help, -h and `help CMD` with its
// synopsis (its positional arguments among it), summary and flags on
// stdout, exit 0, and touches neither Kafka nor the registry.
func TestCommandHelp(t *testing.T) {
	for _, c := range everyCommand() {
		if c.maxArgs != 0 && !placeholder.MatchString(strings.TrimPrefix(c.synopsis, c.name)) {
			t.Errorf("%s takes arguments, but its synopsis %q names none", c.name, c.synopsis)
		}
		words := strings.Fields(c.name)
		for _, args := range [][]string{
			append(append([]string{}, words...), "--help"),
			append(append([]string{}, words...), "-h"),
			append([]string{"help"}, words...),
		} {
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				start := time.Now()
				out, errOut, err := runOffline(t, args...)
				if err != nil {
					t.Fatalf("exit non-zero: %v\nstderr: %s", err, errOut)
				}
				if took := time.Since(start); took > 2*time.Second {
					t.Errorf("took %s: help waited on something", took)
				}
				if want := "Usage: logmesh " + c.synopsis + "\n"; !strings.HasPrefix(out, want) {
					t.Errorf("stdout does not start with %q:\n%s", want, out)
				}
				if !strings.Contains(out, c.summary) {
					t.Errorf("stdout lacks the summary %q:\n%s", c.summary, out)
				}
				if errOut != "" {
					t.Errorf("stderr: %q", errOut)
				}
			})
		}
	}
	// The flags are listed with their help text.
	out, _, err := runOffline(t, "land", "--help")
	if err != nil || !strings.Contains(out, "-connect-timeout") || !strings.Contains(out, "-prefix") {
		t.Errorf("land --help: %v\n%s", err, out)
	}
}

// A usage error exits 2 (errUsage) everywhere, with the command's
// synopsis on stderr and the reason in the error, before any network.
func TestCommandUsageErrors(t *testing.T) {
	tests := []struct {
		args     []string
		synopsis string // the command whose synopsis is printed
		says     string
	}{
		{[]string{"run", "bogus"}, "run", `unknown processor "bogus"`},
		{[]string{"run", "watcher", "bogus"}, "run", "olpush"},
		{[]string{"run"}, "run", "one or more of"},
		{[]string{"why"}, "why", "missing PRODUCT: "},
		{[]string{"why", "a.b", "c.d"}, "why", `unexpected argument "c.d"`},
		{[]string{"why", "nodot"}, "why", "not domain.name"},
		{[]string{"contract"}, "contract", "missing PRODUCT"},
		{[]string{"tail", "--bogus"}, "tail", "-bogus"},
		{[]string{"tail", "-n", "many"}, "tail", "invalid value"},
		{[]string{"land"}, "land", "missing FILE|DIR..."},
		{[]string{"query"}, "query", "missing 'SQL'"},
		{[]string{"query", "select 1", "select 2"}, "query", "unexpected argument"},
		{[]string{"products", "extra"}, "products", `unexpected argument "extra"`},
		{[]string{"jobs", "--nope"}, "jobs", "-nope"},
		{[]string{"grant", "a.b"}, "grant", "--to DOMAIN"},
		{[]string{"dev", "--processors", "bogus"}, "dev", "unknown processor"},
		{[]string{"dev", "extra"}, "dev", "unexpected argument"},
		{[]string{"files", "retry"}, "files retry", "give keys or --status"},
		{[]string{"files", "--status", "DONE"}, "files", "unknown status"},
		{[]string{"schema"}, "schema", "list, check, register"},
		{[]string{"schema", "drop"}, "schema", `"drop"`},
		{[]string{"schema", "list", "extra"}, "schema list", "unexpected argument"},
		{[]string{"schema", "check", "x.avsc"}, "schema check", "--subject"},
		{[]string{"produce", "--topic", "t"}, "produce", "--schema"},
		{[]string{"version", "x"}, "version", "unexpected argument"},
	}
	table := map[string]*command{}
	for _, c := range everyCommand() {
		table[c.name] = c
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, errOut, err := runOffline(t, tt.args...)
			if !errors.Is(err, errUsage) {
				t.Fatalf("%v; want a usage error (exit 2)", err)
			}
			if !strings.Contains(err.Error(), tt.says) {
				t.Errorf("error %q does not say %q", err, tt.says)
			}
			if want := "Usage: logmesh " + table[tt.synopsis].synopsis + "\n"; !strings.HasPrefix(errOut, want) {
				t.Errorf("stderr does not start with %q: %q", want, errOut)
			}
			if out != "" {
				t.Errorf("stdout: %q", out)
			}
		})
	}
	_, errOut, err := runOffline(t, "frobnicate")
	if !errors.Is(err, errUsage) || !strings.Contains(errOut, "\n  why PRODUCT") {
		t.Errorf("an unknown command: %v, stderr %q; want a usage error and the commands", err, errOut)
	}
}

// The top-level usage names every command of the table, with its
// synopsis, and every processor.
func TestCommandTopLevelUsage(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		out, _, err := runOffline(t, args...)
		if err != nil {
			t.Fatalf("logmesh %v: %v", args, err)
		}
		for _, c := range everyCommand() {
			if c.flags == nil {
				continue // a group: its sub-commands are listed
			}
			if !strings.Contains(out, "\n  "+c.synopsis+" ") && !strings.Contains(out, "\n  "+c.synopsis+"\n") {
				t.Errorf("logmesh %v does not list %q", args, c.synopsis)
			}
		}
		for _, p := range platform.ProcessorNames() {
			if !regexp.MustCompile(`\s` + regexp.QuoteMeta(p) + `(,|\n)`).MatchString(out) {
				t.Errorf("logmesh %v does not name the processor %s", args, p)
			}
		}
	}
	if _, errOut, err := runOffline(t); !errors.Is(err, errUsage) || !strings.Contains(errOut, "\n  version ") {
		t.Errorf("logmesh alone: %v, stderr %q; want a usage error and the usage", err, errOut)
	}
}

// With no Kafka (or no catalog, with --catalog), the commands say so on
// one line that names the address, what for, and the next step, as land
// does.
func TestCommandUnreachable(t *testing.T) {
	addr := refusedAddr(t)
	kafka := []string{"Kafka at " + addr, "connection refused", "--brokers HOST:PORT"}
	cat := []string{"the catalog at http://" + addr, "connection refused", "--catalog URL"}
	for _, tt := range []struct {
		args []string
		says []string
	}{
		{[]string{"products"}, kafka}, {[]string{"subscriptions"}, kafka}, {[]string{"jobs"}, kafka},
		{[]string{"incidents"}, kafka}, {[]string{"files"}, kafka}, {[]string{"files", "retry", "a.csv"}, kafka},
		{[]string{"tables"}, kafka}, {[]string{"why", "a.b"}, kafka}, {[]string{"contract", "a.b"}, kafka},
		{[]string{"run-product", "a.b"}, kafka}, {[]string{"grant", "a.b", "--to", "c"}, kafka},
		{[]string{"tail", "-n", "1"}, kafka},
		{[]string{"files", "--catalog", "http://" + addr}, cat},
		{[]string{"grant", "a.b", "--to", "c", "--catalog", "http://" + addr}, cat},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var out, errOut bytes.Buffer
			err := run(ctx, append([]string{"--brokers", addr, "--registry", "http://" + addr}, tt.args...), &out, &errOut)
			var ue *unreachableError
			if !errors.As(err, &ue) {
				t.Fatalf("%v (%T); want an *unreachableError", err, err)
			}
			msg := err.Error()
			for _, want := range tt.says {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not say %q", msg, want)
				}
			}
			if strings.Contains(msg, "\n") || strings.Contains(msg, "landing") {
				t.Errorf("error %q: want one line about this command", msg)
			}
		})
	}
}
