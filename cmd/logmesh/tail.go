package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/confluent"
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
		p := &printer{codec: codec, generic: confluent.NewDecoder(srcl), json: *asJSON, w: stdout}
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

var dlqTopic = regexp.MustCompile(`\.dlq$`)

// printer prints one record per line.
type printer struct {
	codec   *events.Codec
	generic *confluent.Decoder
	json    bool
	w       io.Writer
}

func (p *printer) print(ctx context.Context, r *kgo.Record) error {
	ev, err := p.codec.Decode(ctx, r.Value)
	if err != nil {
		if errors.Is(err, events.ErrUnknownEvent) || len(r.Value) < 5 || r.Value[0] != 0 {
			return p.printGeneric(ctx, r)
		}
		if dlqTopic.MatchString(r.Topic) {
			return fmt.Errorf("dead letter (%s): %w", header(r, "logmesh.dlq.reason"), err)
		}
		return err
	}
	b, err := events.JSON(ev)
	if err != nil {
		return err
	}
	if p.json {
		_, err = fmt.Fprintf(p.w, "%s\n", b)
		return err
	}
	m := ev.Meta()
	_, err = fmt.Fprintf(p.w, "%s[%d]@%d %s %s %s %s\n", r.Topic, r.Partition, r.Offset,
		m.OccurredAt.UTC().Format(time.RFC3339Nano), ev.Name(), m.EventID, b)
	return err
}

// printGeneric prints a Confluent-framed Avro value that is not a logmesh
// fact, decoded with its writer's schema.
func (p *printer) printGeneric(ctx context.Context, r *kgo.Record) error {
	name, v, id, err := p.generic.Decode(ctx, r.Value)
	if err != nil {
		return err
	}
	b, err := confluent.JSON(v)
	if err != nil {
		return fmt.Errorf("schema id %d: %w", id, err)
	}
	if p.json {
		_, err = fmt.Fprintf(p.w, "%s\n", b)
		return err
	}
	_, err = fmt.Fprintf(p.w, "%s[%d]@%d %s %s schema-id=%d %s\n", r.Topic, r.Partition, r.Offset,
		r.Timestamp.UTC().Format(time.RFC3339Nano), name, id, b)
	return err
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}
