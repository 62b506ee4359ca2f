package logview_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkatest"
	"github.com/logmesh/logmesh/internal/logview"
)

func values(recs []*kgo.Record) []string {
	out := make([]string, 0, len(recs))
	for _, r := range recs {
		out = append(out, string(r.Value))
	}
	slices.Sort(out)
	return out
}

func produce(t *testing.T, cl *kgo.Client, topic string, partition int32, vals ...string) {
	t.Helper()
	for _, v := range vals {
		r := &kgo.Record{Topic: topic, Partition: partition, Value: []byte(v)}
		if err := cl.ProduceSync(context.Background(), r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

// The view reads committed records only, moves past aborted transactions
// and markers, picks up topics created later that match its pattern, and a
// second catch-up reads only what was appended since.
func TestViewCatchUp(t *testing.T) {
	ctx := context.Background()
	c := kafkatest.New(t)
	prefix := kafkatest.Unique("lv")
	names := events.Topics{Prefix: prefix}
	a := names.Domain("a")
	createTopic(t, c, a, 2)

	manual := c.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produce(t, manual, a, 0, "a0-1", "a0-2")
	produce(t, manual, a, 1, "a1-1")
	// An aborted transaction, then a committed one, at the end of partition 1.
	tx := c.Client(t, kgo.TransactionalID(kafkatest.Unique("tx")), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for _, commit := range []bool{false, true} {
		if err := tx.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		produce(t, tx, a, 1, fmt.Sprintf("tx-%v", commit))
		if err := tx.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
	}

	v, err := logview.New(c.Conn(), names.AllDomains())
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	var got []*kgo.Record
	collect := func(b logview.Batch) error {
		got = append(got, b.Records...)
		return nil
	}
	if _, err := v.CatchUp(ctx, collect); err != nil {
		t.Fatal(err)
	}
	if want := []string{"a0-1", "a0-2", "a1-1", "tx-true"}; !slices.Equal(values(got), want) {
		t.Fatalf("first catch-up: %v, want %v", values(got), want)
	}

	// A topic created later that matches the pattern, and more records.
	b := names.Domain("b")
	createTopic(t, c, b, 1)
	produce(t, manual, b, 0, "b0-1")
	produce(t, manual, a, 0, "a0-3")
	got = nil
	if _, err := v.CatchUp(ctx, collect); err != nil {
		t.Fatal(err)
	}
	if want := []string{"a0-3", "b0-1"}; !slices.Equal(values(got), want) {
		t.Fatalf("second catch-up: %v, want %v", values(got), want)
	}
	pos := v.Position()
	if pos[logview.TP{Topic: b, Partition: 0}] != 1 || pos[logview.TP{Topic: a, Partition: 0}] != 3 {
		t.Errorf("positions %v", pos)
	}
}

// A named topic that does not exist reads as empty; CatchUpTo stops at the
// given ends and keeps what it fetched past them for the next call.
func TestViewMissingTopicAndExplicitEnds(t *testing.T) {
	ctx := context.Background()
	c := kafkatest.New(t)
	missing := kafkatest.Unique("missing")
	n, err := readCount(ctx, c, events.TopicNames(missing))
	if err != nil || n != 0 {
		t.Fatalf("missing topic: %d records, %v; want 0, nil", n, err)
	}

	topic := kafkatest.Unique("t")
	createTopic(t, c, topic, 1)
	cl := c.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produce(t, cl, topic, 0, "r0", "r1", "r2", "r3", "r4")
	v, err := logview.New(c.Conn(), events.TopicNames(topic, missing))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	var got []string
	collect := func(b logview.Batch) error {
		for _, r := range b.Records {
			got = append(got, string(r.Value))
		}
		return nil
	}
	tp := logview.TP{Topic: topic, Partition: 0}
	if _, err := v.CatchUpTo(ctx, map[logview.TP]int64{tp: 2}, collect); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"r0", "r1"}) {
		t.Fatalf("to offset 2: %v", got)
	}
	got = nil
	if _, err := v.CatchUp(ctx, collect); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"r2", "r3", "r4"}) {
		t.Fatalf("rest: %v (records fetched past the first end must not be lost)", got)
	}
}

// From resumes each partition at a stored position.
func TestViewFrom(t *testing.T) {
	ctx := context.Background()
	c := kafkatest.New(t)
	topic := kafkatest.Unique("t")
	createTopic(t, c, topic, 1)
	cl := c.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produce(t, cl, topic, 0, "r0", "r1", "r2")
	v, err := logview.New(c.Conn(), events.TopicNames(topic), logview.From(func(string, int32) (int64, bool, error) {
		return 1, true, nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	var next int64
	var got []string
	if _, err := v.CatchUp(ctx, func(b logview.Batch) error {
		for _, r := range b.Records {
			got = append(got, string(r.Value))
		}
		next = max(next, b.Next[logview.TP{Topic: topic, Partition: 0}])
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"r1", "r2"}) || next != 3 {
		t.Fatalf("from 1: %v next %d", got, next)
	}
}

func readCount(ctx context.Context, c *kafkatest.Cluster, set events.TopicSet) (int, error) {
	recs, err := logview.ReadAll(ctx, c.Conn(), set)
	return len(recs), err
}

func createTopic(t *testing.T, c *kafkatest.Cluster, name string, partitions int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Conn().EnsureTopics(ctx, events.TopicSpec{Name: name, Partitions: partitions}); err != nil {
		t.Fatal(err)
	}
}

// A catch-up whose callback fails skips nothing: the next one delivers the
// records of the failed batch again, and those fetched past the end of an
// earlier call too.
func TestViewErrorSkipsNothing(t *testing.T) {
	ctx := context.Background()
	c := kafkatest.New(t)
	topic := kafkatest.Unique("t")
	createTopic(t, c, topic, 1)
	cl := c.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produce(t, cl, topic, 0, "r0", "r1", "r2", "r3", "r4")
	v, err := logview.New(c.Conn(), events.TopicNames(topic), logview.MaxBatch(2))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	var got []string
	collect := func(b logview.Batch) error {
		for _, r := range b.Records {
			got = append(got, string(r.Value))
		}
		return nil
	}
	tp := logview.TP{Topic: topic, Partition: 0}
	if _, err := v.CatchUpTo(ctx, map[logview.TP]int64{tp: 1}, collect); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	calls := 0
	_, err = v.CatchUp(ctx, func(b logview.Batch) error {
		calls++
		if calls == 2 {
			return boom
		}
		return collect(b)
	})
	if !errors.Is(err, boom) {
		t.Fatalf("catch-up with a failing callback: %v", err)
	}
	if _, err := v.CatchUp(ctx, collect); err != nil {
		t.Fatal(err)
	}
	if want := []string{"r0", "r1", "r2", "r3", "r4"}; !slices.Equal(got, want) {
		t.Fatalf("delivered %v, want every record once, in order: %v", got, want)
	}
}
