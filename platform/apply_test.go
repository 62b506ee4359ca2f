package platform_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkatest"
	"github.com/logmesh/logmesh/mesh"
	"github.com/logmesh/logmesh/platform"
	"github.com/logmesh/logmesh/projections/definitions"
)

// The mesh of the log the apply tests start from: raw with two feeds,
// research with a product reading raw.trades and a grant of it.
const (
	rawYAML = `domains:
  - name: raw
feeds:
  - {name: trades, table: raw.trades, key_pattern: "trades/*.csv", format: csv, options: {header: true}, visibility: enterprise,
     schema: {type: record, name: T, fields: [{name: id, type: string}]}}
  - {name: quotes, table: raw.quotes, key_pattern: "quotes/**/*.csv", format: csv, options: {header: true},
     schema: {type: record, name: Q, fields: [{name: id, type: string}]}}
grants:
  - {product: raw.trades, to: research}
`
	researchYAML = `domains:
  - name: research
products:
  - {name: book, domain: research, inputs: [raw.trades], transform: "SELECT id FROM \"raw.trades\"",
     output: {schema: {type: record, name: B, fields: [{name: id, type: string}]}}}
subscriptions:
  - {domain: research, name: refreshes, pattern: {event: [ProductRefreshed]}}
`
	// qaYAML declares only qa: a product over raw's table, a grant to
	// research.
	qaYAML = `domains:
  - name: qa
products:
  - {name: checks, domain: qa, visibility: enterprise, inputs: [raw.trades], transform: "SELECT id FROM \"raw.trades\"",
     output: {schema: {type: record, name: C, fields: [{name: id, type: string}]}}}
grants:
  - {product: qa.checks, to: research}
`
)

// applyRig is a Kafka cluster, a registry and a Definer over a topic
// prefix of its own.
type applyRig struct {
	t       *testing.T
	cluster *kafkatest.Cluster
	d       *platform.Definer
}

func newApplyRig(t *testing.T) *applyRig {
	t.Helper()
	c := kafkatest.New(t)
	codec, url := kafkatest.Codec(t)
	reg, err := sr.NewClient(sr.URLs(url))
	if err != nil {
		t.Fatal(err)
	}
	r := &applyRig{t: t, cluster: c, d: &platform.Definer{Conn: c.Conn(), Codec: codec, Registry: reg,
		Topics: events.Topics{Prefix: kafkatest.Unique("apply")}, Partitions: 3}}
	if err := c.Conn().EnsureTopics(context.Background(), r.d.Topics.Specs(3)...); err != nil {
		t.Fatal(err)
	}
	return r
}

