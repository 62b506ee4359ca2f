package audit_test

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/projections"
	"github.com/logmesh/logmesh/projections/audit"
	"github.com/logmesh/logmesh/projections/projectiontest"
)

// Scope names used by the tests, standing in for (topic, partition).
const (
	scopeEvents  = "logmesh.raw.events/0"
	scopeBatches = "logmesh.raw.batches/0"
)

// scopes is the scoped test store: a test double for *state.Store over
// projectiontest.Scopes, whose scope names are "topic/partition".
type scopes struct{ *projectiontest.Scopes }

func newScopes() *scopes { return &scopes{projectiontest.NewScopes()} }

func (s *scopes) scope(name string) projectiontest.MemStore { return s.Scope(name) }

// topicPartition names a scope, as state.TopicPartition does.
type topicPartition struct {
	Topic     string
	Partition int32
}

func parseScope(name string) topicPartition {
	i := strings.LastIndexByte(name, '/')
	p, err := strconv.ParseInt(name[i+1:], 10, 32)
	if i < 0 || err != nil {
		panic(fmt.Sprintf("scope name %q is not topic/partition", name))
	}
	return topicPartition{name[:i], int32(p)}
}

// ScanAll implements audit.Scanner, naming scopes as *state.Store does.
func (s *scopes) ScanAll(prefix []byte, fn func(scope topicPartition, key, value []byte) error) error {
	return s.Scopes.ScanAll(prefix, func(name string, k, v []byte) error { return fn(parseScope(name), k, v) })
}

// Partitions implements audit.Reader.
func (s *scopes) Partitions() ([]topicPartition, error) {
	var out []topicPartition
	for name := range s.M {
		out = append(out, parseScope(name))
	}
	slices.SortFunc(out, func(a, b topicPartition) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	if s.Reverse {
		slices.Reverse(out)
	}
	return out, nil
}

// Get implements audit.Reader.
func (s *scopes) Get(topic string, partition int32, key []byte) ([]byte, bool, error) {
	return s.M[fmt.Sprint(topic, "/", partition)].Get(key)
}

var _ audit.Reader[topicPartition] = (*scopes)(nil)

// fold applies each (scope, event) in order, failing the test on an error.
func (s *scopes) fold(t *testing.T, steps ...scoped) {
	t.Helper()
	for _, st := range steps {
		if err := (audit.Projection{}).Apply(s.scope(st.scope), st.ev); err != nil {
			t.Fatalf("apply %s %s: %v", st.ev.Name(), st.ev.Meta().EventID, err)
		}
	}
}

type scoped struct {
	scope string
	ev    events.Event
}

func onEvents(ev events.Event) scoped  { return scoped{scopeEvents, ev} }
func onBatches(ev events.Event) scoped { return scoped{scopeBatches, ev} }

var t0 = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

func at(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }

func ptr[T any](v T) *T { return &v }

// file is a landed test file.
type file struct {
	key, checksum, table string
	size                 int64
}

func (f file) id() string { return events.DeriveID(f.key, f.checksum) }

func env(id string, sec int, corr string) events.Envelope {
	return events.Envelope{EventID: id, OccurredAt: at(sec), Domain: "raw", CorrelationID: corr}
}

func landed(f file, sec int) *events.FileLanded {
	ev := &events.FileLanded{
		Envelope: env("landed-"+f.key, sec, f.id()),
		Key:      f.key, Source: events.SourceLocal, Size: f.size, Checksum: f.checksum,
	}
	if f.table != "" {
		ev.Table, ev.Feed = ptr(f.table), ptr("feed-"+f.table)
	}
	return ev
}

func batch(id string, sec int, table string, fs ...file) *events.BatchPlanned {
	ev := &events.BatchPlanned{Envelope: env("planned-"+id, sec, id), BatchID: id, Table: table, Feed: "feed-" + table, Trigger: "interval"}
	for _, f := range fs {
		ev.Files = append(ev.Files, events.BatchFile{Key: f.key, Checksum: f.checksum, Size: f.size, LandedEventID: "landed-" + f.key})
		ev.TotalBytes += f.size
	}
	return ev
}

func rejected(f file, batchID string, n int64, sec int) *events.RecordRejected {
	return &events.RecordRejected{
		Envelope: env(fmt.Sprintf("rejected-%s-%s-%d", f.key, batchID, n), sec, f.id()),
		BatchID:  batchID, Table: f.table, FileKey: f.key, FileChecksum: f.checksum,
		RecordNumber: n, Field: ptr("price"), Rule: "range", Reason: "negative price",
	}
}

func processed(f file, batchID string, sec int, read, loaded, rej, version int64) *events.FileProcessed {
	return &events.FileProcessed{
		Envelope: env("processed-"+f.key+"-"+batchID, sec, f.id()),
		BatchID:  batchID, Table: f.table, FileKey: f.key, FileChecksum: f.checksum,
		RecordsRead: read, RecordsLoaded: loaded, RecordsRejected: rej, TableVersion: ptr(version),
	}
}

func failed(f file, batchID string, sec int) *events.FileFailed {
	return &events.FileFailed{
		Envelope: env("failed-"+f.key+"-"+batchID, sec, f.id()),
		BatchID:  ptr(batchID), Table: ptr(f.table), FileKey: f.key, FileChecksum: ptr(f.checksum),
		Stage: "write", Reason: "disk full", RecordsRead: 10, Attempt: 1, Retryable: true,
	}
}

var (
	fa = file{key: "trades/a.csv", checksum: "aa", table: "raw.trades", size: 100}
	fb = file{key: "trades/b.csv", checksum: "bb", table: "raw.trades", size: 200}
	fc = file{key: "quotes/c.csv", checksum: "cc", table: "raw.quotes", size: 300}
	fx = file{key: "unknown/x.bin", checksum: "xx", size: 5} // no feed matched
)

func files(t *testing.T, s *scopes) map[string]audit.File {
	t.Helper()
	fs, err := audit.Files(s)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]audit.File{}
	for _, f := range fs {
		m[f.ID] = f
	}
	return m
}

