package orchestrator_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkatest"
	"github.com/logmesh/logmesh/mesh"
	"github.com/logmesh/logmesh/processors/orchestrator"
	"github.com/logmesh/logmesh/processors/proc"
	"github.com/logmesh/logmesh/processors/txn"
	"github.com/logmesh/logmesh/state"
)

// waitTimeout bounds every wait; a safety net, not a timed assertion.
const waitTimeout = 2 * time.Minute

// bookMesh: wealth's (wm) product book reads two raw feeds, a and b, with
// the default policy (a run when every input has a new version).
const bookMesh = `domains:
  - name: raw
  - name: wm
feeds:
  - {name: a, table: raw.a, key_pattern: "a/*.csv", format: csv, options: {header: true}, visibility: enterprise,
     schema: {type: record, name: A, fields: [{name: id, type: string}]}}
  - {name: b, table: raw.b, key_pattern: "b/*.csv", format: csv, options: {header: true}, visibility: enterprise,
     schema: {type: record, name: B, fields: [{name: id, type: string}]}}
products:
  - name: book
    domain: wm
    inputs: [raw.a, raw.b]
    transform: SELECT a.id FROM a JOIN b USING (id)
    output: {schema: {type: record, name: Book, fields: [{name: id, type: string}]}}
grants:
  - {product: raw.a, to: wm}
  - {product: raw.b, to: wm}
`

const (
	owner   = "wm"
	product = "wm.book"
)

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

// rig is one test's cluster, topics, codec and consumer group.
type rig struct {
	t       *testing.T
	cluster *kafkatest.Cluster
	codec   *events.Codec
	names   events.Topics
	group   string
	cl      *kgo.Client
	facts   int64 // facts delivered to wm's inbox
}

// newRig makes the topics and delivers wm.book's definition to wm's inbox.
func newRig(t *testing.T) *rig {
	t.Helper()
	c := kafkatest.New(t)
	codec, _ := kafkatest.Codec(t)
	names := events.Topics{Prefix: kafkatest.Unique("ot")}
	if err := c.Conn().EnsureTopics(context.Background(), names.Specs(3, owner)...); err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, cluster: c, codec: codec, names: names, group: names.Prefix + ".orchestrator", cl: c.Client(t)}
	m, err := mesh.Parse([]byte(bookMesh), "mesh.yaml", ".")
	if err != nil {
		t.Fatal(err)
	}
	// The router sends an owner its own products' definitions.
	var defs []events.Event
	for _, ev := range m.Definitions(t0) {
		if pp, ok := ev.(*events.ProductPublished); ok && pp.OwnerDomain == owner {
			defs = append(defs, pp)
		}
	}
	if len(defs) != 1 {
		t.Fatalf("%d definitions of wm's products, want wm.book's", len(defs))
	}
	r.deliver(defs...)
	return r
}

// deliver produces facts to wm's inbox, keyed by the domain as the router
// keys them, one at a time so the log has them in this order.
func (r *rig) deliver(evs ...events.Event) {
	r.t.Helper()
	for _, ev := range evs {
		rec, err := r.codec.Record(ev)
		if err != nil {
			r.t.Fatal(err)
		}
		rec.Topic, rec.Key = r.names.Inbox(owner), []byte(owner)
		if err := r.cl.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
			r.t.Fatal(err)
		}
		r.facts++
	}
}

// refreshed is version v of the raw table, delivered minute v after t0.
func refreshed(table string, v int64) *events.ProductRefreshed {
	return &events.ProductRefreshed{
		Envelope: events.Envelope{EventID: events.DeriveID("refresh", table, fmt.Sprint(v)),
			OccurredAt: t0.Add(time.Duration(v) * time.Minute), Domain: events.DomainRaw, CorrelationID: table},
		Product: table, OwnerDomain: events.DomainRaw, Visibility: "enterprise", Table: table, Version: v,
		SnapshotID: 100 + v, MetadataLocation: fmt.Sprintf("warehouse/%s/metadata/v%d.json", table, v),
	}
}

