package definitions

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/projections"
)

// ClaimPrefix begins the correlation id of a claim: "apply:<apply
// id>:<principal>". Definitions derive their correlation ids with
// events.DeriveID, a UUID, which never begins so.
const ClaimPrefix = "apply:"

// ClaimCorrelation returns the correlation id of the claims of apply (an
// id without ":", such as a UUID) made by principal by.
func ClaimCorrelation(apply, by string) string { return ClaimPrefix + apply + ":" + by }

// ParseClaim returns the apply id and principal of a claim's correlation
// id; ok is false if correlation is not one.
func ParseClaim(correlation string) (apply, by string, ok bool) {
	rest, ok := strings.CutPrefix(correlation, ClaimPrefix)
	if !ok {
		return "", "", false
	}
	apply, by, ok = strings.Cut(rest, ":")
	return apply, by, ok && apply != ""
}

// Claim is the outcome of a claim, as the fold decided it. Claims decide,
// on the log, which of two applies that race for one domain wins
// (docs/decisions/0014-domains-own-definitions.md).
//
// Every apply that changes domain D first produces a claim: a DomainDefined
// of D on the central bus (keyed by D, so one partition orders every claim
// of D), or the DomainRetired of an apply that retires D, whose
// correlation id is ClaimCorrelation(apply, by) and whose causation id is
// the event id of D's definition the apply planned against (its base; ""
// for a new domain). The fold accepts a claim only if its base is still
// D's current definition; a refused claim changes nothing but its record
// (ClaimOutcome), which names the definition that won. So of two applies
// planned against one base, the first claim on the log wins, and the
// other apply, reading its claim back, learns that it lost and to whom. A
// DomainDefined or DomainRetired without the claim marker (`logmesh
// dev`'s, and every one from before claims) is folded unconditionally, as
// before.
type Claim struct {
	// Domain, EventID, Base, By and At are the claim's: the domain, its
	// event id, the definition it was planned against, who made it, when.
	Domain  string    `json:"domain"`
	EventID string    `json:"event_id"`
	Base    string    `json:"base"`
	By      string    `json:"by"`
	At      time.Time `json:"at"`
	// Accepted reports whether the claim won.
	Accepted bool `json:"accepted"`
	// Winner is, for a refused claim, the event id of the domain's
	// definition in force when it was folded ("" if the domain had none:
	// the claim expected one); WinnerBy who applied it ("" for a
	// definition without a claim) and WinnerAt when.
	Winner   string    `json:"winner,omitempty"`
	WinnerBy string    `json:"winner_by,omitempty"`
	WinnerAt time.Time `json:"winner_at,omitzero"`
}

// claim decides the claim of domain with envelope m (by by) against the
// scope's current definition of the domain and records the outcome; won
// is false for a refused claim and for one already decided (a duplicate
// delivery), which change no definition.
func claim(s projections.Store, domain string, m *events.Envelope, by string) (won bool, err error) {
	if domain == "" || m.EventID == "" {
		return false, fmt.Errorf("definitions: claim %q without a domain or event id: %w", m.EventID, projections.ErrInvariant)
	}
	key := []byte(prefixClaim + m.EventID)
	if _, seen, err := s.Get(key); err != nil || seen {
		return false, err
	}
	var cur Definition
	v, ok, err := s.Get([]byte(prefixDefinition + KindDomain + "\x00" + domain))
	if err != nil {
		return false, err
	}
	if ok {
		if err := json.Unmarshal(v, &cur); err != nil {
			return false, fmt.Errorf("definitions: corrupt entry domain %s: %w", domain, err)
		}
	}
	c := Claim{Domain: domain, EventID: m.EventID, Base: m.CausationID, By: by, At: m.OccurredAt.UTC(),
		Accepted: m.CausationID == cur.EventID}
	if !c.Accepted {
		c.Winner, c.WinnerBy, c.WinnerAt = cur.EventID, cur.AppliedBy, cur.At
	}
	b, err := json.Marshal(c)
	if err != nil {
		return false, err
	}
	return c.Accepted, s.Set(key, b)
}

// ClaimOutcome returns the outcome of the claim with event id id; ok is
// false until the fold has seen it.
func ClaimOutcome[S any](st Scanner[S], id string) (c Claim, ok bool, err error) {
	err = st.ScanAll([]byte(prefixClaim+id), func(_ S, key, value []byte) error {
		if string(key) != prefixClaim+id {
			return nil
		}
		if err := json.Unmarshal(value, &c); err != nil {
			return fmt.Errorf("definitions: corrupt claim %s: %w", id, err)
		}
		ok = true
		return nil
	})
	return c, ok, err
}

// Reason says why a refused claim lost, and what to do: "domain qa's
// definitions changed since this plan: applied by api:qa at …; plan
// again".
func (c Claim) Reason() string {
	if c.Accepted {
		return ""
	}
	who := "by " + c.WinnerBy
	switch {
	case c.Winner == "":
		return fmt.Sprintf("domain %s's definitions changed since this plan: the domain is no longer defined; plan again", c.Domain)
	case c.WinnerBy == "":
		who = "without a claim (logmesh dev, or an apply from before claims)"
	}
	return fmt.Sprintf("domain %s's definitions changed since this plan: applied %s at %s (definition %s); plan again",
		c.Domain, who, c.WinnerAt.Format(time.RFC3339Nano), c.Winner)
}

// retiredBy records who retired domain (its entry as retire left it).
func retiredBy(s projections.Store, domain, by string) error {
	key := []byte(prefixDefinition + KindDomain + "\x00" + domain)
	v, ok, err := s.Get(key)
	if err != nil || !ok {
		return err
	}
	var d Definition
	if err := json.Unmarshal(v, &d); err != nil {
		return fmt.Errorf("definitions: corrupt entry domain %s: %w", domain, err)
	}
	if d.AppliedBy == by && d.Apply == "" {
		return nil
	}
	d.AppliedBy, d.Apply = by, ""
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return s.Set(key, b)
}
