package txn_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkatest"
	"github.com/logmesh/logmesh/processors/proc"
	"github.com/logmesh/logmesh/processors/txn"
)

// echo copies each FileLanded into out as an IncidentOpened naming its key;
// it fails the first failures attempts of keys in flaky, and writes to a
// topic that does not exist for keys in broken.
type echo struct {
	codec  *events.Codec
	out    string
	flaky  map[string]int
	broken map[string]bool

	mu        sync.Mutex
	calls     map[string]int
	committed int
}

func (e *echo) Handle(_ context.Context, _ *kgo.Record, ev events.Event) ([]*kgo.Record, error) {
	fl := ev.(*events.FileLanded)
	e.mu.Lock()
	e.calls[fl.Key]++
	n := e.calls[fl.Key]
	e.mu.Unlock()
	if n <= e.flaky[fl.Key] {
		return nil, fmt.Errorf("flaky attempt %d", n)
	}
	rec, err := e.codec.Record(e.incident(fl, "copy"))
	if err != nil {
		return nil, err
	}
	rec.Topic = e.out
	if e.broken[fl.Key] {
		rec.Topic = e.out + ".missing"
	}
	return []*kgo.Record{rec}, nil
}

func (e *echo) GiveUp(_ context.Context, _ *kgo.Record, ev events.Event, attempts int, cause error) ([]*kgo.Record, error) {
	fl := ev.(*events.FileLanded)
	rec, err := e.codec.Record(e.incident(fl, fmt.Sprintf("gave up after %d: %v", attempts, cause)))
	if err != nil {
		return nil, err
	}
	rec.Topic = e.out
	return []*kgo.Record{rec}, nil
}

func (e *echo) Committed(context.Context, []*kgo.Record) {
	e.mu.Lock()
	e.committed++
	e.mu.Unlock()
}

func (e *echo) incident(fl *events.FileLanded, summary string) *events.IncidentOpened {
	return &events.IncidentOpened{
		Envelope:   events.Envelope{EventID: events.DeriveID("inc", fl.Key), OccurredAt: fl.Envelope.OccurredAt, Domain: "raw", CorrelationID: fl.Key},
		IncidentID: events.DeriveID("inc", fl.Key), Severity: "error", SubjectKind: "file", Subject: fl.Key, Summary: summary,
	}
}

// Every record's outputs commit exactly once; a flaky record is retried and
// succeeds; a record whose outputs cannot commit (a missing topic) is given
// up after MaxAttempts with the handler's explanation; a poison record goes
// to the dead-letter topic.
func TestLoop(t *testing.T) {
	c := kafkatest.New(t)
	codec, _ := kafkatest.Codec(t)
	ctx := context.Background()
	in := c.Topic(t, "in", 2, nil)
	out := c.Topic(t, "out", 2, nil)
	dlq := events.DeadLetterTopic(in)
	if err := c.Conn().EnsureTopics(ctx, events.TopicSpec{Name: dlq, Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	cl := c.Client(t)
	var keys []string
	for i := range 6 {
		key := fmt.Sprintf("k%d", i)
		keys = append(keys, key)
		rec, err := codec.Record(&events.FileLanded{Envelope: events.Envelope{EventID: key, OccurredAt: time.Unix(1, 0).UTC(), Domain: "raw", CorrelationID: key},
			Key: key, Source: "local", Checksum: "c"})
		if err != nil {
			t.Fatal(err)
		}
		rec.Topic = in
		if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: in, Value: []byte("not avro")}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	h := &echo{codec: codec, out: out, flaky: map[string]int{"k1": 2}, broken: map[string]bool{"k4": true}, calls: map[string]int{}}
	l, err := txn.New(proc.Config{Conn: c.Conn(), Group: kafkatest.Unique("g"),
		ClientOpts: []kgo.Opt{kgo.ProduceRequestTimeout(2 * time.Second), kgo.UnknownTopicRetries(1)}},
		events.TopicNames(in), codec, h, txn.MaxAttempts(3), txn.Backoff(10*time.Millisecond, 40*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- l.Run(runCtx) }()

	deadline := time.Now().Add(2 * time.Minute)
	var got []*events.IncidentOpened
	for {
		got = got[:0]
		for _, r := range kafkatest.ReadAll(t, c.Brokers, out) {
			ev, err := codec.Decode(ctx, r.Value)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, ev.(*events.IncidentOpened))
		}
		dead := len(kafkatest.ReadAll(t, c.Brokers, dlq))
		if len(got) >= len(keys) && dead >= 1 || time.Now().After(deadline) {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("loop stopped: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	var subjects []string
	for _, inc := range got {
		subjects = append(subjects, inc.Subject)
		switch inc.Subject {
		case "k4":
			if inc.Summary == "copy" {
				t.Errorf("k4 was written to a missing topic and yet committed")
			}
		default:
			if inc.Summary != "copy" {
				t.Errorf("%s: %q, want the handler's copy", inc.Subject, inc.Summary)
			}
		}
	}
	slices.Sort(subjects)
	if !slices.Equal(subjects, keys) {
		t.Fatalf("outputs for %v, want exactly one per record %v", subjects, keys)
	}
	if h.calls["k1"] != 3 {
		t.Errorf("k1 handled %d times, want 3 (two failures, then success)", h.calls["k1"])
	}
	if h.calls["k4"] != 3 {
		t.Errorf("k4 handled %d times, want MaxAttempts=3 before the give-up", h.calls["k4"])
	}
	dead := kafkatest.ReadAll(t, c.Brokers, dlq)
	if len(dead) != 1 || string(dead[0].Value) != "not avro" {
		t.Fatalf("dead letters %d, want the poison record", len(dead))
	}
	if h.committed == 0 {
		t.Error("Committed was never called")
	}
}
