// Package orchestration is the orchestrator's read model and its decisions:
// a pure fold of each domain's inbox into the state of the domain's data
// products — their definitions, the input versions seen since they
// appeared, the job in flight, retries, a pending run, an open incident —
// and, for each fact, the facts the orchestrator emits because of it
// (Decide): JobStarted (a run, or a retry, pinned to exact input
// versions), IncidentOpened (retries exhausted) and IncidentResolved (the
// next success).
//
// The inbox is one partition per domain (the router keys it by domain), so
// the fold sees the domain's facts in one order, and the same log gives the
// same decisions: every decision's event id, time and content derive from
// the facts before it, never from a clock.
//
// What it folds, from the inbox of domain D:
//
//   - ProductPublished of D's consumer-aligned products (the router sends an
//     owner its definitions): the product appears, or changes. A product
//     that appears (or comes back after a retirement) has seen no input:
//     refreshes from before it existed never fire it.
//   - ProductRetired: the product stops deciding.
//   - ProductRefreshed of an input (the router delivers the inputs of D's
//     products): the input's version is remembered; the product's trigger
//     policy (internal/trigger) decides whether it runs. An input counts if
//     it was refreshed since the last successful run and, with a max input
//     age, not longer ago than that at the fact's time. A run needs a
//     version of every input to pin. While a job is in flight a trigger
//     becomes one pending run, started when the job ends.
//   - RunRequested: a manual run, whatever the policy; or, from the
//     scheduler (processors/scheduler), the product's cron schedule is due
//     at the fact's time, which the policy ("schedule", "inputs and
//     schedule", "inputs or schedule") weighs like an input. A due time
//     seen already, or from before the product appeared, is ignored.
//   - JobFinished of the job in flight: on success the pinned versions
//     become the last run's (and an open incident is resolved); on failure
//     the next attempt starts with the same pins and a backoff (not_before)
//     until the retry policy's attempts are spent, then one incident opens.
package orchestration

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/trigger"
	"github.com/logmesh/logmesh/projections"
)

// Projection is the orchestration read model over every domain's inbox.
type Projection struct{}

// Name implements projections.Projection.
func (Projection) Name() string { return "orchestration" }

// Topics implements projections.Projection: every domain's inbox.
func (Projection) Topics(names events.Topics) events.TopicSet { return names.AllInboxes() }

// Handles implements projections.Selective.
func (Projection) Handles(name string) bool {
	switch name {
	case events.NameProductPublished, events.NameProductRetired, events.NameProductRefreshed,
		events.NameJobFinished, events.NameRunRequested:
		return true
	}
	return false
}

// Apply implements projections.Projection; without its topic a fact is
// not folded (hosts call ApplyAt).
func (Projection) Apply(projections.Store, events.Event) error { return nil }

// ApplyAt implements projections.Located: Decide, with the decisions
// dropped.
func (Projection) ApplyAt(s projections.Store, topic string, ev events.Event) error {
	_, err := Decide(s, topic, ev)
	return err
}

// Defaults for products that do not say.
const (
	DefaultRetryAttempts = 3
	DefaultRetryBackoff  = time.Minute
)

// Job statuses of Product.LastStatus.
const (
	StatusRunning = "RUNNING"
)

