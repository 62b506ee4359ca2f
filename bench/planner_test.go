package bench

// The planner figures: what one planner tick costs to find the files to
// plan (audit.Pending, which processors/planner calls on every tick) in a
// store holding the audit of 1,000 and of 1,000,000 files, of which
// pendingFiles are pending and the rest processed. Each reports "ticks/s";
// one iteration times -bench.plannerticks ticks (default 100). A tick reads
// the audit's status index and then the pending files' entries by point
// reads, the same number of keys however long the history: the ratio of the
// two figures is what the history still costs a tick (the depth of Pebble's
// levels and how much of them the block cache holds). The tick of old,
// which decoded every entry, grew with the history: 32 s with 1,000,000
// files on 2 cores.

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/projections"
	"github.com/logmesh/logmesh/projections/audit"
	"github.com/logmesh/logmesh/state"
)

var plannerTicks = flag.Int("bench.plannerticks", 100, "planner ticks (audit.Pending calls) timed by one iteration of the planner benchmarks")

// pendingFiles is how many files of a planner benchmark's store are
// RECEIVED (landed, not yet planned); the others are PROCESSED.
const pendingFiles = 100

// plannerWarmup is how many ticks go untimed before the timed ones.
const plannerWarmup = 10

// Shape of a planner benchmark's audit: files go to batches of
// plannerBatchFiles files, the batches to plannerTables tables; a store's
// building commits every plannerCommitFiles files.
const (
	plannerBatchFiles  = 100
	plannerTables      = 8
	plannerCommitFiles = 10_000
)

// plannerEpoch is when the benchmark's first file lands.
var plannerEpoch = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

// BenchmarkPlanPending1k times audit.Pending over the audit of 1,000 files,
// pendingFiles of them pending.
func BenchmarkPlanPending1k(b *testing.B) { benchPlanPending(b, 1_000) }

// BenchmarkPlanPending1M times audit.Pending over the audit of 1,000,000
// files, pendingFiles of them pending. Building the store (untimed) takes
// 40 s or more on 2 cores, and 1 GB of disk.
func BenchmarkPlanPending1M(b *testing.B) { benchPlanPending(b, 1_000_000) }