// succeeded is the runner's JobFinished of js's attempt, a success.
func succeeded(js *events.JobStarted) *events.JobFinished {
	return &events.JobFinished{
		Envelope: events.Envelope{EventID: events.DeriveID("finished", js.JobID, fmt.Sprint(js.Attempt)),
			OccurredAt: js.Envelope.OccurredAt.Add(time.Second), Domain: owner, CorrelationID: js.JobID},
		JobID: js.JobID, Product: js.Product, Attempt: js.Attempt, Status: events.StatusSucceeded,
		OutputVersion: new(int64(1)),
	}
}

func openMem(t *testing.T) *state.Store {
	t.Helper()
	st, err := state.Open("", &state.Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// running is an orchestrator started by start.
type running struct {
	o         *orchestrator.Orchestrator
	cancel    context.CancelFunc
	done      chan error
	committed chan struct{} // a signal after each commit, coalesced
}

// start runs an orchestrator of the rig's group over st until stop or
// the end of the test.
func (r *rig) start(st *state.Store) *running {
	r.t.Helper()
	run := &running{done: make(chan error, 1), committed: make(chan struct{}, 1)}
	o, err := orchestrator.New(proc.Config{Conn: r.cluster.Conn(), Topics: r.names, Group: r.group}, st, r.codec,
		orchestrator.Transactions(txn.Backoff(10*time.Millisecond, 50*time.Millisecond)),
		orchestrator.OnCommit(func(orchestrator.Stats) {
			select {
			case run.committed <- struct{}{}:
			default:
			}
		}))
	if err != nil {
		r.t.Fatal(err)
	}
	run.o = o
	ctx, cancel := context.WithCancel(context.Background())
	run.cancel = cancel
	go func() { run.done <- o.Run(ctx) }()
	r.t.Cleanup(func() { run.stop(r.t) })
	return run
}

// await waits until the orchestrator has committed its decisions on n
// facts since it started, and returns its counts.
func (run *running) await(t *testing.T, n int64) orchestrator.Stats {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for {
		if s := run.o.Stats(); s.Facts >= n {
			return s
		}
		select {
		case <-run.committed:
		case err := <-run.done:
			run.done <- err
			t.Fatalf("the orchestrator stopped after %+v: %v", run.o.Stats(), err)
		case <-deadline.C:
			t.Fatalf("the orchestrator decided %+v, want %d facts", run.o.Stats(), n)
		}
	}
}

func (run *running) stop(t *testing.T) {
	t.Helper()
	if run.cancel == nil {
		return
	}
	run.cancel()
	run.cancel = nil
	if err := <-run.done; err != nil {
		t.Errorf("orchestrator run: %v", err)
	}
}

// settled waits until no transaction is open on wm's bus: its last stable
// offsets have reached its high watermarks. On a real broker the markers
// of a committed transaction are written after the commit returns, so a
// read_committed read right after it may stop short of the decisions.
func (r *rig) settled() {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	adm := kadm.NewClient(r.cl)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		ends, err := adm.ListEndOffsets(ctx, r.names.Domain(owner))
		if err == nil {
			err = ends.Error()
		}
		stable, serr := adm.ListCommittedOffsets(ctx, r.names.Domain(owner))
		if serr == nil {
			serr = stable.Error()
		}
		if err == nil && serr == nil {
			open := false
			ends.Each(func(o kadm.ListedOffset) {
				if lso, ok := stable.Lookup(o.Topic, o.Partition); !ok || lso.Offset != o.Offset {
					open = true
				}
			})
			if !open {
				return
			}
		}
		select {
		case <-ctx.Done():
			r.t.Fatalf("wm's bus never settled: %v, %v", err, serr)
		case <-tick.C:
		}
	}
}

// started reads wm's bus (read_committed) and returns every JobStarted on
// it, repeats included; it fails on any other decision.
func (r *rig) started() []*events.JobStarted {
	r.t.Helper()
	r.settled()
	var out []*events.JobStarted
	for _, rec := range kafkatest.ReadAll(r.t, r.cluster.Brokers, r.names.Domain(owner)) {
		ev, err := r.codec.Decode(context.Background(), rec.Value)
		if err != nil {
			r.t.Fatal(err)
		}
		js, ok := ev.(*events.JobStarted)
		if !ok {
			r.t.Fatalf("decided %s, want only JobStarted", ev.Name())
		}
		out = append(out, js)
	}
	return out
}

// pins renders a JobStarted's inputs as "name@version/snapshot".
func pins(js *events.JobStarted) string {
	var s []string
	for _, in := range js.Inputs {
		s = append(s, fmt.Sprintf("%s@%d/%d", in.Name, in.Version, in.SnapshotID))
	}
	return strings.Join(s, ",")
}

// checkRuns fails unless runs are wm.book's JobStarted pinned to want, in
// order, each the first attempt of a job of its own, caused by the fact
// that completed its inputs.
func checkRuns(t *testing.T, runs []*events.JobStarted, want []string) {
	t.Helper()
	var got []string
	ids := map[string]bool{}
	for _, js := range runs {
		got = append(got, pins(js))
		if ids[js.Envelope.EventID] || ids[js.JobID] {
			t.Errorf("JobStarted %s (job %s) decided twice", js.Envelope.EventID, js.JobID)
		}
		ids[js.Envelope.EventID], ids[js.JobID] = true, true
		if js.Product != product || js.Attempt != 1 || js.Trigger != "inputs" || js.Envelope.Domain != owner ||
			js.OwnerDomain != owner || len(js.TriggeredBy) != 2 || js.Envelope.CausationID != js.TriggeredBy[1] {
			t.Errorf("JobStarted %+v", js)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("runs pinned %q, want %q", got, want)
	}
}

// One JobStarted when the last input arrives, pinned to the versions seen;
// a refresh delivered again, or an older one, starts nothing; the next
// versions of both inputs after the job succeeded start the next run.
func TestStartsOncePerInputVersions(t *testing.T) {
	// A step is a fact to deliver, made from the runs decided before it.
	type step func(runs []*events.JobStarted) events.Event
	refresh := func(table string, v int64) step {
		return func([]*events.JobStarted) events.Event { return refreshed(table, v) }
	}
	finishLast := func(runs []*events.JobStarted) events.Event { return succeeded(runs[len(runs)-1]) }
	for _, tc := range []struct {
		name  string
		steps []step
		want  []string
	}{
		{name: "both inputs", steps: []step{refresh("raw.a", 1), refresh("raw.b", 1)},
			want: []string{"raw.a@1/101,raw.b@1/101"}},
		{name: "one input only", steps: []step{refresh("raw.a", 1), refresh("raw.a", 2)}},
		{name: "the last refresh delivered again", steps: []step{refresh("raw.a", 1), refresh("raw.b", 1), refresh("raw.b", 1)},
			want: []string{"raw.a@1/101,raw.b@1/101"}},
		{name: "both delivered again after the run", steps: []step{refresh("raw.a", 1), refresh("raw.b", 1),
			refresh("raw.a", 1), refresh("raw.b", 1)},
			want: []string{"raw.a@1/101,raw.b@1/101"}},
		{name: "an older version after a newer", steps: []step{refresh("raw.a", 2), refresh("raw.a", 1), refresh("raw.b", 1)},
			want: []string{"raw.a@2/102,raw.b@1/101"}},
		{name: "the next versions after a success", steps: []step{refresh("raw.a", 1), refresh("raw.b", 1), finishLast,
			refresh("raw.a", 1), refresh("raw.a", 2), refresh("raw.b", 2)},
			want: []string{"raw.a@1/101,raw.b@1/101", "raw.a@2/102,raw.b@2/102"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			run := r.start(openMem(t))
			run.await(t, r.facts)
			var runs []*events.JobStarted
			for _, s := range tc.steps {
				r.deliver(s(runs))
				run.await(t, r.facts)
				runs = r.started()
			}
			checkRuns(t, runs, tc.want)
			if s := run.o.Stats(); s.Started != int64(len(tc.want)) || s.Facts != r.facts || s.Refolded != 0 {
				t.Errorf("stats %+v, want %d started of %d facts", s, len(tc.want), r.facts)
			}
		})
	}
}

// A transaction whose JobStarted the broker refuses aborts; the fact comes
// again and is decided again from the store as it was, so the job starts
// once: the aborted attempt is not on the read_committed log and is not
// counted.
func TestAbortedTransactionStartsOnce(t *testing.T) {
	r := newRig(t)
	if r.cluster.Fake == nil {
		t.Skip("the produce fault is injected into kfake; a real broker cannot be told to refuse one")
	}
	// The first transactional produce (the orchestrator's; nothing before
	// the JobStarted has a decision to produce) is refused as invalid, a
	// non-retriable error: the loop aborts the transaction.
	var refused atomic.Int32
	r.cluster.Fake.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		pr := req.(*kmsg.ProduceRequest)
		if pr.TransactionID == nil {
			return nil, nil, false
		}
		resp := pr.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range pr.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, kerr.InvalidRecord.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		refused.Add(1)
		return resp, nil, true // handled: the control is dropped, the next produce goes through
	})
	run := r.start(openMem(t))
	r.deliver(refreshed("raw.a", 1), refreshed("raw.b", 1))
	s := run.await(t, r.facts)
	if refused.Load() != 1 {
		t.Fatalf("%d produces refused, want the first JobStarted's", refused.Load())
	}
	checkRuns(t, r.started(), []string{"raw.a@1/101,raw.b@1/101"})
	if s.Started != 1 || s.Facts != r.facts {
		t.Errorf("stats %+v, want 1 started of %d facts (the aborted attempt not counted)", s, r.facts)
	}
}