// Product is the state of one data product.
type Product struct {
	Name         string   `json:"name"`
	Owner        string   `json:"owner"`
	Visibility   string   `json:"visibility"`
	OutputTable  string   `json:"output_table"`
	Transform    string   `json:"transform"`
	OutputSchema string   `json:"output_schema"`
	PrimaryKey   []string `json:"primary_key"`
	Mode         string   `json:"mode"`
	Inputs       []string `json:"inputs"` // tables and products, not topics
	Trigger      string   `json:"trigger"`
	Schedule     string   `json:"schedule,omitempty"` // cron, for a policy that names the schedule
	Engine       string   `json:"engine,omitempty"`   // "" for duckdb
	MaxInputAge  int64    `json:"max_input_age_s,omitempty"`
	Timeout      int64    `json:"timeout_s,omitempty"`
	RetryMax     int32    `json:"retry_max"`
	RetryBackoff int64    `json:"retry_backoff_s"`
	Hash         string   `json:"hash"`
	Retired      bool     `json:"retired,omitempty"`
	// Installation is the installation the product was defined in
	// (ProductPublished.InstallationID), which its job ids include; "" for
	// a product defined before installations had ids.
	Installation string `json:"installation,omitempty"`

	// Seen is the latest refresh of each input since the product appeared.
	Seen map[string]Seen `json:"seen"`
	// Last is the version of each input the last successful run read.
	Last map[string]int64 `json:"last"`
	// Job is the job in flight, if any.
	Job *Job `json:"job,omitempty"`
	// Pending holds the facts that triggered a run while the job was in
	// flight: one run starts for all of them when it ends.
	Pending []string `json:"pending,omitempty"`
	// Runs counts the runs started.
	Runs int64 `json:"runs"`
	// Incident is the id of the open incident, if any.
	Incident string `json:"incident,omitempty"`
	// LastStatus and LastFinished describe the last attempt that ended.
	LastStatus   string `json:"last_status,omitempty"`
	LastFinished int64  `json:"last_finished_us,omitempty"`
	LastVersion  int64  `json:"last_version,omitempty"`
	// Since is when the product appeared (or came back), Unix
	// microseconds.
	Since int64 `json:"since_us,omitempty"`
	// LastTick is the latest due time of its schedule seen, Unix
	// microseconds; Due says the schedule is due and no run has started
	// since.
	LastTick int64 `json:"last_tick_us,omitempty"`
	Due      bool  `json:"schedule_due,omitempty"`
}

// Seen is one input refresh.
type Seen struct {
	Table            string `json:"table"`
	Version          int64  `json:"version"`
	SnapshotID       int64  `json:"snapshot_id"`
	MetadataLocation string `json:"metadata_location"`
	At               int64  `json:"at_us"` // data_as_of, else the fact's time
	EventID          string `json:"event_id"`
}

// Job is a job in flight.
type Job struct {
	ID          string                `json:"id"`
	Attempt     int32                 `json:"attempt"`
	Trigger     string                `json:"trigger"`
	Policy      string                `json:"policy"`
	Inputs      []events.InputVersion `json:"inputs"`
	TriggeredBy []string              `json:"triggered_by"`
	Started     int64                 `json:"started_us"`
}

// Get returns the state of product in s.
func Get(s projections.Store, product string) (*Product, bool, error) {
	b, ok, err := s.Get(productKey(product))
	if err != nil || !ok {
		return nil, false, err
	}
	p := &Product{}
	if err := json.Unmarshal(b, p); err != nil {
		return nil, false, fmt.Errorf("orchestration: state of %s: %w", product, err)
	}
	return p, true, nil
}

func put(s projections.Store, p *Product) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return s.Set(productKey(p.Name), b)
}

func productKey(name string) []byte { return []byte("p/" + name) }

// ProductKey is the key of product's state in a store Get reads, for a
// host that scans a store of many partitions for it.
func ProductKey(product string) []byte { return productKey(product) }
func readersKey(input string) []byte   { return []byte("r/" + input) }

// readers returns the products of the scope that read input.
func readers(s projections.Store, input string) ([]string, error) {
	b, ok, err := s.Get(readersKey(input))
	if err != nil || !ok {
		return nil, err
	}
	var out []string
	return out, json.Unmarshal(b, &out)
}

func setReader(s projections.Store, input, product string, on bool) error {
	rs, err := readers(s, input)
	if err != nil {
		return err
	}
	i, found := slices.BinarySearch(rs, product)
	switch {
	case on && !found:
		rs = slices.Insert(rs, i, product)
	case !on && found:
		rs = slices.Delete(rs, i, i+1)
	default:
		return nil
	}
	if len(rs) == 0 {
		return s.Delete(readersKey(input))
	}
	b, _ := json.Marshal(rs)
	return s.Set(readersKey(input), b)
}

