package orchestration

import (
	"fmt"
	"strings"
	"time"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/trigger"
)

// InputState is one input of a product as its trigger weighs it at a
// moment: what the orchestrator decides with (Fresh) and why.
type InputState struct {
	// Name is the input (a table or a product); Table the table its last
	// refresh wrote.
	Name  string `json:"name"`
	Table string `json:"table"`
	// LastSeen is the version of the latest refresh since the product
	// appeared, nil if none; SeenAt its time (data_as_of, else the fact's).
	LastSeen *int64     `json:"last_seen_version"`
	SeenAt   *time.Time `json:"last_seen_at,omitempty"`
	// Pinned is the version the last successful run read, nil if none ran.
	Pinned *int64 `json:"pinned_version"`
	// InFlight is the version the job in flight reads, if one is.
	InFlight *int64 `json:"in_flight_version,omitempty"`
	// ExcludedByMaxAge says the last refresh is older than the product's
	// max input age (MaxAge) at the moment: it is Age old.
	ExcludedByMaxAge bool   `json:"excluded_by_max_age"`
	MaxAge           string `json:"max_age,omitempty"`
	Age              string `json:"age,omitempty"`
	// Fresh says the input counts as refreshed for the trigger.
	Fresh bool `json:"refreshed"`
	// Reason says so in a clause that names the input, such as
	// "raw.securities has not refreshed since version 1".
	Reason string `json:"reason"`
}

// input is the state of input in of p at the moment now. Its Fresh is what
// the trigger policy weighs: refreshed since the last successful run and
// since the version the job in flight reads and, with a max input age, not
// longer ago than that.
func (p *Product) input(in string, now time.Time) InputState {
	st := InputState{Name: in, Table: in}
	if p.MaxInputAge > 0 {
		st.MaxAge = (time.Duration(p.MaxInputAge) * time.Second).String()
	}
	last, ran := p.Last[in]
	if ran {
		st.Pinned = &last
	}
	var pin *int64
	if p.Job != nil {
		for _, iv := range p.Job.Inputs {
			if iv.Name == in {
				v := iv.Version
				pin, st.InFlight = &v, &v
			}
		}
	}
	sn, seen := p.Seen[in]
	if !seen {
		switch {
		case ran:
			st.Reason = fmt.Sprintf("%s has not refreshed since version %d", in, last)
		default:
			st.Reason = in + " has not refreshed since the product appeared"
		}
		return st
	}
	st.Table = sn.Table
	v, at := sn.Version, time.UnixMicro(sn.At).UTC()
	st.LastSeen, st.SeenAt = &v, &at
	age := now.Sub(at)
	if p.MaxInputAge > 0 && now.UnixMicro()-sn.At > p.MaxInputAge*1e6 {
		st.ExcludedByMaxAge, st.Age = true, age.Round(time.Second).String()
	}
	switch {
	case ran && v <= last:
		st.Reason = fmt.Sprintf("%s has not refreshed since version %d", in, last)
	case pin != nil && v <= *pin:
		st.Reason = fmt.Sprintf("%s has not refreshed since version %d, which the job in flight reads", in, *pin)
	case st.ExcludedByMaxAge:
		st.Reason = fmt.Sprintf("%s version %d is excluded by the max input age %s: it is %s old", in, v, st.MaxAge, st.Age)
	case ran:
		st.Fresh = true
		st.Reason = fmt.Sprintf("%s refreshed to version %d since the last run read version %d", in, v, last)
	default:
		st.Fresh = true
		st.Reason = fmt.Sprintf("%s version %d has not been read by a run yet", in, v)
	}
	return st
}

// Pending is what a product's trigger waits for at a moment: "why not
// yet".
type Pending struct {
	Product string    `json:"product"`
	AsOf    time.Time `json:"as_of"`
	// Policy is the trigger policy, normalised.
	Policy string `json:"policy"`
	// Ready says a run would start now: the policy fires, every input has
	// a version to pin and no job is in flight.
	Ready bool `json:"ready"`
	// Schedule is the product's cron schedule, if its policy names one;
	// NextScheduled the next due time after the moment; ScheduleDue says
	// a due time came and no run has started since.
	Schedule      string     `json:"schedule,omitempty"`
	NextScheduled *time.Time `json:"next_scheduled"`
	ScheduleDue   bool       `json:"schedule_due"`
	// Inputs are the product's inputs, in the order of its definition.
	Inputs []InputState `json:"inputs"`
	// WaitingFor says, one sentence each, what must happen before a run
	// starts; empty when Ready.
	WaitingFor []string `json:"waiting_for"`
	// Notes say what else matters: the job in flight, an open incident,
	// why a ready product has not run.
	Notes []string `json:"notes,omitempty"`
	// Job is the id of the job in flight; Incident the open incident's.
	Job      string `json:"job_in_flight,omitempty"`
	Incident string `json:"open_incident,omitempty"`
}

