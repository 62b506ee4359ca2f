// Package catalog is the central catalog's read model: the definitions
// (domains, feeds, products, grants, subscriptions, locations) and every
// table's versions, folded from every domain's bus into one store so that
// one log position describes both. It is the composition of
// projections/definitions and projections/pointers, whose keys do not
// overlap; their readers (definitions.All, pointers.Versions, ...) read a
// catalog store as they read their own.
//
// projections.AsOf wraps it to answer as of a moment.
package catalog

import (
	"encoding/binary"
	"encoding/json"
	"fmt"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/projections"
	"github.com/logmesh/logmesh/projections/definitions"
	"github.com/logmesh/logmesh/projections/pointers"
)

// Projection is the catalog read model.
type Projection struct{}

var (
	_ projections.Projection = Projection{}
	_ projections.Selective  = Projection{}
)

// Name returns "catalog".
func (Projection) Name() string { return "catalog" }

// Topics returns every domain's events topic.
func (Projection) Topics(t events.Topics) events.TopicSet { return t.AllDomains() }

// Handles implements projections.Selective.
func (Projection) Handles(name string) bool {
	return definitions.Projection{}.Handles(name) || pointers.Projection{}.Handles(name) ||
		name == events.NameJobStarted || name == events.NameJobFinished
}

// Apply folds a definition, a TableCommitted, or a job attempt's start or
// end.
func (Projection) Apply(s projections.Store, ev events.Event) error {
	if err := (definitions.Projection{}).Apply(s, ev); err != nil {
		return err
	}
	if err := (pointers.Projection{}).Apply(s, ev); err != nil {
		return err
	}
	switch e := ev.(type) {
	case *events.JobStarted:
		return putRun(s, e.Product, e.JobID, e.Attempt, func(r *Run) { r.Started = e })
	case *events.JobFinished:
		return putRun(s, e.Product, e.JobID, e.Attempt, func(r *Run) { r.Finished = e })
	}
	return nil
}

// prefixRun keys job attempts: r/<product> 0x00 <job id> 0x00 <attempt
// uint32 BE> → Run JSON.
const prefixRun = "r/"

// Run is one attempt of a product's job: its JobStarted and, once it ended,
// its JobFinished.
type Run struct {
	Started  *events.JobStarted  `json:"started,omitempty"`
	Finished *events.JobFinished `json:"finished,omitempty"`
}

func runKey(product, job string, attempt int32) []byte {
	return binary.BigEndian.AppendUint32([]byte(prefixRun+product+"\x00"+job+"\x00"), uint32(attempt))
}

func putRun(s projections.Store, product, job string, attempt int32, set func(*Run)) error {
	k := runKey(product, job, attempt)
	var r Run
	if b, ok, err := s.Get(k); err != nil {
		return err
	} else if ok {
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("catalog: corrupt run %s: %w", k, err)
		}
	}
	set(&r)
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return s.Set(k, b)
}

// Scanner reads a catalog store.
type Scanner[S any] interface {
	ScanAll(prefix []byte, fn func(S, []byte, []byte) error) error
}

// Runs returns the job attempts of product ("" for every product), in key
// order.
func Runs[S any](st Scanner[S], product string) ([]Run, error) {
	prefix := prefixRun
	if product != "" {
		prefix += product + "\x00"
	}
	var out []Run
	err := st.ScanAll([]byte(prefix), func(_ S, _, v []byte) error {
		var r Run
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("catalog: corrupt run: %w", err)
		}
		out = append(out, r)
		return nil
	})
	return out, err
}
