package ingest_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/processors/ingest"
)

// switchMatcher takes keys under trades/ to the trades feed and, once
// labOn is set, keys under lab/ to the lab feed: a feed defined between
// two scans.
type switchMatcher struct{ labOn atomic.Bool }

func (m *switchMatcher) matcher() ingest.Matcher {
	return ingest.MatcherFunc(func(key string) (string, string, bool) {
		if m.labOn.Load() && strings.HasPrefix(key, "lab/") {
			return "lab", "raw.lab", true
		}
		return tradesMatcher(key)
	})
}

// produce writes evs to the rig's topic, keyed by correlation id as the
// platform keys per-file events.
func (r *rig) produce(t *testing.T, evs ...events.Event) {
	t.Helper()
	cl := r.cluster.Client(t)
	for _, ev := range evs {
		rec, err := r.codec.Record(ev)
		if err != nil {
			t.Fatal(err)
		}
		rec.Topic = r.topic
		if err := cl.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

// envelope is the envelope of a per-file event of the rig's domain.
func (r *rig) envelope(id, fileID string) events.Envelope {
	return events.Envelope{EventID: id, OccurredAt: landedAt.Add(time.Hour), Domain: r.domain, CorrelationID: fileID}
}

// retryRequest is the FileRetryRequested of attempt n of a file, as
// `logmesh files retry` makes it.
func (r *rig) retryRequest(key, content string, n int32) *events.FileRetryRequested {
	id := events.DeriveID(key, sum(content))
	return &events.FileRetryRequested{Envelope: r.envelope(events.DeriveID("retry", id, strconv.Itoa(int(n))), id),
		FileKey: key, FileChecksum: sum(content), Attempt: n, RequestedBy: "test"}
}

// outcome is the loader's outcome of attempt n of a file.
func (r *rig) outcome(key, content string, n int32, processed bool) events.Event {
	id, s := events.DeriveID(key, sum(content)), sum(content)
	if processed {
		return &events.FileProcessed{Envelope: r.envelope(events.NewID(), id), BatchID: "b", Table: "raw.trades", FileKey: key,
			FileChecksum: s, RecordsRead: 1, RecordsLoaded: 1, Attempt: n}
	}
	return &events.FileFailed{Envelope: r.envelope(events.NewID(), id), FileKey: key, FileChecksum: &s, Stage: "write",
		Reason: "disk full", Attempt: n}
}

// describe renders the file events of evs as "Name@attempt detail".
func describe(evs []events.Event) []string {
	var out []string
	for _, ev := range evs {
		switch e := ev.(type) {
		case *events.FileLanded:
			table := "-"
			if e.Table != nil {
				table = *e.Table
			}
			out = append(out, fmt.Sprintf("FileLanded@%d %s", e.Attempt, table))
		case *events.FileFailed:
			out = append(out, fmt.Sprintf("FileFailed@%d %s", e.Attempt, e.Stage))
		}
	}
	return out
}

// What a retry request makes the watcher do, by what the file is and
// where it stands.
func TestRetryOutcome(t *testing.T) {
	const content = "trade_id,qty\nT1,1\n"
	tests := []struct {
		name string
		key  string
		// before runs after the first scan, before the request.
		before func(t *testing.T, r *rig)
		// after runs after the request, before the scan.
		after  func(t *testing.T, r *rig, dir string, m *switchMatcher)
		landed int
		want   []string // the file events the scan produces
	}{{
		name:   "unmatched, now matched: lands again with the feed's table",
		key:    "lab/a.csv",
		after:  func(t *testing.T, r *rig, dir string, m *switchMatcher) { m.labOn.Store(true) },
		landed: 1, want: []string{"FileLanded@2 raw.lab"},
	}, {
		name:   "unmatched, still unmatched",
		key:    "lab/a.csv",
		landed: 0, want: []string{"FileFailed@2 match"},
	}, {
		name: "failed, retried",
		key:  "trades/a.csv",
		before: func(t *testing.T, r *rig) {
			r.produce(t, r.outcome("trades/a.csv", content, 1, false))
		},
		landed: 1, want: []string{"FileLanded@2 raw.trades"},
	}, {
		name: "processed: ignored",
		key:  "trades/a.csv",
		before: func(t *testing.T, r *rig) {
			r.produce(t, r.outcome("trades/a.csv", content, 1, true))
		},
		landed: 0, want: nil,
	}, {
		name: "failed, then processed by a later load: ignored",
		key:  "trades/a.csv",
		before: func(t *testing.T, r *rig) {
			r.produce(t, r.outcome("trades/a.csv", content, 1, false), r.outcome("trades/a.csv", content, 1, true))
		},
		landed: 0, want: nil,
	}, {
		name:   "still in flight (no outcome): waits",
		key:    "trades/a.csv",
		landed: 0, want: nil,
	}, {
		name: "gone from the landing area",
		key:  "lab/a.csv",
		after: func(t *testing.T, r *rig, dir string, m *switchMatcher) {
			m.labOn.Store(true)
			if err := os.Remove(filepath.Join(dir, "lab", "a.csv")); err != nil {
				t.Fatal(err)
			}
		},
		landed: 0, want: []string{"FileFailed@2 read"},
	}, {
		name: "changed in the landing area: the retry fails, the new content lands as a new file",
		key:  "lab/a.csv",
		after: func(t *testing.T, r *rig, dir string, m *switchMatcher) {
			m.labOn.Store(true)
			if err := os.WriteFile(filepath.Join(dir, "lab", "a.csv"), []byte(content+"T2,2\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		},
		landed: 1, want: []string{"FileFailed@2 read", "FileLanded@1 raw.lab"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			dir := t.TempDir()
			src, err := ingest.NewLocalSource(dir)
			if err != nil {
				t.Fatal(err)
			}
			m := &switchMatcher{}
			put(t, src, tt.key, content)
			scan(t, r.watcher(t, src, ingest.WithMatcher(m.matcher())), 1)
			if tt.before != nil {
				tt.before(t, r)
			}
			req := r.retryRequest(tt.key, content, 2)
			r.produce(t, req)
			if tt.after != nil {
				tt.after(t, r, dir, m)
			}
			before := map[string]bool{}
			for _, ev := range r.events(t) {
				before[ev.Meta().EventID] = true
			}
			n := len(before)
			w := r.watcher(t, src, ingest.WithMatcher(m.matcher()))
			scan(t, w, tt.landed)
			var evs []events.Event
			for _, ev := range r.events(t) {
				if !before[ev.Meta().EventID] {
					evs = append(evs, ev)
				}
			}
			// Events of two files may be on two partitions: compare sorted.
			got := describe(evs)
			slices.Sort(got)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("events after the request %v, want %v", got, tt.want)
			}
			id := events.DeriveID(tt.key, sum(content))
			for _, ev := range evs {
				m := ev.Meta()
				if m.CorrelationID != id && m.CorrelationID != events.DeriveID(tt.key, sum(content+"T2,2\n")) {
					t.Errorf("%s correlation id %s, want the file id %s", ev.Name(), m.CorrelationID, id)
				}
				switch e := ev.(type) {
				case *events.FileLanded:
					if e.Attempt == 2 && (m.EventID != events.AttemptID(id, 2) || m.CausationID != req.Envelope.EventID ||
						e.Checksum != sum(content) || e.Key != tt.key) {
						t.Errorf("retry landing %+v, want event id %s caused by %s", e, events.AttemptID(id, 2), req.Envelope.EventID)
					}
				case *events.FileFailed:
					if m.CausationID != req.Envelope.EventID || m.EventID == events.DeriveID("file-failed", id, e.Stage) || e.Reason == "" {
						t.Errorf("retry failure %+v: want a reason, caused by the request, an id of its own", e)
					}
				}
			}
			// Acted on once: the same watcher, and a restarted one, do
			// nothing more.
			scan(t, w, 0)
			scan(t, r.watcher(t, src, ingest.WithMatcher(m.matcher())), 0)
			if got := len(r.events(t)); got != n+len(evs) {
				t.Fatalf("%d events after rescans, want %d", got, n+len(evs))
			}
		})
	}
}

// A request for a file still in flight waits for its outcome: a failure
// makes the watcher act on it then, once.
func TestRetryWaitsForTheOutcome(t *testing.T) {
	r := newRig(t)
	src, err := ingest.NewLocalSource(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const key, content = "trades/w.csv", "trade_id,qty\nT1,1\n"
	put(t, src, key, content)
	w := r.watcher(t, src)
	scan(t, w, 1)
	r.produce(t, r.retryRequest(key, content, 2))
	scan(t, w, 0)
	r.produce(t, r.outcome(key, content, 1, false))
	scan(t, w, 1)
	scan(t, w, 0)
	scan(t, r.watcher(t, src), 0)
	if got := describe(r.events(t)); fmt.Sprint(got) != fmt.Sprint([]string{"FileLanded@1 raw.trades", "FileFailed@1 write", "FileLanded@2 raw.trades"}) {
		t.Fatalf("events %v", got)
	}
}

// A file retried again and again: each retry is a new attempt, and one
// watcher, a second one and a restarted one land each attempt once. A
// request repeated for an attempt that has begun does nothing.
func TestRetryAttempts(t *testing.T) {
	r := newRig(t)
	src, err := ingest.NewLocalSource(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const key, content = "lab/r.csv", "x\n1\n"
	m := &switchMatcher{}
	put(t, src, key, content)
	w1 := r.watcher(t, src, ingest.WithMatcher(m.matcher()))
	scan(t, w1, 1) // attempt 1: unmatched
	r.produce(t, r.retryRequest(key, content, 2))
	scan(t, w1, 0) // attempt 2: still unmatched
	m.labOn.Store(true)
	r.produce(t, r.retryRequest(key, content, 2)) // the same request again
	scan(t, w1, 0)
	w2 := r.watcher(t, src, ingest.WithMatcher(m.matcher()))
	scan(t, w2, 0)
	r.produce(t, r.retryRequest(key, content, 3))
	scan(t, w2, 1) // attempt 3 lands, by the second watcher
	scan(t, w1, 0)
	scan(t, r.watcher(t, src, ingest.WithMatcher(m.matcher())), 0)
	want := []string{"FileLanded@1 -", "FileFailed@1 match", "FileFailed@2 match", "FileLanded@3 raw.lab"}
	evs := r.events(t)
	if got := describe(evs); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	ids := map[string]bool{}
	for _, ev := range evs {
		if ev.Name() == events.NameFileRetryRequested {
			continue // produced twice on purpose
		}
		if ids[ev.Meta().EventID] {
			t.Errorf("event id %s twice", ev.Meta().EventID)
		}
		ids[ev.Meta().EventID] = true
	}
}

// A run of a topic feed, which the spool landed under SpoolPrefix and no
// key pattern takes, lands again with the feed the spool gave it.
func TestRetrySpooledRun(t *testing.T) {
	r := newRig(t)
	src, err := ingest.NewLocalSource(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const content = "{\"id\":1}\n"
	key := ingest.SpoolPrefix + "orders/logmesh.sales.orders/0/00000000000000000000-00000000000000000000.ndjson"
	put(t, src, key, content)
	objs, err := src.List(context.Background())
	if err != nil || len(objs) != 1 {
		t.Fatalf("list: %v %v", objs, err)
	}
	fl := ingest.Landed(src, objs[0], sum(content), r.domain, landedAt)
	feed, table := "orders", "raw.orders"
	fl.Feed, fl.Table = &feed, &table
	r.produce(t, fl, r.outcome(key, content, 1, false), r.retryRequest(key, content, 2))
	scan(t, r.watcher(t, src), 1)
	got := describe(r.events(t))
	if want := []string{"FileLanded@1 raw.orders", "FileFailed@1 write", "FileLanded@2 raw.orders"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events %v, want %v", got, want)
	}
}
