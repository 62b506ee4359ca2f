package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/logmesh/logmesh/events"
)

// cmdRunProduct asks for a run of a product now: a RunRequested on its
// owner's bus, which the router brings to the owner's orchestrator.
func cmdRunProduct(ctx context.Context, g global, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("run-product", flag.ContinueOnError)
	fs.SetOutput(stderr)
	reason := fs.String("reason", "", "why (recorded with the request)")
	by := fs.String("by", "cli", "who asks (recorded as BY:$USER)")
	pos, err := interspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("run-product PRODUCT [--reason R] [--by WHO]: %w", errUsage)
	}
	st, err := g.meshState(ctx)
	if err != nil {
		return err
	}
	d, ok := st.product(pos[0])
	switch {
	case !ok:
		return fmt.Errorf("run-product: unknown product %q (logmesh products lists them): %w", pos[0], errMesh)
	case d.Product.Kind != "consumer-aligned":
		return fmt.Errorf("run-product: %s is %s: its feed loads it, there is no job to run: %w", pos[0], d.Product.Kind, errMesh)
	}
	ev := &events.RunRequested{
		Envelope: events.Envelope{EventID: events.NewID(), OccurredAt: time.Now().UTC().Truncate(time.Microsecond),
			Domain: d.Product.Owner, CorrelationID: events.NewID()},
		Product: pos[0], RequestedBy: grantor(*by),
	}
	if *reason != "" {
		ev.Reason = reason
	}
	if err := g.emit(ctx, ev); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "requested a run of %s (request %s)\n", pos[0], ev.Envelope.EventID)
	return nil
}
