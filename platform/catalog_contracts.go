package platform

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/processors/catalog"
	"github.com/logmesh/logmesh/registry"
)

// CatalogContracts is the catalog's check of a table schema an outside
// engine creates or commits (catalog.WithContracts): the check `logmesh
// apply` makes of a changed contract (ContractChanges against the
// table's subject, under the subject's compatibility), and, for an
// accepted change, the registration and SchemaChanged apply records
// (RegisterContracts, SchemaChanges). A table whose subject has no
// version yet is judged against the product's declared output schema,
// BACKWARD. now stamps the SchemaChanged; nil for time.Now. Safe for
// concurrent use.
func CatalogContracts(cl *sr.Client, now func() time.Time) catalog.Contracts {
	if now == nil {
		now = time.Now
	}
	return &catalogContracts{cl: cl, now: now}
}

type catalogContracts struct {
	cl  *sr.Client
	now func() time.Time
}

var _ catalog.Contracts = (*catalogContracts)(nil)

// step is the apply step of pp's product with schema as its contract.
func contractStep(pp *events.ProductPublished, schema string) []Step {
	next := *pp
	next.OutputSchema = &schema
	return []Step{{Op: '~', Kind: "product", Name: pp.Product, Domain: pp.OwnerDomain, Event: &next}}
}

func (c *catalogContracts) change(ctx context.Context, pp *events.ProductPublished, schema string) (ContractChange, error) {
	changes, err := ContractChanges(ctx, c.cl, contractStep(pp, schema), nil)
	if err != nil {
		return ContractChange{}, err
	}
	if len(changes) != 1 {
		return ContractChange{}, errors.New("platform: no contract change to judge")
	}
	return changes[0], nil
}

// Check implements catalog.Contracts.
func (c *catalogContracts) Check(ctx context.Context, pp *events.ProductPublished, schema string) (catalog.ContractVerdict, error) {
	ch, err := c.change(ctx, pp, schema)
	if err != nil {
		return catalog.ContractVerdict{}, err
	}
	v := catalog.ContractVerdict{Subject: ch.Subject, Level: ch.Level, Compatible: ch.Compatible, Reasons: ch.Reasons, Changes: ch.Changes}
	if ch.First {
		// No contract registered yet: judge against the declared one.
		if pp.OutputSchema == nil {
			return v, fmt.Errorf("platform: product %s declares no output contract", pp.Product)
		}
		v.Level = registry.LevelBackward
		if v.Reasons, err = registry.CheckCompatibility(registry.LevelBackward, schema, []string{*pp.OutputSchema}); err != nil {
			return v, err
		}
		v.Compatible = len(v.Reasons) == 0
		v.Changes, _ = diffFields(*pp.OutputSchema, schema)
	}
	return v, nil
}

// Record implements catalog.Contracts.
func (c *catalogContracts) Record(ctx context.Context, pp *events.ProductPublished, schema string) ([]events.Event, error) {
	ch, err := c.change(ctx, pp, schema)
	if err != nil {
		return nil, err
	}
	ids, err := RegisterContracts(ctx, c.cl, contractStep(pp, schema))
	if err != nil {
		return nil, err
	}
	return SchemaChanges([]ContractChange{ch}, ids, c.now()), nil
}
