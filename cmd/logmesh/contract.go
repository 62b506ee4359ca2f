package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/odcs"
	"github.com/logmesh/logmesh/mesh"
	"github.com/logmesh/logmesh/projections/definitions"
)

// contractFlags registers the flags of the command that prints a product's
// data contract as an ODCS v3.0.2 document (internal/odcs): by default the
// definition in force on the log (its ProductPublished event and, for a
// source-aligned product, its feed's FeedDefined with the validation
// rules), status active; with --config, the definition in a mesh file, read
// without a platform, status proposed. Both give the same document for the
// same definition, status aside.
func contractFlags(fs *flag.FlagSet) runFunc {
	asJSON := fs.Bool("json", false, "print JSON instead of YAML")
	config := fs.String("config", "", "read the definition from this mesh file instead of the log")
	return func(ctx context.Context, g global, in *cmdInput) error {
		pos, stdout := in.args, in.stdout
		name := pos[0]
		if _, _, ok := strings.Cut(name, "."); !ok {
			return fmt.Errorf("contract: %q is not domain.name: %w", name, errUsage)
		}
		var c *odcs.Contract
		var err error
		if *config != "" {
			c, err = contractFromFile(*config, name)
		} else {
			c, err = g.contractFromLog(ctx, name)
		}
		if err != nil {
			return err
		}
		var out []byte
		if *asJSON {
			out, err = c.JSON()
		} else {
			out, err = c.YAML()
		}
		if err != nil {
			return fmt.Errorf("contract: %w", err)
		}
		_, err = stdout.Write(out)
		return err
	}
}

// contractFromFile builds the contract of a product of a mesh file.
func contractFromFile(path, name string) (*odcs.Contract, error) {
	m, err := mesh.Load(path)
	if err != nil {
		return nil, fmt.Errorf("contract: %w", err)
	}
	p, ok := m.Product(name)
	if !ok {
		return nil, fmt.Errorf("contract: no product %s in %s: %w", name, path, errMesh)
	}
	opts := []odcs.Option{odcs.WithStatus(odcs.StatusProposed)}
	if f, ok := m.Feed(p.Feed); ok {
		opts = append(opts, odcs.WithFeed(f))
	}
	c, err := odcs.New(p, opts...)
	if err != nil {
		return nil, fmt.Errorf("contract: %w", err)
	}
	return c, nil
}

// contractFromLog builds the contract of a product from the definition
// events in force on the log.
func (g global) contractFromLog(ctx context.Context, name string) (*odcs.Contract, error) {
	st, err := g.meshState(ctx)
	if err != nil {
		return nil, err
	}
	def, ok := st.product(name)
	if !ok {
		if d, known := st.all[definitions.Key{Kind: definitions.KindProduct, Name: name}]; known && d.Retired {
			return nil, fmt.Errorf("contract: %s was retired at %s: %w", name, d.At.UTC().Format(time.RFC3339), errMesh)
		}
		return nil, fmt.Errorf("contract: no product %s on the log (logmesh products lists them): %w", name, errMesh)
	}
	facts, err := g.readFacts(ctx, events.TopicNames(g.topics.Domain(def.Domain)), events.NameProductPublished)
	if err != nil {
		return nil, err
	}
	var pub *events.ProductPublished
	for _, f := range facts {
		if e, ok := f.ev.(*events.ProductPublished); ok && e.Envelope.EventID == def.EventID {
			pub = e
		}
	}
	if pub == nil {
		return nil, fmt.Errorf("contract: the ProductPublished event %s of %s is not on %s: %w", def.EventID, name, g.topics.Domain(def.Domain), errMesh)
	}
	p := mesh.ProductFromEvent(pub)
	opts := []odcs.Option{odcs.WithDefinitionHash(pub.DefinitionHash)}
	if p.Kind == mesh.KindSourceAligned {
		feed, err := g.feedOf(ctx, st, p)
		if err != nil {
			return nil, err
		}
		if feed != nil {
			opts = append(opts, odcs.WithFeed(feed))
		}
	}
	c, err := odcs.New(p, opts...)
	if err != nil {
		return nil, fmt.Errorf("contract: %w", err)
	}
	return c, nil
}

// feedOf returns the feed in force that loads a source-aligned product's
// table, rebuilt from its FeedDefined event, or nil if there is none.
func (g global) feedOf(ctx context.Context, st meshState, p *mesh.Product) (*mesh.Feed, error) {
	live := map[string]bool{}
	for _, d := range st.live(definitions.KindFeed) {
		live[d.EventID] = true
	}
	facts, err := g.readFacts(ctx, events.TopicNames(g.topics.Domain(p.Domain)), events.NameFeedDefined)
	if err != nil {
		return nil, err
	}
	for _, f := range facts {
		e, ok := f.ev.(*events.FeedDefined)
		if !ok || !live[e.Envelope.EventID] || e.Table != p.Output.Table {
			continue
		}
		feed, err := mesh.FeedFromEvent(e)
		if err != nil {
			return nil, fmt.Errorf("contract: feed %s: %w", e.Feed, err)
		}
		return &feed, nil
	}
	return nil, nil
}
