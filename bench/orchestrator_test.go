package bench

// The orchestration figures.
//
// Latency (BenchmarkOrchestratorLatency, beside BenchmarkLatencyRaw): how
// long a refresh takes to start the run it completes, p50 and p99 in ms,
// on the embedded cluster, for a product with 3 inputs and the default
// policy (all inputs).
//
// Throughput (BenchmarkOrchestrator10, BenchmarkOrchestrator10000, beside
// BenchmarkConsumeRaw and each other): inbox facts decided per second by
// processors/orchestrator, exactly once on its transactional loop, with 10
// and with 10,000 declared products. Both decide the same facts about the
// same few products; the other products' inputs are touched by no fact, so
// the ratio of the two is what unrelated products cost a decision.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkaconn"
	"github.com/logmesh/logmesh/processors/orchestrator"
	"github.com/logmesh/logmesh/processors/proc"
	"github.com/logmesh/logmesh/processors/router"
	"github.com/logmesh/logmesh/projections/orchestration"
	"github.com/logmesh/logmesh/projections/projectiontest"
)

var (
	latencyRuns = flag.Int("bench.latencyruns", 500, "timed runs of one latency benchmark iteration")
	orchFactN   = flag.Int("bench.orchfacts", 100_000, "inbox facts decided by one orchestrator throughput iteration")
)

// latencyWarmup is how many runs of a latency iteration go untimed first:
// the first fetches of each client, metadata and group joins settle there.
const latencyWarmup = 5

// stepTimeout bounds each wait of a latency run (a processor deciding one
// fact takes milliseconds). It is a safety net, not a timed assertion.
const stepTimeout = 30 * time.Second

// orchEpoch is when the benchmark products are defined; facts follow it.
var orchEpoch = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

// orchRuns numbers the iterations of the process, for their topic prefixes
// and groups (go test -count calls a benchmark again).
var orchRuns atomic.Int64

// orchDomain owns the benchmark's consumer-aligned products.
const orchDomain = "wm"

// latencyProduct is the latency benchmark's product over latencyInputs.
const latencyProduct = orchDomain + ".book"

var latencyInputs = []string{events.DomainRaw + ".a", events.DomainRaw + ".b", events.DomainRaw + ".c"}

