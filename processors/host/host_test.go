package host_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkaconn"
	"github.com/logmesh/logmesh/internal/kafkatest"
	"github.com/logmesh/logmesh/internal/proctest"
	"github.com/logmesh/logmesh/processors/host"
	"github.com/logmesh/logmesh/projections/lineage"
	"github.com/logmesh/logmesh/state"
)

// waitTimeout bounds every wait for a condition; it is a safety net, not a
// timed assertion.
const waitTimeout = 3 * time.Minute

// rig is one test's Kafka topic, registry and codec.
type rig struct {
	cluster *kafkatest.Cluster
	topic   string
	regURL  string
	codec   *events.Codec
}

func newRig(t *testing.T, partitions int32) *rig {
	t.Helper()
	c := kafkatest.New(t)
	codec, url := kafkatest.Codec(t)
	return &rig{
		cluster: c,
		topic:   c.Topic(t, "logmesh.hosttest.events", partitions, map[string]*string{"retention.ms": kadm.StringPtr("-1")}),
		regURL:  url,
		codec:   codec,
	}
}

// event returns the i-th test event: files in 37 correlations, so every
// partition sees several interleaved chains.
func event(i int) events.Event {
	corr := fmt.Sprintf("file-%d", i%37)
	return &events.FileLanded{
		Envelope: events.Envelope{
			EventID:       events.DeriveID("hosttest", strconv.Itoa(i)),
			OccurredAt:    time.Unix(1764000000, int64(i)*1000).UTC(),
			Domain:        "raw",
			CorrelationID: corr,
			CausationID:   events.DeriveID("hosttest", strconv.Itoa(i-1)),
		},
		Key:      corr + ".csv",
		Source:   "local",
		Size:     int64(i),
		Checksum: fmt.Sprintf("%064x", i),
	}
}

