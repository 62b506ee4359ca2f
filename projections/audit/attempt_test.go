package audit_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/projections/audit"
)

// Helpers for the events of attempt n of a file: each attempt's events
// have ids of their own, as the watcher, planner and loader derive them.

func landedN(f file, sec int, n int32) *events.FileLanded {
	ev := landed(f, sec)
	ev.Attempt = n
	if n > 1 {
		ev.Envelope.EventID = fmt.Sprintf("landed-%s-%d", f.key, n)
	}
	return ev
}

func landedID(f file, n int32) string { return landedN(f, 0, n).Envelope.EventID }

func batchN(id string, sec int, table string, n int32, fs ...file) *events.BatchPlanned {
	ev := batch(id, sec, table, fs...)
	for i := range ev.Files {
		ev.Files[i].Attempt = n
		ev.Files[i].LandedEventID = landedID(fs[i], n)
	}
	return ev
}

func processedN(f file, batchID string, sec int, n int32, read, loaded, version int64) *events.FileProcessed {
	ev := processed(f, batchID, sec, read, loaded, 0, version)
	ev.Attempt = n
	return ev
}

func failedN(f file, batchID string, sec int, n int32) *events.FileFailed {
	ev := failed(f, batchID, sec)
	ev.Attempt = n
	return ev
}

// unmatchedN is the watcher's outcome of attempt n of a file no feed takes.
func unmatchedN(f file, sec int, n int32) *events.FileFailed {
	sum := f.checksum
	return &events.FileFailed{Envelope: env(fmt.Sprintf("unmatched-%s-%d", f.key, n), sec, f.id()), FileKey: f.key,
		FileChecksum: &sum, Stage: audit.StageMatch, Reason: "no feed matches key " + f.key, Attempt: n}
}

// unreadN is the watcher's outcome of attempt n of a file gone from the
// landing area.
func unreadN(f file, sec int, n int32) *events.FileFailed {
	sum := f.checksum
	return &events.FileFailed{Envelope: env(fmt.Sprintf("unread-%s-%d", f.key, n), sec, f.id()), FileKey: f.key,
		FileChecksum: &sum, Stage: "read", Reason: "the file is no longer in the landing area", Attempt: n}
}

func retryN(f file, sec int, n int32) *events.FileRetryRequested {
	return &events.FileRetryRequested{Envelope: env(fmt.Sprintf("retry-%s-%d", f.key, n), sec, f.id()),
		FileKey: f.key, FileChecksum: f.checksum, Attempt: n, RequestedBy: "cli:ada", Reason: ptr("feed fixed")}
}

// unfed is f landed without a feed: its landing at attempt 1 has no table.
func unfed(f file, sec int) *events.FileLanded {
	ev := landedN(f, sec, 1)
	ev.Feed, ev.Table = nil, nil
	return ev
}

// steps renders a timeline as "STATUS@attempt".
func steps(f audit.File) []string {
	var out []string
	for _, s := range f.Timeline {
		out = append(out, fmt.Sprintf("%s@%d", s.Status, s.Attempt))
	}
	return out
}

var (
	// fl is a file no feed took at first; its retry matches raw.lab.
	fl = file{key: "lab/l.csv", checksum: "ll", table: "raw.lab", size: 10}
	// fk fails at its first attempt and is processed at its second.
	fk = file{key: "trades/k.csv", checksum: "kk", table: "raw.trades", size: 20}
)

