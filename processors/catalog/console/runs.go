package console

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/logmesh/logmesh/internal/openlineage"
)

// runRow is one attempt of a product's job on the product page: where it
// stands, and why it ran (its trigger and the input versions it pinned).
type runRow struct {
	Job      string // the OpenLineage job: the product's name for its jobs
	JobID    string
	Attempt  int32
	State    string // START, COMPLETE, FAIL, ...
	Started  time.Time
	Ended    time.Time
	Trigger  string
	Why      []string // "raw.trades v3"
	Output   string   // "research.exposure v4"
	Rows     string
	Duration string
	Error    string
	Retry    bool
}

// runRows folds the OpenLineage RunEvents of the product's runs, each a
// START and maybe a COMPLETE or FAIL, into one row per attempt, newest
// first.
func runRows(events []map[string]any) ([]runRow, error) {
	byRun := map[string]*runRow{}
	var order []string
	for _, m := range events {
		b, err := json.Marshal(m)
		if err != nil {
			return nil, err
		}
		var ev openlineage.RunEvent
		if err := json.Unmarshal(b, &ev); err != nil {
			return nil, fmt.Errorf("console: a run event: %w", err)
		}
		r, ok := byRun[ev.Run.RunID]
		if !ok {
			r = &runRow{}
			byRun[ev.Run.RunID] = r
			order = append(order, ev.Run.RunID)
		}
		r.Job = ev.Job.Name
		if f := ev.Run.Facets.Job; f != nil {
			r.JobID, r.Attempt, r.Trigger = f.JobID, f.Attempt, f.Trigger
			if f.DurationMs != nil {
				r.Duration = (time.Duration(*f.DurationMs) * time.Millisecond).String()
			}
			if f.WillRetry != nil {
				r.Retry = *f.WillRetry
			}
		}
		if ev.EventType == openlineage.EventStart {
			r.Started = ev.EventTime
			if r.State == "" {
				r.State = string(ev.EventType)
			}
			r.Why = r.Why[:0]
			for _, in := range ev.Inputs {
				w := in.Name
				if ic := in.Facets.Iceberg; ic != nil {
					w += fmt.Sprintf(" v%d", ic.Version)
				}
				r.Why = append(r.Why, w)
			}
			continue
		}
		r.State, r.Ended = string(ev.EventType), ev.EventTime
		if f := ev.Run.Facets.ErrorMessage; f != nil {
			r.Error = f.Message
		}
		for _, out := range ev.Outputs {
			if ic := out.Facets.Iceberg; ic != nil {
				r.Output = fmt.Sprintf("%s v%d", out.Name, ic.Version)
			}
			if st := out.OutputFacets.OutputStatistics; st != nil && st.RowCount != nil {
				r.Rows = fmt.Sprint(*st.RowCount)
			}
		}
	}
	out := make([]runRow, 0, len(order))
	for _, id := range order {
		out = append(out, *byRun[id])
	}
	slices.SortStableFunc(out, func(a, b runRow) int {
		return cmp.Or(b.Started.Compare(a.Started), cmp.Compare(b.Attempt, a.Attempt))
	})
	return out, nil
}
