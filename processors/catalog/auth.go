package catalog

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/projections/definitions"
)

// Principals other than domains.
const (
	// Governance may see and read everything and grants and revokes.
	Governance = "governance"
	// Anonymous is a request without a known token: it reads nothing.
	Anonymous = "anonymous"
)

// Tokens maps the SHA-256 (hex) of each bearer token to its principal: a
// domain or Governance. Only hashes are kept.
type Tokens map[string]string

// HashToken returns the hex SHA-256 of a token, as a tokens file stores it.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// tokensFile is the tokens file: each entry a principal and the SHA-256 of
// its token (`printf %s TOKEN | sha256sum`), or the token itself,
// which is hashed on load and not kept.
type tokensFile struct {
	Tokens []struct {
		Principal string `yaml:"principal"`
		SHA256    string `yaml:"sha256"`
		Token     string `yaml:"token"`
	} `yaml:"tokens"`
}

// LoadTokens reads a tokens file:
//
//	tokens:
//	  - {principal: research, sha256: 9f86d081...}
//	  - {principal: governance, token: s3cret}
func LoadTokens(path string) (Tokens, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("catalog: tokens: %w", err)
	}
	var f tokensFile
	if err := yaml.UnmarshalWithOptions(b, &f, yaml.Strict()); err != nil {
		return nil, fmt.Errorf("catalog: tokens %s: %w", path, err)
	}
	t := Tokens{}
	for i, e := range f.Tokens {
		if e.Principal != Governance && events.ValidDomain(e.Principal) != nil {
			return nil, fmt.Errorf("catalog: tokens %s: entry %d: principal %q is neither a domain name nor governance", path, i+1, e.Principal)
		}
		h := strings.ToLower(e.SHA256)
		switch {
		case e.Token != "" && h != "":
			return nil, fmt.Errorf("catalog: tokens %s: entry %d: give sha256 or token, not both", path, i+1)
		case e.Token != "":
			h = HashToken(e.Token)
		case len(h) != 64:
			return nil, fmt.Errorf("catalog: tokens %s: entry %d: sha256 must be 64 hex digits", path, i+1)
		}
		if _, err := hex.DecodeString(h); err != nil {
			return nil, fmt.Errorf("catalog: tokens %s: entry %d: sha256: %w", path, i+1, err)
		}
		t[h] = e.Principal
	}
	return t, nil
}

// Principal returns who r is: the principal of its bearer token, or
// Anonymous.
func (t Tokens) Principal(r *http.Request) string {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return Anonymous
	}
	h := HashToken(strings.TrimSpace(tok))
	for stored, p := range t {
		if subtle.ConstantTimeCompare([]byte(stored), []byte(h)) == 1 {
			return p
		}
	}
	return Anonymous
}

// unauthenticated says why a request of no known principal is refused:
// the reason its AccessDenied records and the message of its 401. A
// request without a bearer token is told one is required; one with a
// token no entry of the tokens file hashes to is told so, and what to do.
func unauthenticated(r *http.Request) (reason, msg string) {
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); !ok || strings.TrimSpace(tok) == "" {
		return "no bearer token", "a bearer token is required (Authorization: Bearer TOKEN)"
	}
	return "an unknown bearer token", "the bearer token is not known; check the token sent (logmesh's --token or " +
		"LOGMESH_TOKEN), or ask the catalog's operator to add it to the catalog's tokens file (--tokens)"
}

// Rules decide who may do what. They are pure: the same catalog state and
// request give the same answer, which the authorization matrix test walks.
type Rules struct {
	// OwnerGrants lets a product's owner grant and revoke it, besides
	// governance.
	OwnerGrants bool
}

// SeeProduct reports whether principal may see product p's definition:
// governance, its owner, or anyone known if it is enterprise-visible.
func (Rules) SeeProduct(principal string, p *definitions.Product) bool {
	switch {
	case principal == Anonymous:
		return false
	case principal == Governance || principal == p.Owner:
		return true
	}
	return p.Visibility == events.VisibilityEnterprise
}

// ReadTable decides whether principal may read the table of product p
// (its metadata, its data files) at time at, given the product's grant to
// principal (nil for none): governance and the owner may; another domain
// needs the product to be enterprise-visible and a live grant. The reason
// says why not.
func (Rules) ReadTable(principal string, p *definitions.Product, grant *definitions.Definition, at time.Time) (bool, string) {
	switch {
	case principal == Anonymous:
		return false, "no valid bearer token"
	case principal == Governance || principal == p.Owner:
		return true, ""
	case p.Visibility != events.VisibilityEnterprise:
		return false, fmt.Sprintf("the product is visible to domain %s only", p.Owner)
	case grant == nil || grant.Grant == nil:
		return false, fmt.Sprintf("domain %s holds no grant of it", principal)
	case grant.Retired:
		return false, fmt.Sprintf("the grant to %s was revoked", principal)
	case !grant.Grant.Live(at):
		return false, fmt.Sprintf("the grant to %s expired", principal)
	}
	return true, ""
}

// Grant decides whether principal may grant or revoke product p.
func (r Rules) Grant(principal string, p *definitions.Product) (bool, string) {
	switch {
	case principal == Governance:
		return true, ""
	case principal == Anonymous:
		return false, "no valid bearer token"
	case r.OwnerGrants && principal == p.Owner:
		return true, ""
	case principal == p.Owner:
		return false, "only governance grants and revokes (owners may not in this catalog)"
	}
	return false, fmt.Sprintf("only governance or the owner, %s, grants and revokes", p.Owner)
}