func statuses(f audit.File) []string {
	var out []string
	for _, s := range f.Timeline {
		out = append(out, s.Status)
	}
	return out
}

func TestLifecycle(t *testing.T) {
	tests := []struct {
		name     string
		steps    []scoped
		file     file
		status   string
		timeline []string
		check    func(t *testing.T, f audit.File)
	}{{
		name: "a rejection with several violations says how many more",
		steps: []scoped{
			onEvents(landed(fa, 0)),
			onBatches(batch("b1", 10, fa.table, fa)),
			onEvents(func() *events.RecordRejected {
				ev := rejected(fa, "b1", 3, 20)
				ev.Violations = []events.Violation{
					{Field: ptr("price"), Rule: "range", Reason: "negative price"},
					{Field: ptr("qty"), Rule: "type", Reason: `"x" is not an integer`},
					{Rule: "unique", Reason: "duplicate key"},
				}
				return ev
			}()),
			onEvents(func() *events.RecordRejected {
				ev := rejected(fa, "b1", 4, 21)
				ev.Violations = []events.Violation{{Field: ptr("price"), Rule: "range", Reason: "negative price"}}
				return ev
			}()),
			onEvents(processed(fa, "b1", 30, 10, 8, 2, 4)),
		},
		file: fa, status: audit.StatusProcessed,
		timeline: []string{"RECEIVED", "BATCHED", "PROCESSED"},
		check: func(t *testing.T, f audit.File) {
			want := []string{"record 3 price range: negative price (+2 more)", "record 4 price range: negative price"}
			if !slices.Equal(f.Rejections, want) {
				t.Errorf("rejections %q, want %q", f.Rejections, want)
			}
		},
	}, {
		name: "processed with rejections",
		steps: []scoped{
			onEvents(landed(fa, 0)),
			onBatches(batch("b1", 10, fa.table, fa, fb)),
			onEvents(rejected(fa, "b1", 3, 20)),
			onEvents(rejected(fa, "b1", 7, 21)),
			onEvents(processed(fa, "b1", 30, 10, 8, 2, 4)),
		},
		file: fa, status: audit.StatusProcessed,
		timeline: []string{"RECEIVED", "BATCHED", "PROCESSED"},
		check: func(t *testing.T, f audit.File) {
			if f.RowsRead != 10 || f.RowsWritten != 8 || f.RowsRejected != 2 || f.TableVersion != 4 {
				t.Errorf("rows %d/%d/%d version %d, want 10/8/2 version 4", f.RowsRead, f.RowsWritten, f.RowsRejected, f.TableVersion)
			}
			if f.RejectionCount != 2 || len(f.Rejections) != 2 || f.Rejections[0] != "record 3 price range: negative price" {
				t.Errorf("rejections %d %q", f.RejectionCount, f.Rejections)
			}
			if f.BatchID != "b1" || f.Table != fa.table || f.Feed != "feed-"+fa.table || f.Size != 100 || f.Key != fa.key ||
				f.Checksum != fa.checksum || !f.LandedAt.Equal(at(0)) || f.LandedEventID != "landed-"+fa.key || f.Error != "" {
				t.Errorf("file %+v", f)
			}
			if f.Timeline[1].Detail != "b1" || !f.Timeline[2].At.Equal(at(30)) || f.Timeline[2].EventID != "processed-"+fa.key+"-b1" {
				t.Errorf("timeline %+v", f.Timeline)
			}
		},
	}, {
		name:  "received only",
		steps: []scoped{onEvents(landed(fa, 0))},
		file:  fa, status: audit.StatusReceived, timeline: []string{"RECEIVED"},
	}, {
		name:  "batched",
		steps: []scoped{onEvents(landed(fb, 0)), onBatches(batch("b1", 10, fa.table, fa, fb))},
		file:  fb, status: audit.StatusBatched, timeline: []string{"RECEIVED", "BATCHED"},
	}, {
		name: "failed",
		steps: []scoped{
			onEvents(landed(fa, 0)), onBatches(batch("b1", 10, fa.table, fa)),
			onEvents(rejected(fa, "b1", 1, 15)), onEvents(failed(fa, "b1", 20)),
		},
		file: fa, status: audit.StatusFailed, timeline: []string{"RECEIVED", "BATCHED", "FAILED"},
		check: func(t *testing.T, f audit.File) {
			if f.Error != "write: disk full" || f.RowsRead != 10 || f.RowsWritten != 0 || f.RejectionCount != 1 {
				t.Errorf("file %+v", f)
			}
		},
	}, {
		name: "retried after failure",
		steps: []scoped{
			onEvents(landed(fa, 0)), onBatches(batch("b1", 10, fa.table, fa)),
			onEvents(failed(fa, "b1", 20)),
			onBatches(batch("b2", 30, fa.table, fa)),
			onEvents(processed(fa, "b2", 40, 10, 10, 0, 2)),
		},
		file: fa, status: audit.StatusProcessed,
		timeline: []string{"RECEIVED", "BATCHED", "FAILED", "BATCHED", "PROCESSED"},
		check: func(t *testing.T, f audit.File) {
			if f.Error != "" || f.BatchID != "b2" || f.RowsWritten != 10 || f.TableVersion != 2 {
				t.Errorf("file %+v", f)
			}
		},
	}, {
		name: "failed retry batch not yet loaded: terminal beats batched",
		steps: []scoped{
			onEvents(landed(fa, 0)), onBatches(batch("b1", 10, fa.table, fa)),
			onEvents(failed(fa, "b1", 20)), onBatches(batch("b2", 30, fa.table, fa)),
		},
		file: fa, status: audit.StatusFailed,
		timeline: []string{"RECEIVED", "BATCHED", "FAILED", "BATCHED"},
	}, {
		name:  "processed without landing is kept",
		steps: []scoped{onEvents(processed(fc, "b9", 50, 3, 3, 0, 1))},
		file:  fc, status: audit.StatusProcessed, timeline: []string{"PROCESSED"},
		check: func(t *testing.T, f audit.File) {
			if !f.LandedAt.IsZero() || f.Key != fc.key || f.Table != fc.table || f.RowsWritten != 3 || f.BatchID != "b9" {
				t.Errorf("file %+v", f)
			}
		},
	}, {
		name: "rejections are capped",
		steps: func() []scoped {
			s := []scoped{onEvents(landed(fa, 0))}
			for i := range 7 {
				s = append(s, onEvents(rejected(fa, "b1", int64(i+1), 10+i)))
			}
			return s
		}(),
		file: fa, status: audit.StatusReceived, timeline: []string{"RECEIVED"},
		check: func(t *testing.T, f audit.File) {
			if f.RejectionCount != 7 || f.RowsRejected != 7 || len(f.Rejections) != audit.MaxRejections {
				t.Errorf("count %d rows %d reasons %d", f.RejectionCount, f.RowsRejected, len(f.Rejections))
			}
		},
	}, {
		name:  "duplicates are dropped",
		steps: []scoped{onEvents(landed(fa, 0)), onEvents(landed(fa, 0)), onBatches(batch("b1", 10, fa.table, fa)), onBatches(batch("b1", 10, fa.table, fa))},
		file:  fa, status: audit.StatusBatched, timeline: []string{"RECEIVED", "BATCHED"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScopes()
			s.fold(t, tt.steps...)
			f, ok := files(t, s)[tt.file.id()]
			if !ok {
				t.Fatalf("file %s missing", tt.file.key)
			}
			if f.Status != tt.status || !slices.Equal(statuses(f), tt.timeline) {
				t.Fatalf("status %s timeline %v, want %s %v", f.Status, statuses(f), tt.status, tt.timeline)
			}
			if tt.check != nil {
				tt.check(t, f)
			}
		})
	}
}

