package catalog

import (
	"context"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/logmesh/logmesh/internal/openlineage"
	catalogproj "github.com/logmesh/logmesh/projections/catalog"
	"github.com/logmesh/logmesh/projections/definitions"
	"github.com/logmesh/logmesh/projections/pointers"
)

//go:embed openapi.json
var openAPI []byte

// errBadRequest marks an error that is the request's fault.
var errBadRequest = errors.New("bad request")

// Page sizes of list endpoints.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// Handler serves the catalog API and, under /iceberg, the Iceberg REST
// catalog:
//
//	GET    /healthz, /openapi.json
//	GET    /v1/whoami
//	GET    /v1/domains
//	GET    /v1/products[?domain=D]          the products the caller may see
//	GET    /v1/products/{product}
//	GET    /v1/products/{product}/pending   what its trigger waits for ("why not yet")
//	GET    /v1/tables                       the tables the caller may read
//	GET    /v1/tables/{table}               versions, metadata locations
//	GET    /v1/grants[?product=P][&revoked=true]
//	POST   /v1/grants                       {product, grantee, purpose, expires_at}
//	DELETE /v1/grants/{product}/{grantee}[?reason=R]
//	GET    /v1/lineage/runs[?product=P]     OpenLineage RunEvents of product jobs
//	GET    /v1/files[?status=S][&table=T]   the file audit: the files the caller may read
//	POST   /v1/apply[?plan=true]            {files, retire_domains}: plan and apply mesh files
//	GET    /v1/lineage/graph[?node=N][&depth=D]  files → tables → products, around a node
//	POST   /v1/files/{file}/retry[?reason=R]  redrive an UNMATCHED or FAILED file
//	GET    /v1/incidents[?state=open|resolved]  the incidents the caller may see
//	GET    /v1/tail?topic=T[&limit=N][&after=C]  a topic's newest records, or those after cursor C
//	GET    /v1/tail/topics                  the topics the caller may tail
//	GET    /console/...                     the web console (package console)
//	GET    /iceberg/v1/config, namespaces, tables, load table
//	POST   /iceberg/v1/namespaces/{ns}/tables[/{table}]  create, commit (Iceberg)
//
// Lists take page_size and page_token; GETs take as_of. Errors are JSON
// {"error": {"code": N, "reason": "..."}} (Iceberg's shape under /iceberg).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openAPI)
	})
	for _, rt := range routes() {
		mux.HandleFunc(rt.method+" "+rt.path, s.api(func(ctx context.Context, w http.ResponseWriter, r *http.Request, principal string) error {
			return rt.handle(s, ctx, w, r, principal)
		}))
	}
	mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		fail(w, http.StatusNotFound, fmt.Sprintf("no such endpoint: %s %s (see /openapi.json)", r.Method, r.URL.Path))
	})
	s.iceberg(mux)
	s.mountConsole(mux)
	return mux
}

// route is one endpoint of the catalog API; openapi.json documents each.
type route struct {
	method, path string
	handle       func(s *Server, ctx context.Context, w http.ResponseWriter, r *http.Request, principal string) error
}

// routes returns the endpoints of the catalog API (not /healthz,
// /openapi.json or the Iceberg catalog's).
func routes() []route {
	return []route{
		{"GET", "/v1/whoami", (*Server).whoami},
		{"GET", "/v1/domains", (*Server).domains},
		{"GET", "/v1/products", (*Server).products},
		{"GET", "/v1/products/{product}", (*Server).productDetail},
		{"GET", "/v1/products/{product}/pending", (*Server).productPending},
		{"GET", "/v1/products/{product}/contract", (*Server).productContract},
		{"GET", "/v1/tables", (*Server).tablesList},
		{"GET", "/v1/tables/{table}", (*Server).tableDetail},
		{"GET", "/v1/grants", (*Server).grants},
		{"POST", "/v1/grants", (*Server).grantPost},
		{"DELETE", "/v1/grants/{product}/{grantee}", (*Server).grantDelete},
		{"GET", "/v1/lineage/runs", (*Server).lineageRuns},
		{"GET", "/v1/files", (*Server).filesList},
		{"POST", "/v1/apply", (*Server).applyPost},
		{"GET", "/v1/lineage/graph", (*Server).lineageGraph},
		{"POST", "/v1/files/{file}/retry", (*Server).fileRetry},
		{"GET", "/v1/incidents", (*Server).incidentsList},
		{"GET", "/v1/tail", (*Server).tail},
		{"GET", "/v1/tail/topics", (*Server).tailTopics},
	}
}

