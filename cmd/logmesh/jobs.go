package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/logview"
	"github.com/logmesh/logmesh/projections/orchestration"
)

// runProductFlags registers the flags of the command that asks for a run of
// a product now: a RunRequested on its owner's bus, which the router brings
// to the owner's orchestrator.
func runProductFlags(fs *flag.FlagSet) runFunc {
	reason := fs.String("reason", "", "why (recorded with the request)")
	by := fs.String("by", "cli", "who asks (recorded as BY:$USER)")
	return func(ctx context.Context, g global, in *cmdInput) error {
		pos, stdout := in.args, in.stdout
		st, err := g.meshState(ctx)
		if err != nil {
			return err
		}
		d, ok := st.product(pos[0])
		switch {
		case !ok:
			return fmt.Errorf("run-product: unknown product %q (logmesh products lists them): %w", pos[0], errMesh)
		case d.Product.Kind != "consumer-aligned":
			return fmt.Errorf("run-product: %s is %s: its feed loads it, there is no job to run: %w", pos[0], d.Product.Kind, errMesh)
		}
		ev := &events.RunRequested{
			Envelope: events.Envelope{EventID: events.NewID(), OccurredAt: time.Now().UTC().Truncate(time.Microsecond),
				Domain: d.Product.Owner, CorrelationID: events.NewID()},
			Product: pos[0], RequestedBy: grantor(*by),
		}
		if *reason != "" {
			ev.Reason = reason
		}
		if err := g.emit(ctx, ev); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "requested a run of %s (request %s)\n", pos[0], ev.Envelope.EventID)
		return nil
	}
}

// fact is one fact read from the log, with its place there.
type fact struct {
	topic     string
	partition int32
	offset    int64
	ev        events.Event
}

// readFacts reads the facts of the given names (all if none) on set, up to
// the end of the log, in offset order per partition.
func (g global) readFacts(ctx context.Context, set events.TopicSet, names ...string) ([]fact, error) {
	codec, _, err := g.codec()
	if err != nil {
		return nil, err
	}
	conn, err := g.reach(ctx, "to read the log")
	if err != nil {
		return nil, err
	}
	v, err := logview.New(conn, set)
	if err != nil {
		return nil, err
	}
	defer v.Close()
	var out []fact
	add := func(r *kgo.Record, ev events.Event) error {
		if !g.at.IsZero() && ev.Meta().OccurredAt.After(g.at) {
			return nil // after the --at moment
		}
		out = append(out, fact{r.Topic, r.Partition, r.Offset, ev})
		return nil
	}
	if _, err := v.CatchUp(ctx, logview.Events(ctx, codec, add, nil, names...)); err != nil {
		return nil, g.unreachableRegistry(ctx, err, "to read the log", "")
	}
	slices.SortStableFunc(out, func(a, b fact) int {
		return cmp.Or(strings.Compare(a.topic, b.topic), cmp.Compare(a.partition, b.partition), cmp.Compare(a.offset, b.offset))
	})
	return out, nil
}

// attempt is one attempt of a job, as `logmesh jobs` shows it.
type attempt struct {
	Job        string     `json:"job"`
	Product    string     `json:"product"`
	Attempt    int32      `json:"attempt"`
	Trigger    string     `json:"trigger"`
	Policy     string     `json:"policy,omitempty"`
	Inputs     []string   `json:"inputs"`
	Status     string     `json:"status"`
	Started    time.Time  `json:"started"`
	Finished   *time.Time `json:"finished,omitempty"`
	DurationMs int64      `json:"duration_ms"`
	Version    *int64     `json:"output_version,omitempty"`
	Rows       int64      `json:"rows_written"`
	Error      string     `json:"error,omitempty"`
}

