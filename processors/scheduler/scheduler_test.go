package scheduler_test

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkatest"
	"github.com/logmesh/logmesh/processors/proc"
	"github.com/logmesh/logmesh/processors/scheduler"
)

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

type rig struct {
	t       *testing.T
	cluster *kafkatest.Cluster
	codec   *events.Codec
	names   events.Topics
	now     atomic.Int64 // minutes after t0
}

func newRig(t *testing.T) *rig {
	c := kafkatest.New(t)
	codec, _ := kafkatest.Codec(t)
	r := &rig{t: t, cluster: c, codec: codec, names: events.Topics{Prefix: kafkatest.Unique("sc")}}
	if err := c.Conn().EnsureTopics(context.Background(), r.names.Specs(1, "wm")...); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rig) clock() time.Time { return t0.Add(time.Duration(r.now.Load()) * time.Minute) }

// publish puts the definition of product wm.NAME on the central bus at
// minute min.
func (r *rig) publish(min int, name, schedule, trig string) {
	r.t.Helper()
	ev := &events.ProductPublished{
		Envelope: events.Envelope{EventID: events.DeriveID("def", name, schedule), OccurredAt: t0.Add(time.Duration(min) * time.Minute),
			Domain: events.DomainCentral},
		Product: "wm." + name, OwnerDomain: "wm", Kind: "consumer-aligned", Inputs: []string{}, OutputTable: "wm." + name,
		Visibility: "domain", Trigger: trig, Mode: "append", DefinitionHash: schedule,
	}
	if schedule != "" {
		ev.Schedule = &schedule
	}
	r.produce(ev)
}

func (r *rig) produce(evs ...events.Event) {
	r.t.Helper()
	cl := r.cluster.Client(r.t)
	for _, ev := range evs {
		rec, err := r.codec.Record(ev)
		if err != nil {
			r.t.Fatal(err)
		}
		rec.Topic = r.names.For(ev)
		if err := cl.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
			r.t.Fatal(err)
		}
	}
}

// requests returns "product@HH:MM" of every RunRequested on wm's bus, in
// order, and checks each is the scheduler's.
func (r *rig) requests() []string {
	r.t.Helper()
	var out []string
	for _, rec := range kafkatest.ReadAll(r.t, r.cluster.Brokers, r.names.Domain("wm")) {
		ev, err := r.codec.Decode(context.Background(), rec.Value)
		if err != nil {
			r.t.Fatal(err)
		}
		rr, ok := ev.(*events.RunRequested)
		if !ok {
			continue
		}
		if rr.RequestedBy != events.RequestedBySchedule || rr.Envelope.Domain != "wm" || rr.Reason == nil {
			r.t.Errorf("request %+v", rr)
		}
		out = append(out, rr.Product+"@"+rr.Envelope.OccurredAt.Format("15:04"))
	}
	return out
}

func (r *rig) scheduler() *scheduler.Scheduler {
	r.t.Helper()
	s, err := scheduler.New(proc.Config{Conn: r.cluster.Conn(), Topics: r.names, Clock: r.clock}, r.codec)
	if err != nil {
		r.t.Fatal(err)
	}
	return s
}

// Due times: the latest one the clock reached, once; missed ones give one
// request; nothing before a product's definition; products without a
// schedule, retired, or added later, as their definitions say; a
// restarted scheduler repeats the latest due time with the same event id
// (which the orchestration ignores).
func TestDueTimes(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	r.publish(0, "book", "*/5 * * * *", "schedule")
	r.publish(0, "plain", "", "all")
	r.publish(0, "gone", "@hourly", "schedule")
	r.produce(&events.ProductRetired{Envelope: events.Envelope{EventID: "retire-gone", OccurredAt: t0.Add(time.Minute),
		Domain: events.DomainCentral}, Product: "wm.gone", OwnerDomain: "wm"})
	cl := r.cluster.Client(t)
	s := r.scheduler()
	tick := func(min int64, want ...string) {
		t.Helper()
		r.now.Store(min)
		if err := s.Tick(ctx, cl); err != nil {
			t.Fatal(err)
		}
		if got := r.requests(); !slices.Equal(got, want) {
			t.Fatalf("at minute %d: requests %v, want %v", min, got, want)
		}
	}
	tick(12, "wm.book@09:10")
	tick(14, "wm.book@09:10")
	tick(31, "wm.book@09:10", "wm.book@09:30")
	r.publish(32, "late", "@hourly", "schedule")
	tick(59, "wm.book@09:10", "wm.book@09:30", "wm.book@09:55")
	tick(60, "wm.book@09:10", "wm.book@09:30", "wm.book@09:55", "wm.book@10:00", "wm.late@10:00")

	// A restart repeats the latest due time of each, with the same ids.
	before := kafkatest.ReadAll(t, r.cluster.Brokers, r.names.Domain("wm"))
	s = r.scheduler()
	tick(61, "wm.book@09:10", "wm.book@09:30", "wm.book@09:55", "wm.book@10:00", "wm.late@10:00", "wm.book@10:00", "wm.late@10:00")
	after := kafkatest.ReadAll(t, r.cluster.Brokers, r.names.Domain("wm"))
	for _, rec := range after[len(before):] {
		ev, err := r.codec.Decode(ctx, rec.Value)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, old := range before {
			if oev, err := r.codec.Decode(ctx, old.Value); err == nil && oev.Meta().EventID == ev.Meta().EventID {
				found = true
			}
		}
		if !found {
			t.Errorf("the restarted scheduler's %s has a new event id %s", ev.Name(), ev.Meta().EventID)
		}
	}
}

// Run emits on its own clock and stops on Close.
func TestRun(t *testing.T) {
	r := newRig(t)
	r.publish(0, "book", "*/5 * * * *", "schedule")
	r.now.Store(7)
	got := make(chan *events.RunRequested, 4)
	s, err := scheduler.New(proc.Config{Conn: r.cluster.Conn(), Topics: r.names, Clock: r.clock}, r.codec,
		scheduler.Interval(10*time.Millisecond), scheduler.OnRequested(func(e *events.RunRequested) { got <- e }))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background()) }()
	select {
	case e := <-got:
		if want := t0.Add(5 * time.Minute); !e.Envelope.OccurredAt.Equal(want) || e.Product != "wm.book" {
			t.Fatalf("requested %s at %s, want wm.book at %s", e.Product, e.Envelope.OccurredAt, want)
		}
	case <-time.After(time.Minute):
		t.Fatal("no request")
	}
	s.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