// httpError is an error with the status to answer it with.
type httpError struct {
	status int
	reason string
}

func (e *httpError) Error() string { return e.reason }

// apiFunc handles a request of principal.
type apiFunc func(ctx context.Context, w http.ResponseWriter, r *http.Request, principal string) error

// api authenticates a request and answers its error: 401 for no valid
// token (recorded), 400, 403, 404, 409 as the error says, 500 otherwise.
func (s *Server) api(fn apiFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		principal := s.principal(r)
		if principal == Anonymous {
			reason, msg := unauthenticated(r)
			s.deny(r.Context(), Anonymous, "authenticate", r.URL.Path, "catalog", reason)
			fail(w, http.StatusUnauthorized, msg)
			return
		}
		if err := fn(r.Context(), w, r, principal); err != nil {
			status := statusOf(err)
			if status == http.StatusInternalServerError {
				s.log.Error("catalog: request failed", "path", r.URL.Path, "err", err)
			}
			fail(w, status, err.Error())
		}
	}
}

// statusOf is the status to answer err with, on the catalog API and the
// Iceberg catalog alike: an *httpError's, 400, 404 or 409 as its sentinel
// says, 500 otherwise.
func statusOf(err error) int {
	var he *httpError
	switch {
	case errors.As(err, &he):
		return he.status
	case errors.Is(err, errBadRequest), errors.Is(err, ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrConflict):
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}

// fail writes the catalog's error body.
func fail(w http.ResponseWriter, status int, reason string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"code": status, "reason": reason}})
}

// forbidden records an AccessDenied and returns the 403 to answer.
func (s *Server) forbidden(ctx context.Context, principal, action, resource, api, reason string) error {
	s.deny(ctx, principal, action, resource, api, reason)
	return &httpError{status: http.StatusForbidden, reason: fmt.Sprintf("%s may not %s %s: %s", principal, action, resource, reason)}
}

// answer writes v with the snapshot's position.
func answer(w http.ResponseWriter, sn *snapshot, status int, v any) {
	w.Header().Set(PositionHeader, Position(sn.pos))
	writeJSON(w, status, v)
}

func (s *Server) whoami(_ context.Context, w http.ResponseWriter, _ *http.Request, principal string) error {
	writeJSON(w, http.StatusOK, map[string]string{"principal": principal})
	return nil
}

// DomainView is a domain in the API.
type DomainView struct {
	Name      string    `json:"name"`
	DefinedAt time.Time `json:"defined_at"`
}

func (s *Server) domains(ctx context.Context, w http.ResponseWriter, r *http.Request, _ string) error {
	return s.read(ctx, r, func(sn *snapshot) error {
		var out []DomainView
		for k, d := range sn.defs {
			if k.Kind == definitions.KindDomain && !d.Retired {
				out = append(out, DomainView{Name: k.Name, DefinedAt: d.At})
			}
		}
		return page(w, r, sn, out, func(d DomainView) string { return d.Name })
	})
}

