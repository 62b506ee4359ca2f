package audit_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/projections/audit"
)

// A second partition of the events topic: a file's events all go to one
// partition (they are keyed by file id), different files to different ones.
const scopeEvents1 = "logmesh.raw.events/1"

func onEvents1(ev events.Event) scoped { return scoped{scopeEvents1, ev} }

// mixedHistory is a log with a file at every status and every path between
// them, over three scopes: landed and pending, batched and in flight,
// processed, failed, failed and retried (pending again, and processed),
// unmatched, retried at a second attempt (see retryHistory), processed
// without landing, known from rejections only,
// duplicates, and a batch whose files live in two event partitions.
func mixedHistory() []scoped {
	fd := file{key: "trades/d.csv", checksum: "dd", table: "raw.trades", size: 4}
	fe := file{key: "trades/e.csv", checksum: "ee", table: "raw.trades", size: 5}
	ff := file{key: "quotes/f.csv", checksum: "ff", table: "raw.quotes", size: 6}
	fg := file{key: "quotes/g.csv", checksum: "gg", table: "raw.quotes", size: 7}
	fh := file{key: "trades/h.csv", checksum: "hh", table: "raw.trades", size: 8}
	fr := file{key: "trades/r.csv", checksum: "rr", table: "raw.trades", size: 9}
	fu := file{key: "junk/u.bin", checksum: "uu"}
	unmatched := landed(fu, 9)
	sum := fu.checksum
	retryFailed := failed(ff, "b3", 40)
	retryFailed.Envelope.EventID = "failed-again-" + ff.key
	return slices.Concat([]scoped{
		// Landed: fa..fe on partition 0, ff..fh and fu on partition 1.
		onEvents(landed(fa, 0)), onEvents(landed(fb, 1)), onEvents(landed(fc, 2)), onEvents(landed(fx, 3)),
		onEvents(landed(fd, 4)), onEvents(landed(fe, 5)),
		onEvents1(landed(ff, 6)), onEvents1(landed(fg, 7)), onEvents1(landed(fh, 8)),
		onEvents1(unmatched),
		onEvents1(&events.FileFailed{Envelope: env("match-"+fu.key, 10, fu.id()), FileKey: fu.key, FileChecksum: &sum,
			Stage: audit.StageMatch, Reason: "no feed matches", Attempt: 1}),
		// Duplicates of a landing.
		onEvents(landed(fd, 4)), onEvents1(landed(fg, 7)),
		// b1 takes files of both event partitions.
		onBatches(batch("b1", 11, "raw.trades", fa, fb, fh)),
		onBatches(batch("b2", 12, "raw.quotes", fc, ff)),
		onBatches(batch("b1", 11, "raw.trades", fa, fb, fh)), // duplicate
		onEvents(rejected(fa, "b1", 1, 13)),
		onEvents(processed(fa, "b1", 20, 5, 4, 1, 1)),
		onEvents(failed(fb, "b1", 21)),
		onEvents1(processed(fh, "b1", 22, 8, 8, 0, 2)),
		onEvents1(failed(ff, "b2", 23)),
		onEvents(processed(fc, "b2", 24, 7, 7, 0, 1)),
		onEvents(processed(fc, "b2", 24, 7, 7, 0, 1)), // duplicate
		// fb retried and processed; ff retried, failed again, then in a
		// third batch not yet loaded.
		onBatches(batch("b3", 30, "raw.trades", fb)),
		onEvents(processed(fb, "b3", 31, 2, 2, 0, 3)),
		onBatches(batch("b4", 32, "raw.quotes", ff)),
		onEvents1(retryFailed),
		onBatches(batch("b5", 41, "raw.quotes", ff)),
	},
		// Files retried after they ended UNMATCHED or FAILED, at their
		// second attempt: processed, batched, and pending again.
		retryHistory(),
		[]scoped{
			// fe batched and in flight.
			onBatches(batch("b6", 42, "raw.trades", fe)),
			// Processed without landing, and rejections of a file never seen
			// otherwise.
			onEvents1(processed(file{key: "trades/p.csv", checksum: "pp", table: "raw.trades"}, "b0", 43, 1, 1, 0, 4)),
			onEvents(rejected(fr, "b9", 1, 44)), onEvents(rejected(fr, "b9", 2, 45)),
			// fd and fg stay RECEIVED; fx (no table) too.
		})
}

