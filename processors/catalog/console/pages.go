package console

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"
)

// overview: domains, products with freshness against their objective,
// consumer lag, files by status in the last hour and day.
func (c *Console) overview(r *http.Request, tok string, asOf url.Values, v *view) (string, error) {
	ctx := r.Context()
	domains, err := c.list(ctx, tok, "/v1/domains", asOf)
	if err != nil {
		return "", err
	}
	products, err := c.list(ctx, tok, "/v1/products", asOf)
	if err != nil {
		return "", err
	}
	now := c.opts.Clock()
	type productRow struct {
		P                  map[string]any
		Age, Objective     string
		Late               bool
		LastRun, RunStatus string
	}
	// The last attempt of each product's job, from the runs the token may
	// read (newest first).
	last := map[string]runRow{}
	runsNote := ""
	if evs, err := c.list(ctx, tok, "/v1/lineage/runs", asOf); err != nil {
		runsNote = "runs not available: " + err.Error()
	} else if runs, err := runRows(evs); err != nil {
		runsNote = "runs not available: " + err.Error()
	} else {
		for _, r := range runs {
			if _, ok := last[r.Job]; !ok {
				last[r.Job] = r
			}
		}
	}
	var rows []productRow
	for _, p := range products {
		row := productRow{P: p}
		if r, ok := last[str(p["name"])]; ok {
			row.LastRun, row.RunStatus = r.Started.UTC().Format(time.RFC3339), runState(r)
		}
		if f, ok := p["freshness_seconds"].(float64); ok && f > 0 {
			row.Objective = (time.Duration(f) * time.Second).String()
		}
		if cur, ok := p["current"].(map[string]any); ok {
			if t, err := time.Parse(time.RFC3339Nano, str(cur["committed_at"])); err == nil {
				age := now.Sub(t)
				row.Age = age.Truncate(time.Second).String()
				if row.LastRun == "" { // a source-aligned product: its loads
					row.LastRun, row.RunStatus = t.UTC().Format(time.RFC3339), "committed"
				}
				if f, ok := p["freshness_seconds"].(float64); ok && f > 0 && age > time.Duration(f)*time.Second {
					row.Late = true
				}
			}
		}
		rows = append(rows, row)
	}
	type counts struct{ Hour, Day map[string]int }
	fc := counts{Hour: map[string]int{}, Day: map[string]int{}}
	files, ferr := c.list(ctx, tok, "/v1/files", asOf)
	for _, f := range files {
		t, err := time.Parse(time.RFC3339Nano, str(f["landed_at"]))
		if err != nil {
			continue
		}
		st := str(f["status"])
		if now.Sub(t) <= time.Hour {
			fc.Hour[st]++
		}
		if now.Sub(t) <= 24*time.Hour {
			fc.Day[st]++
		}
	}
	var lag []ProcessorLag
	lagNote := ""
	if c.opts.Lag == nil {
		lagNote = "not available"
	} else if lag, err = c.opts.Lag(ctx); err != nil {
		lagNote = "not available: " + err.Error()
	}
	filesNote := ""
	if ferr != nil {
		filesNote = "not available: " + ferr.Error()
	}
	open, err := c.list(ctx, tok, "/v1/incidents", withQuery(asOf, "state", "open"))
	incNote := ""
	if err != nil {
		incNote = "not available: " + err.Error()
	}
	v.Title = "Overview"
	v.Data = map[string]any{"Domains": domains, "Products": rows, "RunsNote": runsNote, "Files": fc, "FilesNote": filesNote,
		"Lag": lag, "LagNote": lagNote, "Open": open, "OpenNote": incNote}
	return "overview", nil
}

// files: the file audit, filtered by status, feed, table and landing time.
func (c *Console) files(r *http.Request, tok string, asOf url.Values, v *view) (string, error) {
	q := r.URL.Query()
	aq := url.Values{}
	for k, vs := range asOf {
		aq[k] = vs
	}
	if s := q.Get("status"); s != "" {
		aq.Set("status", s)
	}
	if t := q.Get("table"); t != "" {
		aq.Set("table", t)
	}
	files, err := c.list(r.Context(), tok, "/v1/files", aq)
	if err != nil {
		return "", err
	}
	feed, sinceStr := q.Get("feed"), q.Get("since")
	var sinceT time.Time
	if sinceStr != "" {
		if sinceT, err = time.Parse(time.RFC3339, sinceStr); err != nil {
			return "", &apiError{Status: http.StatusBadRequest, Reason: "since must be an RFC 3339 time"}
		}
	}
	var out []map[string]any
	for _, f := range files {
		if feed != "" && str(f["feed"]) != feed {
			continue
		}
		if !sinceT.IsZero() {
			t, err := time.Parse(time.RFC3339Nano, str(f["landed_at"]))
			if err != nil || t.Before(sinceT) {
				continue
			}
		}
		st := str(f["status"])
		f["retryable"] = (st == "UNMATCHED" || st == "FAILED") && num(f["retry_requested"]) <= num(f["attempt"])
		out = append(out, f)
	}
	sort.SliceStable(out, func(i, j int) bool { return str(out[i]["landed_at"]) > str(out[j]["landed_at"]) })
	v.Title = "File audit"
	v.Data = map[string]any{"Files": out, "Status": q.Get("status"), "Table": q.Get("table"), "Feed": feed, "Since": sinceStr,
		"Retried": q.Get("retried"), "RetryError": q.Get("retry_error")}
	return "files", nil
}

// lineage: the graph page; its JavaScript reads /console/api/lineage/graph.
func (c *Console) lineage(r *http.Request, _ string, _ url.Values, v *view) (string, error) {
	q := r.URL.Query()
	depth := q.Get("depth")
	if depth == "" {
		depth = "1"
	}
	v.Title = "Lineage"
	v.Data = map[string]any{"Node": q.Get("node"), "Depth": depth}
	return "lineage", nil
}