// ProductView is a product in the API.
type ProductView struct {
	Name        string    `json:"name"`
	Owner       string    `json:"owner"`
	Kind        string    `json:"kind"`
	Visibility  string    `json:"visibility"`
	OutputTable string    `json:"output_table"`
	Inputs      []string  `json:"inputs"`
	Freshness   int64     `json:"freshness_seconds,omitempty"`
	Schedule    string    `json:"schedule,omitempty"`
	Hash        string    `json:"definition_hash"`
	DefinedAt   time.Time `json:"defined_at"`
	// Readable says whether the caller may read the product's table;
	// Current is its current version then.
	Readable bool         `json:"readable"`
	Current  *VersionView `json:"current,omitempty"`
	// Grants are the product's live grants, for its owner and governance.
	Grants []GrantView `json:"grants,omitempty"`
	// Definition is the definition in force, and History every
	// definition the product was published with, oldest first: in the
	// product's detail only.
	Definition *DefinitionView    `json:"definition,omitempty"`
	History    []DefinitionChange `json:"history,omitempty"`
}

// VersionView is one version of a table.
type VersionView struct {
	Version          int64     `json:"version"`
	SnapshotID       int64     `json:"snapshot_id"`
	SchemaID         int32     `json:"schema_id"`
	RowsTotal        int64     `json:"rows_total"`
	MetadataLocation string    `json:"metadata_location"`
	CommittedAt      time.Time `json:"committed_at"`
	BatchID          string    `json:"batch_id,omitempty"`
	JobID            string    `json:"job_id,omitempty"`
}

func versionView(p pointers.Pointer) *VersionView {
	return &VersionView{Version: p.Version, SnapshotID: p.SnapshotID, SchemaID: p.SchemaID, RowsTotal: p.RowsTotal,
		MetadataLocation: p.MetadataLocation, CommittedAt: p.CommittedAt, BatchID: p.BatchID, JobID: p.JobID}
}

