package mesh

import (
	"strings"
	"time"

	"github.com/logmesh/logmesh/events"
)

// ProductFromEvent returns the product a ProductPublished publishes: the
// fields its contract reads (name, domain, kind, description, inputs,
// transform, output, visibility, trigger, schedule, freshness, owners,
// contacts, tags). The event keeps no feed, retry or engine detail a
// contract needs, so those are left at their zero values.
func ProductFromEvent(e *events.ProductPublished) *Product {
	p := &Product{
		Name: e.Product, Domain: e.OwnerDomain, Kind: e.Kind, Description: deref(e.Description),
		Transform: deref(e.Transform), Trigger: e.Trigger, Schedule: deref(e.Schedule),
		Output:     Output{Table: e.OutputTable, Schema: deref(e.OutputSchema), PrimaryKey: e.PrimaryKey, Mode: e.Mode},
		Visibility: e.Visibility, Owners: e.Owners, Contacts: e.Contacts, Tags: e.Tags,
	}
	if e.FreshnessSeconds != nil {
		p.Freshness = time.Duration(*e.FreshnessSeconds) * time.Second
	}
	for _, in := range e.Inputs {
		if t, ok := strings.CutPrefix(in, "topic:"); ok {
			p.Inputs = append(p.Inputs, Input{Name: t, Kind: InputTopic})
		} else {
			p.Inputs = append(p.Inputs, Input{Name: in, Kind: InputTable})
		}
	}
	return p
}
