package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkaconn"
	"github.com/logmesh/logmesh/processors/host"
	"github.com/logmesh/logmesh/projections"
	"github.com/logmesh/logmesh/projections/orchestration"
	"github.com/logmesh/logmesh/state"
)

// PendingQuery asks what a product's trigger waits for.
type PendingQuery struct {
	// Product is domain.name; its owner's inbox is read.
	Product string
	// At is the moment: the inbox is folded up to the facts that occurred
	// until then. Zero means the whole log, weighed at Now.
	At time.Time
	// Now is the moment for a zero At; zero means time.Now.
	Now time.Time
	// ClientOpts are added to the reading client's.
	ClientOpts []kgo.Opt
	// Logger logs the read; nil discards.
	Logger *slog.Logger
}

// Pending folds the orchestration projection over the product's owner's
// inbox (through host.View, the shared read path) into a store in memory,
// as of q.At, and returns orchestration.PendingAt for the product; ok is
// false if the owner's orchestrator has not seen the product (a feed's
// product, or one never published).
func Pending(ctx context.Context, conn kafkaconn.Conn, dec host.Decoder, topics events.Topics, q PendingQuery) (orchestration.Pending, bool, error) {
	owner, _, ok := strings.Cut(q.Product, ".")
	if !ok || owner == "" {
		return orchestration.Pending{}, false, fmt.Errorf("orchestrator: %q is not domain.name", q.Product)
	}
	logger := q.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	st, err := state.Open("", &state.Options{FS: vfs.NewMem(), DisableWAL: true, Logger: logger})
	if err != nil {
		return orchestration.Pending{}, false, err
	}
	defer st.Close()
	var proj projections.Projection = orchestration.Projection{}
	at := q.At
	if !at.IsZero() {
		proj = projections.AsOf{Projection: proj, At: at}
	} else if at = q.Now; at.IsZero() {
		at = time.Now()
	}
	v, err := host.NewView(proj, st, dec, conn, events.TopicNames(topics.Inbox(owner)), host.Sync(false),
		host.Logger(logger), host.ClientOpts(q.ClientOpts...))
	if err != nil {
		return orchestration.Pending{}, false, err
	}
	defer v.Close()
	if _, err := v.CatchUp(ctx); err != nil {
		return orchestration.Pending{}, false, fmt.Errorf("orchestrator: folding %s: %w", topics.Inbox(owner), err)
	}
	// The router keys the inbox by domain, so the product's state is in
	// one partition; find it.
	key := orchestration.ProductKey(q.Product)
	var where *state.TopicPartition
	if err := st.ScanAll(key, func(tp state.TopicPartition, k, _ []byte) error {
		if string(k) == string(key) {
			where = &tp
		}
		return nil
	}); err != nil {
		return orchestration.Pending{}, false, err
	}
	if where == nil {
		return orchestration.Pending{}, false, nil
	}
	p, ok, err := orchestration.Get(partition{st, *where}, q.Product)
	if err != nil || !ok {
		return orchestration.Pending{}, false, err
	}
	return orchestration.PendingAt(p, at), true, nil
}

// partition reads one partition of a store, for orchestration.Get.
type partition struct {
	st *state.Store
	tp state.TopicPartition
}

func (p partition) Get(key []byte) ([]byte, bool, error) {
	return p.st.Get(p.tp.Topic, p.tp.Partition, key)
}
func (partition) Set([]byte, []byte) error { return errors.New("orchestrator: read-only") }
func (partition) Delete([]byte) error      { return errors.New("orchestrator: read-only") }
