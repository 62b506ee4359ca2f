package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/logmesh/logmesh/mesh"
	"github.com/logmesh/logmesh/platform"
)

// listFlag is a flag that may be given several times, or once with
// comma-separated values.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// applyDoc is the help text of apply.
const applyDoc = `Plan mesh files (a file, or a folder's *.yaml and *.yml files as one mesh)
against the definitions on the log, print the plan and, unless --plan, apply
it. The plan covers only the domains the files declare (and those to
retire): their feeds, products, grants and subscriptions are added, changed
and retired; another domain's are never touched. A domain is retired only
with --retire-domain, once nothing of its own is live. A key pattern that
overlaps another domain's feed, a contract change the registry refuses, or a
domain that cannot be retired refuses the whole plan; of two applies racing
for one domain, the log takes one and refuses the other ("plan again").
With --catalog, the catalog plans and applies the files as the token's
principal: a domain's token changes only its own domain, governance any.
On a terminal, progress (the stage, done of total, rate, ETA) goes to
stderr; piped, nothing but the plan (-v logs each finished stage).`

// applyFlags registers the flags of the command that plans mesh files (-f:
// a file, or a folder of *.yaml and *.yml files read as one mesh) against
// the definitions on the log, prints the plan and, unless --plan (or
// --dry-run), applies it.
//
// The plan covers only the domains the files declare, and those to retire
// with --retire-domain: within them it adds, changes and retires
// (DomainDefined, FeedDefined, ProductPublished, ShareGranted,
// SubscriptionDefined; FeedRetired, ProductRetired, ShareRevoked,
// SubscriptionRemoved for what is no longer in the files); another
// domain's definitions are never touched. A domain is retired
// (DomainRetired) only on request and only when nothing of its own is
// live. Every product's contract is checked with the registry first; a key
// pattern overlapping another domain's feed, a contract change the
// registry refuses, or a domain that cannot be retired refuses the whole
// plan. Two applies racing for one domain are decided on the log: the
// loser is refused with the winner's name (platform.Definer.Apply).
//
// With --catalog the files go to the catalog's POST /v1/apply and the plan
// is computed and applied there, as the token's principal: a domain's
// token changes only its own domain, governance any.
func applyFlags(fs *flag.FlagSet) runFunc {
	file := fs.String("f", "", "the mesh file, or a folder of *.yaml/*.yml mesh files, to apply")
	dryRun := fs.Bool("plan", false, "print the plan, emit nothing")
	fs.BoolVar(dryRun, "dry-run", false, "the same as --plan")
	var retire listFlag
	fs.Var(&retire, "retire-domain", "retire this domain (repeatable): only once nothing of its own is live")
	api := addCatalogFlags(fs)
	return func(ctx context.Context, g global, in *cmdInput) error {
		stdout := in.stdout
		if *file == "" && len(retire) == 0 {
			return usageError("apply: give -f mesh.yaml|DIR, or --retire-domain D")
		}
		var srcs []mesh.Source
		var err error
		if *file != "" {
			if srcs, err = mesh.ReadSources(*file); err != nil {
				return fmt.Errorf("apply: %w", err)
			}
		}
		if api.url != "" {
			return applyThroughCatalog(ctx, api, srcs, retire, *dryRun, stdout)
		}
		codec, srcl, err := g.codec()
		if err != nil {
			return err
		}
		conn, err := g.reach(ctx, "to apply the mesh")
		if err != nil {
			return err
		}
		d := &platform.Definer{Conn: conn, Codec: codec, Registry: srcl, Topics: g.topics}
		progress, done := applyProgress(in.stderr, g.log)
		rep, err := d.Apply(ctx, platform.ApplyInput{Name: cmp.Or(*file, "apply"), Sources: srcs, RetireDomains: retire,
			By: "cli:" + whoami(), PlanOnly: *dryRun, Progress: progress})
		done()
		if rep != nil {
			for _, l := range rep.Lines() {
				fmt.Fprintln(stdout, l)
			}
		}
		if err != nil {
			return fmt.Errorf("apply: %w", err)
		}
		return nil
	}
}

// applyProgress returns apply's progress function and what to call when
// it is done: on a terminal, a line on stderr (the stage, done of total,
// rate, ETA); otherwise one structured log line per finished stage, at
// debug level (-v), and nothing else.
func applyProgress(stderr io.Writer, log *slog.Logger) (func(platform.ApplyProgress), func()) {
	if isTerminal(stderr) {
		m := newApplyMeter(stderr, time.Now)
		return m.update, m.finish
	}
	return func(p platform.ApplyProgress) {
		if p.Done == p.Total {
			log.Debug("apply", "stage", p.Stage, "done", p.Done, "total", p.Total)
		}
	}, func() {}
}

// whoami names the user running the command, for the definitions it
// applies.
func whoami() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return cmp.Or(os.Getenv("USER"), "unknown")
}
