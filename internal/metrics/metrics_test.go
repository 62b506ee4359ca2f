package metrics_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/logmesh/logmesh/internal/metrics"
)

// A nil *Metrics records nothing and wraps nothing, without a panic.
func TestNilRecordsNothing(t *testing.T) {
	var m *metrics.Metrics
	m.RowsWritten("t", 1)
	m.RowsRejected("t", 1)
	m.BatchDone(metrics.OutcomeOK, time.Second)
	m.JobDone(metrics.OutcomeFailed, time.Second)
	m.Delivered("inbox", 1)
	m.Refused("not_owner")
	m.FileRecorded("matched")
	m.Applied("audit", time.Millisecond)
	if m.Hooks() != nil || m.Registry() != nil || m.Described() != nil || m.Register(nil) != nil {
		t.Error("a nil Metrics returned something")
	}
	h := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	if m.Catalog(h) == nil || m.RegistryHandler(h) == nil {
		t.Error("nil handler")
	}
}

// The catalog's and the registry's requests are counted by status code,
// the first written status (an implicit 200 too).
func TestRequestsByCode(t *testing.T) {
	m := metrics.New()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/missing":
			w.WriteHeader(http.StatusNotFound)
			w.WriteHeader(http.StatusInternalServerError) // superfluous: not counted
		case "/implicit":
			_, _ = w.Write([]byte("ok"))
		}
	})
	cat, reg := m.Catalog(h), m.RegistryHandler(h)
	for _, p := range []string{"/missing", "/implicit", "/implicit", "/empty"} {
		cat.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, p, nil))
		reg.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, p, nil))
	}
	m.RowsWritten("trades", 4)
	m.RowsWritten("trades", 0) // nothing to count
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	fams, err := metrics.Parse(strings.NewReader(rec.Body.String()))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		match map[string]string
		want  float64
	}{
		{"logmesh_catalog_requests_total", map[string]string{"code": "404"}, 1},
		{"logmesh_catalog_requests_total", map[string]string{"code": "200"}, 3},
		{"logmesh_catalog_requests_total", map[string]string{"code": "500"}, 0},
		{"logmesh_registry_requests_total", map[string]string{"code": "200", "method": "POST"}, 3},
		{"logmesh_rows_written_total", map[string]string{"table": "trades"}, 4},
	}
	for _, tt := range tests {
		if got, _ := fams.Sum(tt.name, tt.match); got != tt.want {
			t.Errorf("%s%v = %v, want %v", tt.name, tt.match, got, tt.want)
		}
	}
	for _, n := range []string{"logmesh_batch_duration_seconds", "logmesh_job_duration_seconds", "logmesh_router_refusals_total"} {
		found := false
		for _, d := range m.Described() {
			found = found || d == n
		}
		if !found {
			t.Errorf("Described lacks %s", n)
		}
	}
}
