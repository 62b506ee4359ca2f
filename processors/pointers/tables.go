package pointers

import (
	"context"
	"log/slog"
	"sync"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/processors/host"
	"github.com/logmesh/logmesh/processors/proc"
	ptrproj "github.com/logmesh/logmesh/projections/pointers"
	"github.com/logmesh/logmesh/state"
	"github.com/logmesh/logmesh/tables"
)

// Tables is the table writer of a processor on the transactional loop (the
// loader, the runner): a catalog whose pointers are the log's TableCommitted
// events, held in memory by a view, and whose commits are collected to be
// produced in the processor's transaction. After the transaction commits,
// Own applies them at once, so the next write reads its own commits.
// Not safe for concurrent use, except Catalog's reads.
type Tables struct {
	// Catalog writes and reads the tables.
	Catalog *tables.Catalog

	log     *slog.Logger
	ptrs    *Pointers
	view    *host.View
	commits *collector
	once    sync.Once
}

// OpenTables returns the table writer over wh.
//
// It reads through pc.Conn, with pc.ClientOpts and pc.Logger; pc.Clock is
// the clock of the table commits, and pc.Group is not used. Unset fields
// take proc's defaults.
func OpenTables(pc proc.Config, wh *tables.Warehouse, codec *events.Codec) (*Tables, error) {
	pc = pc.WithDefaults("")
	conn, names, clock, logger := pc.Conn, pc.Topics, pc.Clock, pc.Logger
	st, err := state.Open("", &state.Options{FS: vfs.NewMem(), Logger: logger})
	if err != nil {
		return nil, err
	}
	t := &Tables{log: logger, ptrs: &Pointers{st: st}, commits: &collector{}}
	proj := ptrproj.Projection{}
	if t.view, err = host.NewView(proj, st, codec, conn, proj.Topics(names), host.Sync(false),
		host.Logger(logger), host.ClientOpts(pc.ClientOpts...)); err != nil {
		st.Close()
		return nil, err
	}
	if t.Catalog, err = tables.NewCatalog(wh, t.ptrs, t.commits, tables.Clock(clock)); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

// CatchUp reads the TableCommitted events appended since the last call.
func (t *Tables) CatchUp(ctx context.Context) error {
	_, err := t.view.CatchUp(ctx)
	return err
}

// HasBatch reports whether a version of table carries batchID.
func (t *Tables) HasBatch(table, batchID string) (bool, error) {
	return ptrproj.HasBatch(t.ptrs.st, table, batchID)
}

// Current returns table's current version.
func (t *Tables) Current(ctx context.Context, table string) (tables.Pointer, bool, error) {
	return t.ptrs.Current(ctx, table)
}

// At returns version of table.
func (t *Tables) At(ctx context.Context, table string, version int64) (tables.Pointer, bool, error) {
	return t.ptrs.At(ctx, table, version)
}

// Take returns the commits of the writes since the last Take, and forgets
// them: the caller produces them in its transaction.
func (t *Tables) Take() []*events.TableCommitted { return t.commits.take() }

// Own applies the records a committed transaction produced, so the
// pointers include the transaction's own commits before the view reads
// them back. On failure the pointers are read again from the log.
func (t *Tables) Own(ctx context.Context, produced []*kgo.Record) {
	if err := t.view.Own(ctx, produced); err != nil {
		t.log.Error("table pointers out of step with a committed transaction; rereading them", "err", err)
		t.Reset()
	}
}

// Reset forgets the pointers; the next CatchUp reads them from the start.
func (t *Tables) Reset() {
	t.view.Reset()
	if err := t.ptrs.reset(); err != nil {
		t.log.Error("resetting table pointers", "err", err)
	}
}

// Close releases the view and the in-memory store. It is idempotent.
func (t *Tables) Close() {
	t.once.Do(func() {
		t.view.Close()
		_ = t.ptrs.st.Close()
	})
}

// collector is the catalog's Committer: it keeps the TableCommitted events
// of the write in progress, which the processor produces in its
// transaction.
type collector struct {
	mu  sync.Mutex
	evs []*events.TableCommitted
}

func (c *collector) Commit(_ context.Context, ev *events.TableCommitted) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.evs = append(c.evs, ev)
	return nil
}

func (c *collector) take() []*events.TableCommitted {
	c.mu.Lock()
	defer c.mu.Unlock()
	evs := c.evs
	c.evs = nil
	return evs
}
