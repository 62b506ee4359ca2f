// Command rsscheck is what `make test-rss` runs: it checks that the loader
// ingests a 1 GB CSV with the process's peak resident set size under
// 300 MB.
//
// It generates a ~1 GB, 10-column CSV into a temporary directory
// (streamed; the generator never holds the file), then ingests it through
// the real loader in this process: an in-process kfake cluster, an srfake
// schema registry, a local landing directory and a local warehouse, and one
// BatchPlanned holding the file. It waits for the batch's transaction to
// commit, checks the file's FileProcessed (every generated row read and
// loaded), and reads the process's peak RSS (VmHWM in /proc/self/status).
// Everything counts: kfake keeps the few events of the run in memory, and
// the generator, the loader and the Parquet writer share the process.
//
// It prints rows, seconds, rows/s and peak RSS, and exits 1 if the peak is
// at or above the budget or the counts are wrong. No memory limit is set:
// the check measures the loader as it runs in production, with Go's
// defaults (GOGC=100, no GOMEMLIMIT) unless the environment sets them.
//
// Flags: -size (bytes of CSV, default 1 GB), -budget (bytes, default
// 300 MB), -heapprofile FILE (a pprof heap profile written at each new RSS
// peak, to find what holds the memory), -keep (keep the temporary
// directory).
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/ingesttest"
	"github.com/logmesh/logmesh/internal/kafkaconn"
	"github.com/logmesh/logmesh/mesh"
	"github.com/logmesh/logmesh/processors/ingest"
	"github.com/logmesh/logmesh/processors/loader"
	"github.com/logmesh/logmesh/processors/proc"
	"github.com/logmesh/logmesh/tables"
)

// MB is a decimal megabyte: the budget is "300 MB", the file "1 GB".
const MB = 1_000_000

// timeout bounds the whole check, so a broken loader fails it instead of
// hanging CI. On 2 cores the check takes well under a minute.
const timeout = 15 * time.Minute

func main() {
	size := flag.Int64("size", 1000*MB, "bytes of CSV to generate and ingest")
	budget := flag.Int64("budget", 300*MB, "peak RSS (bytes) at or above which the check fails")
	heapProfile := flag.String("heapprofile", "", "write a pprof heap profile to this file at each new RSS peak")
	keep := flag.Bool("keep", false, "keep the temporary directory (CSV, warehouse)")
	flag.Parse()
	if err := run(os.Stdout, *size, *budget, *heapProfile, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "rsscheck:", err)
		os.Exit(1)
	}
}

