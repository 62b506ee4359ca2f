package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/processors/host"
	"github.com/logmesh/logmesh/projections"
	"github.com/logmesh/logmesh/projections/audit"
	"github.com/logmesh/logmesh/projections/lineage"
	"github.com/logmesh/logmesh/state"
)

// errNondeterministic makes `replay --twice` exit non-zero.
var errNondeterministic = errors.New("replay: two folds of the same log differ")

// cmdReplay rebuilds a projection from offset 0 in a fresh store and prints
// its digest; --twice folds the log twice and compares.
func cmdReplay(ctx context.Context, g global, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("projection", "audit", "the projection to rebuild: audit or lineage")
	twice := fs.Bool("twice", false, "fold the log twice into fresh stores and require equal digests")
	if _, err := interspersed(fs, args); err != nil {
		return err
	}
	var proj projections.Projection
	var topics []string
	switch *name {
	case "audit":
		proj, topics = audit.Projection{}, []string{events.DomainTopic(events.DomainRaw), events.BatchesTopic}
	case "lineage":
		proj, topics = lineage.Projection{}, []string{events.DomainTopic(events.DomainRaw), events.CentralTopic}
	default:
		return fmt.Errorf("replay: unknown projection %q (audit, lineage): %w", *name, errUsage)
	}
	codec, _, err := g.codec()
	if err != nil {
		return err
	}
	fold := func() ([32]byte, host.Progress, error) {
		st, err := state.Open("", &state.Options{FS: vfs.NewMem()})
		if err != nil {
			return [32]byte{}, host.Progress{}, err
		}
		defer st.Close()
		prog, err := host.Replay(ctx, proj, st, codec, host.Brokers(g.brokers...), host.Topics(topics...), host.Sync(false))
		if err != nil {
			return [32]byte{}, prog, err
		}
		d, err := st.DigestAll()
		return d, prog, err
	}
	d1, prog, err := fold()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: folded %d records (%d poison) from offset 0; digest %s\n",
		*name, prog.Records, prog.Poison, hex.EncodeToString(d1[:]))
	if !*twice {
		return nil
	}
	d2, _, err := fold()
	if err != nil {
		return err
	}
	if d1 != d2 {
		fmt.Fprintf(stdout, "%s: second fold digest %s DIFFERS\n", *name, hex.EncodeToString(d2[:]))
		return errNondeterministic
	}
	fmt.Fprintf(stdout, "%s: second fold gives the same digest: deterministic\n", *name)
	return nil
}
