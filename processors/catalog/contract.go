package catalog

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/odcs"
	"github.com/logmesh/logmesh/mesh"
	catalogproj "github.com/logmesh/logmesh/projections/catalog"
	"github.com/logmesh/logmesh/projections/definitions"
)

// DefinitionView is what a product's definition in force says beyond
// routing: its description, trigger, transform and output contract, from
// its ProductPublished event.
type DefinitionView struct {
	Description  string   `json:"description,omitempty"`
	Trigger      string   `json:"trigger,omitempty"`
	Transform    string   `json:"transform,omitempty"`
	OutputSchema string   `json:"output_schema,omitempty"`
	PrimaryKey   []string `json:"primary_key,omitempty"`
	Mode         string   `json:"mode,omitempty"`
	Owners       []string `json:"owners,omitempty"`
	Contacts     []string `json:"contacts,omitempty"`
	Tags         []string `json:"tags,omitempty"`
}

// DefinitionChange is one definition a product was published with, and
// what it changed from the one before.
type DefinitionChange struct {
	Hash             string    `json:"definition_hash"`
	EventID          string    `json:"event_id"`
	At               time.Time `json:"at"`
	SchemaChanged    bool      `json:"schema_changed"`
	TransformChanged bool      `json:"transform_changed"`
}

func definitionView(e *events.ProductPublished) *DefinitionView {
	return &DefinitionView{Description: deref(e.Description), Trigger: e.Trigger, Transform: deref(e.Transform),
		OutputSchema: deref(e.OutputSchema), PrimaryKey: e.PrimaryKey, Mode: e.Mode, Owners: e.Owners, Contacts: e.Contacts, Tags: e.Tags}
}

// history returns the definitions d's product was published with up to
// d, oldest first, and the one in force (d's event), nil if the log does
// not hold it.
func history(sn *snapshot, d *definitions.Definition) ([]DefinitionChange, *events.ProductPublished, error) {
	all, err := catalogproj.PublishedOf(sn.st, d.Name)
	if err != nil {
		return nil, nil, err
	}
	var out []DefinitionChange
	var prev, cur *events.ProductPublished
	for _, e := range all {
		c := DefinitionChange{Hash: e.DefinitionHash, EventID: e.Envelope.EventID, At: e.Envelope.OccurredAt.UTC()}
		if prev != nil {
			c.SchemaChanged = deref(prev.OutputSchema) != deref(e.OutputSchema)
			c.TransformChanged = deref(prev.Transform) != deref(e.Transform)
		}
		out = append(out, c)
		prev = e
		if e.Envelope.EventID == d.EventID {
			cur = e
		}
	}
	return out, cur, nil
}

// productContract answers the ODCS v3 data contract of a product, as
// `logmesh contract` prints it, to whoever may see the product: JSON, or
// YAML with ?format=yaml.
func (s *Server) productContract(ctx context.Context, w http.ResponseWriter, r *http.Request, principal string) error {
	name := r.PathValue("product")
	format := r.URL.Query().Get("format")
	if format != "" && format != "json" && format != "yaml" {
		return fmt.Errorf("format %q: want json or yaml: %w", format, errBadRequest)
	}
	return s.read(ctx, r, func(sn *snapshot) error {
		d, err := s.visibleProduct(ctx, sn, principal, name)
		if err != nil {
			return err
		}
		_, pub, err := history(sn, d)
		if err != nil {
			return err
		}
		if pub == nil {
			return fmt.Errorf("the ProductPublished %s of %s is not in the catalog: %w", d.EventID, name, ErrNotFound)
		}
		p := mesh.ProductFromEvent(pub)
		opts := []odcs.Option{odcs.WithDefinitionHash(pub.DefinitionHash)}
		if feed, err := sn.feedOf(p.Output.Table); err != nil {
			return err
		} else if feed != nil {
			opts = append(opts, odcs.WithFeed(feed))
		}
		c, err := odcs.New(p, opts...)
		if err != nil {
			return fmt.Errorf("contract of %s: %w", name, err)
		}
		var b []byte
		ctype := "application/json"
		if format == "yaml" {
			b, ctype = nil, "application/yaml"
			if b, err = c.YAML(); err != nil {
				return err
			}
		} else if b, err = c.JSON(); err != nil {
			return err
		}
		w.Header().Set(PositionHeader, Position(sn.pos))
		w.Header().Set("Content-Type", ctype)
		_, err = w.Write(b)
		return err
	})
}

// feedOf returns the live feed that loads table, nil if none does.
func (sn *snapshot) feedOf(table string) (*mesh.Feed, error) {
	for _, k := range slices.SortedFunc(maps.Keys(sn.defs), compareKeys) {
		d := sn.defs[k]
		if k.Kind != definitions.KindFeed || d.Retired || d.Feed == nil || d.Feed.Table != table {
			continue
		}
		f, err := mesh.FeedFromEvent(d.Feed)
		if err != nil {
			return nil, fmt.Errorf("feed %s: %w", d.Name, err)
		}
		return &f, nil
	}
	return nil, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
