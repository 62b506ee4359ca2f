package catalog

import (
	"context"
	"net/http"
	"strings"
	"time"

	catalogproj "github.com/logmesh/logmesh/projections/catalog"
)

// IncidentView is an incident in the API: open until resolved.
type IncidentView struct {
	ID          string     `json:"id"`
	State       string     `json:"state"` // open, resolved
	Domain      string     `json:"domain"`
	Severity    string     `json:"severity,omitempty"`
	SubjectKind string     `json:"subject_kind,omitempty"`
	Subject     string     `json:"subject,omitempty"`
	Product     string     `json:"product,omitempty"`
	Table       string     `json:"table,omitempty"`
	Summary     string     `json:"summary,omitempty"`
	Detail      string     `json:"detail,omitempty"`
	OpenedAt    *time.Time `json:"opened_at,omitempty"`
	ResolvedAt  *time.Time `json:"resolved_at,omitempty"`
	Resolution  string     `json:"resolution,omitempty"`
	ResolvedBy  string     `json:"resolved_by,omitempty"`
}

func incidentView(i catalogproj.Incident) IncidentView {
	v := IncidentView{ID: i.ID(), State: "open"}
	if o := i.Opened; o != nil {
		t := o.Envelope.OccurredAt
		v.Domain, v.Severity, v.SubjectKind, v.Subject, v.Summary, v.OpenedAt = o.Envelope.Domain, o.Severity, o.SubjectKind, o.Subject, o.Summary, &t
		if o.Product != nil {
			v.Product = *o.Product
		}
		if o.Table != nil {
			v.Table = *o.Table
		}
		if o.Detail != nil {
			v.Detail = *o.Detail
		}
	}
	if r := i.Resolved; r != nil {
		t := r.Envelope.OccurredAt
		v.State, v.ResolvedAt, v.Resolution, v.ResolvedBy = "resolved", &t, r.Resolution, r.ResolvedBy
		if v.Domain == "" {
			v.Domain = r.Envelope.Domain
		}
	}
	return v
}

// incidentsList answers the incidents principal may see, open and
// resolved (?state=open or resolved for one of them): governance sees
// every one, a domain those on its own bus and those of the products and
// tables it owns.
func (s *Server) incidentsList(ctx context.Context, w http.ResponseWriter, r *http.Request, principal string) error {
	state := strings.ToLower(r.URL.Query().Get("state"))
	return s.read(ctx, r, func(sn *snapshot) error {
		all, err := catalogproj.Incidents(sn.st)
		if err != nil {
			return err
		}
		var out []IncidentView
		for _, i := range all {
			v := incidentView(i)
			if (state != "" && v.State != state) || !s.seeIncident(sn, principal, v) {
				continue
			}
			out = append(out, v)
		}
		return page(w, r, sn, out, func(v IncidentView) string { return v.ID })
	})
}

func (s *Server) seeIncident(sn *snapshot, principal string, v IncidentView) bool {
	if principal == Governance || v.Domain == principal {
		return true
	}
	if d, ok := sn.product(v.Product); ok && d.Product.Owner == principal {
		return true
	}
	if d, ok := sn.productOfTable(v.Table); ok && d.Product != nil && d.Product.Owner == principal {
		return true
	}
	return false
}
