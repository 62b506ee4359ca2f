package main

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/logmesh/logmesh/platform"
)

// runFlags registers the flags of the command that runs the named
// processors in this process against the cluster and registry of the global
// flags, until ctx ends or one fails.
func runFlags(fs *flag.FlagSet) runFunc {
	list := fs.Bool("list", false, "list the processors and exit")
	pf := addProcFlags(fs, "")
	return func(ctx context.Context, g global, in *cmdInput) error {
		names, stdout, stderr := in.args, in.stdout, in.stderr
		if *list {
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PROCESSOR\tPROJECTION\tWHAT IT DOES")
			for _, s := range platform.Processors() {
				proj := "-"
				if s.Projection != nil {
					proj = s.Projection.Name()
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Name, proj, s.Doc)
			}
			return tw.Flush()
		}
		known := platform.ProcessorNames()
		if len(names) == 0 {
			return usageError("run: want one or more of %s (or --list)", strings.Join(known, ", "))
		}
		for _, n := range names {
			if !slices.Contains(known, n) {
				return usageError("run: unknown processor %q (%s)", n, strings.Join(known, ", "))
			}
		}
		cfg, err := pf.platformConfig(g)
		if err != nil {
			return err
		}
		cfg.DefinedBy = "logmesh run " + strings.Join(names, " ")
		p, err := platform.Start(ctx, cfg, names...)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "logmesh run: %s on %s (registry %s)\n", strings.Join(p.Names, ", "),
			strings.Join(cfg.Kafka.Brokers, ","), cfg.RegistryURL)
		if p.AdminURL != "" {
			fmt.Fprintf(stderr, "  admin %s\n", p.AdminURL)
		}
		return waitAndClose(ctx, g, p.Err(), p.Close)
	}
}
