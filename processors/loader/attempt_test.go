package loader

import (
	"testing"

	"github.com/logmesh/logmesh/events"
)

// derived is one event the loader derived for a file.
type derived struct {
	name, id string
	attempt  int32  // FileProcessed, FileFailed
	incident string // IncidentOpened
}

// The events the loader derives for a file carry the file's attempt, and
// their ids differ between attempts (a retry's outcome is not a duplicate
// of the first attempt's) while a batch loaded again at the same attempt
// derives the same ids. The first attempt's ids are those the loader
// always derived.
func TestAttemptIDs(t *testing.T) {
	var good, bad events.BatchFile
	// load loads batch b-1 (a good file with a rejected record, and a file
	// over its threshold) at attempt n on a fresh warehouse.
	load := func(t *testing.T, n int32) []derived {
		t.Helper()
		r := newPipeRig(t)
		good = r.land(t, "pipe/good.csv", "id,qty,note\n1,1,a\n2,0,b\n3,1,c\n")
		bad = r.land(t, "pipe/bad.csv", "id,qty,note\n1,0,a\n2,0,b\n")
		good.Attempt, bad.Attempt = n, n
		out, _, err := r.bl.load(t.Context(), r.batch("b-1", good, bad), "cause")
		r.noGoroutines(t)
		if err != nil {
			t.Fatal(err)
		}
		var got []derived
		for _, ev := range out {
			d := derived{name: ev.Name(), id: ev.Meta().EventID}
			switch e := ev.(type) {
			case *events.FileProcessed:
				d.attempt = e.Attempt
			case *events.FileFailed:
				d.attempt = e.Attempt
			case *events.IncidentOpened:
				d.incident = e.IncidentID
			}
			got = append(got, d)
		}
		// good.csv: 1 RecordRejected, 1 FileProcessed; bad.csv: 2
		// RecordRejected, 1 FileFailed, 1 IncidentOpened.
		if len(got) != 6 {
			t.Fatalf("attempt %d: %d events, want 6: %+v", n, len(got), got)
		}
		return got
	}
	tests := []struct {
		name    string
		attempt int32
		want    int32
	}{{"attempt unset (a batch planned before attempts)", 0, 1}, {"first attempt", 1, 1}, {"second attempt", 2, 2}, {"third attempt", 3, 3}}
	byAttempt := map[int32][]derived{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := load(t, tt.attempt)
			for _, d := range got {
				if (d.name == events.NameFileProcessed || d.name == events.NameFileFailed) && d.attempt != tt.want {
					t.Errorf("%s says attempt %d, want %d", d.name, d.attempt, tt.want)
				}
			}
			if prev, ok := byAttempt[tt.want]; ok {
				// Loaded again at the same attempt: the same ids.
				for i := range got {
					if got[i] != prev[i] {
						t.Errorf("loaded twice at attempt %d: %+v, then %+v", tt.want, prev[i], got[i])
					}
				}
				return
			}
			for n, other := range byAttempt {
				for _, a := range got {
					for _, b := range other {
						if a.id == b.id || a.incident != "" && a.incident == b.incident {
							t.Errorf("attempts %d and %d share an id: %+v and %+v", tt.want, n, a, b)
						}
					}
				}
			}
			byAttempt[tt.want] = got
		})
	}
	// The first attempt's ids are what the loader derived before attempts.
	first := byAttempt[1]
	goodID, badID := events.DeriveID(good.Key, good.Checksum), events.DeriveID(bad.Key, bad.Checksum)
	want := map[string]bool{
		events.DeriveID("file-processed", goodID, "b-1"):         false,
		events.DeriveID("file-failed", badID, "b-1"):             false,
		events.DeriveID("record-rejected", goodID, "b-1", "2"):   false,
		events.DeriveID("incident", "file-failed", badID, "b-1"): false,
	}
	for _, d := range first {
		for _, id := range []string{d.id, d.incident} {
			if _, ok := want[id]; ok {
				want[id] = true
			}
		}
	}
	for id, found := range want {
		if !found {
			t.Errorf("attempt 1 derived no %s, the id it always had: %+v", id, first)
		}
	}
}
