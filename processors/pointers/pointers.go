// Package pointers is the live table pointers that the processors writing
// tables (the loader, the runner) and the CLI share: the pointers
// projection (projections/pointers) held in a store and served as the
// table catalog's pointers, and the table writer of a processor on the
// transactional loop (Tables).
package pointers

import (
	"context"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkaconn"
	"github.com/logmesh/logmesh/processors/host"
	"github.com/logmesh/logmesh/projections"
	ptrproj "github.com/logmesh/logmesh/projections/pointers"
	"github.com/logmesh/logmesh/state"
	"github.com/logmesh/logmesh/tables"
)

// Pointers serves the pointers projection held in a store as the table
// catalog's tables.Pointers and tables.Lister. Safe for concurrent use.
type Pointers struct{ st *state.Store }

var (
	_ tables.Pointers = (*Pointers)(nil)
	_ tables.Lister   = (*Pointers)(nil)
)

// Current implements tables.Pointers.
func (p *Pointers) Current(_ context.Context, table string) (tables.Pointer, bool, error) {
	ptr, ok, err := ptrproj.Current(p.st, table)
	return tablePointer(ptr), ok, err
}

// At implements tables.Pointers.
func (p *Pointers) At(_ context.Context, table string, version int64) (tables.Pointer, bool, error) {
	ptr, ok, err := ptrproj.At(p.st, table, version)
	return tablePointer(ptr), ok, err
}

// Tables implements tables.Lister.
func (p *Pointers) Tables(context.Context) ([]string, error) { return ptrproj.Tables(p.st) }

// Versions returns every version of table, oldest first.
func (p *Pointers) Versions(table string) ([]ptrproj.Pointer, error) {
	return ptrproj.Versions(p.st, table)
}

// Close releases the store of pointers made by ReadPointers.
func (p *Pointers) Close() error { return p.st.Close() }

func (p *Pointers) reset() error {
	parts, err := p.st.Partitions()
	if err != nil {
		return err
	}
	for _, tp := range parts {
		if err := p.st.ResetScope(tp.Topic, tp.Partition); err != nil {
			return err
		}
	}
	return nil
}

func tablePointer(p ptrproj.Pointer) tables.Pointer {
	return tables.Pointer{Version: p.Version, MetadataLocation: p.MetadataLocation, SnapshotID: p.SnapshotID}
}

// ReadPointers folds every TableCommitted of every domain committed so far
// into an in-memory store: the table catalog as the log has it now. The
// caller closes the result.
func ReadPointers(ctx context.Context, conn kafkaconn.Conn, codec *events.Codec, names events.Topics) (*Pointers, error) {
	return ReadPointersAt(ctx, conn, codec, names, time.Time{})
}

// ReadPointersAt is ReadPointers as of at (the zero time for now): the
// versions committed until then.
func ReadPointersAt(ctx context.Context, conn kafkaconn.Conn, codec *events.Codec, names events.Topics, at time.Time) (*Pointers, error) {
	st, err := state.Open("", &state.Options{FS: vfs.NewMem()})
	if err != nil {
		return nil, err
	}
	var proj projections.Projection = ptrproj.Projection{}
	if !at.IsZero() {
		proj = projections.AsOf{Projection: proj, At: at}
	}
	if _, err := host.Replay(ctx, proj, st, codec, conn, proj.Topics(names), host.Sync(false)); err != nil {
		st.Close()
		return nil, err
	}
	return &Pointers{st: st}, nil
}