// filter returns the files of all with status.
func filter(all []audit.File, status string) []audit.File {
	var out []audit.File
	for _, f := range all {
		if f.Status == status {
			out = append(out, f)
		}
	}
	return out
}

// ByStatus must give what Files gives, filtered, for every status, however
// the scopes interleave and whichever order the query visits them in; and
// Pending what it gave when it filtered Files.
func TestByStatusIsFilesFiltered(t *testing.T) {
	h := mixedHistory()
	var scopeByScope []scoped
	for _, sc := range []string{scopeBatches, scopeEvents1, scopeEvents} {
		for _, s := range h {
			if s.scope == sc {
				scopeByScope = append(scopeByScope, s)
			}
		}
	}
	for _, c := range []struct {
		name    string
		log     []scoped
		reverse bool
	}{{"log order", h, false}, {"scope by scope, visited in reverse", scopeByScope, true}} {
		t.Run(c.name, func(t *testing.T) {
			s := newScopes()
			s.Reverse = c.reverse
			s.fold(t, c.log...)
			all, err := audit.Files(s)
			if err != nil {
				t.Fatal(err)
			}
			seen := 0
			for _, status := range audit.Statuses() {
				got, err := audit.ByStatus(s, status)
				if err != nil {
					t.Fatal(err)
				}
				want := filter(all, status)
				if len(want) == 0 {
					t.Errorf("the history has no %s file: the test does not cover it", status)
				}
				seen += len(want)
				if g, w := fmt.Sprintf("%+v", got), fmt.Sprintf("%+v", want); g != w {
					t.Errorf("ByStatus(%s):\n got %s\nwant %s", status, g, w)
				}
			}
			// The file known from rejections only has no status.
			if seen != len(all)-1 {
				t.Errorf("%d files over the statuses, want %d", seen, len(all)-1)
			}
			pending, err := audit.Pending(s)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string][]audit.File{}
			for _, f := range filter(all, audit.StatusReceived) {
				if f.Table != "" {
					want[f.Table] = append(want[f.Table], f)
				}
			}
			if g, w := fmt.Sprintf("%+v", pending), fmt.Sprintf("%+v", want); g != w {
				t.Errorf("Pending:\n got %s\nwant %s", g, w)
			}
			var keys []string
			for _, table := range []string{"raw.lab", "raw.quotes", "raw.trades"} {
				for _, f := range pending[table] {
					keys = append(keys, f.Key)
				}
			}
			if w := []string{"lab/m.csv", "quotes/g.csv", "trades/d.csv"}; !slices.Equal(keys, w) || len(pending) != 3 {
				t.Errorf("pending %v, want %v", keys, w)
			}
		})
	}
}

// The index holds, in each scope, exactly one key per entry with a status,
// naming that status; a replay gives the same bytes.
func TestStatusIndexMatchesEntries(t *testing.T) {
	a, b := newScopes(), newScopes()
	a.fold(t, mixedHistory()...)
	b.fold(t, mixedHistory()...)
	for name, m := range a.M {
		if m.Digest() != b.M[name].Digest() {
			t.Errorf("scope %s: two folds of the same log differ", name)
		}
		var want, got []string
		for k, v := range m {
			switch {
			case strings.HasPrefix(k, "f/"):
				var e struct {
					V      int    `json:"v"`
					Status string `json:"status"`
				}
				if err := json.Unmarshal(v, &e); err != nil {
					t.Fatal(err)
				}
				if e.V != 2 {
					t.Errorf("scope %s: %s has version %d", name, k, e.V)
				}
				if e.Status != "" {
					want = append(want, "s/"+e.Status+"/"+k[len("f/"):])
				}
			case strings.HasPrefix(k, "s/"):
				got = append(got, k)
				if len(v) != 0 {
					t.Errorf("scope %s: index key %s has a value", name, k)
				}
			default:
				t.Errorf("scope %s: unexpected key %q", name, k)
			}
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("scope %s: index\n got %v\nwant %v", name, got, want)
		}
	}
}

