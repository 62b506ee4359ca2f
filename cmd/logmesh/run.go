package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/logmesh/logmesh/platform"
)

// cmdRun runs the named processors in this process against the cluster and
// registry of the global flags, until ctx ends or one fails.
func cmdRun(ctx context.Context, g global, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	list := fs.Bool("list", false, "list the processors and exit")
	pf := addProcFlags(fs, "")
	names, err := interspersed(fs, args)
	if err != nil {
		return err
	}
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
	if len(names) == 0 {
		return fmt.Errorf("run PROCESSOR... (one or more of %s, or --list): %w",
			strings.Join(platform.ProcessorNames(), ", "), errUsage)
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
