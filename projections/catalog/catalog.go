// Package catalog is the central catalog's read model: the definitions
// (domains, feeds, products, grants, subscriptions, locations), every
// table's versions and the file audit, folded from every domain's bus into
// one store so that one log position describes them all. It is the
// composition of projections/definitions, projections/pointers and
// projections/audit, plus job attempts, ingestion batches and incidents of its own;
// their keys do not overlap (definitions "d/", pointers "c/", "v/", "b/",
// audit "f/", "s/", this package "ib/", "in/", "pd/", "r/"), and their readers
// (definitions.All, pointers.Versions, audit.ByStatus, ...) read a catalog
// store as they read their own.
//
// An event the audit refuses (projections.ErrInvariant: a file event
// without an event id, or whose correlation id is not its file's) is left
// out of the catalog's audit, as the audit's own host leaves it out of its
// store, and folded into the rest of the catalog as before.
//
// projections.AsOf wraps it to answer as of a moment.
package catalog

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/projections"
	"github.com/logmesh/logmesh/projections/audit"
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

// Topics returns every domain's events topic and the batches topic.
func (Projection) Topics(t events.Topics) events.TopicSet {
	return events.TopicSet{Names: []string{t.Batches()}, Pattern: t.AllDomains().Pattern}
}

// Handles implements projections.Selective.
func (Projection) Handles(name string) bool {
	return definitions.Projection{}.Handles(name) || pointers.Projection{}.Handles(name) || audit.Projection{}.Handles(name) ||
		name == events.NameJobStarted || name == events.NameJobFinished || name == events.NameBatchPlanned ||
		name == events.NameFileProcessed || name == events.NameFileFailed ||
		name == events.NameIncidentOpened || name == events.NameIncidentResolved
}

// Apply folds a definition, a TableCommitted, a job attempt's start or
// end, and the facts of the file audit.
func (Projection) Apply(s projections.Store, ev events.Event) error {
	// The audit refuses an event before it writes anything, so a refusal
	// leaves nothing of the event in s.
	if err := (audit.Projection{}).Apply(s, ev); err != nil && !errors.Is(err, projections.ErrInvariant) {
		return err
	}
	if err := (definitions.Projection{}).Apply(s, ev); err != nil {
		return err
	}
	if err := (pointers.Projection{}).Apply(s, ev); err != nil {
		return err
	}
	if err := applyIncident(s, ev); err != nil {
		return err
	}
	if err := applyPublished(s, ev); err != nil {
		return err
	}
	switch e := ev.(type) {
	case *events.JobStarted:
		return putRun(s, e.Product, e.JobID, e.Attempt, func(r *Run) { r.Started = e })
	case *events.JobFinished:
		return putRun(s, e.Product, e.JobID, e.Attempt, func(r *Run) { r.Finished = e })
	case *events.BatchPlanned:
		return putBatch(s, e.Table, e.BatchID, func(b *Batch) { b.Planned = e })
	case *events.FileProcessed:
		return putBatch(s, e.Table, e.BatchID, func(b *Batch) { b.Processed = append(b.Processed, e) })
	case *events.FileFailed:
		if e.BatchID != nil && e.Table != nil {
			return putBatch(s, *e.Table, *e.BatchID, func(b *Batch) { b.Failed = append(b.Failed, e) })
		}
	case *events.TableCommitted:
		if e.BatchID != nil {
			return putBatch(s, e.Table, *e.BatchID, func(b *Batch) { b.Commit = e })
		}
	}
	return nil
}

// prefixIngestBatch keys ingestion batches: ib/<table> 0x00 <batch id> → Batch
// JSON.
const prefixIngestBatch = "ib/"

// Batch is one ingestion batch: its plan and the loader's outcome.
type Batch struct {
	Planned   *events.BatchPlanned    `json:"planned,omitempty"`
	Processed []*events.FileProcessed `json:"processed,omitempty"`
	Failed    []*events.FileFailed    `json:"failed,omitempty"`
	Commit    *events.TableCommitted  `json:"commit,omitempty"`
}

func putBatch(s projections.Store, table, batch string, set func(*Batch)) error {
	return update(s, []byte(prefixIngestBatch+table+"\x00"+batch), set)
}

// Batches returns the ingestion batches of table ("" for every table), in
// key order.
func Batches[S any](st Scanner[S], table string) ([]Batch, error) {
	prefix := prefixIngestBatch
	if table != "" {
		prefix += table + "\x00"
	}
	// A batch's plan (on the batches topic) and its outcome (on the
	// table's domain bus) are folded in the scopes of their partitions:
	// one record each, merged here.
	var out []Batch
	index := map[string]int{}
	err := st.ScanAll([]byte(prefix), func(_ S, k, v []byte) error {
		var b Batch
		if err := json.Unmarshal(v, &b); err != nil {
			return fmt.Errorf("catalog: corrupt %s: %w", k, err)
		}
		i, ok := index[string(k)]
		if !ok {
			index[string(k)] = len(out)
			out = append(out, b)
			return nil
		}
		m := &out[i]
		if b.Planned != nil {
			m.Planned = b.Planned
		}
		if b.Commit != nil {
			m.Commit = b.Commit
		}
		m.Processed = append(m.Processed, b.Processed...)
		m.Failed = append(m.Failed, b.Failed...)
		return nil
	})
	slices.SortStableFunc(out, func(a, b Batch) int { return strings.Compare(batchName(a), batchName(b)) })
	return out, err
}

func batchName(b Batch) string {
	if b.Planned != nil {
		return b.Planned.Table + "\x00" + b.Planned.BatchID
	}
	return ""
}

// update reads the JSON value of key into a T, calls set, and writes it.
func update[T any](s projections.Store, k []byte, set func(*T)) error {
	var v T
	if b, ok, err := s.Get(k); err != nil {
		return err
	} else if ok {
		if err := json.Unmarshal(b, &v); err != nil {
			return fmt.Errorf("catalog: corrupt %s: %w", k, err)
		}
	}
	set(&v)
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.Set(k, b)
}

// scan decodes every value under prefix.
func scan[S, T any](st Scanner[S], prefix string) ([]T, error) {
	var out []T
	err := st.ScanAll([]byte(prefix), func(_ S, k, v []byte) error {
		var x T
		if err := json.Unmarshal(v, &x); err != nil {
			return fmt.Errorf("catalog: corrupt %s: %w", k, err)
		}
		out = append(out, x)
		return nil
	})
	return out, err
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
	return update(s, runKey(product, job, attempt), set)
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
	return scan[S, Run](st, prefix)
}
