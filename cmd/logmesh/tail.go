package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"regexp"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logmesh/logmesh/events"
)

// cmdTail prints decoded events from topics as they arrive.
func cmdTail(ctx context.Context, g global, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tail", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fromStart := fs.Bool("from-beginning", false, "start at the first event instead of the newest")
	asJSON := fs.Bool("json", false, "print one JSON object per line")
	limit := fs.Int("n", 0, "exit after printing this many events (0: run until Ctrl-C)")
	topics, err := interspersed(fs, args)
	if err != nil {
		return err
	}
	codec, _, err := g.codec()
	if err != nil {
		return err
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(g.brokers...),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()),
	}
	if *fromStart {
		opts[2] = kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())
	}
	if len(topics) == 0 {
		// Every logmesh topic but the registry's own.
		opts = append(opts, kgo.ConsumeRegex(), kgo.ConsumeTopics(`^logmesh\.[^_].*`))
	} else {
		opts = append(opts, kgo.ConsumeTopics(topics...))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("tail: %w", err)
	}
	defer cl.Close()
	printed := 0
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
			if err := printRecord(ctx, codec, r, *asJSON, stdout); err != nil {
				fmt.Fprintf(stderr, "tail: %s/%d@%d: %v\n", r.Topic, r.Partition, r.Offset, err)
				continue
			}
			printed++
			if *limit > 0 && printed >= *limit {
				return nil
			}
		}
	}
}

var dlqTopic = regexp.MustCompile(`\.dlq$`)

func printRecord(ctx context.Context, codec *events.Codec, r *kgo.Record, asJSON bool, w io.Writer) error {
	ev, err := codec.Decode(ctx, r.Value)
	if err != nil {
		if dlqTopic.MatchString(r.Topic) {
			return fmt.Errorf("dead letter (%s): %w", header(r, "logmesh.dlq.reason"), err)
		}
		return err
	}
	b, err := events.JSON(ev)
	if err != nil {
		return err
	}
	if asJSON {
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	m := ev.Meta()
	_, err = fmt.Fprintf(w, "%s[%d]@%d %s %s %s %s\n", r.Topic, r.Partition, r.Offset,
		m.OccurredAt.UTC().Format(time.RFC3339Nano), ev.Name(), m.EventID, b)
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
