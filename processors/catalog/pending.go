package catalog

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/logmesh/logmesh/processors/orchestrator"
	"github.com/logmesh/logmesh/state"
)

// productPending answers GET /v1/products/{product}/pending: what the
// product's trigger waits for ("why not yet"), from its owner's inbox
// folded as of as_of (now without it). Who may see the product may ask,
// as for GET /v1/products/{product}, judged at the same moment.
func (s *Server) productPending(ctx context.Context, w http.ResponseWriter, r *http.Request, principal string) error {
	name := r.PathValue("product")
	var (
		at    time.Time
		pos   map[state.TopicPartition]int64
		owner string
	)
	if err := s.read(ctx, r, func(sn *snapshot) error {
		d, err := s.visibleProduct(ctx, sn, principal, name)
		if err != nil {
			return err
		}
		if d.Product.Kind != "consumer-aligned" {
			return fmt.Errorf("product %s is %s: its feed loads it, no trigger runs it: %w", name, d.Product.Kind, ErrNotFound)
		}
		if r.URL.Query().Get("as_of") != "" {
			at = sn.at // the as_of time, or the latest fact's of a position
		}
		pos, owner = sn.pos, d.Product.Owner
		return nil
	}); err != nil {
		return err
	}
	p, ok, err := orchestrator.Pending(ctx, s.conn, s.codec, s.cfg.Topics, orchestrator.PendingQuery{
		Product: name, At: at, Now: s.cfg.Clock(), ClientOpts: s.cfg.ClientOpts, Logger: s.cfg.Logger})
	if err != nil {
		return fmt.Errorf("catalog: %w", err)
	}
	if !ok {
		return fmt.Errorf("product %s is not on %s yet (the router has not delivered its definition): %w",
			name, s.cfg.Topics.Inbox(owner), ErrNotFound)
	}
	w.Header().Set(PositionHeader, Position(pos))
	writeJSON(w, http.StatusOK, p)
	return nil
}