// PendingAt says what p's trigger waits for at the moment at, from the
// state the orchestration projection folded up to then. It weighs the
// policy with the orchestrator's own evaluation (the freshness of each
// input and trigger.Policy's), so it cannot disagree with the
// orchestrator's decisions.
func PendingAt(p *Product, at time.Time) Pending {
	at = at.UTC()
	pol, fresh := p.policy(at)
	out := Pending{Product: p.Name, AsOf: at, Policy: pol.String(), ScheduleDue: p.Due, Job: jobID(p), Incident: p.Incident,
		WaitingFor: []string{}, Inputs: []InputState{}}
	if _, err := trigger.Parse(p.Trigger, p.Inputs); err != nil {
		out.Policy = p.Trigger
	}
	states := map[string]InputState{}
	for _, in := range p.Inputs {
		st := p.input(in, at)
		states[in] = st
		out.Inputs = append(out.Inputs, st)
	}
	var cron trigger.Cron
	cronOK := false
	if pol.UsesSchedule() {
		out.Schedule = p.Schedule
		if c, err := trigger.ParseCron(p.Schedule); err == nil {
			cron, cronOK = c, true
			next := c.Next(at)
			out.NextScheduled = &next
		}
	}
	why := func(name string) string {
		if name != trigger.Schedule {
			return states[name].Reason
		}
		switch {
		case !cronOK:
			return fmt.Sprintf("the schedule is not due: the product has no valid schedule (%q)", p.Schedule)
		default:
			if due, ok := cron.Due(time.UnixMicro(max(p.LastTick, p.Since)), at); ok && due.UnixMicro() > p.LastTick {
				return fmt.Sprintf("the schedule was due at %s but no scheduler has said so yet (is the scheduler running?)",
					due.UTC().Format(time.RFC3339))
			}
			return fmt.Sprintf("the schedule is not due until %s (%s)", out.NextScheduled.Format(time.RFC3339), p.Schedule)
		}
	}
	if p.Retired {
		out.WaitingFor = append(out.WaitingFor, "the product is retired: it runs no more")
		return out
	}
	fires, needs := pol.Explain(p.Inputs, fresh, p.Due, why)
	out.WaitingFor = append(out.WaitingFor, needs...)
	if !pol.Manual() {
		// A run pins a version of every input; say so of those the policy
		// has not named already.
		said := strings.Join(needs, "\n")
		var none []string
		for _, in := range p.Inputs {
			if states[in].LastSeen == nil && !strings.Contains(said, states[in].Reason) {
				none = append(none, in)
			}
		}
		if len(none) > 0 {
			out.WaitingFor = append(out.WaitingFor, fmt.Sprintf("a run pins a version of every input: %s %s not refreshed since the product appeared",
				strings.Join(none, ", "), verb(len(none))))
		}
	}
	if p.Job != nil {
		j := p.Job
		s := fmt.Sprintf("job %s (attempt %d) is in flight since %s", j.ID, j.Attempt, time.UnixMicro(j.Started).UTC().Format(time.RFC3339))
		if len(p.Pending) > 0 {
			s += fmt.Sprintf("; a run of the %d facts that came since starts when it ends", len(p.Pending))
		} else {
			s += "; refreshes after the versions it reads wait for it"
		}
		out.WaitingFor = append(out.WaitingFor, s)
	}
	out.Ready = fires && len(out.WaitingFor) == 0
	if out.Ready {
		out.Notes = append(out.Notes, readyNote(p))
	}
	if p.Incident != "" {
		out.Notes = append(out.Notes, fmt.Sprintf("incident %s is open: the last job failed every attempt", p.Incident))
	}
	return out
}

// readyNote says why a product whose policy fires has not run: the
// orchestrator weighs its policy when a fact comes, and none has since
// (the last job failed, or a max input age let an input count again).
func readyNote(p *Product) string {
	s := "the policy is satisfied: a run starts on the next fact the orchestrator weighs (a refresh, a due time, or logmesh run-product)"
	if p.LastStatus != "" && p.LastStatus != StatusRunning && p.LastStatus != events.StatusSucceeded {
		s += fmt.Sprintf("; the last attempt ended %s", p.LastStatus)
	}
	return s
}

func jobID(p *Product) string {
	if p.Job == nil {
		return ""
	}
	return p.Job.ID
}

func verb(n int) string {
	if n == 1 {
		return "has"
	}
	return "have"
}
