package platform

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkaconn"
	"github.com/logmesh/logmesh/internal/validate"
	"github.com/logmesh/logmesh/mesh"
	"github.com/logmesh/logmesh/processors/catalog"
	"github.com/logmesh/logmesh/processors/host"
	"github.com/logmesh/logmesh/projections/audit"
	"github.com/logmesh/logmesh/projections/definitions"
	"github.com/logmesh/logmesh/state"
)

// Errors of Definer.Apply besides the files' (mesh.ErrInvalid).
var (
	// ErrInvalid marks an apply request that is wrong in itself: a domain
	// both declared and to be retired, no domain at all.
	ErrInvalid = errors.New("platform: invalid apply")
	// ErrRaced marks an apply refused because another apply changed one
	// of its domains since it planned: its claim lost on the log.
	ErrRaced = errors.New("platform: the definitions changed since the plan")
)

// RetryUnmatched is the command that retries the files no feed took.
const RetryUnmatched = "logmesh files retry --status UNMATCHED"

// Definer plans mesh files against the definitions on the log and applies
// them: the one implementation behind `logmesh apply` and the catalog's
// POST /v1/apply. Its fields are set once before use; each Apply opens its
// own stores and clients, so a Definer is safe for concurrent use.
type Definer struct {
	Conn     kafkaconn.Conn
	Codec    *events.Codec
	Registry *sr.Client
	Topics   events.Topics
	// Partitions is the partition count of a new domain's topics; 0 for
	// events.DefaultPartitions.
	Partitions int32
	// Now is the clock; nil for time.Now.
	Now func() time.Time
}

// Definer returns the process's Definer.
func (e *Env) Definer() *Definer {
	return &Definer{Conn: e.Conn, Codec: e.Codec, Registry: e.Registry, Topics: e.Config.Topics, Partitions: e.Config.Partitions}
}

// ApplyInput is one apply.
type ApplyInput struct {
	// Name stands for the files in an error without a line: the path
	// given to apply.
	Name string
	// Sources are the mesh files (mesh.ReadSources).
	Sources []mesh.Source
	// ReadFile reads the schema files they name; nil for the file system.
	ReadFile func(name string) ([]byte, error)
	// Formats are custom parsers' names the feeds may use.
	Formats []string
	// RetireDomains are domains to retire; each must have nothing of its
	// own live, and none may be declared in the files.
	RetireDomains []string
	// By is the principal applying: "cli:USER", "api:PRINCIPAL".
	By string
	// PlanOnly plans and emits nothing.
	PlanOnly bool
	// Authorize, if set, is called with the domains the apply covers once
	// the files are read and before anything is planned or emitted; its
	// error is returned as is.
	Authorize func(domains []string) error
	// Progress, if set, is called as the long parts of the apply advance:
	// once at the start of each stage (Done 0) and after each unit of it.
	// Calls are never concurrent.
	Progress func(ApplyProgress)
}

// Stages of ApplyProgress, in the order an apply goes through them.
const (
	StageContracts = "checking contracts"    // one registry check per new or changed product
	StageClaims    = "claiming domains"      // one claim per changed domain
	StageRegister  = "registering contracts" // one registration per new or changed product
	StageEmit      = "emitting definitions"  // one per definition event
)

// ApplyProgress is how far an apply is: Done units of Total in Stage.
type ApplyProgress struct {
	Stage       string
	Done, Total int
}

// stage returns a tick for a stage of total units, having reported its
// start; nil without a progress function or with nothing to do.
func (in ApplyInput) stage(name string, total int) func() {
	if in.Progress == nil || total == 0 {
		return nil
	}
	done := 0
	in.Progress(ApplyProgress{Stage: name, Total: total})
	return func() {
		done++
		in.Progress(ApplyProgress{Stage: name, Done: done, Total: total})
	}
}

// contracts counts the steps that carry a product's contract.
func contracts(steps []Step) int {
	n := 0
	for _, s := range steps {
		if pp, ok := s.Event.(*events.ProductPublished); ok && pp.OutputSchema != nil {
			n++
		}
	}
	return n
}

