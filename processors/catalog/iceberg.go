package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/logmesh/logmesh/projections/pointers"
)

// IcebergPrefix is where the Iceberg REST catalog is served: an engine's
// catalog URI is http://HOST:PORT/iceberg.
const IcebergPrefix = "/iceberg"

// iceberg mounts the Iceberg REST catalog (the Apache Iceberg REST
// catalog API's table endpoints) on mux. Namespaces are domains, tables
// are the domain's tables; a caller lists and loads only the tables it may
// read (Rules.ReadTable), and gets Iceberg's ForbiddenException for the
// rest, recorded as AccessDenied. A product's owner (or governance) may
// create its declared output table and commit to it (Rules.WriteTable,
// iceberg_commit.go): each commit is a TableCommitted and a
// ProductRefreshed on the log, in one transaction. Other writes
// (namespaces, drops, renames) are refused.
func (s *Server) iceberg(mux *http.ServeMux) {
	p := IcebergPrefix
	mux.HandleFunc("GET "+p+"/v1/config", s.ice(func(_ context.Context, w http.ResponseWriter, _ *http.Request, _ string) error {
		writeJSON(w, http.StatusOK, map[string]any{"defaults": map[string]string{}, "overrides": map[string]string{},
			"endpoints": icebergEndpoints})
		return nil
	}))
	mux.HandleFunc("GET "+p+"/v1/namespaces", s.ice(s.iceNamespaces))
	mux.HandleFunc("GET "+p+"/v1/namespaces/{ns}", s.ice(s.iceNamespace))
	mux.HandleFunc("HEAD "+p+"/v1/namespaces/{ns}", s.ice(s.iceNamespace))
	mux.HandleFunc("GET "+p+"/v1/namespaces/{ns}/tables", s.ice(s.iceTables))
	mux.HandleFunc("GET "+p+"/v1/namespaces/{ns}/tables/{table}", s.ice(s.iceLoad))
	mux.HandleFunc("HEAD "+p+"/v1/namespaces/{ns}/tables/{table}", s.ice(s.iceLoad))
	mux.HandleFunc("POST "+p+"/v1/namespaces/{ns}/tables", s.ice(s.iceCreate))
	mux.HandleFunc("POST "+p+"/v1/namespaces/{ns}/tables/{table}", s.ice(s.iceCommit))
	mux.HandleFunc("POST "+p+"/v1/transactions/commit", s.ice(s.iceTransaction))
	mux.HandleFunc(p+"/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			iceFail(w, http.StatusNotFound, "NotFoundException", "no such endpoint: "+r.URL.Path)
			return
		}
		iceFail(w, http.StatusForbidden, "ForbiddenException",
			"not offered by this catalog: namespaces are domains (defined by `logmesh apply`), and a table is only created and committed to as its product's output")
	})
}

// icebergEndpoints are the REST endpoints the catalog serves, as /v1/config
// advertises them.
var icebergEndpoints = []string{
	"GET /v1/{prefix}/namespaces",
	"GET /v1/{prefix}/namespaces/{namespace}",
	"HEAD /v1/{prefix}/namespaces/{namespace}",
	"GET /v1/{prefix}/namespaces/{namespace}/tables",
	"GET /v1/{prefix}/namespaces/{namespace}/tables/{table}",
	"HEAD /v1/{prefix}/namespaces/{namespace}/tables/{table}",
	"POST /v1/{prefix}/namespaces/{namespace}/tables",
	"POST /v1/{prefix}/namespaces/{namespace}/tables/{table}",
	"POST /v1/{prefix}/transactions/commit",
}

// iceFail writes Iceberg's error body.
func iceFail(w http.ResponseWriter, status int, typ, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"message": msg, "type": typ, "code": status}})
}

// ice is api with Iceberg's error shape.
func (s *Server) ice(fn apiFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		principal := s.principal(r)
		if principal == Anonymous {
			reason, msg := unauthenticated(r)
			s.deny(r.Context(), Anonymous, "authenticate", r.URL.Path, "iceberg-rest", reason)
			iceFail(w, http.StatusUnauthorized, "NotAuthorizedException", msg)
			return
		}
		if err := fn(r.Context(), w, r, principal); err != nil {
			var ie *iceError
			if errors.As(err, &ie) {
				iceFail(w, ie.status, ie.typ, ie.msg)
				return
			}
			// The catalog API's statuses, with Iceberg's error types.
			status := statusOf(err)
			typ, ok := map[int]string{http.StatusBadRequest: "BadRequestException", http.StatusForbidden: "ForbiddenException",
				http.StatusNotFound: "NoSuchTableException", http.StatusConflict: "AlreadyExistsException",
				http.StatusNotImplemented: "UnsupportedOperationException"}[status]
			if !ok {
				status, typ = http.StatusInternalServerError, "ServiceFailureException"
				s.log.Error("catalog: iceberg request failed", "path", r.URL.Path, "err", err)
			}
			iceFail(w, status, typ, err.Error())
		}
	}
}

