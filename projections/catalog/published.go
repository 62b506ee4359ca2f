package catalog

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/projections"
)

// prefixPublished keys the definitions a product was published with:
// pd/<product> → Published JSON.
const prefixPublished = "pd/"

// Published is every ProductPublished of one product, oldest first: its
// contract, transform and schema as they stood after each apply.
type Published struct {
	Versions []*events.ProductPublished `json:"versions"`
}

func applyPublished(s projections.Store, ev events.Event) error {
	e, ok := ev.(*events.ProductPublished)
	if !ok {
		return nil
	}
	return update(s, []byte(prefixPublished+e.Product), func(p *Published) {
		// A redelivered event is folded once.
		if !slices.ContainsFunc(p.Versions, func(v *events.ProductPublished) bool { return v.Envelope.EventID == e.Envelope.EventID }) {
			p.Versions = append(p.Versions, e)
		}
	})
}

// PublishedOf returns the definitions product was published with, oldest
// first, merged over the scopes they were folded in; none if it was never
// published.
func PublishedOf[S any](st Scanner[S], product string) ([]*events.ProductPublished, error) {
	var out []*events.ProductPublished
	key := prefixPublished + product
	err := st.ScanAll([]byte(key), func(_ S, k, v []byte) error {
		if string(k) != key {
			return nil // another product whose name starts with this one's
		}
		var p Published
		if err := json.Unmarshal(v, &p); err != nil {
			return fmt.Errorf("catalog: corrupt %s: %w", k, err)
		}
		for _, e := range p.Versions {
			if !slices.ContainsFunc(out, func(o *events.ProductPublished) bool { return o.Envelope.EventID == e.Envelope.EventID }) {
				out = append(out, e)
			}
		}
		return nil
	})
	slices.SortStableFunc(out, func(a, b *events.ProductPublished) int {
		return cmp.Or(a.Envelope.OccurredAt.Compare(b.Envelope.OccurredAt), cmp.Compare(a.Envelope.EventID, b.Envelope.EventID))
	})
	return out, err
}