// ApplyReport is a plan and what came of it.
type ApplyReport struct {
	// Domains are the domains the plan covers: those the files declare,
	// then those to retire.
	Domains []string
	// Position is where the definitions the plan was computed against
	// were read to: the next offset of every partition folded.
	Position map[state.TopicPartition]int64
	// Bases are the covered domains' current definitions (absent for a
	// new domain): a claim is planned against its domain's.
	Bases map[string]definitions.Definition
	// Steps are the plan.
	Steps []Step
	// Changes are the contract changes of its products.
	Changes []ContractChange
	// Problems are what refuses the plan, each a line saying what to do.
	Problems []string
	// Unmatched are the UNMATCHED files a feed the plan adds or changes
	// takes.
	Unmatched []UnmatchedFile
	// Claims are the outcomes of the apply's claims, once applied.
	Claims []definitions.Claim
	// Applied is how many definition events the apply emitted (claims
	// included); PlanOnly is the input's.
	Applied  int
	PlanOnly bool
	// Outcome is the last line: "no changes", "applied N definitions", ...
	Outcome string
}

// UnmatchedFile is a landed file no feed took that a feed of the plan
// takes.
type UnmatchedFile struct {
	Key, Feed string
}

// Emits is how many definition events applying the steps emits (claims
// of unchanged domains aside).
func (r *ApplyReport) Emits() int {
	n := 0
	for _, s := range r.Steps {
		if s.Event != nil {
			n++
		}
	}
	return n
}

// Lines are the report as `logmesh apply` prints it.
func (r *ApplyReport) Lines() []string {
	lines := []string{"plan for domains: " + strings.Join(r.Domains, ", "), "definitions at: " + r.position()}
	for _, d := range r.Domains {
		b, ok := r.Bases[d]
		switch {
		case !ok:
			lines = append(lines, fmt.Sprintf("  %s: a new domain", d))
		case b.AppliedBy == "":
			lines = append(lines, fmt.Sprintf("  %s: planned against its definition %s of %s (defined without a claim)", d, b.EventID, stamp(b.At)))
		default:
			lines = append(lines, fmt.Sprintf("  %s: planned against its definition %s, applied by %s at %s", d, b.EventID, b.AppliedBy, stamp(b.At)))
		}
	}
	for _, s := range r.Steps {
		lines = append(lines, s.String())
	}
	for _, c := range r.Changes {
		if !c.First {
			lines = append(lines, c.String())
		}
	}
	lines = append(lines, r.Problems...)
	if len(r.Unmatched) > 0 {
		lines = append(lines, fmt.Sprintf("UNMATCHED files that a new or changed feed of this plan would take: %d", len(r.Unmatched)))
		for _, u := range r.Unmatched {
			lines = append(lines, fmt.Sprintf("  %s (feed %s)", u.Key, u.Feed))
		}
		lines = append(lines, "  retry them once the plan is applied: "+RetryUnmatched)
	}
	for _, c := range r.Claims {
		if c.Accepted {
			lines = append(lines, fmt.Sprintf("claimed domain %s (claim %s)", c.Domain, c.EventID))
		} else {
			lines = append(lines, fmt.Sprintf("! claim of domain %s refused: %s", c.Domain, c.Reason()))
		}
	}
	if r.Outcome != "" {
		lines = append(lines, r.Outcome)
	}
	return lines
}

