package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/platform"
	"github.com/logmesh/logmesh/processors/catalog"
	"github.com/logmesh/logmesh/processors/pointers"
	"github.com/logmesh/logmesh/projections/definitions"
)

// errMesh marks a request the mesh's definitions refuse (an unknown
// product, a grant that exists already, ...): exit 1 with the reason.
var errMesh = errors.New("refused")

// meshState is the definitions on the log, by kind.
type meshState struct {
	all map[definitions.Key]definitions.Definition
}

func (g global) meshState(ctx context.Context) (meshState, error) {
	codec, _, err := g.codec()
	if err != nil {
		return meshState{}, err
	}
	conn, err := g.reach(ctx, "to read the definitions")
	if err != nil {
		return meshState{}, err
	}
	all, err := platform.ReadDefinitionsAt(ctx, conn, codec, g.topics, g.at)
	return meshState{all: all}, g.unreachableRegistry(ctx, err, "to read the definitions", "")
}

// live returns the definitions of kind that are in force, by name.
func (s meshState) live(kind string) []definitions.Definition {
	var out []definitions.Definition
	for k, d := range s.all {
		if k.Kind == kind && !d.Retired {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b definitions.Definition) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (s meshState) product(name string) (definitions.Definition, bool) {
	d, ok := s.all[definitions.Key{Kind: definitions.KindProduct, Name: name}]
	return d, ok && !d.Retired && d.Product != nil
}

func (s meshState) domain(name string) bool {
	d, ok := s.all[definitions.Key{Kind: definitions.KindDomain, Name: name}]
	return ok && !d.Retired
}

// productRow is one product of `logmesh products --json`.
type productRow struct {
	Name        string   `json:"name"`
	Owner       string   `json:"owner"`
	Kind        string   `json:"kind"`
	Visibility  string   `json:"visibility"`
	OutputTable string   `json:"output_table"`
	Version     int64    `json:"version"`
	Grants      []string `json:"grants"`
	// UpdatedAt is when the current version was committed.
	UpdatedAt *time.Time `json:"updated_at,omitempty"`
	// LastRun and Status are the last job attempt's start and status
	// (consumer-aligned products).
	LastRun *time.Time `json:"last_run,omitempty"`
	Status  string     `json:"status,omitempty"`
	// Freshness is "ok" or "late" against the objective (FreshnessObjective
	// seconds), or "" without one.
	Freshness          string `json:"freshness,omitempty"`
	FreshnessObjective int64  `json:"freshness_objective_s,omitempty"`
}

// productsFlags registers the flags of the command that lists the published
// products with their last version and the domains granted them.
func productsFlags(fs *flag.FlagSet) runFunc {
	domain := fs.String("domain", "", "only the products this domain owns")
	asJSON := fs.Bool("json", false, "print a JSON array")
	return func(ctx context.Context, g global, in *cmdInput) error {
		stdout := in.stdout
		st, err := g.meshState(ctx)
		if err != nil {
			return err
		}
		codec, _, err := g.codec()
		if err != nil {
			return err
		}
		conn, err := g.reach(ctx, "to read the products' versions")
		if err != nil {
			return err
		}
		ptrs, err := pointers.ReadPointers(ctx, conn, codec, g.topics)
		if err != nil {
			return err
		}
		defer ptrs.Close()
		runs, err := g.attempts(ctx)
		if err != nil {
			return err
		}
		last := map[string]*attempt{}
		for _, a := range runs {
			last[a.Product] = a
		}
		now := time.Now()
		rows := []productRow{}
		for _, d := range st.live(definitions.KindProduct) {
			p := d.Product
			if p == nil || *domain != "" && p.Owner != *domain {
				continue
			}
			row := productRow{Name: d.Name, Owner: p.Owner, Kind: p.Kind, Visibility: p.Visibility, OutputTable: p.OutputTable, Grants: []string{}}
			if vs, err := ptrs.Versions(p.OutputTable); err != nil {
				return err
			} else if len(vs) > 0 {
				row.Version = vs[len(vs)-1].Version
				at := vs[len(vs)-1].CommittedAt
				row.UpdatedAt = &at
			}
			if a := last[d.Name]; a != nil {
				row.LastRun, row.Status = &a.Started, a.Status
			}
			if p.Freshness > 0 {
				row.FreshnessObjective = p.Freshness
				row.Freshness = "late"
				if row.UpdatedAt != nil && now.Sub(*row.UpdatedAt) <= time.Duration(p.Freshness)*time.Second {
					row.Freshness = "ok"
				}
			}
			for _, gd := range st.live(definitions.KindGrant) {
				if gd.Grant != nil && gd.Grant.Product == d.Name && gd.Grant.Live(now) {
					row.Grants = append(row.Grants, gd.Grant.Grantee)
				}
			}
			rows = append(rows, row)
		}
		if *asJSON {
			return printJSON(stdout, rows)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PRODUCT\tOWNER\tKIND\tVISIBILITY\tOUTPUT TABLE\tVERSION\tUPDATED\tLAST RUN\tSTATUS\tFRESHNESS\tGRANTED TO")
		for _, r := range rows {
			updated, lastRun, fresh := "-", "-", "-"
			if r.UpdatedAt != nil {
				updated = r.UpdatedAt.UTC().Format(time.RFC3339)
			}
			if r.LastRun != nil {
				lastRun = r.LastRun.UTC().Format(time.RFC3339)
			}
			if r.Freshness != "" {
				fresh = fmt.Sprintf("%s (objective %v)", r.Freshness, time.Duration(r.FreshnessObjective)*time.Second)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Owner, r.Kind, r.Visibility, r.OutputTable, r.Version,
				updated, lastRun, cmp.Or(r.Status, "-"), fresh, strings.Join(r.Grants, ","))
		}
		return tw.Flush()
	}
}

// subscriptionsFlags registers the flags of the command that lists the
// subscriptions in force.
func subscriptionsFlags(fs *flag.FlagSet) runFunc {
	domain := fs.String("domain", "", "only this domain's subscriptions")
	asJSON := fs.Bool("json", false, "print a JSON array")
	return func(ctx context.Context, g global, in *cmdInput) error {
		stdout := in.stdout
		st, err := g.meshState(ctx)
		if err != nil {
			return err
		}
		type row struct {
			Subscription string          `json:"subscription"`
			Domain       string          `json:"domain"`
			Pattern      json.RawMessage `json:"pattern"`
		}
		rows := []row{}
		for _, d := range st.live(definitions.KindSubscription) {
			if d.Subscription == nil || *domain != "" && d.Subscription.Domain != *domain {
				continue
			}
			rows = append(rows, row{d.Name, d.Subscription.Domain, json.RawMessage(d.Subscription.Pattern)})
		}
		if *asJSON {
			return printJSON(stdout, rows)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SUBSCRIPTION\tDOMAIN\tPATTERN")
		for _, r := range rows {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Subscription, r.Domain, r.Pattern)
		}
		return tw.Flush()
	}
}

// grantFlags registers the flags of the command that lets a domain read an
// enterprise-visible product: a ShareGranted on the central bus. Only the
// product's owner or governance grants.
func grantFlags(fs *flag.FlagSet) runFunc {
	to := fs.String("to", "", "the domain that may read the product")
	purpose := fs.String("purpose", "", "why it may")
	expires := fs.String("expires", "", "when the grant ends (RFC 3339), if ever")
	by := fs.String("by", events.DomainCentral, "who grants: the owner domain or central (governance); with --catalog, the token's principal")
	api := addCatalogFlags(fs)
	return func(ctx context.Context, g global, in *cmdInput) error {
		pos, stdout := in.args, in.stdout
		if *to == "" {
			return usageError("grant: --to DOMAIN is required")
		}
		req := catalog.ShareRequest{Product: pos[0], Grantee: *to, Purpose: *purpose}
		if *expires != "" {
			t, err := time.Parse(time.RFC3339, *expires)
			if err != nil {
				return fmt.Errorf("grant --expires %q: want an RFC 3339 time: %w", *expires, errUsage)
			}
			req.ExpiresAt = &t
		}
		if api.url != "" {
			if err := api.call(ctx, http.MethodPost, "/v1/grants", req); err != nil {
				return fmt.Errorf("grant: %w", err)
			}
			fmt.Fprintf(stdout, "granted %s to %s (through the catalog)\n", req.Product, req.Grantee)
			return nil
		}
		st, err := g.meshState(ctx)
		if err != nil {
			return err
		}
		if d, ok := st.product(req.Product); ok && *by != d.Product.Owner && *by != events.DomainCentral {
			return fmt.Errorf("grant: %s is not the owner of %s (%s) nor governance (central): %w", *by, req.Product, d.Product.Owner, errMesh)
		}
		ev, err := catalog.Share(st.all, req, grantor(*by), time.Now())
		if err != nil {
			return fmt.Errorf("grant: %w: %w", err, errMesh)
		}
		if err := g.emit(ctx, ev); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "granted %s to %s\n", req.Product, req.Grantee)
		return nil
	}
}

// revokeFlags registers the flags of the command that ends a domain's grant
// of a product: a ShareRevoked.
func revokeFlags(fs *flag.FlagSet) runFunc {
	from := fs.String("from", "", "the domain whose grant ends")
	reason := fs.String("reason", "", "why")
	by := fs.String("by", events.DomainCentral, "who revokes: the owner domain or central (governance); with --catalog, the token's principal")
	api := addCatalogFlags(fs)
	return func(ctx context.Context, g global, in *cmdInput) error {
		pos, stdout := in.args, in.stdout
		if *from == "" {
			return usageError("revoke: --from DOMAIN is required")
		}
		product := pos[0]
		if api.url != "" {
			path := "/v1/grants/" + url.PathEscape(product) + "/" + url.PathEscape(*from)
			if *reason != "" {
				path += "?reason=" + url.QueryEscape(*reason)
			}
			if err := api.call(ctx, http.MethodDelete, path, nil); err != nil {
				return fmt.Errorf("revoke: %w", err)
			}
			fmt.Fprintf(stdout, "revoked %s from %s (through the catalog)\n", product, *from)
			return nil
		}
		st, err := g.meshState(ctx)
		if err != nil {
			return err
		}
		if d, ok := st.product(product); ok && *by != d.Product.Owner && *by != events.DomainCentral {
			return fmt.Errorf("revoke: %s is not the owner of %s (%s) nor governance (central): %w", *by, product, d.Product.Owner, errMesh)
		}
		ev, err := catalog.Unshare(st.all, product, *from, grantor(*by), *reason, time.Now())
		if err != nil {
			return fmt.Errorf("revoke: %w: %w", err, errMesh)
		}
		if err := g.emit(ctx, ev); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked %s from %s\n", product, *from)
		return nil
	}
}

// grantor names the principal of a CLI grant or revoke.
func grantor(by string) string {
	user := os.Getenv("USER")
	if user == "" {
		user = "unknown"
	}
	return by + ":" + user
}

// emit produces ev to its topic.
func (g global) emit(ctx context.Context, ev events.Event) error {
	codec, _, err := g.codec()
	if err != nil {
		return err
	}
	if err := codec.Register(ctx); err != nil {
		return err
	}
	conn, err := g.conn()
	if err != nil {
		return err
	}
	rec, err := codec.Record(ev)
	if err != nil {
		return err
	}
	rec.Topic = g.topics.For(ev)
	cl, err := conn.Client()
	if err != nil {
		return err
	}
	defer cl.Close()
	return cl.ProduceSync(ctx, rec).FirstErr()
}

// printJSON writes v to w as indented JSON, the form of every --json.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