// A new orchestrator of the same group, over the same store, a store that
// is behind the log (lost, or never written after the last commit), or
// under a group whose offsets are behind the store (reset), starts nothing
// again: facts it decided before come again, or are folded again from
// the log, without a decision; the facts after them are decided on the
// state they left.
func TestRestartStartsNothingTwice(t *testing.T) {
	for _, tc := range []struct {
		name         string
		freshStore   bool // the second orchestrator's store is empty
		newGroup     bool // it runs under a group with no offsets
		wantRefolded int64
	}{
		{name: "same store"},
		{name: "store behind the log", freshStore: true, wantRefolded: 3},
		{name: "group offsets behind the store", newGroup: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			st := openMem(t)
			first := r.start(st)
			r.deliver(refreshed("raw.a", 1), refreshed("raw.b", 1))
			first.await(t, r.facts)
			first.stop(t)
			runs := r.started()
			checkRuns(t, runs, []string{"raw.a@1/101,raw.b@1/101"})

			// While it is down: raw.b again (a redelivery) and the job's
			// success.
			before := r.facts
			r.deliver(refreshed("raw.b", 1), succeeded(runs[0]))
			if tc.freshStore {
				st = openMem(t)
			}
			if tc.newGroup {
				r.group += "-reset"
			}
			second := r.start(st)
			// A refresh that completes nothing, then the one that does.
			r.deliver(refreshed("raw.a", 2), refreshed("raw.b", 2))
			s := second.await(t, r.facts-before)
			checkRuns(t, r.started(), []string{"raw.a@1/101,raw.b@1/101", "raw.a@2/102,raw.b@2/102"})
			// Only the facts delivered since are decided; those before are
			// skipped or refolded.
			if s.Started != 1 || s.Facts != r.facts-before || s.Refolded != tc.wantRefolded {
				t.Errorf("restarted: %+v, want 1 started of %d facts decided and %d refolded", s, r.facts-before, tc.wantRefolded)
			}
		})
	}
}
