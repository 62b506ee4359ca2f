// Package feeds is the mesh's feed definitions as the log has them, followed
// live: the definitions projection (projections/definitions) folded by a
// view (host.View) into an in-memory store that catches up with the log
// whenever a processor asks. The processors that ingest files — the
// watcher, the spool, the planner and the loader — read their feeds from
// it, never from a mesh file: a feed applied, changed or retired on a
// running platform takes effect at their next catch-up, with no restart.
//
// A feed is rebuilt whole from its FeedDefined (mesh.FeedFromEvent), and
// every version of it stays readable by its definition hash, so a batch
// is loaded with exactly the definition it was planned with, whatever was
// applied since.
//
// Landed keys are matched against the live feeds in name order (the log
// keeps no declaration order; `logmesh apply` refuses feeds of different
// domains whose patterns overlap). A key under the pattern of a retired
// feed is explained by the retirement.
package feeds

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/mesh"
	"github.com/logmesh/logmesh/processors/host"
	"github.com/logmesh/logmesh/processors/proc"
	"github.com/logmesh/logmesh/projections/definitions"
	"github.com/logmesh/logmesh/state"
)

// View is the live feed definitions. Create it with New; it reads nothing
// until the first CatchUp. Its methods are safe for concurrent use; Close
// releases it.
type View struct {
	log *slog.Logger

	mu       sync.Mutex
	store    *state.Store
	view     *host.View
	built    bool
	current  *mesh.Mesh                     // the live feeds, by name
	hashes   map[string]string              // live feed → the definition hash its event recorded
	retired  []retiredFeed                  // retired feeds of landed files, by name
	products map[string]definitions.Product // live products, by name
	versions map[string]*mesh.Feed          // name 0x00 hash → the feed of that version
	closed   bool
}

type retiredFeed struct {
	name, table, pattern, reason, hash string
	at                                 time.Time
}