// readableTables returns the tables of namespace ns ("" for all) that
// principal may read, by name.
func (s *Server) readableTables(sn *snapshot, principal, ns string) ([]string, error) {
	names, err := pointers.Tables(sn.st)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, t := range names {
		if dom, _, _ := strings.Cut(t, "."); ns != "" && dom != ns {
			continue
		}
		if _, denied := s.readTable(sn, principal, t); denied == nil {
			out = append(out, t)
		}
	}
	return out, nil
}

func (s *Server) iceNamespaces(ctx context.Context, w http.ResponseWriter, r *http.Request, principal string) error {
	if parent := r.URL.Query().Get("parent"); parent != "" {
		writeJSON(w, http.StatusOK, map[string]any{"namespaces": [][]string{}}) // domains have no children
		return nil
	}
	return s.read(ctx, r, func(sn *snapshot) error {
		ts, err := s.readableTables(sn, principal, "")
		if err != nil {
			return err
		}
		nss := [][]string{}
		for _, t := range ts {
			dom, _, _ := strings.Cut(t, ".")
			if !slices.ContainsFunc(nss, func(n []string) bool { return n[0] == dom }) {
				nss = append(nss, []string{dom})
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{"namespaces": nss})
		return nil
	})
}

func (s *Server) iceNamespace(ctx context.Context, w http.ResponseWriter, r *http.Request, principal string) error {
	ns := r.PathValue("ns")
	return s.read(ctx, r, func(sn *snapshot) error {
		ts, err := s.readableTables(sn, principal, ns)
		if err != nil {
			return err
		}
		if len(ts) == 0 {
			return &httpError{status: http.StatusNotFound, reason: fmt.Sprintf("no namespace %s with a table %s may read", ns, principal)}
		}
		writeJSON(w, http.StatusOK, map[string]any{"namespace": []string{ns}, "properties": map[string]string{}})
		return nil
	})
}

func (s *Server) iceTables(ctx context.Context, w http.ResponseWriter, r *http.Request, principal string) error {
	ns := r.PathValue("ns")
	return s.read(ctx, r, func(sn *snapshot) error {
		ts, err := s.readableTables(sn, principal, ns)
		if err != nil {
			return err
		}
		ids := []map[string]any{}
		for _, t := range ts {
			_, name, _ := strings.Cut(t, ".")
			ids = append(ids, map[string]any{"namespace": []string{ns}, "name": name})
		}
		writeJSON(w, http.StatusOK, map[string]any{"identifiers": ids})
		return nil
	})
}

func (s *Server) iceLoad(ctx context.Context, w http.ResponseWriter, r *http.Request, principal string) error {
	ns := r.PathValue("ns")
	if strings.Contains(ns, "\x1f") {
		// A multi-level namespace (Spark asks for raw.a.snapshots as table
		// snapshots of namespace raw.a first): no such table here.
		return &httpError{status: http.StatusNotFound, reason: "no table " + strings.ReplaceAll(ns, "\x1f", ".") + "." + r.PathValue("table")}
	}
	table := ns + "." + r.PathValue("table")
	return s.read(ctx, r, func(sn *snapshot) error {
		cur, exists, err := pointers.Current(sn.st, table)
		if err != nil {
			return err
		}
		if _, err := s.openTable(ctx, sn, principal, table, "iceberg-rest", exists); err != nil {
			return err
		}
		if r.Method == http.MethodHead {
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
		md, err := s.readMetadata(cur.MetadataLocation)
		if err != nil {
			return fmt.Errorf("table %s version %d: metadata %s: %w", table, cur.Version, cur.MetadataLocation, err)
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"metadata-location": cur.MetadataLocation,
			"metadata":          json.RawMessage(md),
			"config":            map[string]string{},
		})
		return nil
	})
}
