// Package bench holds logmesh's throughput benchmarks. Each figure of the
// platform (encode and produce, consume and decode, fold into Pebble) has a
// baseline beside it that does the same Kafka work with franz-go alone, on the
// same in-process kfake cluster, in the same run, so `make bench`
// (bench/report) can print the figure as a ratio of its baseline
// rather than as an absolute number that depends on the machine.
//
// The Kafka benchmarks report "events/s": one iteration handles
// -bench.events events (default 200,000) of the size of a realistic
// FileLanded (about 200 bytes of value); the Kafka data each iteration reads
// is produced once per run, outside the timer. The ingest benchmarks
// (ingest_test.go) report "rows/s" for a generated 10-column CSV of
// -bench.ingestrows rows, beside the parse-only and parquet-go write limits.
package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkaconn"
	"github.com/logmesh/logmesh/internal/kafkatest"
	"github.com/logmesh/logmesh/processors/host"
	"github.com/logmesh/logmesh/projections/lineage"
	"github.com/logmesh/logmesh/state"
)

var (
	numEvents = flag.Int("bench.events", 200_000, "events handled by one benchmark iteration")
	bigEvents = flag.Int("bench.bigevents", 5_000_000, "events of the big topic, replayed by BenchmarkReplayLineageBig")
)

// partitions is the partition count of every benchmark topic: the platform's
// default for a domain topic.
const partitions = events.DefaultPartitions

// waitTimeout bounds every wait for Kafka, so a broken benchmark fails
// instead of hanging. It is a safety net, not a timed assertion.
const waitTimeout = 10 * time.Minute

// fixture is what every benchmark of a run shares: a kfake cluster, an
// srfake registry, a codec registered in it, and a topic holding numEvents
// FileLanded events. It is built once, by shared, and torn down by TestMain.
type fixture struct {
	cluster *kfake.Cluster
	reg     *srfake.Registry
	codec   *events.Codec
	brokers []string
	adm     *kadm.Client
	topic   string          // holds numEvents encoded FileLanded events
	ends    map[int32]int64 // end offset of each partition of topic

	bigOnce  sync.Once
	bigTopic string // holds bigEvents events, made by big
	bigErr   error
}

var (
	fxOnce sync.Once
	fx     *fixture
	fxErr  error
)

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if fx != nil {
		fx.close()
	}
	os.Exit(code)
}

// shared returns the run's fixture, building it on first use. The building
// is not timed: callers are before their first StartTimer or ResetTimer.
func shared(b *testing.B) *fixture {
	b.Helper()
	fxOnce.Do(func() { fx, fxErr = newFixture() })
	if fxErr != nil {
		b.Fatal(fxErr)
	}
	return fx
}

func newFixture() (*fixture, error) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		return nil, fmt.Errorf("kfake: %w", err)
	}
	f := &fixture{cluster: cluster, reg: srfake.New(), brokers: cluster.ListenAddrs()}
	srCl, err := sr.NewClient(sr.URLs(f.reg.URL()))
	if err != nil {
		f.close()
		return nil, err
	}
	if f.codec, err = events.NewCodec(events.SRRegistry(srCl)); err != nil {
		f.close()
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := f.codec.Register(ctx); err != nil {
		f.close()
		return nil, err
	}
	admCl, err := kgo.NewClient(kgo.SeedBrokers(f.brokers...))
	if err != nil {
		f.close()
		return nil, err
	}
	f.adm = kadm.NewClient(admCl)
	if err := f.fill(ctx); err != nil {
		f.close()
		return nil, err
	}
	return f, nil
}