// files writes name → text to a new folder and returns its sources.
func files(t *testing.T, texts map[string]string) (string, []mesh.Source) {
	t.Helper()
	dir := t.TempDir()
	for name, text := range texts {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	srcs, err := mesh.ReadSources(dir)
	if err != nil {
		t.Fatal(err)
	}
	return dir, srcs
}

// apply applies the files texts (one folder) as by.
func (r *applyRig) apply(texts map[string]string, edit ...func(*platform.ApplyInput)) (*platform.ApplyReport, error) {
	r.t.Helper()
	in := platform.ApplyInput{Name: "apply", By: "test"}
	if len(texts) > 0 {
		in.Name, in.Sources = files(r.t, texts)
	}
	for _, e := range edit {
		e(&in)
	}
	return r.d.Apply(context.Background(), in)
}

func (r *applyRig) mustApply(texts map[string]string, edit ...func(*platform.ApplyInput)) *platform.ApplyReport {
	r.t.Helper()
	rep, err := r.apply(texts, edit...)
	if err != nil {
		r.t.Fatalf("apply: %v\n%s", err, lines(rep))
	}
	return rep
}

func lines(rep *platform.ApplyReport) string {
	if rep == nil {
		return "(no plan)"
	}
	return strings.Join(rep.Lines(), "\n")
}

// definitions folds the definitions on the log.
func (r *applyRig) definitions() map[definitions.Key]definitions.Definition {
	r.t.Helper()
	all, err := platform.ReadDefinitions(context.Background(), r.d.Conn, r.d.Codec, r.d.Topics)
	if err != nil {
		r.t.Fatal(err)
	}
	return all
}

// digest is a SHA-256 of the definitions of domains, in key order: the
// definitions projection as those domains see it.
func digest(all map[definitions.Key]definitions.Definition, domains ...string) [32]byte {
	h := sha256.New()
	for _, k := range slices.SortedFunc(maps.Keys(all), func(a, b definitions.Key) int {
		return strings.Compare(a.Kind+"\x00"+a.Name, b.Kind+"\x00"+b.Name)
	}) {
		if slices.Contains(domains, platform.OwnerOf(all[k])) {
			b, _ := json.Marshal(all[k])
			h.Write(b)
		}
	}
	return [32]byte(h.Sum(nil))
}

// logged is how many records the rig's topics hold.
func (r *applyRig) logged() int64 {
	r.t.Helper()
	adm := kadm.NewClient(r.cluster.Client(r.t))
	topics, err := adm.ListTopics(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	var names []string
	for _, n := range topics.Names() {
		if strings.HasPrefix(n, r.d.Topics.Prefix+".") {
			names = append(names, n)
		}
	}
	ends, err := adm.ListEndOffsets(context.Background(), names...)
	if err != nil {
		r.t.Fatal(err)
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n
}

// steps returns the plan's step lines of the ops.
func steps(rep *platform.ApplyReport, ops string) []string {
	var out []string
	for _, s := range rep.Steps {
		if strings.IndexByte(ops, s.Op) >= 0 {
			out = append(out, s.String())
		}
	}
	return out
}

func TestApplyPlans(t *testing.T) {
	base := map[string]string{"raw.yaml": rawYAML, "research.yaml": researchYAML}
	for _, tc := range []struct {
		name  string
		files map[string]string
		edit  func(*platform.ApplyInput)
		// before runs after the base is applied, before the case's apply.
		before func(r *applyRig)
		err    error    // the apply's error wraps it
		says   []string // lines the plan has (prefixes)
		check  func(t *testing.T, r *applyRig, rep *platform.ApplyReport, before map[definitions.Key]definitions.Definition)
	}{
		{
			name:  "a file of one domain plans that domain only",
			files: map[string]string{"qa.yaml": qaYAML},
			says:  []string{"plan for domains: qa", "  qa: a new domain", "+ domain qa", "+ product qa.checks", "+ grant qa.checks→research", "applied 3 definitions"},
			check: func(t *testing.T, r *applyRig, rep *platform.ApplyReport, before map[definitions.Key]definitions.Definition) {
				for _, s := range rep.Steps {
					if s.Domain != "qa" {
						t.Errorf("the plan of qa.yaml has a line for %s: %s", s.Domain, s)
					}
				}
				after := r.definitions()
				if digest(before, "raw", "research") != digest(after, "raw", "research") {
					t.Errorf("the definitions of raw and research changed with qa's apply")
				}
				if d := after[definitions.Key{Kind: definitions.KindProduct, Name: "qa.checks"}]; d.Retired || d.Product == nil {
					t.Errorf("qa.checks: %+v", d)
				}
			},
		},
		{
			name:  "a feed no longer in the file is retired on its domain's bus",
			files: map[string]string{"raw.yaml": strings.Replace(rawYAML, rawYAML[strings.Index(rawYAML, "  - {name: quotes"):strings.Index(rawYAML, "grants:")], "", 1)},
			says:  []string{"plan for domains: raw", "= feed trades (unchanged)", "- feed quotes (retired: not in the file)", "- product raw.quotes (retired: not in the file)", "applied 2 definitions"},
			check: func(t *testing.T, r *applyRig, rep *platform.ApplyReport, _ map[definitions.Key]definitions.Definition) {
				var fr *events.FeedRetired
				for _, s := range rep.Steps {
					if ev, ok := s.Event.(*events.FeedRetired); ok {
						fr = ev
					}
				}
				if fr == nil || fr.Envelope.Domain != "raw" || fr.Table != "raw.quotes" || fr.KeyPattern == nil || *fr.KeyPattern != "quotes/**/*.csv" || fr.RetiredBy != "test" {
					t.Errorf("FeedRetired %+v", fr)
				}
				if d := r.definitions()[definitions.Key{Kind: definitions.KindFeed, Name: "quotes"}]; !d.Retired {
					t.Errorf("quotes after the apply: %+v", d)
				}
				// In the file again, it is added back.
				rep = r.mustApply(map[string]string{"raw.yaml": rawYAML})
				if got := steps(rep, "+"); !slices.Equal(got, []string{"+ feed quotes", "+ product raw.quotes"}) {
					t.Errorf("quotes back in the file: %q", got)
				}
			},
		},
		{
			name:  "a domain with something of its own live is not retired",
			files: map[string]string{"raw.yaml": rawYAML},
			edit:  func(in *platform.ApplyInput) { in.Sources, in.RetireDomains = nil, []string{"research"} },
			err:   platform.ErrRefused,
			says: []string{"plan for domains: research",
				"! domain research cannot be retired: still live: product research.book, subscription research/refreshes. Retire them first"},
		},
		{
			name:  "a domain with nothing of its own live is retired",
			files: map[string]string{"research.yaml": "domains:\n  - name: research\n"},
			says:  []string{"plan for domains: research", "- product research.book (retired: not in the file)", "- subscription research/refreshes (removed: not in the file)"},
			check: func(t *testing.T, r *applyRig, _ *platform.ApplyReport, _ map[definitions.Key]definitions.Definition) {
				rep := r.mustApply(nil, func(in *platform.ApplyInput) { in.Sources, in.RetireDomains = nil, []string{"research"} })
				if got := steps(rep, "-"); !slices.Equal(got, []string{"- domain research (retired: nothing of its own is live)"}) || len(rep.Steps) != 1 {
					t.Errorf("retire research: %q\n%s", got, lines(rep))
				}
				d := r.definitions()[definitions.Key{Kind: definitions.KindDomain, Name: "research"}]
				if !d.Retired || d.AppliedBy != "test" {
					t.Errorf("research after its retirement: %+v", d)
				}
				if _, err := r.apply(nil, func(in *platform.ApplyInput) { in.Sources, in.RetireDomains = nil, []string{"research"} }); !errors.Is(err, platform.ErrInvalid) {
					t.Errorf("retiring it again: %v, want ErrInvalid", err)
				}
				// Declared again, it is added back.
				rep = r.mustApply(map[string]string{"research.yaml": researchYAML})
				if got := steps(rep, "+"); !slices.Equal(got[:1], []string{"+ domain research"}) {
					t.Errorf("research back: %q", got)
				}
			},
		},
		{
			name:  "a key pattern overlapping another domain's feed is refused",
			files: map[string]string{"qa.yaml": qaYAML + "feeds:\n  - {name: qa-trades, table: qa.trades, key_pattern: \"trades/**\", format: ndjson, schema: {type: record, name: T, fields: [{name: id, type: string}]}}\n"},
			err:   platform.ErrRefused,
			says: []string{`! feed qa-trades (domain qa, key_pattern "trades/**") overlaps feed trades (domain raw, key_pattern "trades/*.csv", on the log): both match key "trades/a.csv"`,
				"refused: 1 problem(s); nothing emitted"},
		},
		{
			name: "overlapping patterns of two domains of the files are refused",
			files: map[string]string{"qa.yaml": qaYAML + "feeds:\n  - {name: qa-in, table: qa.in, key_pattern: \"in/*.json\", format: ndjson, schema: {type: record, name: T, fields: [{name: id, type: string}]}}\n",
				"lab.yaml": "domains:\n  - name: lab\nfeeds:\n  - {name: lab-in, table: lab.in, key_pattern: \"in/**\", format: ndjson, schema: {type: record, name: T, fields: [{name: id, type: string}]}}\n"},
			err:  platform.ErrRefused,
			says: []string{`! feed lab-in (domain lab, key_pattern "in/**") overlaps feed qa-in (domain qa, key_pattern "in/*.json", in the files): both match key "in/a.json"`},
		},
		{
			name:  "a disjoint key pattern of another domain is applied",
			files: map[string]string{"qa.yaml": qaYAML + "feeds:\n  - {name: qa-trades, table: qa.trades, key_pattern: \"qa/trades/*.csv\", format: ndjson, schema: {type: record, name: T, fields: [{name: id, type: string}]}}\n"},
			says:  []string{"+ feed qa-trades"},
		},
		{
			name:  "another domain's feed is not taken over",
			files: map[string]string{"qa.yaml": qaYAML + "feeds:\n  - {name: quotes, table: qa.quotes, key_pattern: \"qa/q/*\", format: ndjson, schema: {type: record, name: T, fields: [{name: id, type: string}]}}\n"},
			err:   platform.ErrRefused,
			says:  []string{"! feed quotes is domain raw's on the log (table raw.quotes); a domain may not take over another's feed"},
		},
		{
			name:  "files that fail validation: every error, file:line",
			files: map[string]string{"qa.yaml": strings.Replace(qaYAML, "inputs: [raw.trades]", "inputs: [raw.nothing]", 1), "lab.yaml": "domains:\n  - name: lab\nsubscriptions:\n  - {domain: raw, name: s, pattern: {event: [x]}}\n"},
			err:   mesh.ErrInvalid,
		},
		{
			name:  "a domain both declared and retired",
			files: map[string]string{"qa.yaml": qaYAML},
			edit:  func(in *platform.ApplyInput) { in.RetireDomains = []string{"qa"} },
			err:   platform.ErrInvalid,
		},
		{
			name:  "a plan only emits nothing",
			files: map[string]string{"qa.yaml": qaYAML},
			edit:  func(in *platform.ApplyInput) { in.PlanOnly = true },
			says:  []string{"+ domain qa", "dry run: 3 definitions would be applied, nothing emitted"},
		},
		{
			name: "UNMATCHED files a new feed takes are named, with the retry command",
			before: func(r *applyRig) {
				for _, key := range []string{"qa/in/a.csv", "elsewhere/b.csv"} {
					sum := strings.Repeat("0", 64)
					id := events.DeriveID(key, sum)
					env := events.Envelope{EventID: events.NewID(), OccurredAt: time.Now().UTC().Truncate(time.Microsecond), Domain: "raw", CorrelationID: id}
					landed := &events.FileLanded{Envelope: env, Key: key, Source: events.SourceLocal, Size: 1, Checksum: sum}
					env.EventID = events.NewID()
					failed := &events.FileFailed{Envelope: env, FileKey: key, FileChecksum: &sum, Stage: "match", Reason: "no feed matches", Attempt: 1}
					r.produce(landed, failed)
				}
			},
			files: map[string]string{"qa.yaml": qaYAML + "feeds:\n  - {name: qa-in, table: qa.in, key_pattern: \"qa/in/*.csv\", format: csv, options: {header: true}, schema: {type: record, name: T, fields: [{name: id, type: string}]}}\n"},
			edit:  func(in *platform.ApplyInput) { in.PlanOnly = true },
			says: []string{"UNMATCHED files that a new or changed feed of this plan would take: 1", "  qa/in/a.csv (feed qa-in)",
				"  retry them once the plan is applied: logmesh files retry --status UNMATCHED"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newApplyRig(t)
			r.mustApply(base)
			if tc.before != nil {
				tc.before(r)
			}
			before, n := r.definitions(), r.logged()
			edit := []func(*platform.ApplyInput){}
			if tc.edit != nil {
				edit = append(edit, tc.edit)
			}
			rep, err := r.apply(tc.files, edit...)
			if !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
				t.Fatalf("apply: %v, want %v\n%s", err, tc.err, lines(rep))
			}
			if err != nil && r.logged() != n {
				t.Errorf("a refused apply emitted %d events", r.logged()-n)
			}
			if rep == nil && len(tc.says) > 0 {
				t.Fatalf("no plan; want %q", tc.says)
			}
			for _, want := range tc.says {
				if !slices.ContainsFunc(rep.Lines(), func(l string) bool { return strings.HasPrefix(l, want) }) {
					t.Errorf("the plan has no line %q:\n%s", want, lines(rep))
				}
			}
			if tc.check != nil {
				tc.check(t, r, rep, before)
			}
		})
	}
}

// The errors of files that fail validation name every problem of every
// file at once.
func TestApplyErrorsAtOnce(t *testing.T) {
	r := newApplyRig(t)
	r.mustApply(map[string]string{"raw.yaml": rawYAML, "research.yaml": researchYAML})
	dir, srcs := files(t, map[string]string{
		"qa.yaml":  strings.Replace(qaYAML, "inputs: [raw.trades]", "inputs: [raw.nothing]", 1),
		"lab.yaml": "domains:\n  - name: lab\nsubscriptions:\n  - {domain: raw, name: s, pattern: {event: [x]}}\n",
	})
	_, err := r.d.Apply(context.Background(), platform.ApplyInput{Name: dir, Sources: srcs})
	if !errors.Is(err, mesh.ErrInvalid) {
		t.Fatalf("%v, want ErrInvalid", err)
	}
	for _, want := range []string{
		filepath.Join(dir, "lab.yaml") + `:4: subscription raw/s: domain "raw" is not declared in the files: raw is on the log`,
		filepath.Join(dir, "qa.yaml") + `:4: product qa.checks: input "raw.nothing" is not a table, a product or a topic:NAME of the files or a live one on the log`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error\n%v\nlacks %q", err, want)
		}
	}
}

// Two applies for one domain that plan against the same definitions race
// on the log: one claim wins, the other apply is refused with the winner's
// name and emits nothing beyond its claim.
func TestApplyRace(t *testing.T) {
	r := newApplyRig(t)
	r.mustApply(map[string]string{"raw.yaml": rawYAML, "research.yaml": researchYAML, "qa.yaml": qaYAML})
	var planned sync.WaitGroup
	planned.Add(2)
	barrier := func([]string) error { // both have read the definitions
		planned.Done()
		planned.Wait()
		return nil
	}
	type result struct {
		rep *platform.ApplyReport
		err error
	}
	results := make(chan result, 2)
	for i, text := range []string{
		strings.Replace(qaYAML, "SELECT id", "SELECT id, 1 AS one", 1),
		strings.Replace(qaYAML, "  - {product: qa.checks, to: research}\n", "", 1),
	} {
		go func() {
			dir, srcs := files(t, map[string]string{"qa.yaml": text})
			rep, err := r.d.Apply(context.Background(), platform.ApplyInput{Name: dir, Sources: srcs, By: fmt.Sprintf("cli:user%d", i), Authorize: barrier})
			results <- result{rep, err}
		}()
	}
	var won, lost []result
	for range 2 {
		res := <-results
		switch {
		case res.err == nil:
			won = append(won, res)
		case errors.Is(res.err, platform.ErrRaced):
			lost = append(lost, res)
		default:
			t.Fatalf("apply: %v\n%s", res.err, lines(res.rep))
		}
	}
	if len(won) != 1 || len(lost) != 1 {
		t.Fatalf("%d won, %d lost; want one each", len(won), len(lost))
	}
	winner := won[0].rep.Claims[0]
	if want := fmt.Sprintf("domain qa's definitions changed since this plan: applied by %s at", winner.By); !strings.Contains(lost[0].err.Error(), want) ||
		!strings.Contains(lost[0].err.Error(), "plan again") {
		t.Errorf("the loser's error %q does not say %q", lost[0].err, want)
	}
	// The log holds the winner's plan: a plan of the winner's file has no
	// changes.
	all := r.definitions()
	if d := all[definitions.Key{Kind: definitions.KindDomain, Name: "qa"}]; d.EventID != winner.EventID || d.AppliedBy != winner.By {
		t.Errorf("qa = %+v, want the winner's claim %+v", d, winner)
	}
	grant := all[definitions.Key{Kind: definitions.KindGrant, Name: definitions.GrantName("qa.checks", "research")}]
	if winnerDropsGrant := strings.Contains(lines(won[0].rep), "- grant"); grant.Retired != winnerDropsGrant {
		t.Errorf("the grant is retired=%v, but the winner's plan was\n%s", grant.Retired, lines(won[0].rep))
	}
}

// produce puts evs on the rig's topics.
func (r *applyRig) produce(evs ...events.Event) {
	r.t.Helper()
	cl := r.cluster.Client(r.t)
	for _, ev := range evs {
		rec, err := r.d.Codec.Record(ev)
		if err != nil {
			r.t.Fatal(err)
		}
		rec.Topic = r.d.Topics.For(ev)
		if err := cl.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
			r.t.Fatal(err)
		}
	}
}
