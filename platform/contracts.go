package platform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/logmesh/logmesh/events"
)

// ContractChange is one product's new or changed contract, as the
// registry judges it against the versions registered for its table.
type ContractChange struct {
	Product, Table, Subject string
	// First is set for a table's first contract.
	First bool
	// Level is the subject's compatibility level.
	Level string
	// Compatible is the registry's verdict; Reasons its messages when it
	// refuses.
	Compatible bool
	Reasons    []string
	// Changes list the field changes against the latest registered
	// contract ("add optional field x", "remove field y", "change field z
	// from long to string"); Affected names the fields removed or changed.
	Changes  []string
	Affected []string
	// Downstream are the products that read the product or its table and
	// whose transform names an affected field (every reader when the change
	// affects no named field but is refused).
	Downstream []string
	// Previous and Schema are the latest registered contract and the new
	// one; PreviousID its registry id.
	Previous, Schema string
	PreviousID       int
}

// String is the plan line of the change.
func (c ContractChange) String() string {
	switch {
	case c.First:
		return fmt.Sprintf("  contract of %s: first version (subject %s)", c.Table, c.Subject)
	case c.Compatible:
		return fmt.Sprintf("  contract of %s: compatible under %s: %s", c.Table, c.Level, strings.Join(orNone(c.Changes), "; "))
	}
	down := "no downstream product reads them"
	if len(c.Downstream) > 0 {
		down = "read by downstream " + strings.Join(c.Downstream, ", ")
	}
	return fmt.Sprintf("! product %s: the registry refuses the contract change of %s (subject %s, %s): %s; changes: %s; affected fields: %s, %s. "+
		"To make an incompatible change, publish a new major version: a product %s_v2 with its own table, and retire %s once its readers moved",
		c.Product, c.Table, c.Subject, c.Level, strings.Join(c.Reasons, "; "), strings.Join(orNone(c.Changes), "; "),
		strings.Join(orNone(c.Affected), ", "), down, c.Product, c.Product)
}

func orNone(s []string) []string {
	if len(s) == 0 {
		return []string{"none"}
	}
	return s
}

// ContractChanges asks the registry about the contract of every new or
// changed product of steps; want are all the definitions being applied,
// for the products downstream of each.
func ContractChanges(ctx context.Context, cl *sr.Client, steps []Step, want []events.Event) ([]ContractChange, error) {
	return contractChanges(ctx, cl, steps, want, nil)
}

// contractChanges is ContractChanges, calling tick (if set) after each
// product's contract is checked.
func contractChanges(ctx context.Context, cl *sr.Client, steps []Step, want []events.Event, tick func()) ([]ContractChange, error) {
	var readers []*events.ProductPublished
	for _, ev := range want {
		if pp, ok := ev.(*events.ProductPublished); ok {
			readers = append(readers, pp)
		}
	}
	var out []ContractChange
	for _, s := range steps {
		pp, ok := s.Event.(*events.ProductPublished)
		if !ok || pp.OutputSchema == nil {
			continue
		}
		c := ContractChange{Product: pp.Product, Table: pp.OutputTable, Subject: ContractSubject(pp.OutputTable), Schema: *pp.OutputSchema}
		prev, err := cl.SchemaByVersion(ctx, c.Subject, -1)
		var re *sr.ResponseError
		switch {
		case errors.As(err, &re) && re.StatusCode == http.StatusNotFound:
			c.First, c.Compatible = true, true
			out = append(out, c)
			if tick != nil {
				tick()
			}
			continue
		case err != nil:
			return nil, fmt.Errorf("the contract of %s in the registry: %w", pp.Product, err)
		}
		c.Previous, c.PreviousID = prev.Schema.Schema, prev.ID
		c.Level = "BACKWARD"
		if res := cl.Compatibility(ctx, c.Subject); len(res) == 1 && res[0].Err == nil {
			c.Level = res[0].Level.String()
		}
		res, err := cl.CheckCompatibility(sr.WithParams(ctx, sr.Verbose), c.Subject, -1, sr.Schema{Schema: c.Schema, Type: sr.TypeAvro})
		if err != nil {
			return nil, fmt.Errorf("check the contract of %s with the registry: %w", pp.Product, err)
		}
		c.Compatible, c.Reasons = res.Is, res.Messages
		c.Changes, c.Affected = diffFields(c.Previous, c.Schema)
		for _, r := range readers {
			if r.Product == pp.Product || (!slices.Contains(r.Inputs, pp.Product) && !slices.Contains(r.Inputs, pp.OutputTable)) {
				continue
			}
			if (len(c.Affected) == 0 && !c.Compatible) || namesAny(deref(r.Transform), c.Affected) {
				c.Downstream = append(c.Downstream, r.Product)
			}
		}
		out = append(out, c)
		if tick != nil {
			tick()
		}
	}
	return out, nil
}