func run(out io.Writer, size, budget int64, heapProfile string, keep bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tmp, err := os.MkdirTemp("", "logmesh-rsscheck-")
	if err != nil {
		return err
	}
	if keep {
		fmt.Fprintln(out, "temporary directory:", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}

	mon := startMonitor(heapProfile)
	defer mon.stop()

	landing := filepath.Join(tmp, "landing")
	start := time.Now()
	file, rows, err := writeCSV(landing, "fills/big.csv", size)
	if err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	fmt.Fprintf(out, "generated %s: %d rows, %d MB, in %.1fs\n", file.Key, rows, file.Size/MB, time.Since(start).Seconds())
	mon.mark("generated")

	k, err := startKafka(ctx)
	if err != nil {
		return err
	}
	defer k.close()
	src, err := ingest.NewLocalSource(landing)
	if err != nil {
		return err
	}
	wh, err := tables.OpenWarehouse(ctx, filepath.Join(tmp, "warehouse"), nil)
	if err != nil {
		return err
	}
	m, err := mesh.Parse([]byte(ingesttest.MeshYAML), "mesh.yaml", tmp)
	if err != nil {
		return err
	}
	results := make(chan loader.Result, 1)
	l, err := loader.New(proc.Config{Conn: kafkaconn.Plain(k.brokers...),
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))},
		loader.Static(m), src, wh, k.codec,
		loader.OnBatch(func(r loader.Result) { results <- r }))
	if err != nil {
		return err
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	ran := make(chan error, 1)
	go func() { ran <- l.Run(runCtx) }()

	const batchID = "rsscheck-1"
	rec, err := k.codec.Record(&events.BatchPlanned{
		Envelope: events.Envelope{
			EventID:       events.DeriveID("batch-planned", batchID),
			OccurredAt:    time.Now().UTC().Truncate(time.Microsecond),
			Domain:        events.DomainRaw,
			CorrelationID: batchID,
		},
		BatchID: batchID, Table: "raw.fills", Feed: "fills", Trigger: "manual",
		Files: []events.BatchFile{file},
	})
	if err != nil {
		return err
	}
	rec.Topic = events.BatchesTopic
	start = time.Now()
	if err := k.client.ProduceSync(ctx, rec).FirstErr(); err != nil {
		return fmt.Errorf("produce batch: %w", err)
	}
	var res loader.Result
	select {
	case res = <-results:
	case err := <-ran:
		return fmt.Errorf("loader stopped before the batch committed: %w", err)
	case <-ctx.Done():
		return fmt.Errorf("batch not committed: %w", ctx.Err())
	}
	took := time.Since(start)
	mon.mark("loaded")
	stop()
	if err := <-ran; err != nil {
		return fmt.Errorf("loader: %w", err)
	}

	var errs []error
	fp, err := k.fileProcessed(ctx, batchID)
	switch {
	case err != nil:
		errs = append(errs, err)
	case fp.RecordsRead != rows || fp.RecordsLoaded != rows || fp.RecordsRejected != 0:
		errs = append(errs, fmt.Errorf("FileProcessed: read %d, loaded %d, rejected %d; want %d read and loaded",
			fp.RecordsRead, fp.RecordsLoaded, fp.RecordsRejected, rows))
	}
	if res.FailedFiles != 0 || res.Version == 0 {
		errs = append(errs, fmt.Errorf("batch result %+v: want one file committed", res))
	}
	mon.stop()
	hwm, err := peakRSS()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "ingested %d rows (%d MB of CSV) in %.1fs: %.0f rows/s, table version %d\n",
		rows, file.Size/MB, took.Seconds(), float64(rows)/took.Seconds(), res.Version)
	fmt.Fprintf(out, "peak RSS (VmHWM) %d MB, budget %d MB; %s\n", hwm/MB, budget/MB, mon.summary())
	if hwm >= budget {
		errs = append(errs, fmt.Errorf("peak RSS %d MB is at or above the budget of %d MB", hwm/MB, budget/MB))
	}
	return errors.Join(errs...)
}

// kafka is the in-process cluster, registry and codec of the check.
type kafka struct {
	cluster *kfake.Cluster
	reg     *srfake.Registry
	brokers []string
	client  *kgo.Client
	codec   *events.Codec
}

// startKafka starts a one-broker kfake cluster and an srfake registry,
// registers every event schema and creates the platform's default topics.
func startKafka(ctx context.Context) (*kafka, error) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		return nil, fmt.Errorf("kfake: %w", err)
	}
	k := &kafka{cluster: cluster, reg: srfake.New(), brokers: cluster.ListenAddrs()}
	if err := k.setup(ctx); err != nil {
		k.close()
		return nil, err
	}
	return k, nil
}

func (k *kafka) setup(ctx context.Context) error {
	srCl, err := sr.NewClient(sr.URLs(k.reg.URL()))
	if err != nil {
		return err
	}
	if k.codec, err = events.NewCodec(events.SRRegistry(srCl)); err != nil {
		return err
	}
	if err := k.codec.Register(ctx); err != nil {
		return fmt.Errorf("register schemas: %w", err)
	}
	if k.client, err = kgo.NewClient(kgo.SeedBrokers(k.brokers...)); err != nil {
		return err
	}
	adm := kadm.NewClient(k.client)
	for _, s := range events.DefaultTopics() {
		resp, err := adm.CreateTopic(ctx, s.Partitions, -1, s.Configs, s.Name)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", s.Name, err)
		}
	}
	return nil
}

