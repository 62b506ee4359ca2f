// Package pointers is the table-pointer projection: a pure fold of every
// domain's TableCommitted events into the versions of every table — where
// each version's Iceberg metadata is, its snapshot, its row count and the
// batch or job that made it. It is the read side of logmesh's event-sourced
// table catalog: the loader (and later the job runner) commit against it,
// and `logmesh tables` and `logmesh query` read it.
//
// TableCommitted events are keyed by table, so every version of one table
// lands in one partition, and so in one state scope. Versions count from 1
// without gaps. A version that is already known is a duplicate (a retried
// commit, or a second writer that lost the race) and is dropped: the first
// commit of a version on the log wins. A version beyond the next is refused
// with projections.ErrInvariant.
//
// Values are JSON of fixed structs, so the same events give the same bytes.
package pointers

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/projections"
)

// Key prefixes of the state.
const (
	prefixCurrent = "c/" // c/<table> → current version, uint64 BE
	prefixVersion = "v/" // v/<table> 0x00 <version uint64 BE> → Pointer JSON
	prefixBatch   = "b/" // b/<table> 0x00 <batch id> → version, uint64 BE
)

// Projection is the fold. The zero value is ready and safe for concurrent
// use; it holds no state of its own.
type Projection struct{}

var _ projections.Projection = Projection{}

// Name returns "pointers".
func (Projection) Name() string { return "pointers" }

// Topics returns every domain's events topic: a table is committed on the
// bus of its domain.
func (Projection) Topics(t events.Topics) events.TopicSet { return t.AllDomains() }

// Pointer is one version of one table, as its TableCommitted recorded it.
type Pointer struct {
	Table            string    `json:"table"`
	Version          int64     `json:"version"`
	MetadataLocation string    `json:"metadata_location"`
	SnapshotID       int64     `json:"snapshot_id"`
	SchemaID         int32     `json:"schema_id"`
	RowsTotal        int64     `json:"rows_total"`
	BatchID          string    `json:"batch_id,omitempty"`
	JobID            string    `json:"job_id,omitempty"`
	EventID          string    `json:"event_id"`
	CommittedAt      time.Time `json:"committed_at"`
}

// Handles implements projections.Selective: the host skips other facts
// without decoding them.
func (Projection) Handles(name string) bool {
	return name == events.NameTableCommitted
}

// Apply folds a TableCommitted; every other event is ignored.
func (Projection) Apply(s projections.Store, ev events.Event) error {
	tc, ok := ev.(*events.TableCommitted)
	if !ok {
		return nil
	}
	if tc.Table == "" || tc.Version < 1 {
		return fmt.Errorf("pointers: TableCommitted %s: table %q version %d: %w",
			tc.Envelope.EventID, tc.Table, tc.Version, projections.ErrInvariant)
	}
	cur, err := current(s, tc.Table)
	if err != nil {
		return err
	}
	switch {
	case tc.Version <= cur:
		return nil // a duplicate, or the loser of a race for the version
	case tc.Version > cur+1:
		return fmt.Errorf("pointers: table %s is at version %d, TableCommitted %s has version %d: %w",
			tc.Table, cur, tc.Envelope.EventID, tc.Version, projections.ErrInvariant)
	}
	p := Pointer{
		Table: tc.Table, Version: tc.Version, MetadataLocation: tc.MetadataLocation, SnapshotID: tc.SnapshotID,
		SchemaID: tc.SchemaID, RowsTotal: tc.RowsTotal, EventID: tc.Envelope.EventID,
		CommittedAt: tc.Envelope.OccurredAt.UTC(),
	}
	if tc.BatchID != nil {
		p.BatchID = *tc.BatchID
	}
	if tc.JobID != nil {
		p.JobID = *tc.JobID
	}
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("pointers: encode %s v%d: %w", p.Table, p.Version, err)
	}
	ver := binary.BigEndian.AppendUint64(nil, uint64(p.Version))
	if err := s.Set(versionKey(p.Table, p.Version), b); err != nil {
		return err
	}
	if p.BatchID != "" {
		if err := s.Set([]byte(prefixBatch+p.Table+"\x00"+p.BatchID), ver); err != nil {
			return err
		}
	}
	return s.Set([]byte(prefixCurrent+p.Table), ver)
}

func versionKey(table string, version int64) []byte {
	return binary.BigEndian.AppendUint64([]byte(prefixVersion+table+"\x00"), uint64(version))
}

func current(s projections.Store, table string) (int64, error) {
	v, ok, err := s.Get([]byte(prefixCurrent + table))
	if err != nil || !ok {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("pointers: corrupt current version of %s", table)
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}

// Scanner reads committed state from every scope, as (*state.Store).ScanAll
// does. The type parameter lets *state.Store satisfy it without this package
// importing package state.
type Scanner[S any] interface {
	ScanAll(prefix []byte, fn func(scope S, key, value []byte) error) error
}

// Current returns the latest version of table; ok is false if it has none.
func Current[S any](st Scanner[S], table string) (p Pointer, ok bool, err error) {
	var latest int64
	err = st.ScanAll([]byte(prefixCurrent+table), func(_ S, key, value []byte) error {
		if string(key) == prefixCurrent+table && len(value) == 8 {
			latest = max(latest, int64(binary.BigEndian.Uint64(value)))
		}
		return nil
	})
	if err != nil || latest == 0 {
		return Pointer{}, false, err
	}
	return At(st, table, latest)
}

// At returns the given version of table; ok is false if there is none.
func At[S any](st Scanner[S], table string, version int64) (p Pointer, ok bool, err error) {
	key := versionKey(table, version)
	err = st.ScanAll(key, func(_ S, k, value []byte) error {
		if string(k) != string(key) || ok {
			return nil
		}
		if err := json.Unmarshal(value, &p); err != nil {
			return fmt.Errorf("pointers: corrupt %s v%d: %w", table, version, err)
		}
		ok = true
		return nil
	})
	return p, ok, err
}

// Versions returns every version of table, oldest first.
func Versions[S any](st Scanner[S], table string) ([]Pointer, error) {
	var out []Pointer
	err := st.ScanAll([]byte(prefixVersion+table+"\x00"), func(_ S, _, value []byte) error {
		var p Pointer
		if err := json.Unmarshal(value, &p); err != nil {
			return fmt.Errorf("pointers: corrupt version of %s: %w", table, err)
		}
		out = append(out, p)
		return nil
	})
	slices.SortFunc(out, func(a, b Pointer) int { return cmp.Compare(a.Version, b.Version) })
	return slices.CompactFunc(out, func(a, b Pointer) bool { return a.Version == b.Version }), err
}

// Tables returns the names of every table with a version, sorted.
func Tables[S any](st Scanner[S]) ([]string, error) {
	var out []string
	err := st.ScanAll([]byte(prefixCurrent), func(_ S, key, _ []byte) error {
		out = append(out, string(key[len(prefixCurrent):]))
		return nil
	})
	slices.Sort(out)
	return slices.Compact(out), err
}

// HasBatch reports whether a version of table was committed by batchID.
func HasBatch[S any](st Scanner[S], table, batchID string) (bool, error) {
	key := prefixBatch + table + "\x00" + batchID
	found := false
	err := st.ScanAll([]byte(key), func(_ S, k, _ []byte) error {
		found = found || string(k) == key
		return nil
	})
	return found, err
}