// Decide folds ev, read from topic (a domain's inbox), into s and returns
// the facts the orchestrator emits because of it, in order.
func Decide(s projections.Store, topic string, ev events.Event) ([]events.Event, error) {
	domain, ok := events.InboxDomain(topic)
	if !ok {
		return nil, nil
	}
	switch e := ev.(type) {
	case *events.ProductPublished:
		if e.OwnerDomain != domain || e.Kind != "consumer-aligned" {
			return nil, nil // another domain's product, seen through a subscription; or a feed's
		}
		return nil, publish(s, e)
	case *events.ProductRetired:
		p, ok, err := Get(s, e.Product)
		if err != nil || !ok || e.OwnerDomain != domain {
			return nil, err
		}
		p.Retired, p.Seen, p.Pending, p.Due = true, map[string]Seen{}, nil, false
		for _, in := range p.Inputs {
			if err := setReader(s, in, p.Name, false); err != nil {
				return nil, err
			}
		}
		return nil, put(s, p)
	case *events.ProductRefreshed:
		return refreshed(s, e)
	case *events.RunRequested:
		p, ok, err := Get(s, e.Product)
		if err != nil || !ok || p.Retired {
			return nil, err
		}
		if e.RequestedBy == events.RequestedBySchedule {
			return scheduled(s, p, e)
		}
		return start(s, p, ev.Meta(), "manual", trigger.Manual, []string{e.Envelope.EventID})
	case *events.JobFinished:
		return finished(s, e)
	}
	return nil, nil
}

// publish records a product's (new) definition.
func publish(s projections.Store, e *events.ProductPublished) error {
	p, ok, err := Get(s, e.Product)
	if err != nil {
		return err
	}
	if !ok || p.Retired {
		// New, or back: it has seen nothing yet.
		prev := p
		p = &Product{Name: e.Product, Seen: map[string]Seen{}, Last: map[string]int64{}, Since: e.Envelope.OccurredAt.UnixMicro()}
		if prev != nil {
			p.Runs, p.Job, p.Incident, p.LastTick = prev.Runs, prev.Job, prev.Incident, prev.LastTick
		}
	}
	installed := false
	if e.InstallationID != nil && p.Installation != *e.InstallationID {
		p.Installation, installed = *e.InstallationID, true
	}
	if p.Hash == e.DefinitionHash && !p.Retired {
		if installed {
			return put(s, p)
		}
		return nil
	}
	old := p.Inputs
	p.Owner, p.Visibility, p.OutputTable, p.Mode, p.Trigger = e.OwnerDomain, e.Visibility, e.OutputTable, e.Mode, e.Trigger
	p.Schedule = deref(e.Schedule)
	p.Transform, p.OutputSchema, p.Engine = deref(e.Transform), deref(e.OutputSchema), deref(e.Engine)
	p.PrimaryKey = slices.Clone(e.PrimaryKey)
	p.Inputs = nil
	for _, in := range e.Inputs {
		if !strings.HasPrefix(in, "topic:") {
			p.Inputs = append(p.Inputs, in)
		}
	}
	p.MaxInputAge, p.Timeout = derefInt(e.MaxInputAgeSeconds), derefInt(e.TimeoutSeconds)
	p.RetryMax, p.RetryBackoff = DefaultRetryAttempts, int64(DefaultRetryBackoff/time.Second)
	if e.RetryMaxAttempts != nil && *e.RetryMaxAttempts > 0 {
		p.RetryMax = *e.RetryMaxAttempts
	}
	if e.RetryBackoffSeconds != nil {
		p.RetryBackoff = *e.RetryBackoffSeconds
	}
	p.Hash, p.Retired = e.DefinitionHash, false
	for in := range p.Seen {
		if !slices.Contains(p.Inputs, in) {
			delete(p.Seen, in)
		}
	}
	for _, in := range old {
		if err := setReader(s, in, p.Name, false); err != nil {
			return err
		}
	}
	for _, in := range p.Inputs {
		if err := setReader(s, in, p.Name, true); err != nil {
			return err
		}
	}
	return put(s, p)
}

// refreshed records an input's refresh for every product that reads it
// and starts the runs their policies call for.
func refreshed(s projections.Store, e *events.ProductRefreshed) ([]events.Event, error) {
	names := []string{e.Product}
	if e.Table != e.Product {
		names = append(names, e.Table)
	}
	var out []events.Event
	done := map[string]bool{}
	for _, input := range names {
		rs, err := readers(s, input)
		if err != nil {
			return nil, err
		}
		for _, name := range rs {
			if done[name] {
				continue
			}
			done[name] = true
			p, ok, err := Get(s, name)
			if err != nil || !ok || p.Retired {
				if err != nil {
					return nil, err
				}
				continue
			}
			at := e.Envelope.OccurredAt
			if e.DataAsOf != nil {
				at = *e.DataAsOf
			}
			if prev, ok := p.Seen[input]; ok && prev.Version >= e.Version {
				continue // an older or repeated refresh
			}
			p.Seen[input] = Seen{Table: e.Table, Version: e.Version, SnapshotID: e.SnapshotID,
				MetadataLocation: e.MetadataLocation, At: at.UnixMicro(), EventID: e.Envelope.EventID}
			pol, fresh := p.policy(e.Envelope.OccurredAt)
			if !pol.Fires(p.Inputs, fresh, input, p.Due) {
				if err := put(s, p); err != nil {
					return nil, err
				}
				continue
			}
			evs, err := start(s, p, e.Meta(), "inputs", pol.String(), triggeredBy(p, fresh))
			if err != nil {
				return nil, err
			}
			out = append(out, evs...)
		}
	}
	return out, nil
}