// New returns a view of the definitions on every domain's bus of the
// installation named by pc.Topics, read through pc.Conn; pc.Group and
// pc.Clock are not used (the view consumes in no group).
func New(pc proc.Config, codec *events.Codec) (*View, error) {
	cfg := pc.WithDefaults("")
	if codec == nil {
		return nil, errors.New("feeds: nil codec")
	}
	st, err := state.Open("", &state.Options{FS: vfs.NewMem(), Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	proj := definitions.Projection{}
	hv, err := host.NewView(proj, st, codec, cfg.Conn, proj.Topics(cfg.Topics), host.Sync(false),
		host.Logger(cfg.Logger), host.ClientOpts(cfg.ClientOpts...))
	if err != nil {
		st.Close()
		return nil, err
	}
	return &View{log: cfg.Logger.With("view", "feeds"), store: st, view: hv, current: &mesh.Mesh{},
		hashes: map[string]string{}, products: map[string]definitions.Product{}, versions: map[string]*mesh.Feed{}}, nil
}

// CatchUp folds what was committed on the definitions' topics since the
// last call and, if anything changed, rebuilds the live feeds.
func (v *View) CatchUp(ctx context.Context) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.catchUp(ctx)
}

func (v *View) catchUp(ctx context.Context) error {
	if v.closed {
		return errors.New("feeds: closed")
	}
	prog, err := v.view.CatchUp(ctx)
	if err != nil {
		return fmt.Errorf("feeds: definitions: %w", err)
	}
	if prog.Changed == 0 && v.built {
		return nil
	}
	return v.rebuild()
}

// rebuild reads the live feeds and products from the store. A feed whose
// event does not decode into a feed is left out and logged: it cannot be
// loaded, and files under its pattern stay UNMATCHED with that reason.
func (v *View) rebuild() error {
	all, err := definitions.All(v.store)
	if err != nil {
		return err
	}
	m, hashes := &mesh.Mesh{}, map[string]string{}
	var retired []retiredFeed
	products := map[string]definitions.Product{}
	for k, d := range all {
		switch {
		case k.Kind == definitions.KindFeed && d.Feed != nil && d.Retired:
			retired = append(retired, retiredFeed{name: k.Name, table: d.Feed.Table, pattern: d.Feed.KeyPattern,
				reason: d.Reason, hash: d.Hash, at: d.At})
		case k.Kind == definitions.KindFeed && d.Feed != nil:
			f, err := mesh.FeedFromEvent(d.Feed)
			if err != nil {
				v.log.Error("a feed definition on the log does not decode; its files are not loaded", "feed", k.Name, "err", err)
				continue
			}
			m.Feeds = append(m.Feeds, f)
			hashes[k.Name] = d.Hash
		case k.Kind == definitions.KindProduct && d.Product != nil && !d.Retired:
			products[k.Name] = *d.Product
		}
	}
	slices.SortFunc(m.Feeds, func(a, b mesh.Feed) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortFunc(retired, func(a, b retiredFeed) int { return cmp.Compare(a.name, b.name) })
	v.current, v.hashes, v.retired, v.products, v.built = m, hashes, retired, products, true
	return nil
}

// Mesh returns the live feeds as a mesh (feeds only), as of the last
// CatchUp. The mesh is shared: the caller must not modify it.
func (v *View) Mesh() *mesh.Mesh {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.current
}

// Match returns the live feed whose key pattern matches key, and its table.
func (v *View) Match(key string) (feed, table string, ok bool) {
	f, ok := v.Mesh().FeedFor(key)
	if !ok {
		return "", "", false
	}
	return f.Name, f.Table, true
}

// Unmatched explains why no live feed matches key: a retired feed's
// pattern that matches it comes first, then the live patterns with their
// hints (mesh.Mesh.Unmatched).
func (v *View) Unmatched(key string) string {
	v.mu.Lock()
	m, retired := v.current, v.retired
	v.mu.Unlock()
	var b strings.Builder
	for _, r := range retired {
		if r.pattern != "" && mesh.MatchKey(r.pattern, key) {
			fmt.Fprintf(&b, "feed %s, whose pattern %s matches key %q, was retired at %s", r.name, r.pattern, key,
				r.at.Format(time.RFC3339))
			if r.reason != "" {
				fmt.Fprintf(&b, " (%s)", r.reason)
			}
			b.WriteString("; ")
			break
		}
	}
	b.WriteString(m.Unmatched(key))
	return b.String()
}

// Feed returns the definition of feed name whose definition hash is hash,
// or its latest live definition for hash "". A version the view has not
// seen makes it catch up once; ok is false if the log does not hold it.
// The feed is shared: the caller must not modify it.
func (v *View) Feed(ctx context.Context, name, hash string) (f *mesh.Feed, ok bool, err error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if hash == "" {
		if !v.built {
			if err := v.catchUp(ctx); err != nil {
				return nil, false, err
			}
		}
		f, ok := v.current.Feed(name)
		return f, ok, nil
	}
	k := name + "\x00" + hash
	if f, ok := v.versions[k]; ok {
		return f, true, nil
	}
	for caughtUp := false; ; caughtUp = true {
		d, ok, err := definitions.FeedVersion(v.store, name, hash)
		if err != nil {
			return nil, false, err
		}
		if ok && d.Feed != nil {
			f, err := mesh.FeedFromEvent(d.Feed)
			if err != nil {
				return nil, false, err
			}
			v.versions[k] = &f
			return &f, true, nil
		}
		if caughtUp {
			return nil, false, nil
		}
		if err := v.catchUp(ctx); err != nil {
			return nil, false, err
		}
	}
}

// Limits returns the batch limits of table's live feed; ok is false if no
// live feed loads table.
func (v *View) Limits(table string) (maxFiles int, maxBytes int64, ok bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, f := range v.current.Feeds {
		if f.Table == table {
			return f.Batch.MaxFiles, f.Batch.MaxBytes, true
		}
	}
	return 0, 0, false
}

// Hash returns the definition hash of feed's latest definition, live or
// retired (files landed before a feed was retired are still loaded with
// its last definition); ok is false if the log has none.
func (v *View) Hash(feed string) (hash string, ok bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if h, ok := v.hashes[feed]; ok {
		return h, true
	}
	for _, r := range v.retired {
		if r.name == feed {
			return r.hash, true
		}
	}
	return "", false
}

// Visibility returns the visibility of the live product named product
// (a feed's table is its source-aligned product), and ok false if none.
func (v *View) Visibility(product string) (string, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	p, ok := v.products[product]
	return p.Visibility, ok
}

// TopicFeeds returns the live feeds that read an upstream topic, by name.
func (v *View) TopicFeeds() []mesh.Feed {
	var out []mesh.Feed
	for _, f := range v.Mesh().Feeds {
		if f.Topic != "" {
			out = append(out, f)
		}
	}
	return out
}

// Close releases the view. It is idempotent.
func (v *View) Close() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return nil
	}
	v.closed = true
	v.view.Close()
	return v.store.Close()
}