// position writes the plan's position on the central bus and the covered
// domains' buses: "logmesh.central.events 0:12 1:3; logmesh.qa.events 0:4".
func (r *ApplyReport) position() string {
	byTopic := map[string][]string{}
	for _, tp := range slices.SortedFunc(maps.Keys(r.Position), state.TopicPartition.Compare) {
		byTopic[tp.Topic] = append(byTopic[tp.Topic], fmt.Sprintf("%d:%d", tp.Partition, r.Position[tp]))
	}
	var parts []string
	for _, t := range slices.Sorted(maps.Keys(byTopic)) {
		parts = append(parts, t+" "+strings.Join(byTopic[t], " "))
	}
	if len(parts) == 0 {
		return "the start of the log (no definitions yet)"
	}
	return strings.Join(parts, "; ")
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// Apply plans in against the definitions on the log and, unless
// in.PlanOnly or the plan is refused, applies it.
//
// The plan covers only the domains the files declare (and those to
// retire): their definitions are added, changed and retired; another
// domain's are never touched and have no line. It is refused, with
// nothing emitted and an error wrapping ErrRefused, if a feed's key
// pattern overlaps a feed of another domain, a feed of the files is
// another domain's on the log, the registry refuses a contract change, or
// a domain to retire still has something of its own live; the report's
// Problems say what to do. Files that fail validation are an error
// wrapping mesh.ErrInvalid (every problem, file:line).
//
// Applying first produces one claim per domain the plan changes (see
// definitions.Claim), reads the definitions back and, only if every claim
// won, registers the contracts and emits the rest; a claim that lost
// refuses the apply with an error wrapping ErrRaced that names the apply
// that won. The report is returned with the error where there is one.
func (d *Definer) Apply(ctx context.Context, in ApplyInput) (*ApplyReport, error) {
	now := time.Now
	if d.Now != nil {
		now = d.Now
	}
	at := now()
	by := cmp.Or(in.By, "unknown")
	st, err := state.Open("", &state.Options{FS: vfs.NewMem()})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	proj := definitions.Projection{}
	view, err := host.NewView(proj, st, d.Codec, d.Conn, proj.Topics(d.Topics), host.Sync(false))
	if err != nil {
		return nil, err
	}
	defer view.Close()
	if _, err := view.CatchUp(ctx); err != nil {
		return nil, fmt.Errorf("platform: read the definitions: %w", err)
	}
	current, err := definitions.All(st)
	if err != nil {
		return nil, err
	}
	m, err := parseApply(in, current)
	if err != nil {
		return nil, err
	}
	fileDomains := m.DomainNames()
	domains := slices.Clone(fileDomains)
	var bad []error
	for _, r := range in.RetireDomains {
		cur, ok := current[definitionKey{Kind: definitions.KindDomain, Name: r}]
		switch {
		case slices.Contains(fileDomains, r):
			bad = append(bad, fmt.Errorf("domain %s is declared in the files and asked to be retired: remove it from the files, or do not retire it", r))
		case !ok || cur.Retired:
			bad = append(bad, fmt.Errorf("domain %s is not a live domain on the log: nothing to retire", r))
		case !slices.Contains(domains, r):
			domains = append(domains, r)
		}
	}
	if len(domains) == 0 {
		bad = append(bad, errors.New("the files declare no domain: an apply covers the domains its files declare (domains: [{name: ...}])"))
	}
	if err := errors.Join(bad...); err != nil {
		return nil, fmt.Errorf("%w: %w", err, ErrInvalid)
	}
	if in.Authorize != nil {
		if err := in.Authorize(domains); err != nil {
			return nil, err
		}
	}

	rep := &ApplyReport{Domains: domains, Position: map[state.TopicPartition]int64{}, Bases: map[string]definitions.Definition{}, PlanOnly: in.PlanOnly}
	cps, err := st.Checkpoints()
	if err != nil {
		return nil, err
	}
	shown := map[string]bool{d.Topics.Central(): true}
	for _, dom := range domains {
		shown[d.Topics.Domain(dom)] = true
		if b, ok := current[definitionKey{Kind: definitions.KindDomain, Name: dom}]; ok {
			rep.Bases[dom] = b
		}
	}
	for tp, c := range cps {
		if c.HasOffset && shown[tp.Topic] {
			rep.Position[tp] = c.Next
		}
	}

	want := m.Definitions(at)
	for _, ev := range want {
		if fd, ok := ev.(*events.FeedDefined); ok && fd.DefinedBy == nil {
			fd.DefinedBy = new(by)
		}
	}
	rep.Steps = Plan(current, want, fileDomains, by, at)
	for _, r := range in.RetireDomains {
		if !slices.Contains(domains, r) {
			continue
		}
		if live := liveOf(current, r); len(live) > 0 {
			rep.Problems = append(rep.Problems, fmt.Sprintf("! domain %s cannot be retired: still live: %s. Retire them first: apply a file that declares domain %s "+
				"without them (a file with only the domain retires them all; revoke grants given with `logmesh grant` with `logmesh grant --revoke`), then retire the domain",
				r, strings.Join(live, ", "), r))
			continue
		}
		cur := current[definitionKey{Kind: definitions.KindDomain, Name: r}]
		reason := "retired by apply"
		rep.Steps = append(rep.Steps, Step{Op: '-', Kind: definitions.KindDomain, Name: r, Domain: r, Event: &events.DomainRetired{
			Envelope: events.Envelope{EventID: events.DeriveID("retire", definitions.KindDomain, r, cur.EventID), OccurredAt: at.UTC().Truncate(time.Microsecond),
				Domain: events.DomainCentral, CausationID: cur.EventID},
			DomainName: r, RetiredBy: by, Reason: &reason}})
	}
	rep.Problems = append(rep.Problems, feedProblems(current, want, fileDomains)...)
	if rep.Changes, err = contractChanges(ctx, d.Registry, rep.Steps, want, in.stage(StageContracts, contracts(rep.Steps))); err != nil {
		return rep, err
	}
	refused := 0
	for _, c := range rep.Changes {
		if !c.Compatible {
			refused++
		}
	}
	if rep.Unmatched, err = d.unmatched(ctx, m, rep.Steps); err != nil {
		return rep, err
	}
	if n := len(rep.Problems) + refused; n > 0 {
		rep.Outcome = fmt.Sprintf("refused: %d problem(s); nothing emitted", n)
		return rep, fmt.Errorf("apply refused: %d problem(s) (see the plan); nothing emitted: %w", n, ErrRefused)
	}
	switch n := rep.Emits(); {
	case n == 0:
		rep.Outcome = "no changes"
		return rep, nil
	case in.PlanOnly:
		rep.Outcome = fmt.Sprintf("dry run: %s would be applied, nothing emitted", plural(n))
		return rep, nil
	}
	return rep, d.apply(ctx, in, rep, view, st, current, want, by, at)
}

// apply claims the domains the plan changes and, if every claim wins,
// emits the plan.
func (d *Definer) apply(ctx context.Context, in ApplyInput, rep *ApplyReport, view *host.View, st *state.Store, current map[definitionKey]definition,
	want []events.Event, by string, at time.Time) error {
	var changed []string
	for _, s := range rep.Steps {
		if s.Event != nil && !slices.Contains(changed, s.Domain) {
			changed = append(changed, s.Domain)
		}
	}
	var fileDomains []string
	for _, ev := range want {
		if dd, ok := ev.(*events.DomainDefined); ok {
			fileDomains = append(fileDomains, dd.DomainName)
		}
	}
	if err := d.Conn.EnsureTopics(ctx, d.Topics.Specs(d.Partitions, fileDomains...)...); err != nil {
		return fmt.Errorf("platform: %w", err)
	}
	if err := d.Codec.Register(ctx); err != nil {
		return fmt.Errorf("platform: %w", err)
	}
	// The claims: each changed domain's own step (its DomainDefined or
	// DomainRetired), or its unchanged DomainDefined of the files.
	apply := events.NewID()
	correlation := definitions.ClaimCorrelation(apply, by)
	claimed := map[events.Event]bool{}
	var claims []events.Event
	for _, dom := range slices.Sorted(slices.Values(changed)) {
		var ev events.Event
		for _, s := range rep.Steps {
			if s.Kind == definitions.KindDomain && s.Name == dom && s.Event != nil {
				ev = s.Event
			}
		}
		for _, w := range want {
			if dd, ok := w.(*events.DomainDefined); ok && ev == nil && dd.DomainName == dom {
				ev = dd
			}
		}
		if ev == nil {
			return fmt.Errorf("platform: no definition of domain %s to claim it with", dom) // the plan holds one: a bug
		}
		base := current[definitionKey{Kind: definitions.KindDomain, Name: dom}].EventID
		env := ev.Meta()
		env.EventID, env.CorrelationID, env.CausationID = events.DeriveID("apply", dom, base, apply), correlation, base
		env.OccurredAt = at.UTC().Truncate(time.Microsecond)
		claimed[ev] = true
		claims = append(claims, ev)
	}
	cl, err := d.Conn.Client()
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := d.produce(ctx, cl, claims, in.stage(StageClaims, len(claims))); err != nil {
		return fmt.Errorf("platform: produce the claims: %w", err)
	}
	rep.Applied = len(claims)
	if _, err := view.CatchUp(ctx); err != nil {
		return fmt.Errorf("platform: read the claims back: %w", err)
	}
	var lost []string
	for _, ev := range claims {
		c, ok, err := definitions.ClaimOutcome(st, ev.Meta().EventID)
		switch {
		case err != nil:
			return err
		case !ok:
			return fmt.Errorf("platform: claim %s is not on the log after it was produced", ev.Meta().EventID)
		case !c.Accepted:
			lost = append(lost, c.Reason())
		}
		rep.Claims = append(rep.Claims, c)
	}
	if len(lost) > 0 {
		rep.Outcome = "refused: another apply won; nothing of this plan emitted beyond its claims"
		return fmt.Errorf("%s: %w", strings.Join(lost, "; "), ErrRaced)
	}
	ids, err := registerContracts(ctx, d.Registry, rep.Steps, in.stage(StageRegister, contracts(rep.Steps)))
	if err != nil {
		return err
	}
	var rest []events.Event
	for _, s := range rep.Steps {
		if s.Event != nil && !claimed[s.Event] {
			rest = append(rest, s.Event)
		}
	}
	rest = append(rest, SchemaChanges(rep.Changes, ids, at)...)
	installation, ok := definitions.Installation(current)
	if !ok {
		if installation, err = EnsureInstallation(ctx, d.Conn, d.Codec, d.Topics, "logmesh apply"); err != nil {
			return err
		}
	}
	stampInstallation(rest, installation)
	if err := d.produce(ctx, cl, rest, in.stage(StageEmit, len(rest))); err != nil {
		return fmt.Errorf("platform: emit definitions: %w", err)
	}
	rep.Applied += len(rest)
	rep.Outcome = "applied " + plural(rep.Emits())
	return nil
}

// produce emits evs, each to its topic, and waits for them, calling tick
// (if set) as each is acknowledged.
func (d *Definer) produce(ctx context.Context, cl *kgo.Client, evs []events.Event, tick func()) error {
	if len(evs) == 0 {
		return nil
	}
	recs := make([]*kgo.Record, 0, len(evs))
	for _, ev := range evs {
		r, err := d.Codec.Record(ev)
		if err != nil {
			return err
		}
		r.Topic = d.Topics.For(ev)
		recs = append(recs, r)
	}
	if tick == nil {
		return cl.ProduceSync(ctx, recs...).FirstErr()
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	wg.Add(len(recs))
	for _, r := range recs {
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			if err != nil && first == nil {
				first = err
			}
			tick()
		})
	}
	wg.Wait()
	return first
}