// benchPlanPending builds an on-disk store holding the audit of n files
// (untimed), then times audit.Pending on it, as a planner tick calls it.
func benchPlanPending(b *testing.B, n int) {
	st := auditedStore(b, n)
	// A first tick checks the figure's premise and, with a few more,
	// warms the block cache as a running planner's ticks have.
	p, err := audit.Pending(st)
	if err != nil {
		b.Fatal(err)
	}
	if got := pendingCount(p); got != pendingFiles {
		b.Fatalf("%d files pending, want %d", got, pendingFiles)
	}
	for range plannerWarmup {
		if _, err := audit.Pending(st); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		for range *plannerTicks {
			if _, err := audit.Pending(st); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(*plannerTicks)*float64(b.N)/b.Elapsed().Seconds(), "ticks/s")
}

func pendingCount(p map[string][]audit.File) int {
	n := 0
	for _, fs := range p {
		n += len(fs)
	}
	return n
}

// plannerFile is the i-th file of a planner benchmark.
type plannerFile struct {
	key, checksum, id, table string
	at                       time.Time
}

func newPlannerFile(i int) plannerFile {
	key := fmt.Sprintf("landing/t%d/%09d.csv", i/plannerBatchFiles%plannerTables, i)
	sum := fmt.Sprintf("%064x", i)
	return plannerFile{key: key, checksum: sum, id: events.DeriveID(key, sum),
		table: fmt.Sprintf("raw.t%d", i/plannerBatchFiles%plannerTables), at: plannerEpoch.Add(time.Duration(i) * time.Millisecond)}
}

func (f plannerFile) landed() *events.FileLanded {
	feed := f.table[len("raw."):]
	return &events.FileLanded{
		Envelope: events.Envelope{EventID: events.DeriveID("landed", f.id), OccurredAt: f.at, Domain: events.DomainRaw, CorrelationID: f.id},
		Key:      f.key, Source: events.SourceLocal, Size: 4096, Checksum: f.checksum, Table: &f.table, Feed: &feed,
	}
}

func (f plannerFile) processed(batchID string, at time.Time) *events.FileProcessed {
	return &events.FileProcessed{
		Envelope: events.Envelope{EventID: events.DeriveID("processed", f.id), OccurredAt: at, Domain: events.DomainRaw, CorrelationID: f.id},
		BatchID:  batchID, Table: f.table, FileKey: f.key, FileChecksum: f.checksum,
		RecordsRead: 100, RecordsLoaded: 99, RecordsRejected: 1, TableVersion: new(int64(1)),
	}
}

// auditedStore opens an on-disk store in a directory removed when b ends
// and folds into it, through audit.Projection and state batches (not
// Kafka), the audit of n files as a planner's host would: each file's
// FileLanded and FileProcessed in the scope of its events partition, each
// batch's BatchPlanned in the scope of its table's batches partition. The
// last pendingFiles files only land. Batches of plannerBatchFiles files go
// round-robin to plannerTables tables, and the tables to GOMAXPROCS
// workers, each committing every plannerCommitFiles files: the scopes each
// worker writes hold other files than the others', so the state is what
// one fold in log order gives. Nothing of it is timed.
//
// A live fold deletes the RECEIVED index key of each file it sees
// processed, and Pebble keeps the tombstone until a compaction drops it;
// the workers' overlays drop a key set and deleted within one commit
// instead, so the store is the one a live planner has once its
// compactions have caught up.
func auditedStore(b *testing.B, n int) *state.Store {
	b.Helper()
	start := time.Now()
	st, err := state.Open(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := st.Close(); err != nil {
			b.Error(err)
		}
	})
	processed := n - pendingFiles
	if processed%plannerBatchFiles != 0 {
		b.Fatalf("n=%d: the processed files do not fill whole batches of %d", n, plannerBatchFiles)
	}
	workers := min(runtime.GOMAXPROCS(0), plannerTables)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() { errs[w] = foldWorker(st, w, workers, n) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("folded the audit of %d files (%d pending) in %v", n, pendingFiles, time.Since(start).Round(time.Millisecond))
	return st
}

// overlay is a projections.Store over the committed state of one scope
// that keeps a fold's writes in memory until flush writes them into a
// batch: a key set and deleted before the flush never reaches Pebble. Not
// safe for concurrent use.
type overlay struct {
	st        *state.Store
	topic     string
	partition int32
	set       map[string][]byte
	del       map[string]bool // committed keys deleted
}

func newOverlay(st *state.Store, topic string, partition int32) *overlay {
	return &overlay{st: st, topic: topic, partition: partition, set: map[string][]byte{}, del: map[string]bool{}}
}

func (o *overlay) Get(key []byte) ([]byte, bool, error) {
	if v, ok := o.set[string(key)]; ok {
		return bytes.Clone(v), true, nil
	}
	if o.del[string(key)] {
		return nil, false, nil
	}
	return o.st.Get(o.topic, o.partition, key)
}

func (o *overlay) Set(key, value []byte) error {
	o.set[string(key)] = bytes.Clone(value)
	return nil
}

func (o *overlay) Delete(key []byte) error {
	delete(o.set, string(key))
	if _, ok, err := o.st.Get(o.topic, o.partition, key); err != nil || !ok {
		return err
	}
	o.del[string(key)] = true
	return nil
}

// flush writes the overlay's changes into batch and empties it.
func (o *overlay) flush(batch *state.Batch) error {
	sc := batch.Scope(o.topic, o.partition)
	for k, v := range o.set {
		if err := sc.Set([]byte(k), v); err != nil {
			return err
		}
	}
	for k := range o.del {
		if err := sc.Delete([]byte(k)); err != nil {
			return err
		}
	}
	clear(o.set)
	clear(o.del)
	return nil
}

// plannerEvents calls fold with the events of worker w's share of the
// audit of n files, in log order: the batches of the tables t with
// t%workers == w (each file's FileLanded, the BatchPlanned, each file's
// FileProcessed), then its share of the pending files' FileLanded. A
// batch's events go to the batches topic (onBatches), the others to the
// raw events topic; partition stands in for the hash of the record key.
// batchDone is called after each batch.
func plannerEvents(n, w, workers int, fold func(onBatches bool, partition int32, ev events.Event) error, batchDone func() error) error {
	processed := n - pendingFiles
	for first := 0; first < processed; first += plannerBatchFiles {
		table := first / plannerBatchFiles % plannerTables
		if table%workers != w {
			continue
		}
		fs := make([]plannerFile, plannerBatchFiles)
		bp := &events.BatchPlanned{BatchID: events.DeriveID("batch", fmt.Sprint(first)), Trigger: "interval", Feed: fmt.Sprintf("t%d", table)}
		for j := range fs {
			fs[j] = newPlannerFile(first + j)
			if err := fold(false, int32(first+j)%events.DefaultPartitions, fs[j].landed()); err != nil {
				return err
			}
			bp.Files = append(bp.Files, events.BatchFile{Key: fs[j].key, Checksum: fs[j].checksum, Size: 4096,
				LandedEventID: events.DeriveID("landed", fs[j].id)})
			bp.TotalBytes += 4096
		}
		last := fs[len(fs)-1].at
		bp.Table = fs[0].table
		bp.Envelope = events.Envelope{EventID: events.DeriveID("planned", bp.BatchID), OccurredAt: last.Add(time.Second),
			Domain: events.DomainRaw, CorrelationID: bp.BatchID}
		if err := fold(true, int32(table)%events.DefaultPartitions, bp); err != nil {
			return err
		}
		for j, f := range fs {
			if err := fold(false, int32(first+j)%events.DefaultPartitions, f.processed(bp.BatchID, last.Add(time.Minute))); err != nil {
				return err
			}
		}
		if err := batchDone(); err != nil {
			return err
		}
	}
	for i := processed; i < n; i++ {
		if i%workers == w {
			if err := fold(false, int32(i)%events.DefaultPartitions, newPlannerFile(i).landed()); err != nil {
				return err
			}
		}
	}
	return nil
}

// applyAudit folds ev into s with the audit projection.
func applyAudit(s projections.Store, ev events.Event) error {
	if err := (audit.Projection{}).Apply(s, ev); err != nil {
		return fmt.Errorf("fold %s %s: %w", ev.Name(), ev.Meta().EventID, err)
	}
	return nil
}

// foldWorker folds worker w's share of the audit of n files into st
// through overlays, committing every plannerCommitFiles files.
func foldWorker(st *state.Store, w, workers, n int) error {
	names := events.Topics{}
	var scopes [2][events.DefaultPartitions]*overlay // raw events, batches
	for p := range events.DefaultPartitions {
		scopes[0][p] = newOverlay(st, names.Domain(events.DomainRaw), p)
		scopes[1][p] = newOverlay(st, names.Batches(), p)
	}
	commit := func() error {
		batch := st.NewBatch()
		defer batch.Close()
		for _, o := range append(scopes[0][:], scopes[1][:]...) {
			if err := o.flush(batch); err != nil {
				return err
			}
		}
		return batch.Commit(false)
	}
	files := 0
	err := plannerEvents(n, w, workers, func(onBatches bool, p int32, ev events.Event) error {
		if onBatches {
			return applyAudit(scopes[1][p], ev)
		}
		return applyAudit(scopes[0][p], ev)
	}, func() error {
		if files += plannerBatchFiles; files < plannerCommitFiles {
			return nil
		}
		files = 0
		return commit()
	})
	if err != nil {
		return err
	}
	return commit()
}

// The store the planner benchmarks build is the one a plain fold of the
// same events, in log order, into batch scopes gives.
func TestPlannerStoreIsAFold(t *testing.T) {
	const n = 2*plannerCommitFiles + 10*plannerBatchFiles + pendingFiles // a commit and more per worker
	built := func(fold func(st *state.Store) error) [32]byte {
		st, err := state.Open(t.TempDir(), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if err := fold(st); err != nil {
			t.Fatal(err)
		}
		d, err := st.DigestAll()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	workers := built(func(st *state.Store) error {
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for w := range 2 {
			wg.Go(func() { errs[w] = foldWorker(st, w, 2, n) })
		}
		wg.Wait()
		return errors.Join(errs...)
	})
	plain := built(func(st *state.Store) error {
		names := events.Topics{}
		batch := st.NewBatch()
		defer batch.Close()
		err := plannerEvents(n, 0, 1, func(onBatches bool, p int32, ev events.Event) error {
			topic := names.Domain(events.DomainRaw)
			if onBatches {
				topic = names.Batches()
			}
			return applyAudit(batch.Scope(topic, p), ev)
		}, func() error { return nil })
		if err != nil {
			return err
		}
		return batch.Commit(false)
	})
	if workers != plain {
		t.Fatal("the benchmark's store differs from a plain fold of its events")
	}
}