// policy returns p's trigger policy and which of its inputs count as
// refreshed at the time now: refreshed since the last successful run and
// since the version the job in flight reads and, with a max input age, not
// longer ago than that. (Without the job in flight, a due time that came
// while it ran made a second run of the versions it had just read.)
func (p *Product) policy(now time.Time) (trigger.Policy, func(string) bool) {
	pol, err := trigger.Parse(p.Trigger, p.Inputs)
	if err != nil {
		pol = trigger.Policy{} // refused at apply; never fires
	}
	return pol, func(in string) bool { return p.input(in, now).Fresh }
}

// scheduled handles the scheduler's RunRequested: the schedule is due at
// its time. A due time not after the last one seen (a scheduler that
// restarted, or a second one) or before the product appeared changes
// nothing. Otherwise the schedule stays due until a run starts, so
// "inputs and schedule" fires when the inputs come.
func scheduled(s projections.Store, p *Product, e *events.RunRequested) ([]events.Event, error) {
	due := e.Envelope.OccurredAt.UnixMicro()
	if due <= p.LastTick || due < p.Since {
		return nil, nil
	}
	p.LastTick, p.Due = due, true
	pol, fresh := p.policy(e.Envelope.OccurredAt)
	if !pol.UsesSchedule() || !pol.Fires(p.Inputs, fresh, "", true) {
		return nil, put(s, p)
	}
	return start(s, p, e.Meta(), "schedule", pol.String(), append(triggeredBy(p, fresh), e.Envelope.EventID))
}

// triggeredBy lists the refreshes that count, in the order of the inputs.
func triggeredBy(p *Product, fresh func(string) bool) []string {
	var ids []string
	for _, in := range p.Inputs {
		if fresh(in) {
			ids = append(ids, p.Seen[in].EventID)
		}
	}
	return ids
}

// start starts a run of p for the fact at env, or makes it pending while a
// job is in flight. It stores p.
func start(s projections.Store, p *Product, env *events.Envelope, kind, policy string, by []string) ([]events.Event, error) {
	if p.Job != nil {
		for _, id := range by {
			if !slices.Contains(p.Pending, id) {
				p.Pending = append(p.Pending, id)
			}
		}
		return nil, put(s, p)
	}
	var pins []events.InputVersion
	for _, in := range p.Inputs {
		sn, ok := p.Seen[in]
		if !ok {
			// Nothing to pin for an input never refreshed since the
			// product appeared: no run.
			return nil, put(s, p)
		}
		pins = append(pins, events.InputVersion{Name: in, Table: sn.Table, Version: sn.Version, SnapshotID: sn.SnapshotID,
			MetadataLocation: sn.MetadataLocation})
	}
	p.Runs++
	p.Due = false
	id := events.DeriveID("job", p.Name, strconv.FormatInt(p.Runs, 10), env.EventID)
	if p.Installation != "" {
		// Two installations never share a job id (nor so an OpenLineage
		// run id); a product defined before installations had ids keeps
		// the ids it always had.
		id = events.DeriveID("job", p.Installation, p.Name, strconv.FormatInt(p.Runs, 10), env.EventID)
	}
	p.Job = &Job{ID: id, Attempt: 1, Trigger: kind, Policy: policy, Inputs: pins, TriggeredBy: by, Started: env.OccurredAt.UnixMicro()}
	p.Pending = nil
	p.LastStatus = StatusRunning
	if err := put(s, p); err != nil {
		return nil, err
	}
	return []events.Event{jobStarted(p, env, nil)}, nil
}

