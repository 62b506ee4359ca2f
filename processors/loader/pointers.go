package loader

import (
	"context"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkaconn"
	"github.com/logmesh/logmesh/tables"
	"github.com/logmesh/logmesh/processors/host"
	"github.com/logmesh/logmesh/projections"
	"github.com/logmesh/logmesh/projections/pointers"
	"github.com/logmesh/logmesh/state"
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
	ptr, ok, err := pointers.Current(p.st, table)
	return tablePointer(ptr), ok, err
}

// At implements tables.Pointers.
func (p *Pointers) At(_ context.Context, table string, version int64) (tables.Pointer, bool, error) {
	ptr, ok, err := pointers.At(p.st, table, version)
	return tablePointer(ptr), ok, err
}

// Tables implements tables.Lister.
func (p *Pointers) Tables(context.Context) ([]string, error) { return pointers.Tables(p.st) }

// Versions returns every version of table, oldest first.
func (p *Pointers) Versions(table string) ([]pointers.Pointer, error) {
	return pointers.Versions(p.st, table)
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

func tablePointer(p pointers.Pointer) tables.Pointer {
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
	var proj projections.Projection = pointers.Projection{}
	if !at.IsZero() {
		proj = projections.AsOf{Projection: proj, At: at}
	}
	if _, err := host.Replay(ctx, proj, st, codec, conn, proj.Topics(names), host.Sync(false)); err != nil {
		st.Close()
		return nil, err
	}
	return &Pointers{st: st}, nil
}

func header(r *kgo.Record, key string) []byte {
	for _, h := range r.Headers {
		if h.Key == key {
			return h.Value
		}
	}
	return nil
}

// splitTable splits "domain.table".
func splitTable(name string) (domain, table string, ok bool) {
	domain, table, ok = strings.Cut(name, ".")
	return domain, table, ok && domain != "" && table != ""
}