// fill creates the shared topic and produces numEvents events into it.
func (f *fixture) fill(ctx context.Context) error {
	f.topic = events.DomainTopic("benchsource")
	if err := f.createTopic(ctx, f.topic); err != nil {
		return err
	}
	recs := make([]*kgo.Record, *numEvents)
	for i := range recs {
		rec, err := f.codec.Record(fileLanded(i, "benchsource"))
		if err != nil {
			return err
		}
		recs[i] = rec
	}
	cl, err := kgo.NewClient(producerOpts(f.brokers)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := produceAll(ctx, cl, *numEvents, func(i int) (*kgo.Record, error) { return recs[i], nil }); err != nil {
		return err
	}
	listed, err := f.adm.ListEndOffsets(ctx, f.topic)
	if err != nil {
		return err
	}
	f.ends = map[int32]int64{}
	var total int64
	listed.Each(func(o kadm.ListedOffset) {
		f.ends[o.Partition] = o.Offset
		total += o.Offset
	})
	if total != int64(*numEvents) {
		return fmt.Errorf("shared topic holds %d records, want %d", total, *numEvents)
	}
	return nil
}

func (f *fixture) createTopic(ctx context.Context, topic string) error {
	resp, err := f.adm.CreateTopic(ctx, partitions, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	return nil
}

func (f *fixture) deleteTopic(b *testing.B, topic string) {
	b.Helper()
	resp, err := f.adm.DeleteTopic(context.Background(), topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		b.Fatalf("delete topic %s: %v", topic, err)
	}
}

func (f *fixture) close() {
	if f.adm != nil {
		f.adm.Close()
	}
	f.reg.Close()
	f.cluster.Close()
}

// fileLanded returns the i-th benchmark event: a CSV file landed in a local
// directory and matched to a feed, as the landing watcher writes it. Its
// encoded value is about 200 bytes.
func fileLanded(i int, domain string) *events.FileLanded {
	key := "trades/desk-" + strconv.Itoa(i%50) + "/fills-" + strconv.Itoa(i) + ".csv"
	return &events.FileLanded{
		Envelope: events.Envelope{
			EventID:       events.DeriveID("landing", key),
			OccurredAt:    time.Unix(1793525400, int64(i)*1000).UTC(),
			Domain:        domain,
			CorrelationID: key,
		},
		Key:         key,
		Source:      events.SourceLocal,
		Size:        1_048_576 + int64(i),
		Checksum:    "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		ContentType: ptr("text/csv"),
		Feed:        ptr("trades"),
		Table:       ptr("trades"),
	}
}

func ptr[T any](v T) *T { return &v }

// producerOpts are the producer settings of both produce benchmarks and of
// the fixture: franz-go's defaults (acks=all, idempotent, 10ms linger).
func producerOpts(brokers []string) []kgo.Opt {
	return []kgo.Opt{kgo.SeedBrokers(brokers...)}
}

// produceAll produces the records next(0) .. next(n-1) with async Produce
// and waits for all of them with a final Flush.
func produceAll(ctx context.Context, cl *kgo.Client, n int, next func(i int) (*kgo.Record, error)) error {
	var firstErr atomic.Pointer[error]
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			firstErr.CompareAndSwap(nil, &err)
		}
	}
	for i := range n {
		rec, err := next(i)
		if err != nil {
			return err
		}
		cl.Produce(ctx, rec, promise)
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	if p := firstErr.Load(); p != nil {
		return *p
	}
	return nil
}

// benchProduce times produceAll into a fresh topic per iteration. prepare
// runs once before timing, with the iteration's domain; next builds record i.
func benchProduce(b *testing.B, next func(domain string, i int) (*kgo.Record, error)) {
	f := shared(b)
	cl, err := kgo.NewClient(producerOpts(f.brokers)...)
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	iter := 0
	for b.Loop() {
		b.StopTimer()
		iter++
		domain := "benchproduce" + strconv.Itoa(iter)
		topic := events.DomainTopic(domain)
		if err := f.createTopic(ctx, topic); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		err := produceAll(ctx, cl, *numEvents, func(i int) (*kgo.Record, error) { return next(domain, i) })
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		// Dropping the topic keeps kfake's memory flat across iterations.
		f.deleteTopic(b, topic)
		b.StartTimer()
	}
	reportEvents(b)
}

// BenchmarkProduceRaw is the baseline of BenchmarkProduceEvents: franz-go
// producing pre-built records of the same key, value and header sizes.
func BenchmarkProduceRaw(b *testing.B) {
	f := shared(b)
	keys := make([][]byte, *numEvents)
	values := make([][]byte, *numEvents)
	var header []kgo.RecordHeader
	for i := range values {
		rec, err := f.codec.Record(fileLanded(i, "raw"))
		if err != nil {
			b.Fatal(err)
		}
		keys[i], values[i], header = rec.Key, rec.Value, rec.Headers
	}
	benchProduce(b, func(domain string, i int) (*kgo.Record, error) {
		return &kgo.Record{Topic: events.DomainTopic(domain), Key: keys[i], Value: values[i], Headers: header}, nil
	})
}

// BenchmarkProduceEvents builds each typed FileLanded, turns it into a record
// with codec.Record (Avro encode, key, header) and produces it.
func BenchmarkProduceEvents(b *testing.B) {
	f := shared(b)
	benchProduce(b, func(domain string, i int) (*kgo.Record, error) {
		return f.codec.Record(fileLanded(i, domain))
	})
}

// benchConsume reads the shared topic from offset 0 with a direct consumer
// (no group), calling touch on each record, until every record is read.
// Creating the client is timed: a replay or a host starts with it too.
func benchConsume(b *testing.B, touch func(ctx context.Context, r *kgo.Record) error) {
	f := shared(b)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	for b.Loop() {
		cl, err := kgo.NewClient(
			kgo.SeedBrokers(f.brokers...),
			kgo.ConsumeTopics(f.topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for n < *numEvents {
			fetches := cl.PollRecords(ctx, 10_000) // host.MaxPollRecords' default
			if err := fetches.Err0(); err != nil {
				b.Fatalf("fetch: %v", err)
			}
			for it := fetches.RecordIter(); !it.Done(); {
				if err := touch(ctx, it.Next()); err != nil {
					b.Fatal(err)
				}
				n++
			}
		}
		b.StopTimer()
		cl.Close()
		if n != *numEvents {
			b.Fatalf("consumed %d records, want %d", n, *numEvents)
		}
		b.StartTimer()
	}
	reportEvents(b)
}

// sink keeps the compiler from dropping what the consume benchmarks touch.
var sink int

// BenchmarkConsumeRaw is the baseline of the consume figures: franz-go
// reading the pre-produced records and touching each value.
func BenchmarkConsumeRaw(b *testing.B) {
	benchConsume(b, func(_ context.Context, r *kgo.Record) error {
		sink += int(r.Value[len(r.Value)-1])
		return nil
	})
}

// BenchmarkConsumeDecode is BenchmarkConsumeRaw plus codec.Decode of each
// value into a typed event.
func BenchmarkConsumeDecode(b *testing.B) {
	codec := shared(b).codec
	benchConsume(b, func(ctx context.Context, r *kgo.Record) error {
		ev, err := codec.Decode(ctx, r.Value)
		if err != nil {
			return err
		}
		sink += len(ev.Meta().EventID)
		return nil
	})
}

// openStore opens a fresh Pebble store in a new temporary directory and
// returns it with a function that closes and removes it. Neither is timed.
// opts may be nil.
func openStore(b *testing.B, opts *state.Options) (*state.Store, func()) {
	b.Helper()
	dir, err := os.MkdirTemp("", "logmesh-bench-")
	if err != nil {
		b.Fatal(err)
	}
	st, err := state.Open(dir, opts)
	if err != nil {
		b.Fatal(err)
	}
	return st, func() {
		if err := st.Close(); err != nil {
			b.Error(err)
		}
		if err := os.RemoveAll(dir); err != nil {
			b.Error(err)
		}
	}
}

// BenchmarkReplayLineage rebuilds the lineage projection from the shared
// topic into a fresh on-disk Pebble store with host.Replay, as a rebuild
// from scratch runs: decode, fold, a Pebble batch commit per partition and
// poll, without fsync (Sync(false)) and without the write-ahead log
// (state.Options.DisableWAL), then one Flush, timed, that makes it all
// durable.
func BenchmarkReplayLineage(b *testing.B) {
	benchReplay(b, func(f *fixture, _ *testing.B) (string, int) { return f.topic, *numEvents })
}

// BenchmarkReplayLineageBig is BenchmarkReplayLineage over a topic of
// -bench.bigevents events (default 5,000,000) of the same kind: beside it,
// the 200,000-event figure shows whether the cost per event stays flat as
// the store grows to millions of keys. The topic is produced once per run,
// untimed, the first time the benchmark runs.
func BenchmarkReplayLineageBig(b *testing.B) {
	benchReplay(b, func(f *fixture, b *testing.B) (string, int) { return f.big(b), *bigEvents })
}

func benchReplay(b *testing.B, source func(*fixture, *testing.B) (topic string, n int)) {
	f := shared(b)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	topic, n := source(f, b)
	for b.Loop() {
		b.StopTimer()
		st, done := openStore(b, &state.Options{DisableWAL: true})
		b.StartTimer()
		prog, err := host.Replay(ctx, lineage.Projection{}, st, f.codec,
			kafkaconn.Plain(f.brokers...), events.TopicNames(topic), host.Sync(false))
		if err == nil {
			err = st.Flush()
		}
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		if prog.Records != n || prog.Poison != 0 {
			b.Fatalf("replayed %d records (%d poison), want %d", prog.Records, prog.Poison, n)
		}
		done()
		b.StartTimer()
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// big returns the big topic, producing its -bench.bigevents events the
// first time (each built and encoded as it is produced, not held).
func (f *fixture) big(b *testing.B) string {
	b.Helper()
	f.bigOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		topic := events.DomainTopic("benchbig")
		if f.bigErr = f.createTopic(ctx, topic); f.bigErr != nil {
			return
		}
		cl, err := kgo.NewClient(producerOpts(f.brokers)...)
		if err != nil {
			f.bigErr = err
			return
		}
		defer cl.Close()
		start := time.Now()
		f.bigErr = produceAll(ctx, cl, *bigEvents, func(i int) (*kgo.Record, error) {
			return f.codec.Record(fileLanded(i, "benchbig"))
		})
		f.bigTopic = topic
		b.Logf("produced %d events into %s in %v", *bigEvents, topic, time.Since(start).Round(time.Millisecond))
	})
	if f.bigErr != nil {
		b.Fatal(f.bigErr)
	}
	return f.bigTopic
}

// BenchmarkHostLineage runs a host.Host with the lineage projection in a new
// consumer group over the shared topic, into a fresh on-disk Pebble store
// (Sync(false)), and times it end to end: from Run to the batch commit that
// stores the end offset of the last partition, group join included.
func BenchmarkHostLineage(b *testing.B) {
	f := shared(b)
	iter := 0
	for b.Loop() {
		b.StopTimer()
		iter++
		st, done := openStore(b, nil)
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		caughtUp := make(chan struct{})
		behind := len(f.ends)
		onProgress := func(p host.Progress) {
			for tp, next := range p.Offsets {
				if next == f.ends[tp.Partition] {
					behind--
					if behind == 0 {
						close(caughtUp)
					}
				}
			}
		}
		h, err := host.New(lineage.Projection{}, st, f.codec, kafkaconn.Plain(f.brokers...),
			"bench-host-"+strconv.Itoa(iter), events.TopicNames(f.topic), host.Sync(false), host.OnProgress(onProgress))
		if err != nil {
			b.Fatal(err)
		}
		ran := make(chan error, 1)
		b.StartTimer()
		go func() { ran <- h.Run(ctx) }()
		select {
		case <-caughtUp:
		case err := <-ran:
			b.Fatalf("host stopped before catching up: %v", err)
		case <-ctx.Done():
			b.Fatalf("host did not catch up: %v", ctx.Err())
		}
		b.StopTimer()
		cancel()
		if err := <-ran; err != nil && !errors.Is(err, context.Canceled) {
			b.Fatal(err)
		}
		done()
		b.StartTimer()
	}
	reportEvents(b)
}

// reportEvents reports the events handled per second of timed work.
func reportEvents(b *testing.B) {
	b.ReportMetric(float64(*numEvents)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// TestEventSize checks that the benchmark events stay the size the figures
// claim: a FileLanded value of about 200 bytes.
func TestEventSize(t *testing.T) {
	codec, _ := kafkatest.Codec(t)
	for _, i := range []int{0, 123_456} {
		rec, err := codec.Record(fileLanded(i, events.DomainRaw))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("event %d: key %d bytes, value %d bytes", i, len(rec.Key), len(rec.Value))
		if n := len(rec.Value); n < 170 || n > 240 {
			t.Errorf("event %d: value is %d bytes, want about 200", i, n)
		}
	}
}
