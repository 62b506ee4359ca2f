// Package metrics is a logmesh process's Prometheus metrics: one registry
// per process (per Platform, so tests running many platforms in one process
// do not collide), the logmesh_ metrics the processors record into, and
// the franz-go client metrics of every Kafka client the process makes
// (kprom, through Hooks).
//
// Names follow the Prometheus conventions: the prefix logmesh_, base units
// (_seconds, _bytes) and _total on counters. Every recording method is safe
// on a nil *Metrics, where it does nothing, so processors built without a
// registry (most tests) need no branch.
package metrics

import (
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"
)

// Namespace is the prefix of every metric of the platform.
const Namespace = "logmesh"

// Outcomes of a batch or a job, the outcome label of the duration
// histograms.
const (
	OutcomeOK     = "ok"
	OutcomeFailed = "failed"
)

// Metrics is a process's registry and the metrics recorded into it. It is
// safe for concurrent use. A nil *Metrics records nothing.
type Metrics struct {
	reg      *prometheus.Registry
	mu       sync.Mutex
	own      []prometheus.Collector // what New and Register registered
	clients  atomic.Int64
	rows     *prometheus.CounterVec
	rejected *prometheus.CounterVec
	batches  *prometheus.HistogramVec
	jobs     *prometheus.HistogramVec
	delivers *prometheus.CounterVec
	refusals *prometheus.CounterVec
	registry *prometheus.CounterVec
	apply    *prometheus.HistogramVec
	catalog  *prometheus.CounterVec
	landed   *prometheus.CounterVec
}

// New returns a fresh registry holding the logmesh metrics and the Go
// runtime and process collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{reg: reg}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, labels)
		m.own = append(m.own, c)
		reg.MustRegister(c)
		return c
	}
	hist := func(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: name, Help: help, Buckets: buckets}, labels)
		m.own = append(m.own, h)
		reg.MustRegister(h)
		return h
	}
	slow := prometheus.ExponentialBuckets(0.01, 2.5, 12) // 10ms .. ~10min
	m.rows = counter("rows_written_total", "Rows committed into tables by the loader.", "table")
	m.rejected = counter("rows_rejected_total", "Records rejected by the loader (to the file's rejects, with a reason).", "table")
	m.batches = hist("batch_duration_seconds", "Time the loader took to load and commit one batch, by outcome.", slow, "outcome")
	m.jobs = hist("job_duration_seconds", "Time one product job attempt took in the runner, by outcome.", slow, "outcome")
	m.delivers = counter("router_deliveries_total", "Facts the router delivered (to the central bus or an inbox).", "destination")
	m.refusals = counter("router_refusals_total", "Facts the router refused to deliver, by reason.", "reason")
	m.registry = counter("registry_requests_total", "Requests the built-in schema registry served, by method and status code.", "method", "code")
	m.apply = hist("projection_apply_seconds", "Time a projection host took to fold one batch of records into its store.",
		prometheus.ExponentialBuckets(0.0001, 4, 10), "projection")
	m.catalog = counter("catalog_requests_total", "Requests the catalog served, by status code.", "code")
	m.landed = counter("files_recorded_total", "Landed files the watcher recorded, by whether a feed matched them (matched, unmatched).", "match")
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{Namespace: Namespace}))
	return m
}

// Registry returns the registry, to gather it or register more collectors
// into it (the lag and files collectors). Nil for a nil *Metrics.
func (m *Metrics) Registry() *prometheus.Registry {
	if m == nil {
		return nil
	}
	return m.reg
}

// Register adds c to the registry; a nil *Metrics ignores it.
func (m *Metrics) Register(c prometheus.Collector) error {
	if m == nil {
		return nil
	}
	if err := m.reg.Register(c); err != nil {
		return err
	}
	m.mu.Lock()
	m.own = append(m.own, c)
	m.mu.Unlock()
	return nil
}

// fqName is the name in a Desc's String().
var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