// attempts folds the job facts of every domain into attempts, in the
// order they started.
func (g global) attempts(ctx context.Context) ([]*attempt, error) {
	facts, err := g.readFacts(ctx, g.topics.AllDomains(), events.NameJobStarted, events.NameJobFinished)
	if err != nil {
		return nil, err
	}
	var out []*attempt
	byKey := map[string]*attempt{}
	for _, f := range facts {
		switch e := f.ev.(type) {
		case *events.JobStarted:
			k := e.JobID + "/" + strconv.Itoa(int(e.Attempt))
			if byKey[k] != nil {
				continue
			}
			a := &attempt{Job: e.JobID, Product: e.Product, Attempt: e.Attempt, Trigger: e.Trigger, Policy: deref(e.Policy),
				Status: orchestration.StatusRunning, Started: e.Envelope.OccurredAt, Inputs: []string{}}
			for _, in := range e.Inputs {
				a.Inputs = append(a.Inputs, fmt.Sprintf("%s@%d", in.Name, in.Version))
			}
			byKey[k] = a
			out = append(out, a)
		}
	}
	for _, f := range facts {
		if e, ok := f.ev.(*events.JobFinished); ok {
			if a := byKey[e.JobID+"/"+strconv.Itoa(int(e.Attempt))]; a != nil {
				at := e.Envelope.OccurredAt
				a.Status, a.Finished, a.DurationMs, a.Version, a.Rows, a.Error = e.Status, &at, e.DurationMs, e.OutputVersion, e.RowsWritten, deref(e.Error)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b *attempt) int { return a.Started.Compare(b.Started) })
	return out, nil
}

// jobsFlags registers the flags of the command that lists job attempts.
func jobsFlags(fs *flag.FlagSet) runFunc {
	product := fs.String("product", "", "only this product's jobs")
	status := fs.String("status", "", "only attempts with this status (RUNNING, SUCCEEDED, FAILED)")
	asJSON := fs.Bool("json", false, "print a JSON array")
	return func(ctx context.Context, g global, in *cmdInput) error {
		stdout := in.stdout
		all, err := g.attempts(ctx)
		if err != nil {
			return err
		}
		rows := []*attempt{}
		for _, a := range all {
			if (*product == "" || a.Product == *product) && (*status == "" || strings.EqualFold(a.Status, *status)) {
				rows = append(rows, a)
			}
		}
		if *asJSON {
			return printJSON(stdout, rows)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PRODUCT\tJOB\tATTEMPT\tTRIGGER\tSTATUS\tSTARTED\tDURATION\tVERSION\tROWS\tINPUTS\tERROR")
		for _, a := range rows {
			version := ""
			if a.Version != nil {
				version = strconv.FormatInt(*a.Version, 10)
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", a.Product, a.Job[:8], a.Attempt, a.Trigger, a.Status,
				a.Started.UTC().Format(time.RFC3339), time.Duration(a.DurationMs)*time.Millisecond, version, a.Rows,
				strings.Join(a.Inputs, ","), shortText(a.Error, 80))
		}
		return tw.Flush()
	}
}

// incidentsFlags registers the flags of the command that lists incidents,
// open or resolved.
func incidentsFlags(fs *flag.FlagSet) runFunc {
	open := fs.Bool("open", false, "only incidents not resolved")
	asJSON := fs.Bool("json", false, "print a JSON array")
	return func(ctx context.Context, g global, in *cmdInput) error {
		stdout := in.stdout
		facts, err := g.readFacts(ctx, g.topics.AllDomains(), events.NameIncidentOpened, events.NameIncidentResolved)
		if err != nil {
			return err
		}
		type incident struct {
			ID         string     `json:"incident"`
			Domain     string     `json:"domain"`
			Severity   string     `json:"severity"`
			Subject    string     `json:"subject"`
			Product    string     `json:"product,omitempty"`
			Summary    string     `json:"summary"`
			Detail     string     `json:"detail,omitempty"`
			Opened     time.Time  `json:"opened"`
			Resolved   *time.Time `json:"resolved,omitempty"`
			Resolution string     `json:"resolution,omitempty"`
		}
		byID := map[string]*incident{}
		var all []*incident
		for _, f := range facts {
			if e, ok := f.ev.(*events.IncidentOpened); ok && byID[e.IncidentID] == nil {
				in := &incident{ID: e.IncidentID, Domain: e.Envelope.Domain, Severity: e.Severity, Subject: e.SubjectKind + " " + e.Subject,
					Product: deref(e.Product), Summary: e.Summary, Detail: deref(e.Detail), Opened: e.Envelope.OccurredAt}
				byID[e.IncidentID] = in
				all = append(all, in)
			}
		}
		for _, f := range facts {
			if e, ok := f.ev.(*events.IncidentResolved); ok && byID[e.IncidentID] != nil {
				at := e.Envelope.OccurredAt
				byID[e.IncidentID].Resolved, byID[e.IncidentID].Resolution = &at, e.Resolution
			}
		}
		slices.SortStableFunc(all, func(a, b *incident) int { return a.Opened.Compare(b.Opened) })
		rows := []*incident{}
		for _, in := range all {
			if !*open || in.Resolved == nil {
				rows = append(rows, in)
			}
		}
		if *asJSON {
			return printJSON(stdout, rows)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "OPENED\tDOMAIN\tSEVERITY\tSUBJECT\tSUMMARY\tRESOLVED")
		for _, in := range rows {
			res := "open"
			if in.Resolved != nil {
				res = in.Resolved.UTC().Format(time.RFC3339) + " " + in.Resolution
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", in.Opened.UTC().Format(time.RFC3339), in.Domain, in.Severity, in.Subject,
				shortText(in.Summary, 80), res)
		}
		return tw.Flush()
	}
}

// whyFlags registers the flags of the command that explains a run of a
// product from the log: the facts, in the order of the owner's inbox, that
// made it start, the policy that fired, the pinned inputs, and what became
// of each attempt.
func whyFlags(fs *flag.FlagSet) runFunc {
	job := fs.String("job", "", "the job to explain (default: the product's latest)")
	pending := fs.Bool("pending", false, "what the product's trigger waits for now (or --at): \"why not yet\"")
	asJSON := fs.Bool("json", false, "with --pending, print a JSON object (the shape of GET /v1/products/{product}/pending)")
	return func(ctx context.Context, g global, in *cmdInput) error {
		pos, stdout := in.args, in.stdout
		product := pos[0]
		owner, _, ok := strings.Cut(product, ".")
		if !ok {
			return fmt.Errorf("why: %q is not domain.name: %w", product, errUsage)
		}
		switch {
		case *pending && *job != "":
			return fmt.Errorf("why: --pending is about the next run, --job about one that started: not both: %w", errUsage)
		case *pending:
			return whyPending(ctx, g, product, *asJSON, stdout)
		case *asJSON:
			return fmt.Errorf("why: --json goes with --pending: %w", errUsage)
		}
		own, err := g.readFacts(ctx, events.TopicNames(g.topics.Domain(owner)), events.NameJobStarted, events.NameJobFinished,
			events.NameIncidentOpened, events.NameIncidentResolved)
		if err != nil {
			return err
		}
		var first *events.JobStarted
		for _, f := range own {
			if js, ok := f.ev.(*events.JobStarted); ok && js.Product == product && js.Attempt == 1 && (*job == "" || strings.HasPrefix(js.JobID, *job)) {
				first = js
			}
		}
		if first == nil {
			if *job != "" {
				return fmt.Errorf("why: no job %s of %s on %s: %w", *job, product, g.topics.Domain(owner), errMesh)
			}
			return fmt.Errorf("why: %s has not run (logmesh jobs --product %s): %w", product, product, errMesh)
		}
		inbox, err := g.readFacts(ctx, events.TopicNames(g.topics.Inbox(owner)))
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "job %s of %s\n", first.JobID, product)
		fmt.Fprintf(stdout, "started %s, trigger %s, policy %q\n", first.Envelope.OccurredAt.UTC().Format(time.RFC3339Nano), first.Trigger, deref(first.Policy))
		fmt.Fprintf(stdout, "because of, in the order of %s:\n", g.topics.Inbox(owner))
		for _, f := range inbox {
			if !slices.Contains(first.TriggeredBy, f.ev.Meta().EventID) {
				continue
			}
			switch e := f.ev.(type) {
			case *events.ProductRefreshed:
				fmt.Fprintf(stdout, "  %d@%d  ProductRefreshed %s version %d (snapshot %d, %d rows, at %s) event %s\n", f.partition, f.offset,
					e.Product, e.Version, e.SnapshotID, e.RowsTotal, e.Envelope.OccurredAt.UTC().Format(time.RFC3339Nano), e.Envelope.EventID)
			case *events.RunRequested:
				fmt.Fprintf(stdout, "  %d@%d  RunRequested by %s (%s) event %s\n", f.partition, f.offset, e.RequestedBy, deref(e.Reason), e.Envelope.EventID)
			default:
				fmt.Fprintf(stdout, "  %d@%d  %s event %s\n", f.partition, f.offset, f.ev.Name(), f.ev.Meta().EventID)
			}
		}
		fmt.Fprintln(stdout, "pinned inputs:")
		for _, in := range first.Inputs {
			fmt.Fprintf(stdout, "  %s  table %s version %d  snapshot %d  %s\n", in.Name, in.Table, in.Version, in.SnapshotID, in.MetadataLocation)
		}
		fmt.Fprintf(stdout, "transform %s\n", first.TransformHash)
		fmt.Fprintln(stdout, "attempts:")
		for _, f := range own {
			switch e := f.ev.(type) {
			case *events.JobStarted:
				if e.JobID == first.JobID {
					nb := ""
					if e.NotBefore != nil {
						nb = ", not before " + e.NotBefore.UTC().Format(time.RFC3339Nano)
					}
					fmt.Fprintf(stdout, "  %d  started %s%s\n", e.Attempt, e.Envelope.OccurredAt.UTC().Format(time.RFC3339Nano), nb)
				}
			case *events.JobFinished:
				if e.JobID == first.JobID {
					out := ""
					if e.OutputVersion != nil {
						out = fmt.Sprintf(", version %d, %d rows", *e.OutputVersion, e.RowsWritten)
					}
					if e.Error != nil {
						out += ", " + *e.Error
					}
					fmt.Fprintf(stdout, "  %d  %s %s in %v%s\n", e.Attempt, e.Status, e.Envelope.OccurredAt.UTC().Format(time.RFC3339Nano),
						time.Duration(e.DurationMs)*time.Millisecond, out)
				}
			case *events.IncidentOpened:
				if e.JobID != nil && *e.JobID == first.JobID {
					fmt.Fprintf(stdout, "  incident %s opened: %s\n", e.IncidentID, e.Summary)
				}
			}
		}
		return nil
	}
}

// shortText cuts s to n runes.
func shortText(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// deref is *s, or "" for nil.
func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
