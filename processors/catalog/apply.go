package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// ApplyRequest is the body of POST /v1/apply: mesh files to plan and
// apply as `logmesh apply -f` does, and domains to retire.
type ApplyRequest struct {
	// Files are the mesh files, then the schema files they name, each by
	// the name the mesh files' schema_file paths resolve to (what
	// mesh.Mesh.Files lists).
	Files []ApplyFile `json:"files"`
	// RetireDomains are domains to retire; each must have nothing of its
	// own live.
	RetireDomains []string `json:"retire_domains,omitempty"`
}

// ApplyFile is one file of an ApplyRequest.
type ApplyFile struct {
	Name    string `json:"name"`
	Content string `json:"content"`
}

// ApplyAnswer is the plan and what came of it.
type ApplyAnswer struct {
	// Domains are the domains the plan covers.
	Domains []string `json:"domains"`
	// Plan are its lines, as `logmesh apply` prints them, the outcome
	// last.
	Plan []string `json:"plan"`
	// Applied is how many definition events were emitted.
	Applied int `json:"applied"`
}

// Applier plans the files of req against the definitions on the log and,
// unless planOnly, applies them as principal by. Before it emits anything
// (before it plans beyond reading the files) it calls authorize with the
// domains the plan covers, and returns authorize's error as is. Its other
// errors wrap ErrInvalid for files or a request that are wrong and
// ErrConflict for a plan that is refused (an overlap, a contract, a
// domain that cannot be retired, a race lost); the answer holds the plan
// with them. platform.Definer's is the one Applier.
type Applier func(ctx context.Context, req ApplyRequest, by string, planOnly bool, authorize func(domains []string) error) (ApplyAnswer, error)

// WithApplier serves POST /v1/apply with a; without one it answers 501.
func WithApplier(a Applier) Option { return func(c *config) { c.applier = a } }

// MayApply decides whether principal may change the definitions of
// domain: governance any, a domain only its own.
func (Rules) MayApply(principal, domain string) (bool, string) {
	switch principal {
	case Governance, domain:
		return true, ""
	case Anonymous:
		return false, "no valid bearer token"
	}
	return false, fmt.Sprintf("a domain's token changes only its own domain's definitions: %s may apply %s's files, governance any domain's", principal, principal)
}

// applyPost plans (?plan=true) or applies the files of the request as
// the caller. A domain the caller may not change is refused with 403 and
// recorded as an AccessDenied (action "apply").
func (s *Server) applyPost(ctx context.Context, w http.ResponseWriter, r *http.Request, principal string) error {
	if s.cfg.applier == nil {
		return &httpError{status: http.StatusNotImplemented, reason: "this catalog does not apply definitions (it was started without an applier)"}
	}
	var req ApplyRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 32<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return fmt.Errorf("the body must be {files: [{name, content}], retire_domains}: %w: %w", err, errBadRequest)
	}
	if len(req.Files) == 0 && len(req.RetireDomains) == 0 {
		return fmt.Errorf("the request names no files and no domain to retire: %w", errBadRequest)
	}
	planOnly := r.URL.Query().Get("plan") == "true"
	authorize := func(domains []string) error {
		var denied []string
		for _, d := range domains {
			if ok, why := s.cfg.rules.MayApply(principal, d); !ok {
				denied = append(denied, d)
				s.deny(ctx, principal, "apply", "domain "+d, "catalog", why)
			}
		}
		if len(denied) == 0 {
			return nil
		}
		_, why := s.cfg.rules.MayApply(principal, denied[0])
		return &httpError{status: http.StatusForbidden,
			reason: fmt.Sprintf("%s may not apply the definitions of domain %s: %s", principal, strings.Join(denied, ", "), why)}
	}
	ans, err := s.cfg.applier(ctx, req, "api:"+principal, planOnly, authorize)
	status := http.StatusOK
	var he *httpError
	switch {
	case err == nil:
	case errors.As(err, &he):
		status = he.status
	case errors.Is(err, ErrInvalid):
		status = http.StatusBadRequest
	case errors.Is(err, ErrConflict):
		status = http.StatusConflict
	default:
		return err
	}
	body := map[string]any{"apply": ans}
	if err != nil {
		body["error"] = map[string]any{"code": status, "reason": err.Error()}
	}
	writeJSON(w, status, body)
	return nil
}