// jobStarted is the JobStarted of p's job in flight, caused by env.
func jobStarted(p *Product, env *events.Envelope, notBefore *time.Time) *events.JobStarted {
	j := p.Job
	trig := j.Trigger
	if j.Attempt > 1 {
		trig = "retry"
	}
	js := &events.JobStarted{
		Envelope: events.Envelope{
			EventID:       events.DeriveID("job-started", j.ID, strconv.Itoa(int(j.Attempt))),
			OccurredAt:    env.OccurredAt,
			Domain:        p.Owner,
			CorrelationID: j.ID,
			CausationID:   env.EventID,
		},
		JobID: j.ID, Product: p.Name, Attempt: j.Attempt, Trigger: trig, Inputs: slices.Clone(j.Inputs),
		OutputTable: p.OutputTable, TransformHash: events.DeriveID("transform", p.Transform), Runner: cmp.Or(p.Engine, "duckdb"),
		Policy: &j.Policy, TriggeredBy: slices.Clone(j.TriggeredBy), OwnerDomain: p.Owner, Visibility: p.Visibility,
		Transform: &p.Transform, OutputSchema: &p.OutputSchema, PrimaryKey: slices.Clone(p.PrimaryKey), Mode: p.Mode,
		NotBefore: notBefore,
	}
	if js.Mode == "" {
		js.Mode = "append"
	}
	if js.PrimaryKey == nil {
		js.PrimaryKey = []string{}
	}
	if p.Timeout > 0 {
		js.TimeoutSeconds = &p.Timeout
	}
	return js
}

// finished handles the end of an attempt of the job in flight.
func finished(s projections.Store, e *events.JobFinished) ([]events.Event, error) {
	p, ok, err := Get(s, e.Product)
	if err != nil || !ok {
		return nil, err
	}
	if p.Job == nil || p.Job.ID != e.JobID || p.Job.Attempt != e.Attempt {
		return nil, nil // a repeat, or an attempt that is not in flight
	}
	env := e.Meta()
	p.LastStatus, p.LastFinished = e.Status, env.OccurredAt.UnixMicro()
	var out []events.Event
	if e.Status == events.StatusSucceeded {
		for _, in := range p.Job.Inputs {
			p.Last[in.Name] = in.Version
		}
		if e.OutputVersion != nil {
			p.LastVersion = *e.OutputVersion
		}
		if p.Incident != "" {
			out = append(out, &events.IncidentResolved{
				Envelope: events.Envelope{EventID: events.DeriveID("incident-resolved", p.Incident), OccurredAt: env.OccurredAt,
					Domain: p.Owner, CorrelationID: p.Job.ID, CausationID: env.EventID},
				IncidentID: p.Incident, Resolution: fmt.Sprintf("job %s succeeded", p.Job.ID), ResolvedBy: env.EventID,
			})
			p.Incident = ""
		}
	} else {
		if p.Job.Attempt < p.RetryMax && !p.Retired {
			backoff := time.Duration(p.RetryBackoff) * time.Second << (p.Job.Attempt - 1)
			notBefore := env.OccurredAt.Add(backoff)
			p.Job.Attempt++
			if err := put(s, p); err != nil {
				return nil, err
			}
			return []events.Event{jobStarted(p, env, &notBefore)}, nil
		}
		if p.Incident == "" {
			p.Incident = events.DeriveID("incident", p.Job.ID)
			detail := deref(e.Error)
			out = append(out, &events.IncidentOpened{
				Envelope: events.Envelope{EventID: p.Incident, OccurredAt: env.OccurredAt, Domain: p.Owner,
					CorrelationID: p.Job.ID, CausationID: env.EventID},
				IncidentID: p.Incident, Severity: "critical", SubjectKind: "job", Subject: p.Job.ID,
				Product: &p.Name, Table: &p.OutputTable, JobID: &p.Job.ID,
				Summary: fmt.Sprintf("product %s failed %d attempts", p.Name, e.Attempt),
				Detail:  &detail,
			})
		}
	}
	p.Job = nil
	pending := p.Pending
	p.Pending = nil
	if len(pending) > 0 && !p.Retired {
		evs, err := start(s, p, env, "inputs", "pending", pending)
		if err != nil {
			return nil, err
		}
		return append(out, evs...), nil
	}
	return out, put(s, p)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func derefInt(n *int64) int64 {
	if n == nil {
		return 0
	}
	return *n
}