func (k *kafka) close() {
	if k.client != nil {
		k.client.Close()
	}
	k.reg.Close()
	k.cluster.Close()
}

// fileProcessed waits, at most a minute, for the FileProcessed of batchID.
func (k *kafka) fileProcessed(ctx context.Context, batchID string) (*events.FileProcessed, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return ingesttest.FileProcessed(ctx, k.codec, k.brokers, batchID)
}

// peakRSS returns the process's peak resident set size, VmHWM.
func peakRSS() (int64, error) {
	v, err := procStatus("VmHWM")
	return v[0], err
}

// procStatus returns "kB" fields of /proc/self/status in bytes, in the
// order asked.
func procStatus(fields ...string) ([]int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	vals := make([]int64, len(fields))
	found := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), ":")
		i := slices.Index(fields, name)
		if !ok || i < 0 {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("/proc/self/status %s: %w", name, err)
		}
		vals[i] = kb * 1024
		found++
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if found != len(fields) {
		return nil, fmt.Errorf("/proc/self/status lacks some of %v", fields)
	}
	return vals, nil
}

// monitor samples VmRSS and the Go heap every 100ms, to say in which phase
// the peak happened and how much of it was Go heap; with a profile path it
// writes a heap profile at each new RSS peak (16 MB above the last one).
type monitor struct {
	mu        sync.Mutex
	phase     string
	peak      int64  // max VmRSS seen
	peakPhase string // phase of peak
	anonAt    int64  // RssAnon at the peak: heap, stacks, other anonymous maps
	fileAt    int64  // RssFile at the peak: the executable's pages, mostly
	heapAt    uint64 // HeapInuse+StackInuse when peak was seen (after the last GC's marking, not forced)
	sysAt     uint64 // runtime.MemStats.Sys at the peak
	profiled  int64
	profile   string
	done      chan struct{}
	once      sync.Once
	wg        sync.WaitGroup
}

func startMonitor(profile string) *monitor {
	m := &monitor{phase: "generate", profile: profile, done: make(chan struct{})}
	m.wg.Add(1)
	go m.loop()
	return m
}

func (m *monitor) loop() {
	defer m.wg.Done()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-m.done:
			return
		case <-tick.C:
		}
		v, err := procStatus("VmRSS", "RssAnon", "RssFile")
		if err != nil {
			continue
		}
		rss := v[0]
		m.mu.Lock()
		if rss > m.peak {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			m.peak, m.peakPhase = rss, m.phase
			m.anonAt, m.fileAt = v[1], v[2]
			m.heapAt, m.sysAt = ms.HeapInuse+ms.StackInuse, ms.Sys
			if m.profile != "" && rss >= m.profiled+16*MB {
				m.profiled = rss
				m.writeProfile()
			}
		}
		m.mu.Unlock()
	}
}

func (m *monitor) writeProfile() {
	f, err := os.Create(m.profile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "rsscheck: heap profile:", err)
		return
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		fmt.Fprintln(os.Stderr, "rsscheck: heap profile:", err)
	}
}

// mark ends a phase; what follows is phase "after <name>".
func (m *monitor) mark(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if name == "generated" {
		m.phase = "load"
	} else {
		m.phase = "after " + name
	}
}

func (m *monitor) stop() {
	m.once.Do(func() { close(m.done) })
	m.wg.Wait()
}

func (m *monitor) summary() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return fmt.Sprintf("sampled VmRSS peak %d MB during %s (RssAnon %d MB, RssFile %d MB), with Go heap+stacks in use %d MB and Go runtime Sys %d MB",
		m.peak/MB, m.peakPhase, m.anonAt/MB, m.fileAt/MB, m.heapAt/MB, m.sysAt/MB)
}