// unmatched returns the UNMATCHED files of the audit that a feed the
// steps add or change takes.
func (d *Definer) unmatched(ctx context.Context, m *mesh.Mesh, steps []Step) ([]UnmatchedFile, error) {
	takers := &mesh.Mesh{}
	for _, s := range steps {
		if s.Kind != definitions.KindFeed || (s.Op != '+' && s.Op != '~') {
			continue
		}
		if f, ok := m.Feed(s.Name); ok && f.Topic == "" {
			takers.Feeds = append(takers.Feeds, *f)
		}
	}
	if len(takers.Feeds) == 0 {
		return nil, nil
	}
	st, err := state.Open("", &state.Options{FS: vfs.NewMem()})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	proj := audit.Projection{}
	if _, err := host.Replay(ctx, proj, st, d.Codec, d.Conn, proj.Topics(d.Topics), host.Sync(false)); err != nil {
		return nil, fmt.Errorf("platform: read the file audit: %w", err)
	}
	files, err := audit.ByStatus(st, audit.StatusUnmatched)
	if err != nil {
		return nil, err
	}
	var out []UnmatchedFile
	for _, f := range files {
		if feed, ok := takers.FeedFor(f.Key); ok {
			out = append(out, UnmatchedFile{Key: f.Key, Feed: feed.Name})
		}
	}
	slices.SortFunc(out, func(a, b UnmatchedFile) int { return cmp.Compare(a.Key, b.Key) })
	return out, nil
}