// BenchmarkLatencyRaw is the baseline of BenchmarkOrchestratorLatency: the
// round trip of one record through franz-go alone on the shared cluster,
// from the ProduceSync of a record the size of a refresh to a
// read_committed consumer (already fetching) returning it, one record at a
// time, -bench.latencyruns times (after latencyWarmup untimed ones). It
// reports p50-ms, p99-ms and max-ms.
func BenchmarkLatencyRaw(b *testing.B) {
	f := shared(b)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	rec, err := f.codec.Record(latencyRefresh(latencyInputs[2], 1))
	if err != nil {
		b.Fatal(err)
	}
	prod, err := kgo.NewClient(producerOpts(f.brokers)...)
	if err != nil {
		b.Fatal(err)
	}
	defer prod.Close()
	var lat []time.Duration
	for b.Loop() {
		b.StopTimer()
		topic := "benchlatency" + strconv.FormatInt(orchRuns.Add(1), 10)
		if err := f.createTopic(ctx, topic); err != nil {
			b.Fatal(err)
		}
		cons, err := kgo.NewClient(kgo.SeedBrokers(f.brokers...), kgo.ConsumeTopics(topic),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for i := range latencyWarmup + *latencyRuns {
			stepCtx, stepDone := context.WithTimeout(ctx, stepTimeout)
			start := time.Now()
			r := &kgo.Record{Topic: topic, Key: rec.Key, Value: rec.Value, Headers: rec.Headers}
			if err := prod.ProduceSync(stepCtx, r).FirstErr(); err != nil {
				b.Fatal(err)
			}
			for got := 0; got == 0; {
				fetches := cons.PollFetches(stepCtx)
				if err := fetches.Err0(); err != nil {
					b.Fatalf("run %d: fetch: %v", i, err)
				}
				got = fetches.NumRecords()
			}
			if i >= latencyWarmup {
				lat = append(lat, time.Since(start))
			}
			stepDone()
		}
		b.StopTimer()
		cons.Close()
		f.deleteTopic(b, topic)
		b.StartTimer()
	}
	reportLatency(b, lat)
}

// BenchmarkOrchestratorLatency is the latency from a refresh to the
// JobStarted it causes, through every hop a refresh takes in the platform,
// the router and the orchestrator running as they do in `logmesh dev`:
// a product of domain wm reads three enterprise-visible raw tables (granted
// to wm) with the default policy, all inputs. A timed run refreshes the
// first two inputs and waits, untimed, until the orchestrator has decided
// both; then it times from the ProduceSync of the third refresh to the
// raw domain's bus until a read_committed consumer of wm's bus returns the
// JobStarted it caused. In between, three exactly-once transactions: the
// router copies the refresh to the central bus, the router delivers it from
// there to wm's inbox (the product reads it), and the orchestrator decides
// it and produces the JobStarted on wm's bus (its Pebble store on disk, the
// write synced after the commit, so outside the time). The run ends,
// untimed, with a JobFinished SUCCEEDED on wm's bus, routed to the inbox
// and decided, so the next run is a new run and not a pending one.
//
// Each iteration has its own topics, router, orchestrator and store,
// started untimed; latencyWarmup runs go untimed before
// -bench.latencyruns timed ones. It reports p50-ms, p99-ms and max-ms (ns/op is
// the wall time of all the runs, their untimed waits included).
func BenchmarkOrchestratorLatency(b *testing.B) {
	f := shared(b)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	conn := kafkaconn.Plain(f.brokers...)
	prod, err := kgo.NewClient(producerOpts(f.brokers)...)
	if err != nil {
		b.Fatal(err)
	}
	defer prod.Close()
	var lat []time.Duration
	for b.Loop() {
		b.StopTimer()
		names := events.Topics{Prefix: "benchorchlat-" + strconv.FormatInt(orchRuns.Add(1), 10)}
		specs := names.Specs(partitions, orchDomain)
		if err := conn.EnsureTopics(ctx, specs...); err != nil {
			b.Fatal(err)
		}
		var defs []*kgo.Record
		for _, ev := range latencyDefinitions() {
			rec, err := f.codec.Record(ev)
			if err != nil {
				b.Fatal(err)
			}
			rec.Topic = names.Central()
			defs = append(defs, rec)
		}
		if err := prod.ProduceSync(ctx, defs...).FirstErr(); err != nil {
			b.Fatal(err)
		}
		st, closeStore := openStore(b, nil)
		decided := newProgress[orchestrator.Stats]()
		orch, err := orchestrator.New(proc.Config{Conn: conn, Topics: names, Group: names.Prefix + ".orchestrator"}, st, f.codec,
			orchestrator.OnCommit(decided.set))
		if err != nil {
			b.Fatal(err)
		}
		rt, err := router.New(proc.Config{Conn: conn, Topics: names, Group: names.Prefix + ".router"}, f.codec)
		if err != nil {
			b.Fatal(err)
		}
		jobs, err := kgo.NewClient(kgo.SeedBrokers(f.brokers...), kgo.ConsumeTopics(names.Domain(orchDomain)),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		if err != nil {
			b.Fatal(err)
		}
		runCtx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		wg.Go(func() { errs[0] = orch.Run(runCtx) })
		wg.Go(func() { errs[1] = rt.Run(runCtx) })

		// The product's definition reaches wm's inbox through the router:
		// the orchestrator has decided on it, and on the raw tables'
		// definitions in raw's inbox, when it has decided 4 facts.
		facts := int64(4)
		await := func(what string) {
			b.Helper()
			stepCtx, stepDone := context.WithTimeout(ctx, stepTimeout)
			defer stepDone()
			if s, err := decided.await(stepCtx, func(s orchestrator.Stats) bool { return s.Facts >= facts }); err != nil {
				b.Fatalf("%s: the orchestrator decided %d facts, want %d: %v (%+v; router %+v)",
					what, s.Facts, facts, err, s, rt.Stats())
			}
		}
		await("definitions")
		b.StartTimer()
		for i := range latencyWarmup + *latencyRuns {
			version := int64(i + 1)
			at := orchEpoch.Add(time.Duration(version) * time.Minute)
			var first []*kgo.Record
			for _, in := range latencyInputs[:2] {
				rec, err := f.codec.Record(latencyRefresh(in, version))
				if err != nil {
					b.Fatal(err)
				}
				rec.Topic = names.Domain(events.DomainRaw)
				first = append(first, rec)
			}
			last, err := f.codec.Record(latencyRefresh(latencyInputs[2], version))
			if err != nil {
				b.Fatal(err)
			}
			last.Topic = names.Domain(events.DomainRaw)

			if err := prod.ProduceSync(ctx, first...).FirstErr(); err != nil {
				b.Fatal(err)
			}
			facts += 2
			await(fmt.Sprintf("run %d: the first two refreshes", i))

			stepCtx, stepDone := context.WithTimeout(ctx, stepTimeout)
			start := time.Now()
			if err := prod.ProduceSync(stepCtx, last).FirstErr(); err != nil {
				b.Fatal(err)
			}
			js, err := nextJobStarted(stepCtx, jobs, f.codec)
			took := time.Since(start)
			stepDone()
			if err != nil {
				b.Fatalf("run %d: no JobStarted: %v (orchestrator %+v, router %+v)", i, err, decided.get(), rt.Stats())
			}
			if i >= latencyWarmup {
				lat = append(lat, took)
			}
			if js.Product != latencyProduct || len(js.Inputs) != len(latencyInputs) ||
				slices.ContainsFunc(js.Inputs, func(in events.InputVersion) bool { return in.Version != version }) {
				b.Fatalf("run %d: JobStarted of %s pinned %+v, want %s with every input at version %d",
					i, js.Product, js.Inputs, latencyProduct, version)
			}

			fin, err := f.codec.Record(&events.JobFinished{
				Envelope: events.Envelope{EventID: events.DeriveID("bench-job-finished", js.JobID),
					OccurredAt: at.Add(30 * time.Second), Domain: orchDomain, CorrelationID: js.JobID,
					CausationID: js.Envelope.EventID},
				JobID: js.JobID, Product: js.Product, Attempt: js.Attempt, Status: events.StatusSucceeded,
				OutputVersion: ptr(version), RowsWritten: 1, DurationMs: 1,
			})
			if err != nil {
				b.Fatal(err)
			}
			fin.Topic = names.Domain(orchDomain)
			if err := prod.ProduceSync(ctx, fin).FirstErr(); err != nil {
				b.Fatal(err)
			}
			facts += 2 // the third refresh and the JobFinished
			await(fmt.Sprintf("run %d: the JobFinished", i))
		}
		b.StopTimer()
		stop()
		wg.Wait()
		jobs.Close()
		for _, err := range errs {
			if err != nil && !errors.Is(err, context.Canceled) {
				b.Fatal(err)
			}
		}
		if s := decided.get(); s.Started != int64(latencyWarmup+*latencyRuns) || s.Refolded != 0 {
			b.Fatalf("orchestrator %+v, want %d runs started and no refold", s, latencyWarmup+*latencyRuns)
		}
		closeStore()
		for _, s := range specs {
			f.deleteTopic(b, s.Name)
		}
		b.StartTimer()
	}
	reportLatency(b, lat)
}

// nextJobStarted returns the next JobStarted cl reads, skipping other
// facts.
func nextJobStarted(ctx context.Context, cl *kgo.Client, codec *events.Codec) (*events.JobStarted, error) {
	for {
		fetches := cl.PollRecords(ctx, 1)
		if err := fetches.Err0(); err != nil {
			return nil, err
		}
		for it := fetches.RecordIter(); !it.Done(); {
			ev, err := codec.Decode(ctx, it.Next().Value)
			if err != nil {
				return nil, err
			}
			if js, ok := ev.(*events.JobStarted); ok {
				return js, nil
			}
		}
	}
}

// latencyDefinitions are the latency mesh as `logmesh apply` puts it on
// the central bus: the three raw tables, enterprise-visible and granted to
// wm, and wm's product over them.
func latencyDefinitions() []events.Event {
	var out []events.Event
	for _, in := range latencyInputs {
		out = append(out, orchProduct(in, events.DomainRaw, "source-aligned", nil),
			&events.ShareGranted{Envelope: orchEnvelope(events.DomainCentral, "grant", in),
				GrantID: events.DeriveID("grant", in, orchDomain), Product: in, OwnerDomain: events.DomainRaw,
				GranteeDomain: orchDomain, GrantedBy: "mesh.yaml", DefinitionHash: events.DeriveID("hash", in, orchDomain)})
	}
	return append(out, orchProduct(latencyProduct, orchDomain, "consumer-aligned", latencyInputs))
}

// latencyRefresh is the refresh of a raw table at version, as the loader
// puts it on the raw domain's bus.
func latencyRefresh(table string, version int64) *events.ProductRefreshed {
	return orchRefresh(table, version, orchEpoch.Add(time.Duration(version)*time.Minute))
}

// orchProduct is the definition of product, owned by owner: a feed's table
// (no inputs), enterprise-visible; or a consumer-aligned product over
// inputs with the default policy, visible to its domain.
func orchProduct(product, owner, kind string, inputs []string) *events.ProductPublished {
	p := &events.ProductPublished{Envelope: orchEnvelope(events.DomainCentral, "product", product),
		Product: product, OwnerDomain: owner, Kind: kind, Inputs: slices.Clone(inputs), OutputTable: product,
		Visibility: events.VisibilityEnterprise, Trigger: "all", Owners: []string{}, PrimaryKey: []string{},
		Mode: "append", Contacts: []string{}, Tags: []string{}, DefinitionHash: events.DeriveID("hash", product)}
	if inputs == nil {
		p.Inputs = []string{}
	} else {
		p.Visibility, p.Transform = events.VisibilityDomain, ptr("SELECT count(*) AS n FROM a JOIN b USING (id) JOIN c USING (id)")
	}
	return p
}

func orchEnvelope(domain, kind, name string) events.Envelope {
	return events.Envelope{EventID: events.DeriveID("bench-orchestration", kind, name), OccurredAt: orchEpoch,
		Domain: domain, CorrelationID: "bench-orchestration"}
}

// orchRefresh is a refresh of table (a raw table, its own product) at
// version, occurring at at.
func orchRefresh(table string, version int64, at time.Time) *events.ProductRefreshed {
	v := strconv.FormatInt(version, 10)
	return &events.ProductRefreshed{
		Envelope: events.Envelope{EventID: events.DeriveID("bench-orchestration-refresh", table, v),
			OccurredAt: at, Domain: events.DomainRaw, CorrelationID: table},
		Product: table, OwnerDomain: events.DomainRaw, Visibility: events.VisibilityEnterprise, Table: table,
		Version: version, SnapshotID: 7_000_000_000_000_000_000 + version,
		MetadataLocation: fmt.Sprintf("file:///warehouse/raw/%s/metadata/%05d.metadata.json", table, version),
		RowsTotal:        1_000_000 + version, DataAsOf: ptr(at.Add(-time.Minute)),
	}
}

// reportLatency reports the median, the 99th percentile and the maximum of
// lat in ms.
func reportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	// The nearest-rank percentile: the smallest latency that q of them
	// do not exceed.
	ms := func(q float64) float64 {
		i := int(math.Ceil(q*float64(len(lat)))) - 1
		return float64(lat[min(max(i, 0), len(lat)-1)]) / float64(time.Millisecond)
	}
	b.ReportMetric(ms(0.50), "p50-ms")
	b.ReportMetric(ms(0.99), "p99-ms")
	b.ReportMetric(ms(1), "max-ms")
}

// progress holds the latest counts a processor's OnCommit reported, for a
// benchmark to wait on. Safe for concurrent use.
type progress[S any] struct {
	mu      sync.Mutex
	s       S
	changed chan struct{} // closed and replaced by each set
}

func newProgress[S any]() *progress[S] { return &progress[S]{changed: make(chan struct{})} }

// set records s; it is an OnCommit callback.
func (p *progress[S]) set(s S) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.s = s
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *progress[S]) get() S {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.s
}

