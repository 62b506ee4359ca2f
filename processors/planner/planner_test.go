package planner_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkaconn"
	"github.com/logmesh/logmesh/internal/kafkatest"
	"github.com/logmesh/logmesh/processors/host"
	"github.com/logmesh/logmesh/processors/planner"
	"github.com/logmesh/logmesh/processors/proc"
	"github.com/logmesh/logmesh/projections/audit"
	"github.com/logmesh/logmesh/state"
)

// waitTimeout bounds every wait; a safety net, not a timed assertion.
const waitTimeout = 2 * time.Minute

const (
	trades = "raw.trades"
	quotes = "raw.quotes"
)

// rig is one test's cluster, topics and codec.
type rig struct {
	cluster *kafkatest.Cluster
	codec   *events.Codec
	names   events.Topics
	events  string
	batches string
	landed  int
	seen    []*events.BatchPlanned // batches read so far, in log order per partition
	reader  *kgo.Client
}

func newRig(t *testing.T) *rig {
	t.Helper()
	c := kafkatest.New(t)
	codec, _ := kafkatest.Codec(t)
	return newRigOn(t, c, codec)
}

// newRigOn makes a rig with topics of its own on c.
func newRigOn(t *testing.T, c *kafkatest.Cluster, codec *events.Codec) *rig {
	t.Helper()
	names := events.Topics{Prefix: kafkatest.Unique("pt")}
	keep := map[string]*string{"retention.ms": kadm.StringPtr("-1")}
	r := &rig{cluster: c, codec: codec, names: names, events: names.Domain(events.DomainRaw), batches: names.Batches()}
	if err := c.Conn().EnsureTopics(context.Background(),
		events.TopicSpec{Name: r.events, Partitions: 3, Configs: keep},
		events.TopicSpec{Name: r.batches, Partitions: 2, Configs: keep}); err != nil {
		t.Fatal(err)
	}
	r.reader = c.Client(t, kgo.ConsumeTopics(r.batches), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	return r
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

// policy: trades batches hold at most 2 files; quotes batches at most 250
// bytes.
func policy(table string) (int, int64) {
	if table == trades {
		return 2, 1 << 30
	}
	return 100, 250
}

func (r *rig) planner(t *testing.T, st *state.Store, opts ...planner.Option) *planner.Planner {
	t.Helper()
	pc := proc.Config{Conn: r.cluster.Conn(), Topics: r.names, Group: kafkatest.Unique("planner"),
		Clock: func() time.Time { return time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC) }}
	p, err := planner.New(pc, st, r.codec, append([]planner.Option{
		planner.WithPolicy(policy),
		planner.HostOpts(host.Sync(false)),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// landedFile describes a FileLanded the rig produced.
type landedFile struct {
	id, key, table string
	size           int64
}

// land produces one FileLanded per size for table ("" = no feed matched)
// and returns the files in landing order.
func (r *rig) land(t *testing.T, table string, sizes ...int64) []landedFile {
	t.Helper()
	var out []landedFile
	var recs []*kgo.Record
	for _, size := range sizes {
		r.landed++
		n := r.landed
		key := fmt.Sprintf("landing/%s/%03d.csv", strings.TrimPrefix(table, "raw."), n)
		sum := fmt.Sprintf("%064x", n)
		id := events.DeriveID(key, sum)
		ev := &events.FileLanded{
			Envelope: events.Envelope{
				EventID: events.NewID(), OccurredAt: time.Unix(1764000000+int64(n), 0).UTC(),
				Domain: events.DomainRaw, CorrelationID: id,
			},
			Key: key, Source: events.SourceLocal, Size: size, Checksum: sum,
		}
		if table != "" {
			feed := strings.TrimPrefix(table, "raw.")
			ev.Table, ev.Feed = &table, &feed
		}
		rec, err := r.codec.Record(ev)
		if err != nil {
			t.Fatal(err)
		}
		rec.Topic = r.events
		recs = append(recs, rec)
		out = append(out, landedFile{id: id, key: key, table: table, size: size})
	}
	// One at a time, so the landing order is also the log order.
	cl := r.cluster.Client(t)
	for _, rec := range recs {
		if err := cl.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// endOffset returns the sum of the batches topic's end offsets.
func (r *rig) batchCount(t *testing.T) int64 {
	t.Helper()
	lo, err := kadm.NewClient(r.cluster.Client(t)).ListEndOffsets(context.Background(), r.batches)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	lo.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n
}

// read returns the next n BatchPlanned from the batches topic.
func (r *rig) read(t *testing.T, n int) []*events.BatchPlanned {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	var out []*events.BatchPlanned
	for len(out) < n {
		fs := r.reader.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d batches", len(out), n)
		}
		var err error
		fs.EachRecord(func(rec *kgo.Record) {
			ev, derr := r.codec.Decode(ctx, rec.Value)
			if derr != nil {
				err = derr
				return
			}
			b := ev.(*events.BatchPlanned)
			if string(rec.Key) != b.Table {
				t.Errorf("batch %s keyed %q, want its table", b.BatchID, rec.Key)
			}
			out = append(out, b)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	r.seen = append(r.seen, out...)
	return out
}

// keys returns the file keys of a batch.
func keys(b *events.BatchPlanned) []string {
	var out []string
	for _, f := range b.Files {
		out = append(out, f.Key)
	}
	return out
}

func fileKeys(fs []landedFile) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.key)
	}
	return out
}

// byTable groups batches per table, keeping order.
func byTable(bs []*events.BatchPlanned) map[string][][]string {
	m := map[string][][]string{}
	for _, b := range bs {
		m[b.Table] = append(m[b.Table], keys(b))
	}
	return m
}

// checkOnce fails if any file appears in two batches of r.seen.
func (r *rig) checkOnce(t *testing.T) {
	t.Helper()
	seen := map[string]string{}
	for _, b := range r.seen {
		for _, f := range b.Files {
			if prev, ok := seen[f.Key]; ok {
				t.Errorf("file %s planned twice: batches %s and %s", f.Key, prev, b.BatchID)
			}
			seen[f.Key] = b.BatchID
		}
	}
}

func TestPlanOnce(t *testing.T) {
	r := newRig(t)
	tf := r.land(t, trades, 10, 20, 30, 40, 50)
	qf := r.land(t, quotes, 100, 100, 100)
	r.land(t, "", 7) // no feed matched: never planned

	st := openMem(t)
	p := r.planner(t, st)
	n, err := p.PlanOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n != 5 {
		t.Fatalf("PlanOnce planned %d batches, want 5", n)
	}
	got := byTable(r.read(t, 5))
	wantTrades := [][]string{fileKeys(tf[0:2]), fileKeys(tf[2:4]), fileKeys(tf[4:5])}
	wantQuotes := [][]string{fileKeys(qf[0:2]), fileKeys(qf[2:3])}
	if fmt.Sprint(got[trades]) != fmt.Sprint(wantTrades) || fmt.Sprint(got[quotes]) != fmt.Sprint(wantQuotes) || len(got) != 2 {
		t.Fatalf("batches %v\nwant trades %v quotes %v", got, wantTrades, wantQuotes)
	}
	for _, b := range r.seen {
		var ids []string
		var total int64
		for _, f := range b.Files {
			ids = append(ids, events.DeriveID(f.Key, f.Checksum))
			total += f.Size
			if f.LandedEventID == "" {
				t.Errorf("batch %s: file %s without landed event id", b.BatchID, f.Key)
			}
		}
		slices.Reverse(ids) // the id does not depend on the order
		if want := planner.BatchID(b.Table, ids); b.BatchID != want || b.BatchID != events.DeriveID(append([]string{"batch", b.Table}, slices.Sorted(slices.Values(ids))...)...) {
			t.Errorf("batch id %s, want %s", b.BatchID, want)
		}
		if b.Trigger != planner.TriggerInterval || b.TotalBytes != total || b.Feed != strings.TrimPrefix(b.Table, "raw.") ||
			b.Envelope.CorrelationID != b.BatchID || b.Envelope.EventID != events.DeriveID(events.NameBatchPlanned, b.BatchID) {
			t.Errorf("batch %+v", b)
		}
	}

	// Again: nothing new.
	if n, err := p.PlanOnce(context.Background()); err != nil || n != 0 {
		t.Fatalf("second PlanOnce: %d batches, err %v; want none", n, err)
	}
	// A new planner on the same store: nothing re-planned.
	p.Close()
	p2 := r.planner(t, st)
	if n, err := p2.PlanOnce(context.Background()); err != nil || n != 0 {
		t.Fatalf("PlanOnce after restart: %d batches, err %v; want none", n, err)
	}
	// New files: a batch with only them.
	nf := r.land(t, trades, 5)
	if n, err := p2.PlanOnce(context.Background()); err != nil || n != 1 {
		t.Fatalf("PlanOnce with a new file: %d batches, err %v; want 1", n, err)
	}
	if b := r.read(t, 1)[0]; fmt.Sprint(keys(b)) != fmt.Sprint(fileKeys(nf)) {
		t.Fatalf("new batch holds %v, want %v", keys(b), fileKeys(nf))
	}
	r.checkOnce(t)
	if c := r.batchCount(t); c != 6 {
		t.Fatalf("%d batches on the topic, want 6", c)
	}
}

// unindex rewrites st as a store folded before the audit had its status
// index: entries at encoding version 1, no index keys.
func unindex(t *testing.T, st *state.Store) {
	t.Helper()
	b := st.NewBatch()
	defer b.Close()
	for _, prefix := range []string{"s/", "f/"} {
		if err := st.ScanAll([]byte(prefix), func(tp state.TopicPartition, k, v []byte) error {
			sc := b.Scope(tp.Topic, tp.Partition)
			if prefix == "s/" {
				return sc.Delete(k)
			}
			old, ok := bytes.CutPrefix(v, []byte(`{"v":2,`))
			if !ok {
				return fmt.Errorf("%s: %s", k, v)
			}
			return sc.Set(k, append([]byte(`{"v":1,`), old...))
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(false); err != nil {
		t.Fatal(err)
	}
}

// A store folded by a planner from before the audit's status index: the
// files pending in it are planned all the same, and the store ends as a
// fold from empty would leave it.
func TestPlansAStoreFoldedBeforeTheIndex(t *testing.T) {
	r := newRig(t)
	tf := r.land(t, trades, 1, 2, 3)
	st := openMem(t)
	if _, err := host.Replay(context.Background(), audit.Projection{}, st, r.codec, r.cluster.Conn(),
		audit.Projection{}.Topics(r.names), host.Sync(false)); err != nil {
		t.Fatal(err)
	}
	want, err := st.DigestAll()
	if err != nil {
		t.Fatal(err)
	}
	unindex(t, st)
	if p, err := audit.Pending(st); err != nil || len(p) != 0 {
		t.Fatalf("pending in an unindexed store: %v %v", p, err)
	}
	if d, err := st.DigestAll(); err != nil || d == want {
		t.Fatalf("unindex left the store as it was (%v)", err)
	}
	p := r.planner(t, st)
	n, err := p.PlanOnce(context.Background())
	if err != nil || n != 2 {
		t.Fatalf("PlanOnce on an unindexed store: %d batches, %v; want 2", n, err)
	}
	if got := byTable(r.read(t, 2))[trades]; fmt.Sprint(got) != fmt.Sprint([][]string{fileKeys(tf[0:2]), fileKeys(tf[2:3])}) {
		t.Fatalf("planned %v", got)
	}
	// The upgraded store is what a fold from empty gives.
	fresh := openMem(t)
	if _, err := host.ReplayTo(context.Background(), audit.Projection{}, fresh, r.codec, r.cluster.Conn(),
		audit.Projection{}.Topics(r.names), offsets(t, st), host.Sync(false)); err != nil {
		t.Fatal(err)
	}
	a, err := st.DigestAll()
	if err != nil {
		t.Fatal(err)
	}
	b, err := fresh.DigestAll()
	if err != nil || a != b {
		t.Fatalf("the reindexed store differs from a fold from empty to the same offsets (%v)", err)
	}
}

// offsets returns the offsets st has folded to.
func offsets(t *testing.T, st *state.Store) map[state.TopicPartition]int64 {
	t.Helper()
	o, err := st.Offsets()
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// The same log planned from two fresh stores gives the same batches.
func TestBatchIDsDeterministic(t *testing.T) {
	first := newRig(t)
	var ids [2][]string
	for i := range ids {
		// The same landings on topics of their own, so the second
		// planner does not see the first one's batches.
		r := first
		if i > 0 {
			r = newRigOn(t, first.cluster, first.codec)
		}
		r.land(t, trades, 1, 2, 3)
		p := r.planner(t, openMem(t))
		if _, err := p.PlanOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		// PlanOnce returns after the batches were acknowledged.
		for _, rec := range kafkatest.ReadAll(t, r.cluster.Brokers, r.batches) {
			ev, err := r.codec.Decode(context.Background(), rec.Value)
			if err != nil {
				t.Fatal(err)
			}
			ids[i] = append(ids[i], ev.(*events.BatchPlanned).BatchID, ev.Meta().EventID)
		}
	}
	if len(ids[0]) == 0 || !slices.Equal(ids[0], ids[1]) {
		t.Fatalf("batch ids differ between runs: %v vs %v", ids[0], ids[1])
	}
}

// running is a planner started in the background.
type running struct {
	p      *planner.Planner
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, p *planner.Planner) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	run := &running{p: p, cancel: cancel, done: make(chan error, 1)}
	go func() { run.done <- p.Run(ctx) }()
	t.Cleanup(func() { run.stop(t) })
	return run
}

func (run *running) stop(t *testing.T) {
	t.Helper()
	if run.cancel == nil {
		return
	}
	run.cancel()
	run.cancel = nil
	if err := <-run.done; err != nil {
		t.Errorf("planner run: %v", err)
	}
}

// Run plans on its interval; a restarted Run does not re-plan what the
// first one planned, and plans new files only.
func TestRunRestart(t *testing.T) {
	r := newRig(t)
	st := openMem(t)
	first := r.land(t, trades, 1, 2, 3)
	run := start(t, r.planner(t, st, planner.Interval(50*time.Millisecond)))
	got := byTable(r.read(t, 2))
	if want := [][]string{fileKeys(first[0:2]), fileKeys(first[2:3])}; fmt.Sprint(got[trades]) != fmt.Sprint(want) {
		t.Fatalf("first run planned %v, want %v", got[trades], want)
	}
	more := r.land(t, trades, 4)
	if b := r.read(t, 1)[0]; fmt.Sprint(keys(b)) != fmt.Sprint(fileKeys(more)) {
		t.Fatalf("first run planned %v, want %v", keys(b), fileKeys(more))
	}
	run.stop(t)

	// Restart on the same store, with files landed while it was down.
	down := r.land(t, quotes, 10)
	restarted := r.planner(t, st, planner.Interval(50*time.Millisecond))
	start(t, restarted)
	if b := r.read(t, 1)[0]; fmt.Sprint(keys(b)) != fmt.Sprint(fileKeys(down)) {
		t.Fatalf("restarted run planned %v, want %v", keys(b), fileKeys(down))
	}
	// Files landing while it runs may be split over ticks; together they
	// are planned once each, in landing order.
	late := r.land(t, trades, 5, 6)
	var planned []string
	for len(planned) < len(late) {
		planned = append(planned, keys(r.read(t, 1)[0])...)
	}
	if fmt.Sprint(planned) != fmt.Sprint(fileKeys(late)) {
		t.Fatalf("restarted run planned %v, want %v", planned, fileKeys(late))
	}
	r.checkOnce(t)
	// Several more ticks; nothing else is planned. PlanOnce on a running
	// planner is one tick of its interval, run now and awaited.
	before := r.batchCount(t)
	for i := range 3 {
		if n, err := restarted.PlanOnce(context.Background()); err != nil || n != 0 {
			t.Fatalf("tick %d with nothing new landed: planned %d batches, %v", i+1, n, err)
		}
	}
	if c := r.batchCount(t); c != before {
		t.Fatalf("%d batches on the topic, then %d with nothing new landed", before, c)
	}
}

// With a long interval, a table whose pending bytes exceed the threshold is
// planned at once, with trigger "threshold"; a small table waits.
func TestThreshold(t *testing.T) {
	r := newRig(t)
	st := openMem(t)
	start(t, r.planner(t, st, planner.Interval(time.Hour), planner.Threshold(250)))
	r.land(t, quotes, 100) // below the threshold: waits for the interval
	big := r.land(t, trades, 100, 100, 100)
	bs := r.read(t, 2)
	for _, b := range bs {
		if b.Trigger != planner.TriggerThreshold || b.Table != trades {
			t.Errorf("batch of %s with trigger %q, want %s with %q", b.Table, b.Trigger, trades, planner.TriggerThreshold)
		}
	}
	if got, want := byTable(bs)[trades], [][]string{fileKeys(big[0:2]), fileKeys(big[2:3])}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("threshold batches %v, want %v", got, want)
	}
	if c := r.batchCount(t); c != 2 {
		t.Fatalf("%d batches, want 2 (the small table must wait)", c)
	}
}

func TestSplit(t *testing.T) {
	f := func(key, feed string, size int64) audit.File { return audit.File{Key: key, Feed: feed, Size: size} }
	tests := []struct {
		name     string
		files    []audit.File
		maxFiles int
		maxBytes int64
		want     string
	}{
		{"empty", nil, 2, 100, "[]"},
		{"by files", []audit.File{f("a", "x", 1), f("b", "x", 1), f("c", "x", 1)}, 2, 100, "[[a b] [c]]"},
		{"by bytes", []audit.File{f("a", "x", 60), f("b", "x", 40), f("c", "x", 1)}, 10, 100, "[[a b] [c]]"},
		{"oversized file alone", []audit.File{f("a", "x", 1), f("b", "x", 500), f("c", "x", 1)}, 10, 100, "[[a] [b] [c]]"},
		{"feed change", []audit.File{f("a", "x", 1), f("b", "y", 1), f("c", "y", 1)}, 10, 100, "[[a] [b c]]"},
	}
	for _, tt := range tests {
		var got [][]string
		for _, g := range planner.Split(tt.files, tt.maxFiles, tt.maxBytes) {
			var ks []string
			for _, f := range g {
				ks = append(ks, f.Key)
			}
			got = append(got, ks)
		}
		if fmt.Sprint(got) != tt.want {
			t.Errorf("%s: %v, want %s", tt.name, got, tt.want)
		}
	}
}

func TestNewValidates(t *testing.T) {
	st := openMem(t)
	codec, err := events.NewCodec(events.SRRegistry(nil))
	if err != nil {
		t.Skip("codec needs a registry client:", err)
	}
	conn := kafkaconn.Plain("x:1")
	if _, err := planner.New(proc.Config{}, st, codec); err == nil {
		t.Error("no brokers accepted")
	}
	for name, opts := range map[string][]planner.Option{
		"zero interval": {planner.Interval(0)},
		"bad threshold": {planner.Threshold(-1)},
	} {
		if _, err := planner.New(proc.Config{Conn: conn}, st, codec, opts...); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
	if _, err := planner.New(proc.Config{Conn: conn}, nil, codec); err == nil {
		t.Error("nil store accepted")
	}
	if _, err := planner.New(proc.Config{Conn: conn}, st, nil); err == nil {
		t.Error("nil codec accepted")
	}
	p, err := planner.New(proc.Config{Conn: conn}, st, codec)
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	p.Close()
	if _, err := p.PlanOnce(context.Background()); err != planner.ErrClosed {
		t.Errorf("PlanOnce after Close: %v, want ErrClosed", err)
	}
}

// produce writes evs to the raw domain's events topic, keyed as the
// platform keys them (by file id).
func (r *rig) produce(t *testing.T, evs ...events.Event) {
	t.Helper()
	cl := r.cluster.Client(t)
	for _, ev := range evs {
		rec, err := r.codec.Record(ev)
		if err != nil {
			t.Fatal(err)
		}
		rec.Topic = r.events
		if err := cl.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

// A file retried after it FAILED is planned again at its new attempt, in
// a batch of its own id; the first attempt's batch keeps the id it always
// had.
func TestPlansARetriedFile(t *testing.T) {
	r := newRig(t)
	f := r.land(t, trades, 10)[0]
	st := openMem(t)
	p := r.planner(t, st)
	if n, err := p.PlanOnce(context.Background()); err != nil || n != 1 {
		t.Fatalf("PlanOnce: %d, %v; want 1 batch", n, err)
	}
	first := r.read(t, 1)[0]
	if want := planner.BatchID(trades, []string{f.id}); first.BatchID != want || first.Files[0].Attempt != 1 {
		t.Fatalf("first batch %s attempt %d, want id %s attempt 1", first.BatchID, first.Files[0].Attempt, want)
	}
	sum := first.Files[0].Checksum
	at := time.Date(2026, 11, 25, 13, 0, 0, 0, time.UTC)
	env := func(id string) events.Envelope {
		return events.Envelope{EventID: id, OccurredAt: at, Domain: events.DomainRaw, CorrelationID: f.id}
	}
	table, feed := trades, "trades"
	r.produce(t,
		&events.FileFailed{Envelope: env(events.NewID()), BatchID: &first.BatchID, Table: &table, FileKey: f.key, FileChecksum: &sum,
			Stage: "write", Reason: "disk full", Attempt: 1},
		&events.FileRetryRequested{Envelope: env(events.DeriveID("retry", f.id, "2")), FileKey: f.key, FileChecksum: sum, Attempt: 2,
			RequestedBy: "test"},
	)
	// Requested, not landed yet: nothing to plan.
	if n, err := p.PlanOnce(context.Background()); err != nil || n != 0 {
		t.Fatalf("PlanOnce with the retry pending: %d, %v; want none", n, err)
	}
	landed2 := events.AttemptID(f.id, 2)
	r.produce(t, &events.FileLanded{Envelope: env(landed2), Key: f.key, Source: events.SourceLocal, Size: f.size, Checksum: sum,
		Feed: &feed, Table: &table, Attempt: 2})
	if n, err := p.PlanOnce(context.Background()); err != nil || n != 1 {
		t.Fatalf("PlanOnce after the retry landed: %d, %v; want 1 batch", n, err)
	}
	second := r.read(t, 1)[0]
	bf := second.Files[0]
	if want := planner.BatchID(trades, []string{landed2}); second.BatchID != want || second.BatchID == first.BatchID {
		t.Errorf("retry batch id %s, want %s (not the first attempt's %s)", second.BatchID, want, first.BatchID)
	}
	if bf.Key != f.key || bf.Attempt != 2 || bf.LandedEventID != landed2 || second.Envelope.CausationID != landed2 {
		t.Errorf("retry batch file %+v (causation %s), want attempt 2 landed by %s", bf, second.Envelope.CausationID, landed2)
	}
	if n, err := p.PlanOnce(context.Background()); err != nil || n != 0 {
		t.Fatalf("PlanOnce again: %d, %v; want none", n, err)
	}
}
