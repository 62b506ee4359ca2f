package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/logmesh/logmesh/internal/metrics"
	"github.com/logmesh/logmesh/platform"
	"github.com/logmesh/logmesh/projections/audit"
)

// scrape gets an admin endpoint's /metrics.
func scrape(t *testing.T, adminURL string) metrics.Families {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fams, err := metrics.Scrape(ctx, adminURL+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// filesByStatus counts `logmesh files --json` by status.
func (e *e2e) filesByStatus() map[string]float64 {
	e.t.Helper()
	out, err := e.run("files", "--json")
	if err != nil {
		e.t.Fatal(err)
	}
	var files []struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal([]byte(out), &files); err != nil {
		e.t.Fatalf("files --json: %v\n%s", err, out)
	}
	n := map[string]float64{}
	for _, s := range audit.Statuses() {
		n[s] = 0
	}
	for _, f := range files {
		n[f.Status]++
	}
	return n
}

// metricFiles is logmesh_files by status.
func metricFiles(fams metrics.Families) map[string]float64 {
	n := map[string]float64{}
	for _, s := range audit.Statuses() {
		v, _ := fams.Sum("logmesh_files", map[string]string{"status": s})
		n[s] = v
	}
	return n
}

// consoleLag is the lag the console's overview shows for a processor's
// group, read as governance signs in; -1 if the overview has no row for
// it.
func (e *e2e) consoleLag(processor string) int64 {
	e.t.Helper()
	tok, err := platform.DevToken(filepath.Join(e.cfg.DataDir, platform.DevTokensFile), "governance")
	if err != nil {
		e.t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodGet, e.p.Env.CatalogURL()+"/console/", nil)
	if err != nil {
		e.t.Fatal(err)
	}
	req.AddCookie(&http.Cookie{Name: "logmesh_token", Value: tok})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		e.t.Fatalf("console overview: %d %v\n%s", resp.StatusCode, err, body)
	}
	row := regexp.MustCompile(fmt.Sprintf(`<tr><td>%s</td><td>%s</td><td>(\d+)</td></tr>`,
		regexp.QuoteMeta(processor), regexp.QuoteMeta(e.p.Env.Config.Group(processor))))
	m := row.FindSubmatch(body)
	if m == nil {
		return -1
	}
	n, err := strconv.ParseInt(string(m[1]), 10, 64)
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// The acceptance of issue 16's metrics: during the end-to-end suite,
// /metrics shows a non-zero lag that drains to zero, and the file counters
// equal `logmesh files`.
//
// The lag is made deterministic by running the audit elsewhere: the dev
// platform runs every processor but the audit and reports the audit's lag
// (Config.LagOf), so the files it lands are lag of the audit's group until
// a second process starts the audit, which then drains it.
func TestE2EMetrics(t *testing.T) {
	cfg := e2eConfig(t, "audit")
	cfg.LagOf = []string{"audit"}
	e := startE2E(t, cfg)
	for _, f := range e2eFiles {
		e.land(f.key, f.content)
	}
	e.files(len(e2eFiles))
	group := e.p.Env.Config.Group("audit")
	auditLag := func(fams metrics.Families) (records float64, seconds bool) {
		records, ok := fams.Sum("logmesh_consumer_lag_records", map[string]string{"group": group})
		if !ok {
			t.Fatalf("no logmesh_consumer_lag_records in /metrics")
		}
		_, seconds = fams.Sum("logmesh_consumer_lag_seconds", map[string]string{"group": group})
		return records, seconds
	}
	before, hasSeconds := auditLag(scrape(t, e.p.AdminURL))
	if before <= 0 || !hasSeconds {
		t.Fatalf("lag of %s before it runs = %v records (seconds given %v), want > 0", group, before, hasSeconds)
	}
	if fams := scrape(t, e.p.AdminURL); fams["logmesh_consumer_lag_seconds"] != nil {
		for _, m := range fams["logmesh_consumer_lag_seconds"].GetMetric() {
			if metrics.Label(m, "group") == group && m.GetGauge().GetValue() < 0 {
				t.Errorf("negative lag age %v", m)
			}
		}
	}

	// The console's overview measures the same lag.
	if got := e.consoleLag("audit"); got <= 0 {
		t.Fatalf("the console overview's lag of the audit before it runs = %d, want > 0", got)
	}

	// The audit starts in a process of its own, on the same cluster.
	acfg := e.p.Env.Config
	acfg.DataDir, acfg.AdminAddr, acfg.RecordMesh, acfg.LagOf, acfg.Metrics = t.TempDir(), "", false, nil, nil
	ap, err := platform.Start(context.Background(), acfg, "audit")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ap.Close() })

	deadline := time.Now().Add(2 * time.Minute)
	for {
		after, _ := auditLag(scrape(t, e.p.AdminURL))
		if after == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lag of %s still %v records at the deadline (was %v)", group, after, before)
		}
		select {
		case err := <-ap.Err():
			t.Fatalf("the audit stopped: %v", err)
		case <-time.After(250 * time.Millisecond):
		}
	}

	if got := e.consoleLag("audit"); got != 0 {
		t.Fatalf("the console overview's lag of the audit once drained = %d, want 0", got)
	}

	// The planner's audit store may fold the last outcomes a moment after
	// `logmesh files` (a replay of the log) shows them.
	want := e.filesByStatus()
	for {
		got := metricFiles(scrape(t, e.p.AdminURL))
		if maps.Equal(got, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("logmesh_files = %v, logmesh files = %v", got, want)
		}
		time.Sleep(250 * time.Millisecond) // polling a condition, not a timed assertion
	}
	// What the loader, the planner's host and the registry recorded.
	fams := scrape(t, e.p.AdminURL)
	for _, c := range []struct {
		name  string
		match map[string]string
	}{
		{"logmesh_rows_written_total", nil},
		{"logmesh_rows_rejected_total", nil},
		{"logmesh_batch_duration_seconds", map[string]string{"outcome": "ok"}},
		{"logmesh_batch_duration_seconds", map[string]string{"outcome": "failed"}}, // over-threshold.csv, garbled.csv
		{"logmesh_projection_apply_seconds", map[string]string{"projection": "audit"}},
		{"logmesh_registry_requests_total", nil},
		{"logmesh_files_recorded_total", nil},
	} {
		if n, _ := fams.Sum(c.name, c.match); n <= 0 {
			t.Errorf("%s%v = %v, want > 0", c.name, c.match, n)
		}
	}
	total := 0.0
	for _, s := range slices.Sorted(maps.Keys(want)) {
		total += want[s]
	}
	if total != float64(len(e2eFiles)) || want[audit.StatusProcessed] == 0 {
		t.Errorf("files by status %v: want all %d files, some PROCESSED", want, len(e2eFiles))
	}
}