// await waits until ok holds for the latest counts, or ctx ends.
func (p *progress[S]) await(ctx context.Context, ok func(S) bool) (S, error) {
	for {
		p.mu.Lock()
		s, changed := p.s, p.changed
		p.mu.Unlock()
		if ok(s) {
			return s, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return s, ctx.Err()
		}
	}
}

// The throughput mesh: orchHotProducts products of wm, each over three
// inputs of its own, are the ones the facts are about; the other declared
// products read inputs no fact touches.
const (
	orchHotProducts = 4
	orchFactsPerRun = 4 // three refreshes, then the JobFinished of the run they started
)

// BenchmarkOrchestrator10 is the orchestrator with 10 declared products,
// 4 of which the facts are about.
func BenchmarkOrchestrator10(b *testing.B) { benchOrchestrator(b, 10) }

// BenchmarkOrchestrator10000 is BenchmarkOrchestrator10 with 9,990 more
// declared products, whose inputs no fact touches.
func BenchmarkOrchestrator10000(b *testing.B) { benchOrchestrator(b, 10_000) }

// benchOrchestrator times a processors/orchestrator deciding
// -bench.orchfacts facts (rounded down to whole runs) in wm's inbox, with
// products declared: in turn, each hot product's three inputs are
// refreshed (the third starts a run: a JobStarted on wm's bus) and the run
// finishes (the JobFinished the runner would write for it), so every fact
// is decided on and one in four produces a JobStarted, in a transaction of
// up to 500 facts (the orchestrator's default), its Pebble store on disk
// and synced after each commit, as in `logmesh dev`. The router is not
// there: the facts are in the inbox as it delivers them, keyed by domain.
//
// Each iteration has its own topic prefix, store and group. Untimed, it
// puts the products' definitions in the inbox and runs an orchestrator
// until it has decided them (the products exist and their inputs are
// indexed), then puts the facts after them, and commits the group's offset
// of every inbox partition it has none for (commitUnread says why). The
// time runs from Run of a new orchestrator in the same group, on the same
// store, to the commit of the last fact: group join and first fetch
// included, as in the router benchmarks. It reports the facts decided per
// second as "events/s".
//
// Decide itself (projections/orchestration) is not timed apart: the
// processor's figure includes it, and the 10,000 ÷ 10 ratio is what
// unrelated products cost it and its store.
func benchOrchestrator(b *testing.B, products int) {
	f := shared(b)
	n := *orchFactN / (orchHotProducts * orchFactsPerRun) * (orchHotProducts * orchFactsPerRun)
	if n == 0 || products < orchHotProducts {
		b.Fatalf("%d facts about %d products: need at least %d facts and %d products",
			*orchFactN, products, orchHotProducts*orchFactsPerRun, orchHotProducts)
	}
	encode := func(evs []events.Event) []*kgo.Record {
		recs := make([]*kgo.Record, len(evs))
		for i, ev := range evs {
			rec, err := f.codec.Record(ev)
			if err != nil {
				b.Fatal(err)
			}
			rec.Key = []byte(orchDomain) // the router keys an inbox by its domain
			recs[i] = rec
		}
		return recs
	}
	defRecs := encode(orchDefinitions(products))
	orchFactsOnce.Do(func() { orchFactsCache, orchFactsErr = orchFacts(n) })
	if orchFactsErr != nil {
		b.Fatal(orchFactsErr)
	}
	factRecs := encode(orchFactsCache)
	cl, err := kgo.NewClient(producerOpts(f.brokers)...)
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	conn := kafkaconn.Plain(f.brokers...)
	for b.Loop() {
		b.StopTimer()
		names := events.Topics{Prefix: "benchorch" + strconv.Itoa(products) + "-" + strconv.FormatInt(orchRuns.Add(1), 10)}
		specs := names.Specs(partitions, orchDomain)
		if err := conn.EnsureTopics(ctx, specs...); err != nil {
			b.Fatal(err)
		}
		st, closeStore := openStore(b, nil)
		group := names.Prefix + ".orchestrator"
		// run runs a new orchestrator until it has decided want facts.
		run := func(want int) orchestrator.Stats {
			b.Helper()
			decided := newProgress[orchestrator.Stats]()
			o, err := orchestrator.New(proc.Config{Conn: conn, Topics: names, Group: group}, st, f.codec,
				orchestrator.OnCommit(decided.set))
			if err != nil {
				b.Fatal(err)
			}
			runCtx, stop := context.WithCancel(ctx)
			var runErr error
			stopped := make(chan struct{})
			go func() {
				defer close(stopped)
				runErr = o.Run(runCtx)
			}()
			// The wait ends when the facts are decided, or Run returns.
			awaitCtx, awaited := context.WithCancel(ctx)
			go func() {
				select {
				case <-stopped:
					awaited()
				case <-awaitCtx.Done():
				}
			}()
			_, _ = decided.await(awaitCtx, func(s orchestrator.Stats) bool { return s.Facts >= int64(want) })
			awaited()
			stop()
			<-stopped
			if runErr != nil && !errors.Is(runErr, context.Canceled) {
				b.Fatalf("orchestrator: %v (%+v)", runErr, o.Stats())
			}
			if s := o.Stats(); s.Facts < int64(want) {
				b.Fatalf("the orchestrator stopped after %d of %d facts (%+v): %v", s.Facts, want, s, ctx.Err())
			}
			return o.Stats()
		}
		if err := produceCopies(ctx, cl, names.Inbox(orchDomain), defRecs); err != nil {
			b.Fatal(err)
		}
		run(len(defRecs))
		if err := commitUnread(ctx, f.adm, group, names.Inbox(events.DomainRaw), names.Inbox(events.DomainCentral),
			names.Inbox(orchDomain)); err != nil {
			b.Fatal(err)
		}
		if err := produceCopies(ctx, cl, names.Inbox(orchDomain), factRecs); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		got := run(n)
		b.StopTimer()
		want := orchestrator.Stats{Facts: int64(n), Started: int64(n / orchFactsPerRun)}
		if got != want {
			b.Fatalf("orchestrator %+v, want %+v", got, want)
		}
		closeStore()
		for _, s := range specs {
			f.deleteTopic(b, s.Name)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// commitUnread commits, for group, the start offset of each partition of
// topics it has no committed offset for. A member of a group with offsets
// for some partitions only loads the others' start offsets separately, and
// its first fetch can go out without the committed ones and wait out
// fetch.max.wait (5s) before they are fetched; see commitStart.
func commitUnread(ctx context.Context, adm *kadm.Client, group string, topics ...string) error {
	have, err := adm.FetchOffsets(ctx, group)
	if err == nil {
		err = have.Error()
	}
	if err != nil {
		return err
	}
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return err
	}
	unread := kadm.Offsets{}
	starts.Offsets().Each(func(o kadm.Offset) {
		if _, ok := have.Lookup(o.Topic, o.Partition); !ok {
			unread.Add(o)
		}
	})
	return adm.CommitAllOffsets(ctx, group, unread)
}

func orchHotProduct(h int) string { return orchDomain + ".hot" + strconv.Itoa(h) }

// orchInput is input k (0 to 2) of product: a raw table of its own.
func orchInput(product string, k int) string {
	return events.DomainRaw + "." + strings.ReplaceAll(product, ".", "_") + "_" + string(rune('a'+k))
}

// orchDefinitions are the ProductPublished of products products of wm, as
// the router delivers them to wm's inbox: orchHotProducts hot ones, then
// cold ones, each over three inputs of its own.
func orchDefinitions(products int) []events.Event {
	out := make([]events.Event, products)
	for i := range products {
		p := orchHotProduct(i)
		if i >= orchHotProducts {
			p = orchDomain + ".cold" + strconv.Itoa(i-orchHotProducts)
		}
		out[i] = orchProduct(p, orchDomain, "consumer-aligned", []string{orchInput(p, 0), orchInput(p, 1), orchInput(p, 2)})
	}
	return out
}

// The facts of the throughput benchmarks, built once per process: both
// decide the same stream.
var (
	orchFactsOnce  sync.Once
	orchFactsCache []events.Event
	orchFactsErr   error
)

// orchFacts returns n facts for wm's inbox about the hot products, n a
// multiple of orchHotProducts·orchFactsPerRun: for run r, the refreshes of
// every hot product's first input at version r+1, then of their second,
// then of their third, then the JobFinished SUCCEEDED of each run started.
// The JobFinished carry the job ids the orchestration decides, found by
// deciding the stream on a map (the hot products alone: the others change
// no decision).
func orchFacts(n int) ([]events.Event, error) {
	s := projectiontest.MemStore{}
	inbox := events.Topics{}.Inbox(orchDomain)
	for _, ev := range orchDefinitions(orchHotProducts) {
		if _, err := orchestration.Decide(s, inbox, ev); err != nil {
			return nil, err
		}
	}
	out := make([]events.Event, 0, n)
	var started []*events.JobStarted
	for i := range n {
		per := orchHotProducts * orchFactsPerRun
		run, step, h := i/per, i%per/orchHotProducts, i%orchHotProducts
		at := orchEpoch.Add(time.Hour + time.Duration(i)*time.Millisecond)
		var ev events.Event
		if step < 3 {
			ev = orchRefresh(orchInput(orchHotProduct(h), step), int64(run+1), at)
		} else {
			js := started[h]
			ev = &events.JobFinished{
				Envelope: events.Envelope{EventID: events.DeriveID("bench-job-finished", js.JobID), OccurredAt: at,
					Domain: orchDomain, CorrelationID: js.JobID, CausationID: js.Envelope.EventID},
				JobID: js.JobID, Product: js.Product, Attempt: js.Attempt, Status: events.StatusSucceeded,
				OutputVersion: ptr(int64(run + 1)), RowsWritten: 1, DurationMs: 1,
			}
		}
		decided, err := orchestration.Decide(s, inbox, ev)
		if err != nil {
			return nil, err
		}
		for _, d := range decided {
			if js, ok := d.(*events.JobStarted); ok {
				started = append(started, js)
			}
		}
		if step == 2 && h == orchHotProducts-1 {
			if len(started) != orchHotProducts {
				return nil, fmt.Errorf("run %d: %d runs started, want %d", run, len(started), orchHotProducts)
			}
		}
		if step == 3 && h == orchHotProducts-1 {
			started = started[:0]
		}
		out = append(out, ev)
	}
	return out, nil
}
