package olpush_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkatest"
	"github.com/logmesh/logmesh/internal/openlineage"
	"github.com/logmesh/logmesh/processors/olpush"
	"github.com/logmesh/logmesh/processors/proc"
	"github.com/logmesh/logmesh/state"
)

// receiver is an OpenLineage receiver that refuses its first calls.
type receiver struct {
	mu       sync.Mutex
	failures int
	calls    int
	got      []string // runId/eventType, in arrival order
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var ev openlineage.RunEvent
	if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.calls++
	if rc.calls <= rc.failures {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	rc.got = append(rc.got, fmt.Sprintf("%s/%s/%s", ev.Job.Name, ev.Run.RunID, ev.EventType))
	w.WriteHeader(http.StatusCreated)
}

func (rc *receiver) received() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]string{}, rc.got...)
}

// Two attempts of a job (the first fails) reach a receiver that is down at
// first as START, FAIL, START, COMPLETE, each once; a pusher restarted on
// its store sends nothing again.
func TestPushAtLeastOnce(t *testing.T) {
	c := kafkatest.New(t)
	codec, _ := kafkatest.Codec(t)
	names := events.Topics{Prefix: kafkatest.Unique("ol")}
	ctx := context.Background()
	if err := c.Conn().EnsureTopics(ctx, names.Specs(1, "wm")...); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	var evs []events.Event
	for a := int32(1); a <= 2; a++ {
		at := t0.Add(time.Duration(a) * time.Minute)
		evs = append(evs, &events.JobStarted{Envelope: events.Envelope{EventID: fmt.Sprint("js", a), OccurredAt: at, Domain: "wm"},
			JobID: "job-1", Product: "wm.book", Attempt: a, Trigger: "inputs", OutputTable: "wm.book", TransformHash: "h", Runner: "duckdb",
			Inputs: []events.InputVersion{{Name: "raw.a", Table: "raw.a", Version: 3, SnapshotID: 30}}, OwnerDomain: "wm",
			Visibility: "domain", Mode: "append", PrimaryKey: []string{}})
		fin := &events.JobFinished{Envelope: events.Envelope{EventID: fmt.Sprint("jf", a), OccurredAt: at.Add(time.Second), Domain: "wm"},
			JobID: "job-1", Product: "wm.book", Attempt: a, Status: events.StatusSucceeded, OutputVersion: new(int64(1))}
		if a == 1 {
			fin.Status, fin.OutputVersion, fin.Error = events.StatusFailed, nil, new("boom")
		}
		evs = append(evs, fin)
	}
	cl := c.Client(t)
	for _, ev := range evs {
		rec, err := codec.Record(ev)
		if err != nil {
			t.Fatal(err)
		}
		rec.Topic = names.For(ev)
		if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	rc := &receiver{failures: 3}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	dir := t.TempDir()
	run := func(wait func() bool) {
		st, err := state.Open(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		p, err := olpush.New(proc.Config{Conn: c.Conn(), Topics: names, Group: names.Prefix + ".olpush"}, srv.URL, st, codec,
			olpush.Backoff(10*time.Millisecond, 50*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- p.Run(rctx) }()
		deadline := time.Now().Add(time.Minute)
		for !wait() && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	run(func() bool { return len(rc.received()) >= 4 })
	r1, r2 := openlineage.RunID("job-1", 1), openlineage.RunID("job-1", 2)
	want := []string{"wm.book/" + r1 + "/START", "wm.book/" + r1 + "/FAIL", "wm.book/" + r2 + "/START", "wm.book/" + r2 + "/COMPLETE"}
	if got := rc.received(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("received %v, want %v", got, want)
	}
	// Restarted on the same store with one more attempt on the log: that
	// one is sent, the others not again.
	a3 := *evs[0].(*events.JobStarted)
	a3.Attempt, a3.Envelope.EventID = 3, "js3"
	rec, err := codec.Record(&a3)
	if err != nil {
		t.Fatal(err)
	}
	rec.Topic = names.For(&a3)
	if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		t.Fatal(err)
	}
	run(func() bool { return len(rc.received()) >= 5 })
	want = append(want, "wm.book/"+openlineage.RunID("job-1", 3)+"/START")
	if got := rc.received(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after a restart the receiver has %v, want %v", got, want)
	}
}