// parseApply reads the files of in as one mesh, references outside them
// resolved against the live definitions current, and checks that the
// validator supports every feed.
func parseApply(in ApplyInput, current map[definitionKey]definition) (*mesh.Mesh, error) {
	defined := mesh.Defined{Products: map[string]string{}}
	for k, d := range current {
		switch {
		case d.Retired:
		case k.Kind == definitions.KindDomain:
			defined.Domains = append(defined.Domains, k.Name)
		case k.Kind == definitions.KindProduct && d.Product != nil:
			defined.Products[k.Name] = d.Product.OutputTable
		}
	}
	slices.Sort(defined.Domains)
	opts := []mesh.Option{mesh.WithDefined(defined), mesh.WithFormats(in.Formats...)}
	if in.ReadFile != nil {
		opts = append(opts, mesh.WithReadFile(in.ReadFile))
	}
	m, err := mesh.ParseFiles(in.Name, in.Sources, opts...)
	if err != nil {
		return nil, err
	}
	var errs []error
	for i := range m.Feeds {
		if _, err := validate.New(&m.Feeds[i]); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", in.Name, err))
		}
	}
	return m, errors.Join(errs...)
}

// liveOf lists what domain owns that is live: "feed x", "product y", ...
func liveOf(current map[definitionKey]definition, domain string) []string {
	var out []string
	for k, d := range current {
		if !d.Retired && k.Kind != definitions.KindDomain && k.Kind != definitions.KindLocations && k.Kind != definitions.KindInstallation && OwnerOf(d) == domain {
			out = append(out, k.Kind+" "+k.Name)
		}
	}
	slices.SortFunc(out, func(a, b string) int {
		ka, _, _ := strings.Cut(a, " ")
		kb, _, _ := strings.Cut(b, " ")
		return cmp.Or(cmp.Compare(kindOrder[ka], kindOrder[kb]), cmp.Compare(a, b))
	})
	return out
}