func TestAttempts(t *testing.T) {
	tests := []struct {
		name     string
		steps    []scoped
		file     file
		status   string
		attempt  int32
		retry    int32
		timeline []string
		check    func(t *testing.T, f audit.File)
	}{{
		name: "unmatched, retried, matched and processed",
		steps: []scoped{
			onEvents(unfed(fl, 0)), onEvents(unmatchedN(fl, 1, 1)),
			onEvents(retryN(fl, 10, 2)), onEvents(landedN(fl, 11, 2)),
			onBatches(batchN("b2", 12, fl.table, 2, fl)),
			onEvents(processedN(fl, "b2", 13, 2, 5, 5, 1)),
		},
		file: fl, status: audit.StatusProcessed, attempt: 2, retry: 2,
		timeline: []string{"RECEIVED@1", "UNMATCHED@1", "RETRY_REQUESTED@2", "RECEIVED@2", "BATCHED@2", "PROCESSED@2"},
		check: func(t *testing.T, f audit.File) {
			if f.Table != fl.table || f.Feed != "feed-"+fl.table || f.Error != "" || f.BatchID != "b2" || f.RowsWritten != 5 ||
				f.TableVersion != 1 || !f.LandedAt.Equal(at(0)) || f.LandedEventID != landedID(fl, 2) {
				t.Errorf("file %+v", f)
			}
			if d := f.Timeline[2].Detail; d != "by cli:ada: feed fixed" {
				t.Errorf("retry step detail %q", d)
			}
		},
	}, {
		name: "failed, retried and processed; the batches scope still holds attempt 1",
		steps: []scoped{
			onEvents(landedN(fk, 0, 1)), onBatches(batchN("b1", 1, fk.table, 1, fk)),
			onEvents(rejected(fk, "b1", 1, 2)), onEvents(failedN(fk, "b1", 3, 1)),
			onEvents(retryN(fk, 10, 2)), onEvents(landedN(fk, 11, 2)),
			onBatches(batchN("b2", 12, fk.table, 2, fk)),
			onEvents(processedN(fk, "b2", 13, 2, 10, 10, 7)),
		},
		file: fk, status: audit.StatusProcessed, attempt: 2, retry: 2,
		timeline: []string{"RECEIVED@1", "BATCHED@1", "FAILED@1", "RETRY_REQUESTED@2", "RECEIVED@2", "BATCHED@2", "PROCESSED@2"},
		check: func(t *testing.T, f audit.File) {
			if f.Error != "" || f.BatchID != "b2" || f.RowsRead != 10 || f.RowsWritten != 10 || f.TableVersion != 7 || f.RejectionCount != 1 {
				t.Errorf("file %+v", f)
			}
		},
	}, {
		name: "failed and retried: RECEIVED again although the batches scope says BATCHED",
		steps: []scoped{
			onEvents(landedN(fk, 0, 1)), onBatches(batchN("b1", 1, fk.table, 1, fk)), onEvents(failedN(fk, "b1", 3, 1)),
			onEvents(retryN(fk, 10, 2)), onEvents(landedN(fk, 11, 2)),
		},
		file: fk, status: audit.StatusReceived, attempt: 2, retry: 2,
		timeline: []string{"RECEIVED@1", "BATCHED@1", "FAILED@1", "RETRY_REQUESTED@2", "RECEIVED@2"},
		check: func(t *testing.T, f audit.File) {
			// Nothing of attempt 1's batch or failure shows.
			if f.BatchID != "" || f.Error != "" || f.RowsRead != 0 || f.Table != fk.table || f.LandedEventID != landedID(fk, 2) {
				t.Errorf("file %+v", f)
			}
		},
	}, {
		name:  "a pending retry keeps the status",
		steps: []scoped{onEvents(unfed(fl, 0)), onEvents(unmatchedN(fl, 1, 1)), onEvents(retryN(fl, 10, 2))},
		file:  fl, status: audit.StatusUnmatched, attempt: 1, retry: 2,
		timeline: []string{"RECEIVED@1", "UNMATCHED@1", "RETRY_REQUESTED@2"},
	}, {
		name: "a retry that matches no feed again is UNMATCHED at its attempt",
		steps: []scoped{
			onEvents(unfed(fl, 0)), onEvents(unmatchedN(fl, 1, 1)),
			onEvents(retryN(fl, 10, 2)), onEvents(unmatchedN(fl, 11, 2)),
		},
		file: fl, status: audit.StatusUnmatched, attempt: 2, retry: 2,
		timeline: []string{"RECEIVED@1", "UNMATCHED@1", "RETRY_REQUESTED@2", "UNMATCHED@2"},
	}, {
		name: "a retry of a file gone from the landing area FAILS at read, without a table",
		steps: []scoped{
			onEvents(landedN(fk, 0, 1)), onBatches(batchN("b1", 1, fk.table, 1, fk)), onEvents(failedN(fk, "b1", 3, 1)),
			onEvents(retryN(fk, 10, 2)), onEvents(unreadN(fk, 11, 2)),
		},
		file: fk, status: audit.StatusFailed, attempt: 2, retry: 2,
		timeline: []string{"RECEIVED@1", "BATCHED@1", "FAILED@1", "RETRY_REQUESTED@2", "FAILED@2"},
		check: func(t *testing.T, f audit.File) {
			if f.Error != "read: the file is no longer in the landing area" || f.Table != "" || f.BatchID != "" {
				t.Errorf("file %+v", f)
			}
		},
	}, {
		name: "third attempt after a second that failed",
		steps: []scoped{
			onEvents(unfed(fl, 0)), onEvents(unmatchedN(fl, 1, 1)),
			onEvents(retryN(fl, 10, 2)), onEvents(landedN(fl, 11, 2)),
			onBatches(batchN("b2", 12, fl.table, 2, fl)), onEvents(failedN(fl, "b2", 13, 2)),
			onEvents(retryN(fl, 20, 3)), onEvents(landedN(fl, 21, 3)),
			onBatches(batchN("b3", 22, fl.table, 3, fl)), onEvents(processedN(fl, "b3", 23, 3, 4, 4, 2)),
		},
		file: fl, status: audit.StatusProcessed, attempt: 3, retry: 3,
		timeline: []string{"RECEIVED@1", "UNMATCHED@1", "RETRY_REQUESTED@2", "RECEIVED@2", "BATCHED@2", "FAILED@2",
			"RETRY_REQUESTED@3", "RECEIVED@3", "BATCHED@3", "PROCESSED@3"},
	}, {
		name: "an event of an earlier attempt only adds its step",
		steps: []scoped{
			onEvents(landedN(fk, 0, 1)), onBatches(batchN("b1", 1, fk.table, 1, fk)), onEvents(failedN(fk, "b1", 3, 1)),
			onEvents(retryN(fk, 10, 2)), onEvents(landedN(fk, 11, 2)),
			// A late outcome of attempt 1 (another id) and a late batch of it.
			onEvents(func() *events.FileFailed {
				ev := failedN(fk, "b1", 12, 1)
				ev.Envelope.EventID = "late-failure"
				return ev
			}()),
			onBatches(batchN("b1-late", 13, fk.table, 1, fk)),
		},
		file: fk, status: audit.StatusReceived, attempt: 2, retry: 2,
		timeline: []string{"RECEIVED@1", "BATCHED@1", "FAILED@1", "FAILED@1", "BATCHED@1", "RETRY_REQUESTED@2", "RECEIVED@2"},
		check: func(t *testing.T, f audit.File) {
			if f.Error != "" || f.BatchID != "" {
				t.Errorf("attempt 1 leaks into attempt 2: %+v", f)
			}
		},
	}, {
		name: "duplicates of a retry and of its landing are dropped",
		steps: []scoped{
			onEvents(unfed(fl, 0)), onEvents(unmatchedN(fl, 1, 1)),
			onEvents(retryN(fl, 10, 2)), onEvents(retryN(fl, 10, 2)),
			onEvents(landedN(fl, 11, 2)), onEvents(landedN(fl, 11, 2)),
		},
		file: fl, status: audit.StatusReceived, attempt: 2, retry: 2,
		timeline: []string{"RECEIVED@1", "UNMATCHED@1", "RETRY_REQUESTED@2", "RECEIVED@2"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScopes()
			s.fold(t, tt.steps...)
			f, ok := files(t, s)[tt.file.id()]
			if !ok {
				t.Fatalf("file %s missing", tt.file.key)
			}
			if f.Status != tt.status || f.Attempt != tt.attempt || f.Retry != tt.retry || !slices.Equal(steps(f), tt.timeline) {
				t.Fatalf("status %s attempt %d retry %d timeline %v,\nwant %s %d %d %v",
					f.Status, f.Attempt, f.Retry, steps(f), tt.status, tt.attempt, tt.retry, tt.timeline)
			}
			// ByStatus agrees with Files.
			by, err := audit.ByStatus(s, tt.status)
			if err != nil || !slices.ContainsFunc(by, func(g audit.File) bool { return g.ID == f.ID }) {
				t.Errorf("ByStatus(%s) = %v, %v: the file is missing", tt.status, by, err)
			}
			if tt.check != nil {
				tt.check(t, f)
			}
		})
	}
}