func TestByStatusUnknown(t *testing.T) {
	for _, status := range []string{"", "received", "DONE"} {
		if _, err := audit.ByStatus(newScopes(), status); !errors.Is(err, audit.ErrUnknownStatus) {
			t.Errorf("ByStatus(%q): %v, want ErrUnknownStatus", status, err)
		}
	}
}

// unindexed rewrites s as a fold from before the status index wrote it:
// entries at version 1, no index keys.
func unindexed(t *testing.T, s *scopes) {
	t.Helper()
	for _, m := range s.M {
		for k, v := range m {
			switch {
			case strings.HasPrefix(k, "s/"):
				delete(m, k)
			case strings.HasPrefix(k, "f/"):
				if !bytes.HasPrefix(v, []byte(`{"v":2,`)) {
					t.Fatalf("%s: %s", k, v)
				}
				m[k] = append([]byte(`{"v":1,`), v[len(`{"v":2,`):]...)
			}
		}
	}
}

// A store folded before the index existed: Reindex makes it what a fold
// into an empty store makes, and the fold carries on from either.
func TestReindex(t *testing.T) {
	h := mixedHistory()
	cut := len(h) - 6
	want := newScopes()
	want.fold(t, h...)

	old := newScopes()
	old.fold(t, h[:cut]...)
	unindexed(t, old)
	if p, err := audit.Pending(old); err != nil || len(p) != 0 {
		t.Fatalf("an unindexed store has pending files %v (%v): the test does not test Reindex", p, err)
	}
	var writes []string
	n, err := audit.Reindex(old, func(tp topicPartition, key, value []byte) error {
		scope := fmt.Sprint(tp.Topic, "/", tp.Partition)
		writes = append(writes, scope+" "+string(key[:2]))
		return old.Scope(scope).Set(key, value)
	})
	if err != nil {
		t.Fatal(err)
	}
	entries := 0
	for _, m := range old.M {
		for k := range m {
			if strings.HasPrefix(k, "f/") {
				entries++
			}
		}
	}
	if n != entries {
		t.Errorf("Reindex upgraded %d entries, want all %d", n, entries)
	}
	// The index key of an entry is written before the entry.
	for i, w := range writes {
		if strings.HasSuffix(w, " s/") && (i+1 == len(writes) || writes[i+1] != strings.TrimSuffix(w, "s/")+"f/") {
			t.Errorf("write %d: %s not followed by its entry: %v", i, w, writes)
			break
		}
	}
	if n, err := audit.Reindex(old, func(topicPartition, []byte, []byte) error { return errors.New("written twice") }); n != 0 || err != nil {
		t.Errorf("a second Reindex: %d, %v", n, err)
	}
	old.fold(t, h[cut:]...)
	for name, m := range want.M {
		if m.Digest() != old.M[name].Digest() {
			t.Errorf("scope %s: reindexed and folded on differs from a fold from empty", name)
		}
	}

	// Without Reindex, the fold upgrades each entry it touches.
	lazy := newScopes()
	lazy.fold(t, h[:cut]...)
	unindexed(t, lazy)
	lazy.fold(t, h[cut:]...)
	got, err := audit.ByStatus(lazy, audit.StatusBatched)
	if err != nil {
		t.Fatal(err)
	}
	wantBatched, err := audit.ByStatus(want, audit.StatusBatched)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", wantBatched) || len(got) == 0 {
		t.Errorf("batched after the fold touched them:\n got %+v\nwant %+v", got, wantBatched)
	}
}