// history is a log touching every path of the fold, as (scope, event).
func history() []scoped {
	return []scoped{
		onEvents(landed(fa, 0)), onEvents(landed(fb, 1)), onEvents(landed(fc, 2)), onEvents(landed(fx, 3)),
		onBatches(batch("b1", 10, fa.table, fa, fb)),
		onBatches(batch("b2", 11, fc.table, fc)),
		onEvents(rejected(fa, "b1", 1, 12)),
		onEvents(processed(fa, "b1", 20, 5, 4, 1, 1)),
		onEvents(failed(fb, "b1", 21)),
		onEvents(processed(fc, "b2", 22, 7, 7, 0, 1)),
	}
}

func TestDeterministic(t *testing.T) {
	a, b := newScopes(), newScopes()
	a.fold(t, history()...)
	b.fold(t, history()...)
	for _, sc := range []string{scopeEvents, scopeBatches} {
		if a.scope(sc).Digest() != b.scope(sc).Digest() {
			t.Errorf("scope %s: digests differ between two folds of the same log", sc)
		}
	}
}

// Each scope sees its own events in order, but how the scopes interleave
// (and the order the query visits them in) must not change the result.
func TestScopeOrderDoesNotMatter(t *testing.T) {
	h := history()
	want := newScopes()
	want.fold(t, h...)
	wantFiles, err := audit.Files(want)
	if err != nil {
		t.Fatal(err)
	}

	var batchesFirst []scoped
	for _, sc := range []string{scopeBatches, scopeEvents} {
		for _, s := range h {
			if s.scope == sc {
				batchesFirst = append(batchesFirst, s)
			}
		}
	}
	got := newScopes()
	got.Reverse = true
	got.fold(t, batchesFirst...)
	gotFiles, err := audit.Files(got)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprintf("%+v", gotFiles) != fmt.Sprintf("%+v", wantFiles) {
		t.Fatalf("merge depends on scope order:\n got %+v\nwant %+v", gotFiles, wantFiles)
	}
	// Files are sorted by landing time.
	var keys []string
	for _, f := range gotFiles {
		keys = append(keys, f.Key)
	}
	if want := []string{fa.key, fb.key, fc.key, fx.key}; !slices.Equal(keys, want) {
		t.Errorf("order %v, want %v", keys, want)
	}
}