// A retried file is pending again (the planner's candidates) with the
// table of its new attempt, from the moment its new attempt lands until it
// is batched.
func TestRetriedFileIsPending(t *testing.T) {
	s := newScopes()
	pending := func() []string {
		t.Helper()
		p, err := audit.Pending(s)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for table, fs := range p {
			for _, f := range fs {
				out = append(out, fmt.Sprintf("%s:%s@%d", table, f.Key, f.Attempt))
			}
		}
		slices.Sort(out)
		return out
	}
	s.fold(t, onEvents(unfed(fl, 0)), onEvents(unmatchedN(fl, 1, 1)),
		onEvents(landedN(fk, 2, 1)), onBatches(batchN("b1", 3, fk.table, 1, fk)), onEvents(failedN(fk, "b1", 4, 1)),
		onEvents(retryN(fl, 10, 2)), onEvents(retryN(fk, 10, 2)))
	if got := pending(); len(got) != 0 {
		t.Fatalf("pending before the retries land: %v", got)
	}
	s.fold(t, onEvents(landedN(fl, 11, 2)), onEvents(landedN(fk, 11, 2)))
	if got, want := pending(), []string{"raw.lab:lab/l.csv@2", "raw.trades:trades/k.csv@2"}; !slices.Equal(got, want) {
		t.Fatalf("pending %v, want %v", got, want)
	}
	s.fold(t, onBatches(batchN("b2", 12, fk.table, 2, fk)))
	if got, want := pending(), []string{"raw.lab:lab/l.csv@2"}; !slices.Equal(got, want) {
		t.Fatalf("pending after fk's batch %v, want %v", got, want)
	}
	if by, err := audit.ByStatus(s, audit.StatusBatched); err != nil || len(by) != 1 || by[0].ID != fk.id() || by[0].BatchID != "b2" {
		t.Fatalf("BATCHED: %+v %v", by, err)
	}
}

