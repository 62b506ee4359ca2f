package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkaconn"
	"github.com/logmesh/logmesh/internal/mesh"
	"github.com/logmesh/logmesh/internal/validate"
	"github.com/logmesh/logmesh/processors/host"
	"github.com/logmesh/logmesh/projections/definitions"
	"github.com/logmesh/logmesh/state"
)

// cmdApply plans a mesh file against the definitions on the log, prints the
// plan and, unless --dry-run, emits a DomainDefined or FeedDefined for each
// definition that is new or changed.
func cmdApply(ctx context.Context, g global, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("apply", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("f", "", "the mesh file to apply")
	dryRun := fs.Bool("dry-run", false, "print the plan, emit nothing")
	pos, err := interspersed(fs, args)
	if err != nil {
		return err
	}
	if *file == "" || len(pos) > 0 {
		return fmt.Errorf("apply -f mesh.yaml [--dry-run]: %w", errUsage)
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
	codec, _, err := g.codec()
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
	current, err := readDefinitions(ctx, conn, codec, g.topics)
	if err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	steps := planDefinitions(current, m.Definitions(time.Now()))
	var emit []events.Event
	for _, s := range steps {
		fmt.Fprintln(stdout, s)
		if s.ev != nil {
			emit = append(emit, s.ev)
		}
	}
	switch {
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
	recs := make([]*kgo.Record, 0, len(emit))
	for _, ev := range emit {
		r, err := codec.Record(ev)
		if err != nil {
			return fmt.Errorf("apply: %w", err)
		}
		r.Topic = g.topics.For(ev)
		recs = append(recs, r)
	}
	cl, err := conn.Client()
	if err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	defer cl.Close()
	// Not one transaction: a failure part-way leaves some definitions
	// applied, and the next apply plans only the rest.
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("apply: produce: %w", err)
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

// definitionKey identifies a definition: a domain or a feed by name.
type definitionKey = definitions.Key

// definition is the latest definition of a domain or feed on the log.
type definition = definitions.Definition

// planStep is one line of an apply plan.
type planStep struct {
	op         byte // '+' add, '~' change, '=' unchanged, '-' removed
	kind, name string
	ev         events.Event // what apply emits: set for '+' and '~'
}

func (s planStep) String() string {
	switch s.op {
	case '+':
		return fmt.Sprintf("+ %s %s", s.kind, s.name)
	case '~':
		return fmt.Sprintf("~ %s %s (changed)", s.kind, s.name)
	case '=':
		return fmt.Sprintf("= %s %s (unchanged)", s.kind, s.name)
	default:
		return fmt.Sprintf("- %s %s (removal is not supported yet; nothing is emitted)", s.kind, s.name)
	}
}

// planDefinitions compares the wanted definitions (mesh.Definitions) with
// the current ones: the wanted in their order, each added, changed or
// unchanged, then the current ones no longer wanted, domains first, by name.
func planDefinitions(current map[definitionKey]definition, want []events.Event) []planStep {
	var steps []planStep
	wanted := map[definitionKey]bool{}
	for _, ev := range want {
		var k definitionKey
		var hash string
		switch ev := ev.(type) {
		case *events.DomainDefined:
			k, hash = definitionKey{Kind: mesh.KindDomain, Name: ev.DomainName}, ev.DefinitionHash
		case *events.FeedDefined:
			k, hash = definitionKey{Kind: mesh.KindFeed, Name: ev.Feed}, ev.DefinitionHash
		default:
			continue
		}
		wanted[k] = true
		s := planStep{kind: k.Kind, name: k.Name}
		switch cur, ok := current[k]; {
		case !ok:
			s.op, s.ev = '+', ev
		case cur.Hash != hash:
			s.op, s.ev = '~', ev
		default:
			s.op = '='
		}
		steps = append(steps, s)
	}
	var gone []planStep
	for k := range current {
		if !wanted[k] && k.Kind != definitions.KindLocations {
			gone = append(gone, planStep{op: '-', kind: k.Kind, name: k.Name})
		}
	}
	slices.SortFunc(gone, func(a, b planStep) int {
		return cmp.Or(-cmp.Compare(a.kind, b.kind), cmp.Compare(a.name, b.name)) // "domain" before "feed"
	})
	return append(steps, gone...)
}

// readDefinitions folds the definitions projection over its topics, as the
// log has them now: the latest definition of every domain and feed.
func readDefinitions(ctx context.Context, conn kafkaconn.Conn, codec *events.Codec, names events.Topics) (map[definitionKey]definition, error) {
	st, err := state.Open("", &state.Options{FS: vfs.NewMem()})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	proj := definitions.Projection{}
	if _, err := host.Replay(ctx, proj, st, codec, conn, proj.Topics(names), host.Sync(false)); err != nil {
		return nil, err
	}
	return definitions.All(st)
}
