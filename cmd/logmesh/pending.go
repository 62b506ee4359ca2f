package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/logmesh/logmesh/processors/orchestrator"
	"github.com/logmesh/logmesh/projections/orchestration"
)

// whyPending prints what product's trigger waits for, from the owner's
// inbox folded as of --at (now without it): `logmesh why P --pending`.
func whyPending(ctx context.Context, g global, product string, asJSON bool, stdout io.Writer) error {
	const purpose = "to read the domain's inbox"
	codec, _, err := g.codec()
	if err != nil {
		return err
	}
	conn, err := g.reach(ctx, purpose)
	if err != nil {
		return err
	}
	p, ok, err := orchestrator.Pending(ctx, conn, codec, g.topics, orchestrator.PendingQuery{Product: product, At: g.at, Logger: g.log})
	if err != nil {
		return g.unreachableRegistry(ctx, err, purpose, "")
	}
	if !ok {
		owner, _, _ := strings.Cut(product, ".")
		when := "yet"
		if !g.at.IsZero() {
			when = "at " + g.at.UTC().Format(time.RFC3339Nano)
		}
		return fmt.Errorf("why: %s has no trigger on %s %s: it is not a consumer-aligned product of %s (logmesh products): %w",
			product, g.topics.Inbox(owner), when, owner, errMesh)
	}
	if asJSON {
		return printJSON(stdout, p)
	}
	printPending(stdout, p)
	return nil
}

// printPending writes p as a block for a person.
func printPending(w io.Writer, p orchestration.Pending) {
	state := "waiting"
	if p.Ready {
		state = "ready"
	}
	fmt.Fprintf(w, "%s as of %s: %s, policy %q\n", p.Product, p.AsOf.Format(time.RFC3339), state, p.Policy)
	if len(p.WaitingFor) > 0 {
		fmt.Fprintln(w, "waiting for:")
		for _, s := range p.WaitingFor {
			fmt.Fprintf(w, "  %s\n", s)
		}
	}
	if p.Schedule != "" || p.NextScheduled != nil {
		next := "never"
		if p.NextScheduled != nil {
			next = p.NextScheduled.Format(time.RFC3339)
		}
		due := ""
		if p.ScheduleDue {
			due = " (a due time came and no run has started since)"
		}
		fmt.Fprintf(w, "schedule %q: next due %s%s\n", p.Schedule, next, due)
	}
	fmt.Fprintln(w, "inputs (* counts as refreshed for the trigger):")
	for _, in := range p.Inputs {
		mark := " "
		if in.Fresh {
			mark = "*"
		}
		fmt.Fprintf(w, "  %s %s  last seen %s, pinned %s", mark, in.Name, versionOrNone(in.LastSeen), versionOrNone(in.Pinned))
		if in.InFlight != nil {
			fmt.Fprintf(w, ", in flight %d", *in.InFlight)
		}
		if in.ExcludedByMaxAge {
			fmt.Fprintf(w, ", excluded by max age %s (%s old)", in.MaxAge, in.Age)
		}
		fmt.Fprintf(w, "\n      %s\n", in.Reason)
	}
	for _, n := range p.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}

// versionOrNone is "version N", or "none".
func versionOrNone(v *int64) string {
	if v == nil {
		return "none"
	}
	return fmt.Sprintf("version %d", *v)
}
