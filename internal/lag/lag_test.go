package lag_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkatest"
	"github.com/logmesh/logmesh/internal/lag"
)

func TestRecords(t *testing.T) {
	tests := []struct {
		name                  string
		committed, start, end int64
		want                  int64
	}{
		{"caught up", 10, 0, 10, 0},
		{"behind", 4, 0, 10, 6},
		{"never committed counts from the start", -1, 3, 10, 7},
		{"never committed, empty log", -1, 0, 0, 0},
		{"committed below the start: no phantom lag", 2, 8, 10, 2},
		{"committed below the start, nothing left", 2, 10, 10, 0},
		{"committed beyond the end (truncated log)", 12, 0, 10, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := lag.Records(tt.committed, tt.start, tt.end); got != tt.want {
				t.Errorf("Records(%d, %d, %d) = %d, want %d", tt.committed, tt.start, tt.end, got, tt.want)
			}
		})
	}
}

// Measure counts against the log start: records deleted below a group's
// commit are no lag; a group that never committed counts from the start;
// Ages dates the first unconsumed record.
func TestMeasureAgainstStart(t *testing.T) {
	ctx := context.Background()
	c := kafkatest.New(t)
	topic := c.Topic(t, "lag", 1, nil)
	cl := c.Client(t, kgo.DefaultProduceTopic(topic))
	old := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	for i := range 10 {
		ts := time.Now()
		if i == 2 || i == 8 {
			ts = old // the records each group has to read first
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte{byte(i)}, Timestamp: ts}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	adm := kadm.NewClient(cl)
	behind, never := kafkatest.Unique("behind"), kafkatest.Unique("never")
	commit := kadm.Offsets{}
	commit.Add(kadm.Offset{Topic: topic, Partition: 0, At: 2, LeaderEpoch: -1})
	if _, err := adm.CommitOffsets(ctx, behind, commit); err != nil {
		t.Fatal(err)
	}
	groups := []lag.Group{{Name: behind}, {Name: never, Topics: events.TopicSet{Names: []string{topic}}}}
	got, err := lag.Measure(ctx, adm, groups)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{behind: 8, never: 10}
	check := func(got []lag.Partition, want map[string]int64) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("partitions %+v, want one per group", got)
		}
		for _, p := range got {
			if p.Topic != topic || p.Partition != 0 || p.Records != want[p.Group] {
				t.Errorf("%+v: want %d records", p, want[p.Group])
			}
		}
	}
	check(got, want)
	newClient := func(opts ...kgo.Opt) (*kgo.Client, error) {
		return kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.Brokers...)}, opts...)...)
	}
	actx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	now := time.Now()
	if err := lag.Ages(actx, newClient, got, now); err != nil {
		t.Fatal(err)
	}
	for _, p := range got {
		if p.Group == behind && (!p.AgeKnown || p.Seconds < 3500) {
			t.Errorf("%+v: want the age of the hour-old record at offset 2", p)
		}
		if p.Group == never && (!p.AgeKnown || p.Seconds > 3500) {
			t.Errorf("%+v: want the age of the recent record at offset 0", p)
		}
	}

	// Retention deletes everything below 8: the group committed at 2 is
	// behind by the two records left, not by eight.
	del := kadm.Offsets{}
	del.Add(kadm.Offset{Topic: topic, Partition: 0, At: 8})
	if _, err := adm.DeleteRecords(ctx, del); err != nil {
		t.Fatal(err)
	}
	got, err = lag.Measure(ctx, adm, groups)
	if err != nil {
		t.Fatal(err)
	}
	check(got, map[string]int64{behind: 2, never: 2})
	if err := lag.Ages(actx, newClient, got, now); err != nil {
		t.Fatal(err)
	}
	for _, p := range got {
		if !p.AgeKnown || p.Seconds < 3500 {
			t.Errorf("%+v: want the age of the hour-old record at offset 8", p)
		}
	}
}

// A group that committed after its last data record of a transaction, with
// only the commit marker after it, is not behind once Ages has looked.
func TestMarkerIsNoLag(t *testing.T) {
	ctx := context.Background()
	c := kafkatest.New(t)
	topic := c.Topic(t, "txn", 1, nil)
	cl := c.Client(t, kgo.DefaultProduceTopic(topic), kgo.TransactionalID(kafkatest.Unique("tx")))
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte{byte(i)}}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(c.Client(t))
	group := kafkatest.Unique("g")
	commit := kadm.Offsets{}
	commit.Add(kadm.Offset{Topic: topic, Partition: 0, At: 3, LeaderEpoch: -1})
	if _, err := adm.CommitOffsets(ctx, group, commit); err != nil {
		t.Fatal(err)
	}
	got, err := lag.Measure(ctx, adm, []lag.Group{{Name: group}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].End != 4 || got[0].Records != 1 {
		t.Fatalf("%+v: want one record (the marker) to the end 4", got)
	}
	actx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	newClient := func(opts ...kgo.Opt) (*kgo.Client, error) {
		return kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.Brokers...)}, opts...)...)
	}
	if err := lag.Ages(actx, newClient, got, time.Now()); err != nil {
		t.Fatal(err)
	}
	if got[0].Records != 0 || !got[0].AgeKnown || got[0].Seconds != 0 {
		t.Errorf("%+v: want no lag", got[0])
	}
}
