package catalog

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/projections/audit"
	catalogproj "github.com/logmesh/logmesh/projections/catalog"
	"github.com/logmesh/logmesh/projections/definitions"
	"github.com/logmesh/logmesh/projections/pointers"
)

// GraphNode is a node of the lineage graph: a landed file, a raw table (a
// feed's) or a product.
type GraphNode struct {
	ID     string `json:"id"`
	Kind   string `json:"kind"` // file, table, product
	Label  string `json:"label"`
	Status string `json:"status,omitempty"`
}

// GraphEdge is an edge of the lineage graph, labelled with the version it
// pins: the table version a file made; the version of an input the
// product's latest run pinned ("v3", "v3 (now v4)" once the input moved
// on), or the input's current one before any run ("now v4").
type GraphEdge struct {
	From  string `json:"from"`
	To    string `json:"to"`
	Label string `json:"label,omitempty"`
}

// GraphView is the lineage graph the caller may see, whole or around one
// node.
type GraphView struct {
	Nodes []GraphNode `json:"nodes"`
	Edges []GraphEdge `json:"edges"`
}

// MaxGraphDepth caps the depth of a lineage graph around a node.
const MaxGraphDepth = 50

// lineageGraph answers the lineage graph files → raw tables → products →
// downstream products, of the files and products principal may see (the
// same rules as /v1/files and /v1/products); with node, only the nodes
// within depth (default 1) edges of it.
func (s *Server) lineageGraph(ctx context.Context, w http.ResponseWriter, r *http.Request, principal string) error {
	q := r.URL.Query()
	node := q.Get("node")
	depth := 1
	if d := q.Get("depth"); d != "" {
		n, err := strconv.Atoi(d)
		if err != nil || n < 0 || n > MaxGraphDepth {
			return fmt.Errorf("depth %q must be a number from 0 to %d: %w", d, MaxGraphDepth, errBadRequest)
		}
		depth = n
	}
	return s.read(ctx, r, func(sn *snapshot) error {
		g, err := s.graph(sn, principal)
		if err != nil {
			return err
		}
		if node != "" {
			if !slices.ContainsFunc(g.Nodes, func(n GraphNode) bool { return n.ID == node }) {
				return fmt.Errorf("no node %s in the lineage graph you may see: %w", node, ErrNotFound)
			}
			g = g.around(node, depth)
		}
		answer(w, sn, http.StatusOK, g)
		return nil
	})
}

// graph is the whole lineage graph principal may see, in a stable order.
func (s *Server) graph(sn *snapshot, principal string) (GraphView, error) {
	g := GraphView{Nodes: []GraphNode{}, Edges: []GraphEdge{}}
	seen := map[string]bool{}
	add := func(n GraphNode) {
		if !seen[n.ID] {
			seen[n.ID] = true
			g.Nodes = append(g.Nodes, n)
		}
	}
	version := func(table string) string {
		if p, ok, err := pointers.Current(sn.st, table); err == nil && ok {
			return "v" + strconv.FormatInt(p.Version, 10)
		}
		return ""
	}
	// tableNode is the node of table: its product's if one publishes it.
	tableNode := func(table string) (GraphNode, bool) {
		if d, ok := sn.byTable[table]; ok && d.Product != nil {
			if !s.cfg.rules.SeeProduct(principal, d.Product) {
				return GraphNode{}, false
			}
			return GraphNode{ID: "product:" + d.Name, Kind: "product", Label: d.Name}, true
		}
		return GraphNode{ID: "table:" + table, Kind: "table", Label: table}, true
	}
	keys := slices.SortedFunc(maps.Keys(sn.defs), compareKeys)
	for _, k := range keys {
		d := sn.defs[k]
		if k.Kind == definitions.KindFeed && !d.Retired && d.Feed != nil {
			if ok, _ := s.readFiles(sn, principal, d.Feed.Table); ok {
				if n, ok := tableNode(d.Feed.Table); ok {
					add(n)
				}
			}
		}
	}
	for _, k := range keys {
		d := sn.defs[k]
		if k.Kind != definitions.KindProduct || d.Retired || d.Product == nil || !s.cfg.rules.SeeProduct(principal, d.Product) {
			continue
		}
		id := "product:" + d.Name
		add(GraphNode{ID: id, Kind: "product", Label: d.Name})
		pins, err := pinned(sn, d.Name)
		if err != nil {
			return g, err
		}
		version := func(input, table string) string {
			now := version(table)
			p, ok := pins[input]
			switch {
			case !ok && now == "":
				return ""
			case !ok:
				return "now " + now
			case now == "" || now == p:
				return p
			}
			return p + " (now " + now + ")"
		}
		for _, in := range d.Product.Inputs {
			var from GraphNode
			var label string
			switch {
			case strings.HasPrefix(in, "topic:"):
				from = GraphNode{ID: in, Kind: "topic", Label: in}
			default:
				if p, ok := sn.product(in); ok {
					if !s.cfg.rules.SeeProduct(principal, p.Product) {
						continue
					}
					from, label = GraphNode{ID: "product:" + p.Name, Kind: "product", Label: p.Name}, version(in, p.Product.OutputTable)
				} else {
					n, ok := tableNode(in)
					if !ok {
						continue
					}
					from, label = n, version(in, in)
				}
			}
			add(from)
			g.Edges = append(g.Edges, GraphEdge{From: from.ID, To: id, Label: label})
		}
	}
	files, err := audit.Files(sn.st)
	if err != nil {
		return g, err
	}
	for _, f := range files {
		if ok, _ := s.readFiles(sn, principal, f.Table); !ok {
			continue
		}
		id := "file:" + f.ID
		add(GraphNode{ID: id, Kind: "file", Label: f.Key, Status: f.Status})
		if f.Table == "" {
			continue
		}
		n, ok := tableNode(f.Table)
		if !ok {
			continue
		}
		add(n)
		label := ""
		if f.TableVersion > 0 {
			label = "v" + strconv.FormatInt(f.TableVersion, 10)
		}
		g.Edges = append(g.Edges, GraphEdge{From: id, To: n.ID, Label: label})
	}
	return g, nil
}