// SchemaChanges are the SchemaChanged facts of the accepted changes of
// changes (not first contracts), the new registry ids from ids by table.
func SchemaChanges(changes []ContractChange, ids map[string]int, now time.Time) []events.Event {
	var out []events.Event
	for _, c := range changes {
		if c.First || !c.Compatible || c.Previous == c.Schema {
			continue
		}
		dom, _, _ := strings.Cut(c.Table, ".")
		prev := int32(c.PreviousID)
		out = append(out, &events.SchemaChanged{
			Envelope: events.Envelope{EventID: events.DeriveID("schema-changed", c.Table, fmt.Sprint(ids[c.Table])),
				OccurredAt: now.UTC().Truncate(time.Microsecond), Domain: dom, CorrelationID: events.DeriveID("contract", c.Table)},
			Table: c.Table, PreviousSchemaID: &prev, SchemaID: int32(ids[c.Table]), Schema: c.Schema,
			Changes: append([]string{}, c.Changes...),
		})
	}
	return out
}

// avroField is what diffFields reads of a record field.
type avroField struct {
	Name string          `json:"name"`
	Type json.RawMessage `json:"type"`
}

// diffFields lists the field changes from one Avro record schema to
// another, and the fields removed or changed.
func diffFields(from, to string) (changes, affected []string) {
	var a, b struct {
		Fields []avroField `json:"fields"`
	}
	if json.Unmarshal([]byte(from), &a) != nil || json.Unmarshal([]byte(to), &b) != nil {
		return nil, nil
	}
	old := map[string]avroField{}
	for _, f := range a.Fields {
		old[f.Name] = f
	}
	seen := map[string]bool{}
	for _, f := range b.Fields {
		seen[f.Name] = true
		o, ok := old[f.Name]
		switch {
		case !ok && nullable(f.Type):
			changes = append(changes, "add optional field "+f.Name)
		case !ok:
			changes = append(changes, "add required field "+f.Name)
		case compact(o.Type) != compact(f.Type):
			changes = append(changes, fmt.Sprintf("change field %s from %s to %s", f.Name, compact(o.Type), compact(f.Type)))
			affected = append(affected, f.Name)
		}
	}
	for _, f := range a.Fields {
		if !seen[f.Name] {
			changes = append(changes, "remove field "+f.Name)
			affected = append(affected, f.Name)
		}
	}
	return changes, affected
}

func nullable(t json.RawMessage) bool {
	var u []any
	return json.Unmarshal(t, &u) == nil && slices.Contains(u, any("null"))
}

func compact(t json.RawMessage) string {
	var v any
	if json.Unmarshal(t, &v) != nil {
		return string(t)
	}
	b, _ := json.Marshal(v)
	return strings.Trim(string(b), `"`)
}

// namesAny reports whether the SQL names any of fields as a word.
func namesAny(sql string, fields []string) bool {
	for _, f := range fields {
		if regexp.MustCompile(`(?i)\b` + regexp.QuoteMeta(f) + `\b`).MatchString(sql) {
			return true
		}
	}
	return false
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