// feedProblems are the feeds of want that another domain's feed refuses:
// a feed of the files that is another domain's on the log, and a key
// pattern that overlaps a feed of another domain (on the log and staying,
// or in the files).
func feedProblems(current map[definitionKey]definition, want []events.Event, scope []string) []string {
	type feedAt struct {
		name, domain, pattern string
		file                  bool
	}
	var feeds []feedAt
	inFiles := map[string]bool{}
	var problems []string
	for _, ev := range want {
		fd, ok := ev.(*events.FeedDefined)
		if !ok {
			continue
		}
		inFiles[fd.Feed] = true
		if cur, ok := current[definitionKey{Kind: definitions.KindFeed, Name: fd.Feed}]; ok && !cur.Retired {
			if owner := OwnerOf(cur); owner != fd.Envelope.Domain && !slices.Contains(scope, owner) {
				table := owner + "'s"
				if cur.Feed != nil {
					table = cur.Feed.Table
				}
				problems = append(problems, fmt.Sprintf("! feed %s is domain %s's on the log (table %s); a domain may not take over another's feed: "+
					"rename it, or apply %s's files without it first", fd.Feed, owner, table, owner))
			}
		}
		if fd.KeyPattern != "" {
			feeds = append(feeds, feedAt{fd.Feed, fd.Envelope.Domain, fd.KeyPattern, true})
		}
	}
	for _, k := range slices.SortedFunc(maps.Keys(current), func(a, b definitionKey) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Name, b.Name))
	}) {
		cur := current[k]
		if k.Kind != definitions.KindFeed || cur.Retired || cur.Feed == nil || cur.Feed.KeyPattern == "" || inFiles[k.Name] ||
			slices.Contains(scope, OwnerOf(cur)) {
			continue // a feed of the plan's domains is the files' or is retired
		}
		feeds = append(feeds, feedAt{k.Name, OwnerOf(cur), cur.Feed.KeyPattern, false})
	}
	for i, a := range feeds {
		if !a.file {
			continue
		}
		for j, b := range feeds {
			if a.domain == b.domain || (b.file && j < i) {
				continue
			}
			key, ok, err := mesh.Overlap(a.pattern, b.pattern)
			switch {
			case err != nil:
				problems = append(problems, fmt.Sprintf("! feed %s: key_pattern %q: %v", a.name, a.pattern, err))
			case ok:
				where := "on the log"
				if b.file {
					where = "in the files"
				}
				problems = append(problems, fmt.Sprintf("! feed %s (domain %s, key_pattern %q) overlaps feed %s (domain %s, key_pattern %q, %s): both match key %q, "+
					"so which domain loads such a file would depend on the order feeds are tried. Give each domain's patterns a prefix of their own "+
					"(such as %s/...) so that no key matches both", a.name, a.domain, a.pattern, b.name, b.domain, b.pattern, where, key, a.domain))
			}
		}
	}
	return problems
}