// product: a product's contract, versions, runs, why not yet, grants.
func (c *Console) product(r *http.Request, tok string, asOf url.Values, v *view) (string, error) {
	ctx := r.Context()
	name := r.PathValue("product")
	var p map[string]any
	if err := c.call(ctx, tok, http.MethodGet, "/v1/products/"+url.PathEscape(name), asOf, &p); err != nil {
		return "", err
	}
	d := map[string]any{"Product": p}
	var pending map[string]any
	if err := c.call(ctx, tok, http.MethodGet, "/v1/products/"+url.PathEscape(name)+"/pending", asOf, &pending); err != nil {
		d["PendingNote"] = "not available: " + err.Error()
	} else {
		d["Pending"] = pending
	}
	if table := str(p["output_table"]); table != "" && p["readable"] == true {
		var t map[string]any
		if err := c.call(ctx, tok, http.MethodGet, "/v1/tables/"+url.PathEscape(table), asOf, &t); err == nil {
			d["Table"] = t
		} else {
			d["TableNote"] = err.Error()
		}
	}
	rq := url.Values{"product": {name}}
	for k, vs := range asOf {
		rq[k] = vs
	}
	if runs, err := c.list(ctx, tok, "/v1/lineage/runs", rq); err != nil {
		d["RunsNote"] = err.Error()
	} else if d["Runs"], err = runRows(runs); err != nil {
		d["RunsNote"] = err.Error()
	}
	// The incidents of the product, open and resolved, of those the
	// token may see.
	if all, err := c.list(ctx, tok, "/v1/incidents", asOf); err == nil {
		var mine []map[string]any
		for _, i := range all {
			if str(i["product"]) == name || (str(i["table"]) != "" && str(i["table"]) == str(p["output_table"])) {
				mine = append(mine, i)
			}
		}
		d["Incidents"] = mine
	} else {
		d["IncidentsNote"] = "not available: " + err.Error()
	}
	if def, ok := p["definition"].(map[string]any); ok {
		d["Schema"] = indentJSON(str(def["output_schema"]))
	}
	v.Title = name
	v.Data = d
	return "product", nil
}

// incidents: open and resolved incidents, when the catalog records them.
func (c *Console) incidents(r *http.Request, tok string, asOf url.Values, v *view) (string, error) {
	var inc []map[string]any
	var note string
	var ae *apiError
	if list, err := c.list(r.Context(), tok, "/v1/incidents", asOf); err == nil {
		inc = list
	} else if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
		note = "not available: the catalog does not record incidents yet"
	} else {
		return "", err
	}
	v.Title = "Incidents"
	v.Data = map[string]any{"Incidents": inc, "Note": note}
	return "incidents", nil
}

// tailRecord is a record of GET /v1/tail.
type tailRecord struct {
	Partition  int32           `json:"partition"`
	Offset     int64           `json:"offset"`
	Timestamp  string          `json:"timestamp"`
	Name       string          `json:"name"`
	EventID    string          `json:"event_id"`
	OccurredAt string          `json:"occurred_at"`
	Value      json.RawMessage `json:"value"`
	Error      string          `json:"error"`
}

// Time is when the record's fact occurred, else the record's timestamp.
func (r tailRecord) Time() string { return cmp.Or(r.OccurredAt, r.Timestamp) }

// ValueText is the decoded value as compact JSON.
func (r tailRecord) ValueText() string {
	var b bytes.Buffer
	if err := json.Compact(&b, r.Value); err != nil {
		return string(r.Value)
	}
	return b.String()
}

// tail: the newest records of a topic, newest first, and the topics one
// may tail; its JavaScript polls /console/api/tail for newer records. The
// tail is live: it ignores as_of.
func (c *Console) tail(r *http.Request, tok string, _ url.Values, v *view) (string, error) {
	ctx := r.Context()
	topic := r.URL.Query().Get("topic")
	d := map[string]any{"Topic": topic}
	var topics struct {
		Topics []string `json:"topics"`
	}
	if err := c.call(ctx, tok, http.MethodGet, "/v1/tail/topics", nil, &topics); err != nil {
		d["TopicsNote"] = "the topics are not available: " + err.Error()
	}
	d["Topics"] = topics.Topics
	v.Title = "Live tail"
	v.Data = d
	if topic == "" {
		return "tail", nil
	}
	var t struct {
		Records []tailRecord `json:"records"`
		Next    string       `json:"next"`
	}
	if err := c.call(ctx, tok, http.MethodGet, "/v1/tail", url.Values{"topic": {topic}}, &t); err != nil {
		return "", err
	}
	slices.Reverse(t.Records)
	d["Records"], d["Next"] = t.Records, t.Next
	return "tail", nil
}

// runState says where a job's attempt stands.
func runState(r runRow) string {
	switch r.State {
	case "COMPLETE":
		return "succeeded"
	case "FAIL":
		if r.Retry {
			return "failed, will retry"
		}
		return "failed"
	case "START":
		return "running"
	}
	return strings.ToLower(r.State)
}

// withQuery is q with k set to v, q unchanged.
func withQuery(q url.Values, k, v string) url.Values {
	out := url.Values{}
	for kk, vs := range q {
		out[kk] = vs
	}
	out.Set(k, v)
	return out
}

// indentJSON is s indented, or s itself if it is not JSON.
func indentJSON(s string) string {
	var b bytes.Buffer
	if err := json.Indent(&b, []byte(s), "", "  "); err != nil {
		return s
	}
	return b.String()
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func num(v any) float64 {
	f, _ := v.(float64)
	return f
}

var _ = strings.TrimSpace