func TestPending(t *testing.T) {
	fd := file{key: "trades/d.csv", checksum: "dd", table: "raw.trades", size: 1}
	fe := file{key: "trades/e.csv", checksum: "ee", table: "raw.trades", size: 1}
	s := newScopes()
	s.fold(t,
		onEvents(landed(fe, 5)), onEvents(landed(fd, 4)), // landed order: d before e
		onEvents(landed(fa, 0)), onEvents(landed(fc, 1)), onEvents(landed(fx, 2)),
		onBatches(batch("b1", 10, fa.table, fa)),
		onEvents(processed(fb, "b0", 3, 1, 1, 0, 1)), // never landed: not pending
	)
	p, err := audit.Pending(s)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, table := range []string{"raw.trades", "raw.quotes", ""} {
		for _, f := range p[table] {
			got = append(got, table+":"+f.Key)
		}
	}
	want := []string{"raw.trades:" + fd.key, "raw.trades:" + fe.key, "raw.quotes:" + fc.key}
	if !slices.Equal(got, want) || len(p) != 2 {
		t.Fatalf("pending %v (%d tables), want %v", got, len(p), want)
	}
}

func TestInvariants(t *testing.T) {
	noID := landed(fa, 0)
	noID.Envelope.EventID = ""
	wrongCorr := landed(fa, 0)
	wrongCorr.Envelope.CorrelationID = "someone-else"
	noFile := &events.FileFailed{Envelope: env("f", 0, ""), Stage: "read", Reason: "gone"}
	for name, ev := range map[string]events.Event{"no event id": noID, "wrong correlation": wrongCorr, "no file": noFile} {
		s := projectiontest.MemStore{}
		err := (audit.Projection{}).Apply(s, ev)
		if !errors.Is(err, projections.ErrInvariant) {
			t.Errorf("%s: err %v, want ErrInvariant", name, err)
		}
		// The catalog folds the audit with other projections and keeps
		// their part of a refused event: a refusal writes nothing.
		if len(s) != 0 {
			t.Errorf("%s: a refused event wrote %d keys", name, len(s))
		}
	}
	// A FileFailed that could not read its file has no checksum; its
	// correlation id names the file.
	s := newScopes()
	ff := failed(fa, "b1", 5)
	ff.FileChecksum = nil
	s.fold(t, onEvents(landed(fa, 0)), onEvents(ff))
	if f := files(t, s)[fa.id()]; f.Status != audit.StatusFailed {
		t.Errorf("status %s, want FAILED", f.Status)
	}
	// Other events are ignored.
	if err := (audit.Projection{}).Apply(projectiontest.MemStore{}, &events.TableCommitted{}); err != nil {
		t.Errorf("TableCommitted: %v", err)
	}
}

func TestCorruptEntry(t *testing.T) {
	s := newScopes()
	s.scope(scopeEvents)["f/x"] = []byte("{not json")
	if _, err := audit.Files(s); err == nil {
		t.Fatal("corrupt entry accepted")
	}
}

// A FileFailed at stage match makes the file UNMATCHED, a terminal status
// with the reason; it is never pending.
func TestUnmatched(t *testing.T) {
	s := newScopes()
	f := file{key: "quotes/q.csv", checksum: "c1"}
	l := landed(f, 1)
	l.Feed, l.Table = nil, nil
	sum := f.checksum
	s.fold(t, onEvents(l), onEvents(&events.FileFailed{Envelope: env("ff", 2, f.id()), FileKey: f.key, FileChecksum: &sum,
		Stage: audit.StageMatch, Reason: "no feed matches key quotes/q.csv", Attempt: 1}))
	got := files(t, s)[f.id()]
	if got.Status != audit.StatusUnmatched || got.Error != "match: no feed matches key quotes/q.csv" {
		t.Fatalf("unmatched file: %s %q", got.Status, got.Error)
	}
	pending, err := audit.Pending(s)
	if err != nil || len(pending) != 0 {
		t.Fatalf("pending %v %v", pending, err)
	}
}
