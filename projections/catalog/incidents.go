package catalog

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/projections"
)

// prefixIncident keys incidents: in/<incident id> → Incident JSON.
const prefixIncident = "in/"

// Incident is one incident: its IncidentOpened and, once resolved, its
// IncidentResolved.
type Incident struct {
	Opened   *events.IncidentOpened   `json:"opened,omitempty"`
	Resolved *events.IncidentResolved `json:"resolved,omitempty"`
}

// ID returns the incident's id.
func (i Incident) ID() string {
	switch {
	case i.Opened != nil:
		return i.Opened.IncidentID
	case i.Resolved != nil:
		return i.Resolved.IncidentID
	}
	return ""
}

func applyIncident(s projections.Store, ev events.Event) error {
	switch e := ev.(type) {
	case *events.IncidentOpened:
		return update(s, []byte(prefixIncident+e.IncidentID), func(i *Incident) { i.Opened = e })
	case *events.IncidentResolved:
		return update(s, []byte(prefixIncident+e.IncidentID), func(i *Incident) { i.Resolved = e })
	}
	return nil
}

// Incidents returns every incident, open and resolved, by id. An
// incident's opening and resolution may be folded in the scopes of
// different partitions; they are merged here.
func Incidents[S any](st Scanner[S]) ([]Incident, error) {
	var out []Incident
	index := map[string]int{}
	err := st.ScanAll([]byte(prefixIncident), func(_ S, k, v []byte) error {
		var x Incident
		if err := json.Unmarshal(v, &x); err != nil {
			return fmt.Errorf("catalog: corrupt %s: %w", k, err)
		}
		i, ok := index[string(k)]
		if !ok {
			index[string(k)] = len(out)
			out = append(out, x)
			return nil
		}
		if x.Opened != nil {
			out[i].Opened = x.Opened
		}
		if x.Resolved != nil {
			out[i].Resolved = x.Resolved
		}
		return nil
	})
	slices.SortStableFunc(out, func(a, b Incident) int { return strings.Compare(a.ID(), b.ID()) })
	return out, err
}
