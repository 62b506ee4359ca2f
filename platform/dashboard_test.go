package platform

import (
	"context"
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// dashboardFile is the Grafana dashboard deploy/ ships.
const dashboardFile = "../deploy/grafana/logmesh.json"

var metricName = regexp.MustCompile(`\blogmesh_[a-z0-9_]+`)

// dashboardMetrics returns every logmesh_ metric name the dashboard's
// PromQL (panel targets and template queries) uses.
func dashboardMetrics(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Title  string `json:"title"`
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Query any `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if d.Title == "" || d.UID == "" || len(d.Panels) == 0 {
		t.Fatalf("%s: title %q, uid %q, %d panels: not a dashboard", dashboardFile, d.Title, d.UID, len(d.Panels))
	}
	var exprs []string
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			if strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("panel %q has an empty expression", p.Title)
			}
			exprs = append(exprs, tg.Expr)
		}
	}
	for _, v := range d.Templating.List {
		if q, ok := v.Query.(string); ok {
			exprs = append(exprs, q)
		}
	}
	var names []string
	for _, e := range exprs {
		names = append(names, metricName.FindAllString(e, -1)...)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// Every metric the dashboard queries is one the platform registers: the
// dashboard cannot drift from the code.
func TestDashboardMetricsExist(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d := startBare(t)
	// kprom's series appear once a client produced and fetched.
	topic := d.Env.Config.Topics.Central()
	pc, err := d.Env.Conn.Client(kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if err := pc.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cc, err := d.Env.Conn.Client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	for got := 0; got == 0; {
		fs := cc.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatal(err)
		}
		got = fs.NumRecords()
	}
	known := map[string]bool{}
	for _, n := range d.Env.Metrics.Described() {
		known[n] = true
	}
	fams, err := d.Env.Metrics.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		known[f.GetName()] = true
	}
	used := dashboardMetrics(t)
	for _, want := range []string{"logmesh_consumer_lag_records", "logmesh_consumer_lag_seconds", "logmesh_files",
		"logmesh_rows_written_total", "logmesh_rows_rejected_total", "logmesh_batch_duration_seconds_bucket",
		"logmesh_job_duration_seconds_bucket", "logmesh_router_deliveries_total", "logmesh_router_refusals_total",
		"logmesh_catalog_requests_total", "logmesh_produce_bytes_total", "logmesh_fetch_bytes_total"} {
		if !slices.Contains(used, want) {
			t.Errorf("the dashboard has no panel on %s", want)
		}
	}
	for _, n := range used {
		base := n
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(n, suf); ok && known[b] {
				base = b
			}
		}
		if !known[base] {
			t.Errorf("the dashboard queries %s, which the platform does not register", n)
		}
	}
}
