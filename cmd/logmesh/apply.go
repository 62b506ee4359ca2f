package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/mesh"
	"github.com/logmesh/logmesh/internal/validate"
	"github.com/logmesh/logmesh/platform"
)

// cmdApply plans a mesh file against the definitions on the log, prints the
// plan and, unless --plan (or --dry-run), emits the definition events of
// what is new, changed or gone: DomainDefined, FeedDefined,
// ProductPublished, ShareGranted, SubscriptionDefined, and ProductRetired,
// ShareRevoked, SubscriptionRemoved for products, grants and subscriptions
// no longer in the file. Every product's contract (its output schema) is
// checked with the registry first; a change the registry's compatibility
// rule refuses stops the apply with the registry's reason.
func cmdApply(ctx context.Context, g global, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("apply", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("f", "", "the mesh file to apply")
	dryRun := fs.Bool("plan", false, "print the plan, emit nothing")
	fs.BoolVar(dryRun, "dry-run", false, "the same as --plan")
	pos, err := interspersed(fs, args)
	if err != nil {
		return err
	}
	if *file == "" || len(pos) > 0 {
		return fmt.Errorf("apply -f mesh.yaml [--plan]: %w", errUsage)
	}
	m, err := mesh.Load(*file)
	if err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	for i := range m.Feeds {
		if _, err := validate.New(&m.Feeds[i]); err != nil {
			return fmt.Errorf("apply: %s: %w", *file, err)
		}
	}
	codec, srcl, err := g.codec()
	if err != nil {
		return err
	}
	conn, err := g.conn()
	if err != nil {
		return err
	}
	domains := make([]string, 0, len(m.Domains))
	for _, d := range m.Domains {
		domains = append(domains, d.Name)
	}
	if !*dryRun {
		if err := conn.EnsureTopics(ctx, g.topics.Specs(0, domains...)...); err != nil {
			return fmt.Errorf("apply: %w", err)
		}
	}
	current, err := platform.ReadDefinitions(ctx, conn, codec, g.topics)
	if err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	now := time.Now()
	want := m.Definitions(now)
	steps := platform.Plan(current, want, now)
	var emit []events.Event
	for _, s := range steps {
		fmt.Fprintln(stdout, s)
		if s.Event != nil {
			emit = append(emit, s.Event)
		}
	}
	changes, err := platform.ContractChanges(ctx, srcl, steps, want)
	if err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	refused := 0
	for _, c := range changes {
		if !c.Compatible {
			refused++
		}
		if !c.First {
			fmt.Fprintln(stdout, c)
		}
	}
	switch {
	case refused > 0:
		return fmt.Errorf("apply: the registry refuses %d contract change(s); nothing emitted: %w", refused, platform.ErrRefused)
	case len(emit) == 0:
		fmt.Fprintln(stdout, "no changes")
		return nil
	case *dryRun:
		fmt.Fprintf(stdout, "dry run: %s would be applied, nothing emitted\n", plural(len(emit)))
		return nil
	}
	if err := codec.Register(ctx); err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	if err := platform.ApplySteps(ctx, conn, codec, srcl, g.topics, steps, changes); err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	fmt.Fprintf(stdout, "applied %s\n", plural(len(emit)))
	return nil
}

// plural returns "1 definition" or "n definitions".
func plural(n int) string {
	if n == 1 {
		return "1 definition"
	}
	return fmt.Sprintf("%d definitions", n)
}