// retryHistory spreads retried files over two event partitions and the
// batches topic.
func retryHistory() []scoped {
	fm := file{key: "lab/m.csv", checksum: "mm", table: "raw.lab", size: 30}
	return []scoped{
		onEvents(unfed(fl, 0)), onEvents(unmatchedN(fl, 1, 1)),
		onEvents1(landedN(fk, 2, 1)), onEvents1(landedN(fm, 3, 1)),
		onBatches(batchN("b1", 4, "raw.trades", 1, fk)), onBatches(batchN("b1m", 4, "raw.lab", 1, fm)),
		onEvents1(failedN(fk, "b1", 5, 1)), onEvents1(failedN(fm, "b1m", 5, 1)),
		onEvents(retryN(fl, 10, 2)), onEvents1(retryN(fk, 10, 2)), onEvents1(retryN(fm, 10, 2)),
		onEvents(landedN(fl, 11, 2)), onEvents1(landedN(fk, 11, 2)), onEvents1(landedN(fm, 11, 2)),
		onBatches(batchN("b2", 12, "raw.lab", 2, fl)), onBatches(batchN("b3", 12, "raw.trades", 2, fk)),
		onEvents(processedN(fl, "b2", 13, 2, 5, 5, 1)),
		// fk stays BATCHED at attempt 2; fm RECEIVED at attempt 2.
	}
}