// GrantView is a grant in the API.
type GrantView struct {
	Product   string     `json:"product"`
	Owner     string     `json:"owner"`
	Grantee   string     `json:"grantee"`
	GrantedBy string     `json:"granted_by,omitempty"`
	Purpose   string     `json:"purpose,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	Live      bool       `json:"live"`
	Revoked   bool       `json:"revoked,omitempty"`
	At        time.Time  `json:"at"`
}

func grantView(d definitions.Definition, at time.Time) GrantView {
	g := d.Grant
	v := GrantView{Product: g.Product, Owner: g.Owner, Grantee: g.Grantee, GrantedBy: g.GrantedBy, Purpose: g.Purpose,
		Revoked: d.Retired, Live: !d.Retired && g.Live(at), At: d.At}
	if g.ExpiresAt != 0 {
		t := time.UnixMicro(g.ExpiresAt).UTC()
		v.ExpiresAt = &t
	}
	return v
}

// productView is d as principal may see it.
func (s *Server) productView(sn *snapshot, d *definitions.Definition, principal string, detail bool) (ProductView, error) {
	p := d.Product
	v := ProductView{Name: d.Name, Owner: p.Owner, Kind: p.Kind, Visibility: p.Visibility, OutputTable: p.OutputTable,
		Inputs: append([]string{}, p.Inputs...), Freshness: p.Freshness, Schedule: p.Schedule, Hash: d.Hash, DefinedAt: d.At}
	v.Readable, _ = s.cfg.rules.ReadTable(principal, p, sn.grant(d.Name, principal), sn.at)
	if v.Readable {
		cur, ok, err := pointers.Current(sn.st, p.OutputTable)
		if err != nil {
			return v, err
		}
		if ok {
			v.Current = versionView(cur)
		}
	}
	if detail {
		h, pub, err := history(sn, d)
		if err != nil {
			return v, err
		}
		v.History = h
		if pub != nil {
			v.Definition = definitionView(pub)
		}
	}
	if detail && (principal == Governance || principal == p.Owner) {
		for _, k := range slices.SortedFunc(maps.Keys(sn.defs), compareKeys) {
			g := sn.defs[k]
			if k.Kind == definitions.KindGrant && g.Grant != nil && g.Grant.Product == d.Name && !g.Retired {
				v.Grants = append(v.Grants, grantView(g, sn.at))
			}
		}
	}
	return v, nil
}

func (s *Server) products(ctx context.Context, w http.ResponseWriter, r *http.Request, principal string) error {
	domain := r.URL.Query().Get("domain")
	return s.read(ctx, r, func(sn *snapshot) error {
		var out []ProductView
		for _, k := range slices.SortedFunc(maps.Keys(sn.defs), compareKeys) {
			d := sn.defs[k]
			if k.Kind != definitions.KindProduct || d.Retired || d.Product == nil || !s.cfg.rules.SeeProduct(principal, d.Product) ||
				(domain != "" && d.Product.Owner != domain) {
				continue
			}
			v, err := s.productView(sn, &d, principal, false)
			if err != nil {
				return err
			}
			out = append(out, v)
		}
		return page(w, r, sn, out, func(p ProductView) string { return p.Name })
	})
}

// visibleProduct returns the live product name as principal may see it:
// 404 if there is none, 403 (recorded) if it is another domain's private
// one.
func (s *Server) visibleProduct(ctx context.Context, sn *snapshot, principal, name string) (*definitions.Definition, error) {
	d, ok := sn.product(name)
	if !ok {
		return nil, fmt.Errorf("no product %s: %w", name, ErrNotFound)
	}
	if !s.cfg.rules.SeeProduct(principal, d.Product) {
		return nil, s.forbidden(ctx, principal, "read-metadata", name, "catalog",
			fmt.Sprintf("the product is visible to domain %s only", d.Product.Owner))
	}
	return d, nil
}

func (s *Server) productDetail(ctx context.Context, w http.ResponseWriter, r *http.Request, principal string) error {
	name := r.PathValue("product")
	return s.read(ctx, r, func(sn *snapshot) error {
		d, err := s.visibleProduct(ctx, sn, principal, name)
		if err != nil {
			return err
		}
		v, err := s.productView(sn, d, principal, true)
		if err != nil {
			return err
		}
		answer(w, sn, http.StatusOK, v)
		return nil
	})
}

// TableView is a table in the API.
type TableView struct {
	Table    string        `json:"table"`
	Product  string        `json:"product,omitempty"`
	Current  *VersionView  `json:"current"`
	Versions []VersionView `json:"versions,omitempty"`
}

func (s *Server) tablesList(ctx context.Context, w http.ResponseWriter, r *http.Request, principal string) error {
	return s.read(ctx, r, func(sn *snapshot) error {
		names, err := pointers.Tables(sn.st)
		if err != nil {
			return err
		}
		var out []TableView
		for _, t := range names {
			d, denied := s.readTable(sn, principal, t)
			if denied != nil {
				continue
			}
			cur, _, err := pointers.Current(sn.st, t)
			if err != nil {
				return err
			}
			v := TableView{Table: t, Current: versionView(cur)}
			if d != nil {
				v.Product = d.Name
			}
			out = append(out, v)
		}
		return page(w, r, sn, out, func(t TableView) string { return t.Table })
	})
}

func (s *Server) tableDetail(ctx context.Context, w http.ResponseWriter, r *http.Request, principal string) error {
	table := r.PathValue("table")
	return s.read(ctx, r, func(sn *snapshot) error {
		vs, err := pointers.Versions(sn.st, table)
		if err != nil {
			return err
		}
		d, err := s.openTable(ctx, sn, principal, table, "catalog", len(vs) > 0)
		if err != nil {
			return err
		}
		v := TableView{Table: table, Current: versionView(vs[len(vs)-1])}
		for _, p := range vs {
			v.Versions = append(v.Versions, *versionView(p))
		}
		if d != nil {
			v.Product = d.Name
		}
		answer(w, sn, http.StatusOK, v)
		return nil
	})
}

func (s *Server) grants(ctx context.Context, w http.ResponseWriter, r *http.Request, principal string) error {
	q := r.URL.Query()
	product, revoked := q.Get("product"), q.Get("revoked") == "true"
	return s.read(ctx, r, func(sn *snapshot) error {
		var out []GrantView
		for _, k := range slices.SortedFunc(maps.Keys(sn.defs), compareKeys) {
			d := sn.defs[k]
			if k.Kind != definitions.KindGrant || d.Grant == nil || (product != "" && d.Grant.Product != product) {
				continue
			}
			if principal != Governance && principal != d.Grant.Owner && principal != d.Grant.Grantee {
				continue
			}
			v := grantView(d, sn.at)
			if !v.Live && !revoked {
				continue
			}
			out = append(out, v)
		}
		return page(w, r, sn, out, func(g GrantView) string { return g.Product + "\x00" + g.Grantee })
	})
}

func (s *Server) grantPost(ctx context.Context, w http.ResponseWriter, r *http.Request, principal string) error {
	var req ShareRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return fmt.Errorf("the body must be {product, grantee, purpose, expires_at}: %w: %w", err, errBadRequest)
	}
	return s.read(ctx, r, func(sn *snapshot) error {
		d, ok := sn.product(req.Product)
		if !ok {
			return fmt.Errorf("unknown product %q: %w", req.Product, ErrNotFound)
		}
		if ok, why := s.cfg.rules.Grant(principal, d.Product); !ok {
			return s.forbidden(ctx, principal, "grant", req.Product+"→"+req.Grantee, "catalog", why)
		}
		ev, err := Share(sn.defs, req, "api:"+principal, sn.at)
		if err != nil {
			return err
		}
		if err := s.emit(ctx, ev); err != nil {
			return err
		}
		g := definitions.Definition{At: ev.Envelope.OccurredAt, Grant: &definitions.Grant{ID: ev.GrantID, Product: ev.Product,
			Owner: ev.OwnerDomain, Grantee: ev.GranteeDomain, GrantedBy: ev.GrantedBy, Purpose: req.Purpose}}
		if ev.ExpiresAt != nil {
			g.Grant.ExpiresAt = ev.ExpiresAt.UnixMicro()
		}
		answer(w, sn, http.StatusCreated, grantView(g, sn.at))
		return nil
	})
}

func (s *Server) grantDelete(ctx context.Context, w http.ResponseWriter, r *http.Request, principal string) error {
	product, grantee := r.PathValue("product"), r.PathValue("grantee")
	return s.read(ctx, r, func(sn *snapshot) error {
		d, ok := sn.product(product)
		if !ok {
			return fmt.Errorf("unknown product %q: %w", product, ErrNotFound)
		}
		if ok, why := s.cfg.rules.Grant(principal, d.Product); !ok {
			return s.forbidden(ctx, principal, "revoke", product+"→"+grantee, "catalog", why)
		}
		ev, err := Unshare(sn.defs, product, grantee, "api:"+principal, r.URL.Query().Get("reason"), sn.at)
		if err != nil {
			return err
		}
		if err := s.emit(ctx, ev); err != nil {
			return err
		}
		answer(w, sn, http.StatusOK, map[string]string{"revoked": product + "→" + grantee})
		return nil
	})
}

// lineageRuns answers the job attempts of the products the caller may see,
// and the ingestion batches of their tables, as OpenLineage RunEvents
// (START, then COMPLETE or FAIL), naming the pinned input versions (or the
// landed files) and the output version.
func (s *Server) lineageRuns(ctx context.Context, w http.ResponseWriter, r *http.Request, principal string) error {
	product := r.URL.Query().Get("product")
	return s.read(ctx, r, func(sn *snapshot) error {
		if product != "" {
			d, ok := sn.product(product)
			if !ok {
				return fmt.Errorf("no product %s: %w", product, ErrNotFound)
			}
			if !s.cfg.rules.SeeProduct(principal, d.Product) {
				return s.forbidden(ctx, principal, "read-lineage", product, "catalog",
					fmt.Sprintf("the product is visible to domain %s only", d.Product.Owner))
			}
		}
		runs, err := catalogproj.Runs(sn.st, product)
		if err != nil {
			return err
		}
		ns := s.namespaces(sn)
		type item struct {
			key string
			ev  openlineage.RunEvent
		}
		var items []item
		for _, run := range runs {
			if run.Started == nil {
				continue // its start is not folded yet (as of a moment between)
			}
			if d, ok := sn.product(run.Started.Product); !ok || !s.cfg.rules.SeeProduct(principal, d.Product) {
				continue
			}
			evs, err := openlineage.JobEvents(ns, run.Started, run.Finished)
			if err != nil {
				return err
			}
			for i, ev := range evs {
				items = append(items, item{fmt.Sprintf("%s\x00%s\x00%010d\x00%d", run.Started.Product, run.Started.JobID, run.Started.Attempt, i), ev})
			}
		}
		// Ingestion batches, of the tables of the products the caller may
		// see (of product's table, with product).
		table := ""
		if product != "" {
			d, _ := sn.product(product)
			table = d.Product.OutputTable
		}
		batches, err := catalogproj.Batches(sn.st, table)
		if err != nil {
			return err
		}
		for _, b := range batches {
			if b.Planned == nil {
				continue
			}
			if d, ok := sn.productOfTable(b.Planned.Table); !ok || !s.cfg.rules.SeeProduct(principal, d.Product) {
				continue
			}
			evs, err := openlineage.BatchEvents(ns, b.Planned, &openlineage.BatchOutcome{Processed: b.Processed, Failed: b.Failed, Commit: b.Commit})
			if err != nil {
				return err
			}
			for i, ev := range evs {
				items = append(items, item{fmt.Sprintf("%s\x00%s\x00%d", openlineage.IngestJobName(b.Planned.Table), b.Planned.BatchID, i), ev})
			}
		}
		return page(w, r, sn, items, func(it item) string { return it.key }, func(it item) any { return it.ev })
	})
}

// namespaces are the OpenLineage namespaces of this catalog's mesh.
func (s *Server) namespaces(sn *snapshot) openlineage.Namespaces {
	ns := openlineage.Namespaces{Job: "logmesh", Tables: "iceberg://" + strings.TrimPrefix(s.wh.Location(), "file://"), Landing: "landing"}
	if l, ok, err := definitions.CurrentLocations(sn.st); err == nil && ok && l.Landing != "" {
		ns.Landing = l.Landing
	}
	return ns
}

// page writes one page of items, sorted by key: page_size (default
// DefaultPageSize, at most MaxPageSize) items after page_token, and the
// token of the next page if there is one.
func page[T any](w http.ResponseWriter, r *http.Request, sn *snapshot, items []T, key func(T) string, view ...func(T) any) error {
	q := r.URL.Query()
	size := DefaultPageSize
	if v := q.Get("page_size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxPageSize {
			return fmt.Errorf("page_size %q must be 1 to %d: %w", v, MaxPageSize, errBadRequest)
		}
		size = n
	}
	slices.SortFunc(items, func(a, b T) int { return strings.Compare(key(a), key(b)) })
	start := 0
	if tok := q.Get("page_token"); tok != "" {
		after, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil {
			return fmt.Errorf("page_token %q is not one this catalog gave: %w", tok, errBadRequest)
		}
		start, _ = slices.BinarySearchFunc(items, string(after), func(it T, k string) int { return strings.Compare(key(it), k) })
		if start < len(items) && key(items[start]) == string(after) {
			start++
		}
	}
	end := min(start+size, len(items))
	out := struct {
		Items []any  `json:"items"`
		Next  string `json:"next_page_token,omitempty"`
	}{Items: []any{}}
	for _, it := range items[start:end] {
		if len(view) > 0 {
			out.Items = append(out.Items, view[0](it))
		} else {
			out.Items = append(out.Items, it)
		}
	}
	if end < len(items) {
		out.Next = base64.RawURLEncoding.EncodeToString([]byte(key(items[end-1])))
	}
	answer(w, sn, http.StatusOK, out)
	return nil
}
