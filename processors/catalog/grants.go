package catalog

import (
	"errors"
	"fmt"
	"time"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/projections/definitions"
)

// Errors of Share and Unshare, for the status a caller answers with.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
	ErrInvalid  = errors.New("invalid")
)

// ShareRequest asks for a grant of Product to Grantee.
type ShareRequest struct {
	Product   string     `json:"product"`
	Grantee   string     `json:"grantee"`
	Purpose   string     `json:"purpose,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// Share checks a grant against the definitions all (at time now) and
// returns the ShareGranted that makes it, granted by by. Who may grant is
// the caller's to decide (Rules.Grant); Share checks what may be granted:
// a known enterprise-visible product, to a known domain other than its
// owner, not already granted.
func Share(all map[definitions.Key]definitions.Definition, req ShareRequest, by string, now time.Time) (*events.ShareGranted, error) {
	d, ok := all[definitions.Key{Kind: definitions.KindProduct, Name: req.Product}]
	if !ok || d.Retired || d.Product == nil {
		return nil, fmt.Errorf("unknown product %q: %w", req.Product, ErrNotFound)
	}
	p := d.Product
	switch dom, ok := all[definitions.Key{Kind: definitions.KindDomain, Name: req.Grantee}]; {
	case p.Visibility != events.VisibilityEnterprise:
		return nil, fmt.Errorf("product %s is visible to domain %s only; grants need visibility: enterprise: %w", req.Product, p.Owner, ErrInvalid)
	case req.Grantee == p.Owner:
		return nil, fmt.Errorf("domain %s owns %s already: %w", req.Grantee, req.Product, ErrInvalid)
	case !ok || dom.Retired:
		return nil, fmt.Errorf("unknown domain %q: %w", req.Grantee, ErrNotFound)
	case req.ExpiresAt != nil && !req.ExpiresAt.After(now):
		return nil, fmt.Errorf("the grant would expire at %s, before now: %w", req.ExpiresAt.Format(time.RFC3339), ErrInvalid)
	}
	if cur, ok := all[definitions.Key{Kind: definitions.KindGrant, Name: definitions.GrantName(req.Product, req.Grantee)}]; ok && !cur.Retired &&
		cur.Grant != nil && cur.Grant.Live(now) {
		return nil, fmt.Errorf("%s is already granted to %s (by %s): %w", req.Product, req.Grantee, cur.Grant.GrantedBy, ErrConflict)
	}
	id := events.DeriveID("grant", req.Product, req.Grantee)
	ev := &events.ShareGranted{
		Envelope: events.Envelope{EventID: events.NewID(), OccurredAt: now.UTC().Truncate(time.Microsecond), Domain: events.DomainCentral,
			CorrelationID: id},
		GrantID: id, Product: req.Product, OwnerDomain: p.Owner, GranteeDomain: req.Grantee, GrantedBy: by,
	}
	if req.ExpiresAt != nil {
		t := req.ExpiresAt.UTC().Truncate(time.Microsecond)
		ev.ExpiresAt = &t
	}
	if req.Purpose != "" {
		ev.Purpose = &req.Purpose
	}
	return ev, nil
}

// Unshare returns the ShareRevoked that ends product's grant to grantee,
// revoked by by, or why there is none to end.
func Unshare(all map[definitions.Key]definitions.Definition, product, grantee, by, reason string, now time.Time) (*events.ShareRevoked, error) {
	d, ok := all[definitions.Key{Kind: definitions.KindProduct, Name: product}]
	if !ok || d.Product == nil {
		return nil, fmt.Errorf("unknown product %q: %w", product, ErrNotFound)
	}
	cur, ok := all[definitions.Key{Kind: definitions.KindGrant, Name: definitions.GrantName(product, grantee)}]
	if !ok || cur.Retired || cur.Grant == nil {
		return nil, fmt.Errorf("%s is not granted to %s: %w", product, grantee, ErrNotFound)
	}
	ev := &events.ShareRevoked{
		Envelope: events.Envelope{EventID: events.NewID(), OccurredAt: now.UTC().Truncate(time.Microsecond), Domain: events.DomainCentral,
			CorrelationID: cur.Grant.ID, CausationID: cur.EventID},
		GrantID: cur.Grant.ID, Product: product, OwnerDomain: d.Product.Owner, GranteeDomain: grantee, RevokedBy: by,
	}
	if reason != "" {
		ev.Reason = &reason
	}
	return ev, nil
}
