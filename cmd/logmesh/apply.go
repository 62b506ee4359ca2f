package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/mesh"
	"github.com/logmesh/logmesh/internal/platform"
	"github.com/logmesh/logmesh/internal/validate"
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
	cl, err := kgo.NewClient(kgo.SeedBrokers(g.brokers...))
	if err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	defer cl.Close()
	domains := make([]string, 0, len(m.Domains))
	for _, d := range m.Domains {
		domains = append(domains, d.Name)
	}
	if !*dryRun {
		if err := platform.EnsureTopics(ctx, cl, events.DefaultTopics(domains...)); err != nil {
			return fmt.Errorf("apply: %w", err)
		}
	}
	current, err := readDefinitions(ctx, g.brokers, codec, domains, stderr)
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
		fmt.Fprintf(stdout, "dry run: %s would be applied, nothing emitted\n", definitions(len(emit)))
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
		recs = append(recs, r)
	}
	// Not one transaction: a failure part-way leaves some definitions
	// applied, and the next apply plans only the rest.
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("apply: produce: %w", err)
	}
	fmt.Fprintf(stdout, "applied %s\n", definitions(len(emit)))
	return nil
}

// definitions returns "1 definition" or "n definitions".
func definitions(n int) string {
	if n == 1 {
		return "1 definition"
	}
	return fmt.Sprintf("%d definitions", n)
}

// definitionKey identifies a definition: a domain or a feed by name.
type definitionKey struct{ kind, name string }

// definition is the latest definition of a domain or feed on the log.
type definition struct {
	hash  string
	at    time.Time
	topic string
}

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
			k, hash = definitionKey{mesh.KindDomain, ev.DomainName}, ev.DefinitionHash
		case *events.FeedDefined:
			k, hash = definitionKey{mesh.KindFeed, ev.Feed}, ev.DefinitionHash
		default:
			continue
		}
		wanted[k] = true
		s := planStep{kind: k.kind, name: k.name}
		switch cur, ok := current[k]; {
		case !ok:
			s.op, s.ev = '+', ev
		case cur.hash != hash:
			s.op, s.ev = '~', ev
		default:
			s.op = '='
		}
		steps = append(steps, s)
	}
	var gone []planStep
	for k := range current {
		if !wanted[k] {
			gone = append(gone, planStep{op: '-', kind: k.kind, name: k.name})
		}
	}
	slices.SortFunc(gone, func(a, b planStep) int {
		return cmp.Or(-cmp.Compare(a.kind, b.kind), cmp.Compare(a.name, b.name)) // "domain" before "feed"
	})
	return append(steps, gone...)
}

// readDefinitions reads the definitions committed on the log so far: every
// DomainDefined on the central bus, then every FeedDefined on the events
// topic of each domain defined there or named in domains. The latest
// definition of each domain and feed wins: the later in its partition, or
// the later occurred_at across topics (a feed moved to another domain).
// Undecodable definition events are reported on warn and skipped.
func readDefinitions(ctx context.Context, brokers []string, codec *events.Codec, domains []string, warn io.Writer) (map[definitionKey]definition, error) {
	out := map[definitionKey]definition{}
	keep := func(k definitionKey, d definition) {
		if cur, ok := out[k]; !ok || cur.topic == d.topic || !d.at.Before(cur.at) {
			out[k] = d
		}
	}
	fold := func(r *kgo.Record) {
		name := header(r, events.HeaderEvent)
		if name != events.NameDomainDefined && name != events.NameFeedDefined {
			return
		}
		ev, err := codec.Decode(ctx, r.Value)
		if err != nil {
			fmt.Fprintf(warn, "apply: skipping %s at %s/%d@%d: %v\n", name, r.Topic, r.Partition, r.Offset, err)
			return
		}
		switch ev := ev.(type) {
		case *events.DomainDefined:
			keep(definitionKey{mesh.KindDomain, ev.DomainName}, definition{ev.DefinitionHash, ev.Envelope.OccurredAt, r.Topic})
		case *events.FeedDefined:
			keep(definitionKey{mesh.KindFeed, ev.Feed}, definition{ev.DefinitionHash, ev.Envelope.OccurredAt, r.Topic})
		}
	}
	if err := readTopics(ctx, brokers, []string{events.CentralTopic}, fold); err != nil {
		return nil, err
	}
	all := slices.Clone(domains)
	for k := range out {
		all = append(all, k.name) // only domains so far
	}
	slices.Sort(all)
	var topics []string
	for _, d := range slices.Compact(all) {
		if d != events.DomainCentral {
			topics = append(topics, events.DomainTopic(d))
		}
	}
	if err := readTopics(ctx, brokers, topics, fold); err != nil {
		return nil, err
	}
	return out, nil
}

// readTopics calls fn, in each partition's order, for every record committed
// on topics up to their last stable offsets as of the call, with a direct
// read_committed consumer (no group) of its own. Topics that do not exist are skipped.
func readTopics(ctx context.Context, brokers []string, topics []string, fn func(*kgo.Record)) error {
	cons, err := kgo.NewClient(
		kgo.SeedBrokers(brokers...),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// A transaction ends in a control record; without it a partition
		// whose last stable offset follows one would never look read.
		kgo.KeepControlRecords(),
	)
	if err != nil {
		return err
	}
	defer cons.Close()
	adm := kadm.NewClient(cons)
	details, err := adm.ListTopics(ctx, topics...)
	if err != nil {
		return fmt.Errorf("list topics: %w", err)
	}
	var existing []string
	for _, t := range topics {
		if d, ok := details[t]; ok && d.Err == nil {
			existing = append(existing, t)
		}
	}
	if len(existing) == 0 {
		return nil
	}
	ends, err := adm.ListCommittedOffsets(ctx, existing...)
	if err != nil {
		return fmt.Errorf("end offsets: %w", err)
	}
	parts := map[string]map[int32]kgo.Offset{}
	end := map[string]map[int32]int64{}
	var lerr error
	ends.Each(func(o kadm.ListedOffset) {
		switch {
		case o.Err != nil:
			lerr = fmt.Errorf("end offset of %s/%d: %w", o.Topic, o.Partition, o.Err)
		case o.Offset > 0:
			if parts[o.Topic] == nil {
				parts[o.Topic], end[o.Topic] = map[int32]kgo.Offset{}, map[int32]int64{}
			}
			parts[o.Topic][o.Partition] = kgo.NewOffset().AtStart()
			end[o.Topic][o.Partition] = o.Offset
		}
	})
	if lerr != nil || len(parts) == 0 {
		return lerr
	}
	cons.AddConsumePartitions(parts)
	// A partition is read when a record at or past its end arrives. Aborted
	// records are dropped unseen, so if the last ones before the end are
	// aborted, the end shows only once the transaction still open after
	// them (which kept the last stable offset there) ends.
	behind := 0
	for _, ps := range end {
		behind += len(ps)
	}
	for behind > 0 {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		for _, fe := range fs.Errors() {
			return fmt.Errorf("fetch %s/%d: %w", fe.Topic, fe.Partition, fe.Err)
		}
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			for _, r := range p.Records {
				want, ok := end[p.Topic][p.Partition]
				if !ok {
					return
				}
				if r.Offset < want && !r.Attrs.IsControl() {
					fn(r)
				}
				if r.Offset+1 >= want {
					delete(end[p.Topic], p.Partition)
					behind--
				}
			}
		})
	}
	return nil
}