// pinned returns the input versions ("v3" by input name) the latest
// started run of product pinned, none before its first run.
func pinned(sn *snapshot, product string) (map[string]string, error) {
	runs, err := catalogproj.Runs(sn.st, product)
	if err != nil {
		return nil, err
	}
	var latest *events.JobStarted
	for _, r := range runs {
		if s := r.Started; s != nil && (latest == nil || s.Envelope.OccurredAt.After(latest.Envelope.OccurredAt)) {
			latest = s
		}
	}
	out := map[string]string{}
	if latest != nil {
		for _, in := range latest.Inputs {
			out[in.Name] = "v" + strconv.FormatInt(in.Version, 10)
		}
	}
	return out, nil
}

// around returns the part of g within depth edges of node, either way.
func (g GraphView) around(node string, depth int) GraphView {
	adj := map[string][]string{}
	for _, e := range g.Edges {
		adj[e.From] = append(adj[e.From], e.To)
		adj[e.To] = append(adj[e.To], e.From)
	}
	in := map[string]bool{node: true}
	frontier := []string{node}
	for range depth {
		var next []string
		for _, n := range frontier {
			for _, m := range adj[n] {
				if !in[m] {
					in[m] = true
					next = append(next, m)
				}
			}
		}
		frontier = next
	}
	out := GraphView{Nodes: []GraphNode{}, Edges: []GraphEdge{}}
	for _, n := range g.Nodes {
		if in[n.ID] {
			out.Nodes = append(out.Nodes, n)
		}
	}
	for _, e := range g.Edges {
		if in[e.From] && in[e.To] {
			out.Edges = append(out.Edges, e)
		}
	}
	return out
}

// fileRetry asks for a landed UNMATCHED or FAILED file to be tried again,
// as `logmesh files retry` does: one FileRetryRequested for its next
// attempt on the raw domain's bus. Governance may retry any file; a domain
// the files of the tables of the products it owns (the files it may read).
func (s *Server) fileRetry(ctx context.Context, w http.ResponseWriter, r *http.Request, principal string) error {
	id := r.PathValue("file")
	reason := r.URL.Query().Get("reason")
	var req *events.FileRetryRequested
	err := s.read(ctx, r, func(sn *snapshot) error {
		files, err := audit.Files(sn.st)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(files, func(f audit.File) bool { return f.ID == id })
		if i < 0 {
			return fmt.Errorf("no landed file %s: %w", id, ErrNotFound)
		}
		f := files[i]
		if ok, why := s.readFiles(sn, principal, f.Table); !ok {
			return s.forbidden(ctx, principal, "retry-file", f.Key, "catalog", why)
		}
		switch {
		case f.Retry > f.Attempt:
			return &httpError{status: http.StatusConflict, reason: fmt.Sprintf("%s: a retry is already pending (attempt %d requested)", f.Key, f.Retry)}
		case f.Status != audit.StatusUnmatched && f.Status != audit.StatusFailed:
			return &httpError{status: http.StatusConflict, reason: fmt.Sprintf("%s is %s: only UNMATCHED and FAILED files can be retried", f.Key, cmp.Or(f.Status, "not landed"))}
		}
		req = audit.RetryRequest(f, principal, reason, s.cfg.Clock())
		return nil
	})
	if err != nil {
		return err
	}
	if err := s.emit(ctx, req); err != nil {
		return fmt.Errorf("catalog: requesting a retry of %s: %w", req.FileKey, err)
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"file": id, "key": req.FileKey, "attempt": req.Attempt, "event_id": req.Envelope.EventID})
	return nil
}