// Described returns the names of every metric New and Register registered,
// sorted, whether or not a series exists yet (a vector with no child is
// absent from a scrape). kprom's client metrics are not among them: they
// appear in a scrape once a client made requests.
func (m *Metrics) Described() []string {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	own := slices.Clone(m.own)
	m.mu.Unlock()
	ch := make(chan *prometheus.Desc)
	go func() {
		for _, c := range own {
			c.Describe(ch)
		}
		close(ch)
	}()
	var out []string
	for d := range ch {
		if sm := fqName.FindStringSubmatch(d.String()); sm != nil {
			out = append(out, sm[1])
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Hooks returns the franz-go hooks of one new client: a kprom plugin under
// the namespace logmesh, its series labelled client="N" (the process's Nth
// client) so clients do not collide, and dropped when the client closes.
// Call it once per client; nil for a nil *Metrics.
func (m *Metrics) Hooks() []kgo.Hook {
	if m == nil {
		return nil
	}
	n := m.clients.Add(1)
	reg := prometheus.WrapRegistererWith(prometheus.Labels{"client": strconv.FormatInt(n, 10)}, m.reg)
	return []kgo.Hook{kprom.NewMetrics(Namespace, kprom.Registerer(reg), kprom.Gatherer(m.reg))}
}

// RowsWritten counts n rows committed into table.
func (m *Metrics) RowsWritten(table string, n int64) {
	if m == nil || n <= 0 {
		return
	}
	m.rows.WithLabelValues(table).Add(float64(n))
}

// RowsRejected counts n records of table rejected.
func (m *Metrics) RowsRejected(table string, n int64) {
	if m == nil || n <= 0 {
		return
	}
	m.rejected.WithLabelValues(table).Add(float64(n))
}

// BatchDone observes one loader batch that took d.
func (m *Metrics) BatchDone(outcome string, d time.Duration) {
	if m == nil {
		return
	}
	m.batches.WithLabelValues(outcome).Observe(d.Seconds())
}

// JobDone observes one job attempt that took d.
func (m *Metrics) JobDone(outcome string, d time.Duration) {
	if m == nil {
		return
	}
	m.jobs.WithLabelValues(outcome).Observe(d.Seconds())
}

// Delivered counts n facts the router delivered to destination ("central"
// or "inbox").
func (m *Metrics) Delivered(destination string, n int) {
	if m == nil || n <= 0 {
		return
	}
	m.delivers.WithLabelValues(destination).Add(float64(n))
}

// Refused counts one fact the router refused, for reason.
func (m *Metrics) Refused(reason string) {
	if m == nil {
		return
	}
	m.refusals.WithLabelValues(reason).Inc()
}

// FileRecorded counts one landed file the watcher recorded; match is
// "matched" or "unmatched".
func (m *Metrics) FileRecorded(match string) {
	if m == nil {
		return
	}
	m.landed.WithLabelValues(match).Inc()
}

// Applied observes one batch folded into projection's store in d.
func (m *Metrics) Applied(projection string, d time.Duration) {
	if m == nil {
		return
	}
	m.apply.WithLabelValues(projection).Observe(d.Seconds())
}

// Catalog wraps the catalog's handler to count its requests by status
// code; a nil *Metrics returns h.
func (m *Metrics) Catalog(h http.Handler) http.Handler {
	if m == nil {
		return h
	}
	return countCodes(h, func(method string, code int) { m.catalog.WithLabelValues(strconv.Itoa(code)).Inc() })
}

// RegistryHandler wraps the schema registry's handler to count its requests by
// method and status code; a nil *Metrics returns h.
func (m *Metrics) RegistryHandler(h http.Handler) http.Handler {
	if m == nil {
		return h
	}
	return countCodes(h, func(method string, code int) { m.registry.WithLabelValues(method, strconv.Itoa(code)).Inc() })
}

// countCodes calls count with each request's method and status code after
// h served it.
func countCodes(h http.Handler, count func(method string, code int)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(sw, r)
		count(r.Method, sw.code)
	})
}

// statusWriter remembers the status code written through it.
type statusWriter struct {
	http.ResponseWriter
	code    int
	written bool
}

func (s *statusWriter) WriteHeader(code int) {
	if !s.written {
		s.code, s.written = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	s.written = true
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer
// (flushes of the console's live tail).
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Flush flushes the underlying writer if it can.
func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