// CatalogApplier is the catalog's Applier over d: the files of a request
// planned and applied by Apply, its errors marked for the catalog's
// statuses.
func (d *Definer) CatalogApplier() catalog.Applier {
	return func(ctx context.Context, req catalog.ApplyRequest, by string, planOnly bool, authorize func([]string) error) (catalog.ApplyAnswer, error) {
		files := map[string][]byte{}
		var srcs []mesh.Source
		for _, f := range req.Files {
			files[f.Name] = []byte(f.Content)
			if ext := strings.ToLower(f.Name); strings.HasSuffix(ext, ".yaml") || strings.HasSuffix(ext, ".yml") {
				srcs = append(srcs, mesh.Source{Name: f.Name, Data: []byte(f.Content)})
			}
		}
		name := "the request's files"
		if len(srcs) == 1 {
			name = srcs[0].Name
		}
		rep, err := d.Apply(ctx, ApplyInput{Name: name, Sources: srcs, RetireDomains: req.RetireDomains, By: by, PlanOnly: planOnly, Authorize: authorize,
			ReadFile: func(n string) ([]byte, error) {
				if b, ok := files[n]; ok {
					return b, nil
				}
				return nil, fmt.Errorf("%s is not among the request's files (send every schema_file the mesh files name)", n)
			}})
		var ans catalog.ApplyAnswer
		if rep != nil {
			ans = catalog.ApplyAnswer{Domains: rep.Domains, Plan: rep.Lines(), Applied: rep.Applied}
		}
		switch {
		case err == nil:
		case errors.Is(err, mesh.ErrInvalid), errors.Is(err, ErrInvalid), errors.Is(err, validate.ErrUnsupported):
			err = marked{err, catalog.ErrInvalid}
		case errors.Is(err, ErrRefused), errors.Is(err, ErrRaced):
			err = marked{err, catalog.ErrConflict}
		}
		return ans, err
	}
}

// marked is err, also wrapping mark (for the status a caller answers
// with) without adding it to the message.
type marked struct{ err, mark error }

func (m marked) Error() string   { return m.err.Error() }
func (m marked) Unwrap() []error { return []error{m.err, m.mark} }

// plural returns "1 definition" or "n definitions".
func plural(n int) string {
	if n == 1 {
		return "1 definition"
	}
	return fmt.Sprintf("%d definitions", n)
}
