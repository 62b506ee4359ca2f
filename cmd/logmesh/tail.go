package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logmesh/logmesh/internal/confluent"
	"github.com/logmesh/logmesh/internal/readout"
)

// tailFlags registers the flags of the command that prints records from
// topics as they arrive: logmesh facts in their typed form, any other
// Confluent-framed Avro value decoded with its writer's schema from the
// registry. Records that decode neither way are reported on stderr and
// count toward -n.
func tailFlags(fs *flag.FlagSet) runFunc {
	fromStart := fs.Bool("from-beginning", false, "start at the first record instead of the newest")
	asJSON := fs.Bool("json", false, "print one JSON object per line")
	limit := fs.Int("n", 0, "exit after this many records, undecodable ones included (0: run until Ctrl-C)")
	return func(ctx context.Context, g global, in *cmdInput) error {
		topics, stdout, stderr := in.args, in.stdout, in.stderr
		codec, srcl, err := g.codec()
		if err != nil {
			return err
		}
		conn, err := g.reach(ctx, "to follow the log")
		if err != nil {
			return err
		}
		reset := kgo.NewOffset().AtEnd()
		if *fromStart {
			reset = kgo.NewOffset().AtStart()
		}
		opts := []kgo.Opt{kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(reset)}
		if len(topics) == 0 {
			// Every topic of the installation but the registry's own.
			opts = append(opts, kgo.ConsumeRegex(), kgo.ConsumeTopics(g.topics.All().Pattern))
		} else {
			opts = append(opts, kgo.ConsumeTopics(topics...))
		}
		cl, err := conn.Client(opts...)
		if err != nil {
			return fmt.Errorf("tail: %w", err)
		}
		defer cl.Close()
		p := &printer{dec: readout.New(codec, confluent.NewDecoder(srcl)), json: *asJSON, w: stdout}
		seen := 0
		for {
			fetches := cl.PollFetches(ctx)
			if ctx.Err() != nil || fetches.IsClientClosed() {
				return nil
			}
			for _, fe := range fetches.Errors() {
				fmt.Fprintf(stderr, "tail: %s/%d: %v\n", fe.Topic, fe.Partition, fe.Err)
			}
			for it := fetches.RecordIter(); !it.Done(); {
				r := it.Next()
				if err := p.print(ctx, r); err != nil {
					fmt.Fprintf(stderr, "tail: %s/%d@%d: %v\n", r.Topic, r.Partition, r.Offset, err)
				}
				seen++
				if *limit > 0 && seen >= *limit {
					return nil
				}
			}
		}
	}
}

// printer prints one record per line.
type printer struct {
	dec  *readout.Decoder
	json bool
	w    io.Writer
}

// print prints r: a fact with its time, name and id, any other Avro value
// with its record's timestamp, schema name and id.
func (p *printer) print(ctx context.Context, r *kgo.Record) error {
	ro, err := p.dec.Decode(ctx, r)
	if err != nil {
		return err
	}
	switch {
	case p.json:
		_, err = fmt.Fprintf(p.w, "%s\n", ro.JSON)
	case ro.Fact:
		_, err = fmt.Fprintf(p.w, "%s[%d]@%d %s %s %s %s\n", r.Topic, r.Partition, r.Offset,
			ro.OccurredAt.UTC().Format(time.RFC3339Nano), ro.Name, ro.EventID, ro.JSON)
	default:
		_, err = fmt.Fprintf(p.w, "%s[%d]@%d %s %s schema-id=%d %s\n", r.Topic, r.Partition, r.Offset,
			r.Timestamp.UTC().Format(time.RFC3339Nano), ro.Name, ro.SchemaID, ro.JSON)
	}
	return err
}
