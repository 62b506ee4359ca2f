package tables

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/apache/iceberg-go/table"

	"github.com/logmesh/logmesh/events"
)

// Pointer is the state of one table version, as a TableCommitted event
// recorded it.
type Pointer struct {
	// Version is the table version, 1 for the first commit.
	Version int64
	// MetadataLocation is the Iceberg metadata JSON of the version.
	MetadataLocation string
	// SnapshotID is the current snapshot of the version, 0 if none.
	SnapshotID int64
}

// Pointers answers where each table's metadata is. It is the read side of
// the event-sourced catalog: a projection of TableCommitted events. Table
// names are "domain.table".
//
// Implementations must be safe for concurrent use and must reflect a
// commit once the Committer that made it returns (read your own writes):
// a host that produces TableCommitted to Kafka applies the event to its
// local projection before Commit returns.
type Pointers interface {
	// Current returns the latest version of a table; ok is false if the
	// table has no commit.
	Current(ctx context.Context, table string) (p Pointer, ok bool, err error)
	// At returns the given version of a table; ok is false if the table
	// has no such version.
	At(ctx context.Context, table string, version int64) (p Pointer, ok bool, err error)
}

// Lister is an optional capability of a Pointers: listing the tables that
// have at least one commit. Catalog.ListTables and ListNamespaces need it.
type Lister interface {
	// Tables returns the names ("domain.table") of all tables, sorted.
	Tables(ctx context.Context) ([]string, error)
}

// Committer records a commit. The commit is durable when Commit returns
// nil (the production implementation produces the event to Kafka and waits
// for the acknowledgement). It may fill in envelope fields it knows better,
// such as CausationID. A Committer that can detect a concurrent commit
// returns an error wrapping ErrStalePointer.
type Committer interface {
	Commit(ctx context.Context, ev *events.TableCommitted) error
}

var (
	// ErrStalePointer reports a commit made against a table version that is
	// no longer current: another commit moved the pointer first. It wraps
	// table.ErrCommitFailed, so iceberg-go treats it as a retryable
	// conflict; tables this package creates disable iceberg-go's automatic
	// retries, so the caller sees it.
	ErrStalePointer = fmt.Errorf("tables: table pointer moved: %w", table.ErrCommitFailed)
	// ErrVersionGap reports a TableCommitted event that skips versions.
	ErrVersionGap = errors.New("tables: version gap in TableCommitted events")
	// ErrUnsupported reports a catalog operation logmesh does not offer.
	ErrUnsupported = errors.New("tables: operation not supported")
)

// MemPointers is an in-memory Pointers, Lister and Committer: the test
// double for the event-sourced catalog, and the fold a host uses to turn
// TableCommitted events into pointers. It keeps every version of every
// table, and the events committed through it. Safe for concurrent use.
type MemPointers struct {
	mu        sync.Mutex
	versions  map[string][]Pointer // versions[t][v-1]
	batches   map[string]bool      // table + "\x00" + batch id of every applied version
	committed []*events.TableCommitted
}

var (
	_ Pointers  = (*MemPointers)(nil)
	_ Lister    = (*MemPointers)(nil)
	_ Committer = (*MemPointers)(nil)
)

// NewMemPointers returns an empty MemPointers.
func NewMemPointers() *MemPointers {
	return &MemPointers{versions: map[string][]Pointer{}, batches: map[string]bool{}}
}

// Reset forgets every table, as if no event had been applied.
func (m *MemPointers) Reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.versions, m.batches, m.committed = map[string][]Pointer{}, map[string]bool{}, nil
}

// HasBatch reports whether a version of table was committed by batchID.
func (m *MemPointers) HasBatch(table, batchID string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.batches[table+"\x00"+batchID]
}

// Current implements Pointers.
func (m *MemPointers) Current(_ context.Context, table string) (Pointer, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	vs := m.versions[table]
	if len(vs) == 0 {
		return Pointer{}, false, nil
	}
	return vs[len(vs)-1], true, nil
}

// At implements Pointers.
func (m *MemPointers) At(_ context.Context, table string, version int64) (Pointer, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	vs := m.versions[table]
	if version < 1 || version > int64(len(vs)) {
		return Pointer{}, false, nil
	}
	return vs[version-1], true, nil
}

// Tables implements Lister.
func (m *MemPointers) Tables(context.Context) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, 0, len(m.versions))
	for t := range m.versions {
		out = append(out, t)
	}
	sort.Strings(out)
	return out, nil
}

// Commit implements Committer: it applies ev if ev.Version is exactly the
// next version of its table, and otherwise returns an error wrapping
// ErrStalePointer. A copy of ev is kept (see Committed).
func (m *MemPointers) Commit(_ context.Context, ev *events.TableCommitted) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if next := int64(len(m.versions[ev.Table])) + 1; ev.Version != next {
		return fmt.Errorf("%w: table %s is at version %d, commit is version %d",
			ErrStalePointer, ev.Table, next-1, ev.Version)
	}
	m.apply(ev)
	cp := *ev
	m.committed = append(m.committed, &cp)
	return nil
}

// Apply folds one TableCommitted event, as a host consuming the log does.
// A version already applied is ignored (re-delivery); a version beyond
// the next returns ErrVersionGap and changes nothing.
func (m *MemPointers) Apply(ev *events.TableCommitted) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	next := int64(len(m.versions[ev.Table])) + 1
	switch {
	case ev.Version < next:
		return nil
	case ev.Version > next:
		return fmt.Errorf("%w: table %s at version %d, event has version %d", ErrVersionGap, ev.Table, next-1, ev.Version)
	}
	m.apply(ev)
	return nil
}

func (m *MemPointers) apply(ev *events.TableCommitted) {
	if ev.BatchID != nil && *ev.BatchID != "" {
		m.batches[ev.Table+"\x00"+*ev.BatchID] = true
	}
	m.versions[ev.Table] = append(m.versions[ev.Table], Pointer{
		Version: ev.Version, MetadataLocation: ev.MetadataLocation, SnapshotID: ev.SnapshotID,
	})
}

// Committed returns copies of the events committed through Commit, in
// order. Apply does not add to it.
func (m *MemPointers) Committed() []*events.TableCommitted {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*events.TableCommitted, len(m.committed))
	for i, ev := range m.committed {
		cp := *ev
		out[i] = &cp
	}
	return out
}

// splitName splits "domain.table" into its two parts.
func splitName(name string) (domain, tbl string, err error) {
	domain, tbl, ok := strings.Cut(name, ".")
	if !ok || domain == "" || tbl == "" || strings.Contains(tbl, ".") || strings.ContainsAny(name, "/\\") ||
		slices.Contains([]string{".", ".."}, domain) {
		return "", "", fmt.Errorf("%w: table name %q is not domain.table", ErrBadName, name)
	}
	return domain, tbl, nil
}

// ErrBadName reports a table name that is not "domain.table".
var ErrBadName = errors.New("tables: bad table name")
