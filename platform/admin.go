package platform

import (
	"encoding/hex"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/logmesh/logmesh/state"
)

// Checkpoints is what the admin endpoint serves for one live store: the
// offset and digest of every partition, read from one snapshot.
type Checkpoints struct {
	Processor  string            `json:"processor"`
	Projection string            `json:"projection"`
	Partitions []PartitionDigest `json:"partitions"`
}

// PartitionDigest is one partition of a live store.
type PartitionDigest struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Next      int64  `json:"next"`
	HasOffset bool   `json:"has_offset"`
	Digest    string `json:"digest"`
}

// StoreInfo names a live store.
type StoreInfo struct {
	Processor  string `json:"processor"`
	Projection string `json:"projection"`
}

// AdminHandler serves a process's admin endpoint:
//
//	GET /healthz                                 200 "ok" (kept for older probes; same as /livez)
//	GET /livez                                   200 "ok" while the process runs; it asks nothing outside the process
//	GET /readyz                                  200 "ok" once Kafka answers a metadata request, the schema
//	                                             registry answers, and every live projection store of the
//	                                             process has folded up to the end offsets its topics had when
//	                                             readiness was first asked; until then 503 with one reason a
//	                                             line ("kafka: ...", "registry: ...", "audit: catching up (...)")
//	GET /metrics                                 Prometheus metrics (logmesh_*, kprom client metrics, lag)
//	GET /v1/processors                           the processors this process runs: name, state, error
//	GET /v1/stores                               the live projection stores
//	GET /v1/stores/{processor}/checkpoints       a live store's per-partition offsets and digests
//
// Errors are JSON {"error": reason} with a 4xx or 5xx status.
func AdminHandler(env *Env, processors func() []ProcessorStatus) http.Handler {
	mux := http.NewServeMux()
	ok := func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) }
	mux.HandleFunc("GET /healthz", ok)
	mux.HandleFunc("GET /livez", ok)
	ready := &readiness{env: env}
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		reasons := ready.check(r.Context())
		if len(reasons) > 0 {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready:\n" + strings.Join(reasons, "\n") + "\n"))
			return
		}
		ok(w, r)
	})
	mux.Handle("GET /metrics", env.Metrics.Handler())
	mux.HandleFunc("GET /v1/processors", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, processors())
	})
	mux.HandleFunc("GET /v1/stores", func(w http.ResponseWriter, _ *http.Request) {
		out := []StoreInfo{}
		for _, l := range env.liveStores() {
			out = append(out, StoreInfo{l.processor, l.projection})
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("GET /v1/stores/{processor}/checkpoints", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("processor")
		for _, l := range env.liveStores() {
			if l.processor != name {
				continue
			}
			cps, err := l.store().Checkpoints()
			if err != nil {
				writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
				return
			}
			out := Checkpoints{Processor: l.processor, Projection: l.projection, Partitions: []PartitionDigest{}}
			for _, tp := range slices.SortedFunc(maps.Keys(cps), state.TopicPartition.Compare) {
				c := cps[tp]
				out.Partitions = append(out.Partitions, PartitionDigest{Topic: tp.Topic, Partition: tp.Partition,
					Next: c.Next, HasOffset: c.HasOffset, Digest: hex.EncodeToString(c.Digest[:])})
			}
			writeJSON(w, http.StatusOK, out)
			return
		}
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no live store of processor " + name + " in this process"})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