// However the scopes interleave and whichever order the query visits them
// in, a retried file merges to the same record.
func TestAttemptsMergeInAnyScopeOrder(t *testing.T) {
	h := retryHistory()
	want := newScopes()
	want.fold(t, h...)
	wantFiles, err := audit.Files(want)
	if err != nil {
		t.Fatal(err)
	}
	status := map[string]string{}
	for _, f := range wantFiles {
		status[f.Key] = fmt.Sprintf("%s@%d", f.Status, f.Attempt)
	}
	if w := map[string]string{"lab/l.csv": "PROCESSED@2", "trades/k.csv": "BATCHED@2", "lab/m.csv": "RECEIVED@2"}; fmt.Sprint(status) != fmt.Sprint(w) {
		t.Fatalf("statuses %v, want %v", status, w)
	}
	scopeNames := []string{scopeEvents, scopeEvents1, scopeBatches}
	for _, order := range permutations(scopeNames) {
		for _, reverse := range []bool{false, true} {
			var log []scoped
			for _, sc := range order {
				for _, s := range h {
					if s.scope == sc {
						log = append(log, s)
					}
				}
			}
			got := newScopes()
			got.Reverse = reverse
			got.fold(t, log...)
			gotFiles, err := audit.Files(got)
			if err != nil {
				t.Fatal(err)
			}
			if g, w := fmt.Sprintf("%+v", gotFiles), fmt.Sprintf("%+v", wantFiles); g != w {
				t.Errorf("scopes folded %v (visited in reverse: %v):\n got %s\nwant %s", order, reverse, g, w)
			}
			for _, st := range []string{audit.StatusReceived, audit.StatusBatched, audit.StatusProcessed} {
				by, err := audit.ByStatus(got, st)
				if err != nil || len(by) != 1 {
					t.Errorf("scopes folded %v: ByStatus(%s) = %+v, %v; want one file", order, st, by, err)
				}
			}
		}
	}
}

func permutations(xs []string) [][]string {
	if len(xs) <= 1 {
		return [][]string{slices.Clone(xs)}
	}
	var out [][]string
	for i := range xs {
		rest := slices.Concat(xs[:i], xs[i+1:])
		for _, p := range permutations(rest) {
			out = append(out, append([]string{xs[i]}, p...))
		}
	}
	return out
}

// Two folds of the same log from empty state give the same bytes.
func TestAttemptsDeterministic(t *testing.T) {
	a, b := newScopes(), newScopes()
	a.fold(t, retryHistory()...)
	b.fold(t, retryHistory()...)
	if len(a.M) != 3 {
		t.Fatalf("%d scopes, want 3", len(a.M))
	}
	for name, m := range a.M {
		if m.Digest() != b.M[name].Digest() {
			t.Errorf("scope %s: digests differ between two folds of the same log", name)
		}
	}
}

// A file never retried is stored as it was before attempts existed, and
// such an entry reads as attempt 1.
func TestFirstAttemptEncoding(t *testing.T) {
	s := newScopes()
	s.fold(t, onEvents(landedN(fa, 0, 1)), onBatches(batchN("b1", 1, fa.table, 1, fa)), onEvents(processedN(fa, "b1", 2, 1, 1, 1, 1)))
	for name, m := range s.M {
		for k, v := range m {
			if strings.HasPrefix(k, "f/") && (strings.Contains(string(v), `"attempt"`) || strings.Contains(string(v), `"a":`) ||
				strings.Contains(string(v), `"retry"`)) {
				t.Errorf("scope %s: %s encodes an attempt: %s", name, k, v)
			}
		}
	}
	// An entry written before attempts existed: version 2, no attempt.
	old := newScopes()
	entry := map[string]any{"v": 2, "id": fk.id(), "key": fk.key, "checksum": fk.checksum, "landed_event_id": "x", "landed": true,
		"landed_at": at(0).UnixMicro(), "table": fk.table, "status": "FAILED", "error": "write: disk full", "has_result": true,
		"steps": []map[string]any{{"s": "RECEIVED", "at": at(0).UnixMicro(), "id": "x"}, {"s": "FAILED", "at": at(1).UnixMicro(), "id": "y"}}}
	b, err := json.Marshal(entry)
	if err != nil {
		t.Fatal(err)
	}
	old.scope(scopeEvents)["f/"+fk.id()] = b
	old.scope(scopeEvents)["s/FAILED/"+fk.id()] = nil
	old.fold(t, onEvents(retryN(fk, 10, 2)), onEvents(landedN(fk, 11, 2)))
	f := files(t, old)[fk.id()]
	if f.Status != audit.StatusReceived || f.Attempt != 2 || !slices.Equal(steps(f), []string{"RECEIVED@1", "FAILED@1", "RETRY_REQUESTED@2", "RECEIVED@2"}) {
		t.Fatalf("old entry retried: %s@%d %v", f.Status, f.Attempt, steps(f))
	}
	if by, err := audit.ByStatus(old, audit.StatusFailed); err != nil || len(by) != 0 {
		t.Errorf("FAILED after the retry landed: %+v %v", by, err)
	}
}