// produce appends events [from, to) to the rig's topic.
func (r *rig) produce(t *testing.T, from, to int) {
	t.Helper()
	cl := r.cluster.Client(t, kgo.DefaultProduceTopic(r.topic))
	var recs []*kgo.Record
	for i := from; i < to; i++ {
		rec, err := r.codec.Record(event(i))
		if err != nil {
			t.Fatal(err)
		}
		rec.Topic = r.topic
		recs = append(recs, rec)
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// ends returns the end offset of every partition of the topic.
func (r *rig) ends(t *testing.T) map[state.TopicPartition]int64 {
	t.Helper()
	adm := kadm.NewClient(r.cluster.Client(t))
	lo, err := adm.ListEndOffsets(context.Background(), r.topic)
	if err != nil {
		t.Fatal(err)
	}
	m := map[state.TopicPartition]int64{}
	lo.Each(func(o kadm.ListedOffset) {
		m[state.TopicPartition{Topic: o.Topic, Partition: o.Partition}] = o.Offset
	})
	return m
}

// reference folds the whole topic into a fresh in-memory store.
func (r *rig) reference(t *testing.T) *state.Store {
	t.Helper()
	st := openMem(t)
	if _, err := host.Replay(context.Background(), lineage.Projection{}, st, r.codec,
		r.cluster.Conn(), events.TopicNames(r.topic), host.Sync(false)); err != nil {
		t.Fatalf("replay: %v", err)
	}
	return st
}

func openMem(t testing.TB) *state.Store {
	t.Helper()
	st, err := state.Open("", &state.Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// running is a host started in the background.
type running struct {
	h      *host.Host
	store  *state.Store
	cancel context.CancelFunc
	done   chan error
	prog   chan struct{}
}

func (r *rig) start(t *testing.T, st *state.Store, group string, opts ...host.Option) *running {
	t.Helper()
	run := &running{store: st, done: make(chan error, 1), prog: make(chan struct{}, 1)}
	opts = append([]host.Option{
		host.Sync(false),
		host.OnProgress(func(host.Progress) {
			select {
			case run.prog <- struct{}{}:
			default:
			}
		}),
	}, opts...)
	h, err := host.New(lineage.Projection{}, st, r.codec, r.cluster.Conn(), group, events.TopicNames(r.topic), opts...)
	if err != nil {
		t.Fatal(err)
	}
	run.h = h
	ctx, cancel := context.WithCancel(context.Background())
	run.cancel = cancel
	go func() { run.done <- h.Run(ctx) }()
	t.Cleanup(func() { run.stop(t) })
	return run
}

// stop cancels the host and waits for Run to return.
func (run *running) stop(t *testing.T) {
	t.Helper()
	if run.cancel == nil {
		return
	}
	run.cancel()
	run.cancel = nil
	if err := <-run.done; err != nil {
		t.Errorf("host run: %v", err)
	}
	run.h.Close()
}

// waitFor waits until cond holds, checking after each committed batch of any
// of the hosts (and periodically, for conditions that change by rebalance).
func waitFor(t *testing.T, what string, cond func() bool, hosts ...*running) {
	t.Helper()
	deadline := time.After(waitTimeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		var progress chan struct{}
		if len(hosts) > 0 {
			progress = hosts[0].prog
		}
		select {
		case <-progress:
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
		for _, h := range hosts {
			select {
			case err := <-h.done:
				t.Fatalf("host stopped while waiting for %s: %v", what, err)
			default:
			}
		}
	}
}

// caughtUp reports whether, for every partition, some store has reached the
// end offset.
func caughtUp(t *testing.T, ends map[state.TopicPartition]int64, stores ...*state.Store) bool {
	t.Helper()
	for tp, end := range ends {
		reached := false
		for _, st := range stores {
			if next, ok, err := st.Offset(tp.Topic, tp.Partition); err != nil {
				t.Fatal(err)
			} else if ok && next >= end {
				reached = true
			}
		}
		if !reached && end > 0 {
			return false
		}
	}
	return true
}

func digestAll(t *testing.T, st *state.Store) [32]byte {
	t.Helper()
	d, err := st.DigestAll()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestHostFoldsEveryEventOnce(t *testing.T) {
	r := newRig(t, 4)
	r.produce(t, 0, 2000)
	st := openMem(t)
	run := r.start(t, st, kafkatest.Unique("g"))
	ends := r.ends(t)
	waitFor(t, "catch-up", func() bool { return caughtUp(t, ends, st) }, run)
	run.stop(t)

	ref := r.reference(t)
	if got, want := digestAll(t, st), digestAll(t, ref); got != want {
		t.Fatalf("live digest %x != replayed digest %x", got, want)
	}
	var total uint64
	for i := range 37 {
		n, err := countIn(st, fmt.Sprintf("file-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		total += n
	}
	if total != 2000 {
		t.Fatalf("lineage counted %d events, want 2000", total)
	}
}

// countIn sums the lineage count of a correlation over every scope.
func countIn(st *state.Store, corr string) (uint64, error) {
	var total uint64
	tps, err := st.Partitions()
	if err != nil {
		return 0, err
	}
	for _, tp := range tps {
		n, err := lineage.Count(scopeReader{st, tp}, corr)
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

// scopeReader reads one committed scope of a store (read-only).
type scopeReader struct {
	st *state.Store
	tp state.TopicPartition
}

func (s scopeReader) Get(k []byte) ([]byte, bool, error) {
	return s.st.Get(s.tp.Topic, s.tp.Partition, k)
}
func (s scopeReader) Set([]byte, []byte) error { return errors.New("read-only") }
func (s scopeReader) Delete([]byte) error      { return errors.New("read-only") }

// A host whose context is cancelled mid-stream, without Close, loses only its
// uncommitted batch; the next host resumes from the stored offsets.
func TestHostCancelledMidStreamResumes(t *testing.T) {
	r := newRig(t, 4)
	r.produce(t, 0, 3000)
	st := openMem(t)
	group := kafkatest.Unique("g")
	batches := 0
	var mu sync.Mutex
	ctx, cancel := context.WithCancel(context.Background())
	h, err := host.New(lineage.Projection{}, st, r.codec, r.cluster.Conn(), group, events.TopicNames(r.topic),
		host.Sync(false), host.MaxPollRecords(100),
		host.OnProgress(func(host.Progress) {
			mu.Lock()
			defer mu.Unlock()
			if batches++; batches == 5 {
				cancel() // the crash: Run returns without committing what it polls next
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Run(ctx); err != nil {
		t.Fatalf("run: %v", err)
	}
	ends := r.ends(t)
	if caughtUp(t, ends, st) {
		t.Fatal("the first host finished everything; the test did not interrupt it")
	}

	run := r.start(t, st, group)
	waitFor(t, "catch-up after restart", func() bool { return caughtUp(t, ends, st) }, run)
	run.stop(t)
	if got, want := digestAll(t, st), digestAll(t, r.reference(t)); got != want {
		t.Fatalf("digest after resume %x != replayed %x", got, want)
	}
}

// Env of the child process in TestHostKilledMidStream.
const (
	envChild    = "LOGMESH_HOSTTEST_CHILD"
	envBrokers  = "LOGMESH_HOSTTEST_BROKERS"
	envTopic    = "LOGMESH_HOSTTEST_TOPIC"
	envGroup    = "LOGMESH_HOSTTEST_GROUP"
	envDir      = "LOGMESH_HOSTTEST_DIR"
	envRegistry = "LOGMESH_HOSTTEST_REGISTRY"
)

// TestHostChild is the host process that TestHostKilledMidStream kills. It
// prints "applied N" after every durable batch. It is skipped in normal runs.
func TestHostChild(t *testing.T) {
	if os.Getenv(envChild) != "1" {
		t.Skip("run as a child process by TestHostKilledMidStream")
	}
	st, err := state.Open(os.Getenv(envDir), nil)
	if err != nil {
		t.Fatal(err)
	}
	applied := 0
	h, err := host.New(lineage.Projection{}, st, kafkatest.CodecAt(t, os.Getenv(envRegistry)),
		kafkaconn.Plain(strings.Split(os.Getenv(envBrokers), ",")...),
		os.Getenv(envGroup), events.TopicNames(os.Getenv(envTopic)),
		host.MaxPollRecords(50), host.Sync(false),
		// A short session, so the group notices the killed member soon.
		host.ClientOpts(kgo.SessionTimeout(6*time.Second)),
		host.OnProgress(func(p host.Progress) {
			applied += p.Records
			fmt.Printf("applied %d\n", applied)
		}))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// A host process killed with SIGKILL mid-stream leaves a store from which a
// restarted host reaches exactly the state of a from-scratch fold.
func TestHostKilledMidStream(t *testing.T) {
	const n = 6000
	r := newRig(t, 6)
	r.produce(t, 0, n)
	dir := t.TempDir()
	group := kafkatest.Unique("g")

	child := proctest.Start(t, "host", []string{envChild + "=1", envBrokers + "=" + strings.Join(r.cluster.Brokers, ","),
		envTopic + "=" + r.topic, envGroup + "=" + group, envDir + "=" + dir, envRegistry + "=" + r.regURL},
		"-test.run=^TestHostChild$", "-test.v")
	var killedAt int
	line := child.Await(child.OnLine(func(l string) bool {
		_, err := fmt.Sscanf(l, "applied %d", &killedAt)
		return err == nil && killedAt >= n/3
	}), "a third of the events applied")
	child.Kill()
	if _, err := fmt.Sscanf(line, "applied %d", &killedAt); err != nil || killedAt >= n {
		t.Fatalf("child was not killed mid-stream (%q, of %d)", line, n)
	}
	t.Logf("killed the host after %d of %d events", killedAt, n)

	st, err := state.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ends := r.ends(t)
	run := r.start(t, st, group)
	waitFor(t, "catch-up after kill", func() bool { return caughtUp(t, ends, st) }, run)
	run.stop(t)
	if got, want := digestAll(t, st), digestAll(t, r.reference(t)); got != want {
		t.Fatalf("digest after kill and restart %x != replayed %x", got, want)
	}
}

// Two hosts in one group split the partitions; as they join and leave, every
// partition's state ends equal to a from-scratch fold, and the host left
// alone at the end holds the whole state.
func TestHostRebalanceTwoHosts(t *testing.T) {
	r := newRig(t, 6)
	group := kafkatest.Unique("g")
	stA, stB := openMem(t), openMem(t)

	r.produce(t, 0, 1500)
	a := r.start(t, stA, group, host.MaxPollRecords(100))
	ends := r.ends(t)
	waitFor(t, "host A catch-up", func() bool { return caughtUp(t, ends, stA) }, a)

	b := r.start(t, stB, group, host.MaxPollRecords(100))
	waitFor(t, "both hosts own partitions", func() bool {
		return len(a.h.Assigned()) > 0 && len(b.h.Assigned()) > 0 && len(a.h.Assigned())+len(b.h.Assigned()) == 6
	}, a, b)
	r.produce(t, 1500, 3000)
	ends = r.ends(t)
	waitFor(t, "both hosts catch up", func() bool { return caughtUp(t, ends, stA, stB) }, a, b)

	ref := r.reference(t)
	for tp, end := range ends {
		var owner *state.Store
		for _, st := range []*state.Store{stA, stB} {
			if next, ok, _ := st.Offset(tp.Topic, tp.Partition); ok && next >= end {
				owner = st
			}
		}
		got, err := owner.Digest(tp.Topic, tp.Partition)
		if err != nil {
			t.Fatal(err)
		}
		want, err := ref.Digest(tp.Topic, tp.Partition)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("partition %v: digest %x != replayed %x", tp, got, want)
		}
	}

	// A leaves; B takes every partition and catches up those it never had
	// (from offset 0) or had before (from its own stored offset).
	a.stop(t)
	r.produce(t, 3000, 3600)
	ends = r.ends(t)
	waitFor(t, "host B alone catches up", func() bool { return caughtUp(t, ends, stB) }, b)
	b.stop(t)
	if got, want := digestAll(t, stB), digestAll(t, r.reference(t)); got != want {
		t.Fatalf("digest of the remaining host %x != replayed %x", got, want)
	}
}

func TestPoisonRecordsGoToDeadLetter(t *testing.T) {
	r := newRig(t, 1)
	cl := r.cluster.Client(t)
	good1, _ := r.codec.Record(event(1))
	noID := event(2)
	noID.Meta().EventID = ""
	bad, err := r.codec.Record(noID)
	if err != nil {
		t.Fatal(err)
	}
	good2, _ := r.codec.Record(event(3))
	recs := []*kgo.Record{
		good1,
		{Value: []byte("not avro at all")}, // malformed
		{Value: []byte{0, 0, 0, 0x7f, 0xff, 2, 'x'}}, // unknown schema id
		{Key: []byte("tombstone")},                   // nil value
		bad,                                          // invariant: no event id
		good2,
	}
	for _, rec := range recs {
		rec.Topic = r.topic
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	st := openMem(t)
	run := r.start(t, st, kafkatest.Unique("g"))
	ends := r.ends(t)
	waitFor(t, "catch-up", func() bool { return caughtUp(t, ends, st) }, run)
	run.stop(t)

	for _, id := range []string{good1Key(1), good1Key(3)} {
		if _, ok, err := lineage.Lookup(scopeReader{st, state.TopicPartition{Topic: r.topic}}, id); err != nil || !ok {
			t.Errorf("good event %s not applied (ok=%v err=%v)", id, ok, err)
		}
	}

	// The dead-letter topic holds the four poison records with reasons:
	// each was written before the batch that skipped it committed.
	var reasons []string
	for _, rec := range kafkatest.ReadAll(t, r.cluster.Brokers, events.DeadLetterTopic(r.topic)) {
		h := map[string]string{}
		for _, hd := range rec.Headers {
			h[hd.Key] = string(hd.Value)
		}
		if h[host.HeaderTopic] != r.topic || h[host.HeaderOffset] == "" || h[host.HeaderReason] == "" {
			t.Errorf("dead letter without source coordinates: %v", h)
		}
		reasons = append(reasons, h[host.HeaderOffset]+": "+h[host.HeaderReason])
	}
	if len(reasons) != 4 {
		t.Fatalf("dead letters: got %d of 4: %v", len(reasons), reasons)
	}
	want := []string{"1: decode", "2: decode", "3: tombstone", "4: apply"}
	for i, w := range want {
		if !strings.HasPrefix(reasons[i], w) {
			t.Errorf("dead letter %d = %q, want prefix %q", i, reasons[i], w)
		}
	}
	t.Logf("dead letters: %q", reasons)
}

func good1Key(i int) string { return event(i).Meta().EventID }

// failingDecoder fails as an unreachable registry would: not poison.
type failingDecoder struct{}

func (failingDecoder) Decode(context.Context, []byte) (events.Event, error) {
	return nil, errors.New("registry unreachable")
}

// A non-poison decode failure stops the host and commits nothing.
func TestTransientDecodeErrorStopsWithoutCommit(t *testing.T) {
	r := newRig(t, 1)
	r.produce(t, 0, 10)
	st := openMem(t)
	h, err := host.New(lineage.Projection{}, st, failingDecoder{}, r.cluster.Conn(), kafkatest.Unique("g"), events.TopicNames(r.topic))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := h.Run(ctx); err == nil || !strings.Contains(err.Error(), "registry unreachable") {
		t.Fatalf("run = %v, want the decoder's error", err)
	}
	if _, ok, _ := st.Offset(r.topic, 0); ok {
		t.Fatal("an offset was committed for a batch that failed")
	}
}

func TestNewValidates(t *testing.T) {
	st := openMem(t)
	conn, topics := kafkaconn.Plain("x:1"), events.TopicNames("t")
	for name, c := range map[string]struct {
		conn   kafkaconn.Conn
		group  string
		topics events.TopicSet
		opts   []host.Option
	}{
		"no brokers":  {kafkaconn.Conn{}, "g", topics, nil},
		"no group":    {conn, "", topics, nil},
		"no topics":   {conn, "g", events.TopicSet{}, nil},
		"bad pattern": {conn, "g", events.TopicSet{Pattern: "("}, nil},
		"bad poll":    {conn, "g", topics, []host.Option{host.MaxPollRecords(0)}},
	} {
		if _, err := host.New(lineage.Projection{}, st, failingDecoder{}, c.conn, c.group, c.topics, c.opts...); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
	if _, err := host.New(lineage.Projection{}, st, failingDecoder{}, conn, "g", topics); err != nil {
		t.Errorf("valid options refused: %v", err)
	}
}

// A host over a topic pattern folds every matching topic, including one
// created while it runs (a domain added to the mesh later).
func TestHostPatternPicksUpNewTopics(t *testing.T) {
	c := kafkatest.New(t)
	codec, _ := kafkatest.Codec(t)
	names := events.Topics{Prefix: kafkatest.Unique("hp")}
	ctx := context.Background()
	produce := func(domain string) {
		if err := c.Conn().EnsureTopics(ctx, events.TopicSpec{Name: names.Domain(domain), Partitions: 1}); err != nil {
			t.Fatal(err)
		}
		rec, err := codec.Record(event(1))
		if err != nil {
			t.Fatal(err)
		}
		rec.Topic = names.Domain(domain)
		if err := c.Client(t).ProduceSync(ctx, rec).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	produce("first")
	st := openMem(t)
	h, err := host.New(lineage.Projection{}, st, codec, c.Conn(), kafkatest.Unique("g"), lineage.Projection{}.Topics(names),
		host.Sync(false), host.ClientOpts(kgo.MetadataMaxAge(200*time.Millisecond), kgo.MetadataMinAge(50*time.Millisecond)))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- h.Run(runCtx) }()
	folded := func(domain string) bool {
		next, ok, err := st.Offset(names.Domain(domain), 0)
		return err == nil && ok && next == 1
	}
	deadline := time.Now().Add(waitTimeout)
	for !folded("first") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	produce("later")
	for !folded("later") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !folded("first") || !folded("later") {
		t.Fatalf("folded first=%v later=%v, want both domains' topics", folded("first"), folded("later"))
	}
}

// onlyFiles folds nothing and handles no fact but FileFailed.
type onlyFiles struct{ lineage.Projection }

func (onlyFiles) Handles(name string) bool { return name == events.NameFileFailed }

// A selective projection's host skips records whose header names a fact it
// does not handle, without decoding them (here, with a decoder that would
// fail on every record).
func TestSelectiveProjectionSkipsByHeader(t *testing.T) {
	r := newRig(t, 2)
	r.produce(t, 0, 50) // FileLanded events, with the event header
	st := openMem(t)
	prog, err := host.Replay(context.Background(), onlyFiles{}, st, failingDecoder{}, r.cluster.Conn(), events.TopicNames(r.topic), host.Sync(false))
	if err != nil {
		t.Fatalf("replay: %v (the records should not have been decoded)", err)
	}
	if prog.Records != 50 || prog.Poison != 0 {
		t.Fatalf("progress %+v, want 50 records skipped, none poison", prog)
	}
	if d := digestAll(t, st); d != digestAll(t, openMem(t)) {
		t.Error("the skipped records changed the state")
	}
}
