package feeds_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkatest"
	"github.com/logmesh/logmesh/mesh"
	"github.com/logmesh/logmesh/processors/feeds"
	"github.com/logmesh/logmesh/processors/proc"
)

const labMesh = `
domains:
  - name: lab
feeds:
  - name: samples
    table: lab.samples
    key_pattern: "lab/*.csv"
    format: csv
    options: {header: true}
    schema:
      type: record
      name: Sample
      fields:
        - {name: id, type: string}
        - {name: value, type: long}
    primary_key: [id]
    mode: upsert
    unique_key: true
    rules:
      - {field: id, rule: required}
    batch: {max_files: 7, max_bytes: 4096}
`

// TestViewFollowsTheLog: a feed defined on the log is matched at the next
// catch-up; a changed definition is the live one while the first stays
// readable by its hash; a retired feed matches nothing and its files are
// told why.
func TestViewFollowsTheLog(t *testing.T) {
	ctx := context.Background()
	c := kafkatest.New(t)
	codec, _ := kafkatest.Codec(t)
	names := events.Topics{Prefix: kafkatest.Unique("fv")}
	if err := c.Conn().EnsureTopics(ctx, names.Specs(1, "lab")...); err != nil {
		t.Fatal(err)
	}
	cl := c.Client(t)
	produce := func(evs ...events.Event) {
		t.Helper()
		for _, ev := range evs {
			rec, err := codec.Record(ev)
			if err != nil {
				t.Fatal(err)
			}
			rec.Topic = names.For(ev)
			if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	v, err := feeds.New(proc.Config{Conn: c.Conn(), Topics: names}, codec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close() })

	if err := v.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := v.Match("lab/a.csv"); ok {
		t.Fatal("a key matched before any feed was defined")
	}

	m1, err := mesh.Parse([]byte(labMesh), "lab.yaml", ".")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	produce(m1.Definitions(at)...)
	if err := v.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	feed, table, ok := v.Match("lab/a.csv")
	if !ok || feed != "samples" || table != "lab.samples" {
		t.Fatalf("Match(lab/a.csv) = %q, %q, %v; want samples, lab.samples, true", feed, table, ok)
	}
	if f, b, ok := v.Limits("lab.samples"); !ok || f != 7 || b != 4096 {
		t.Errorf("Limits = %d, %d, %v; want 7, 4096, true", f, b, ok)
	}
	want1, _ := m1.Feed("samples")
	h1, ok := v.Hash("samples")
	if !ok || h1 != want1.DefinitionHash() {
		t.Fatalf("Hash = %q, %v; want %s", h1, ok, want1.DefinitionHash())
	}
	got, ok, err := v.Feed(ctx, "samples", h1)
	if err != nil || !ok || got.DefinitionHash() != h1 || got.Mode != mesh.ModeUpsert || !got.UniqueKey {
		t.Fatalf("Feed(samples, h1) = %+v, %v, %v", got, ok, err)
	}

	// A changed rule: the live feed is the new one, the old one stays
	// readable by its hash (a batch planned with it loads with it).
	m2, err := mesh.Parse([]byte(strings.Replace(labMesh, "rule: required}", "rule: regex, value: '^S'}", 1)), "lab.yaml", ".")
	if err != nil {
		t.Fatal(err)
	}
	produce(m2.Definitions(at.Add(time.Minute))...)
	want2, _ := m2.Feed("samples")
	h2 := want2.DefinitionHash()
	if h2 == h1 {
		t.Fatal("the changed feed has the same hash")
	}
	// Feed with an unseen hash catches up by itself.
	got, ok, err = v.Feed(ctx, "samples", h2)
	if err != nil || !ok || got.Rules[0].Rule != mesh.RuleRegex {
		t.Fatalf("Feed(samples, h2) = %+v, %v, %v; want the regex rule", got, ok, err)
	}
	if h, _ := v.Hash("samples"); h != h2 {
		t.Errorf("Hash after the change = %s, want %s", h, h2)
	}
	got, ok, err = v.Feed(ctx, "samples", h1)
	if err != nil || !ok || got.Rules[0].Rule != mesh.RuleRequired {
		t.Errorf("Feed(samples, h1) after the change = %+v, %v, %v; want the first version", got, ok, err)
	}
	if _, ok, err := v.Feed(ctx, "samples", "no-such-hash"); err != nil || ok {
		t.Errorf("Feed of an unknown hash = %v, %v; want not ok, no error", ok, err)
	}

	// Retired: nothing matches, and the reason names the retirement.
	reason := "lab closed"
	produce(&events.FeedRetired{
		Envelope: events.Envelope{EventID: events.DeriveID("retire", "samples"), OccurredAt: at.Add(2 * time.Minute), Domain: "lab",
			CorrelationID: "test"},
		Feed: "samples", Table: "lab.samples", KeyPattern: new("lab/*.csv"), RetiredBy: "test", Reason: &reason,
	})
	if err := v.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := v.Match("lab/b.csv"); ok {
		t.Error("a retired feed still matches")
	}
	why := v.Unmatched("lab/b.csv")
	for _, s := range []string{"feed samples", "retired", reason} {
		if !strings.Contains(why, s) {
			t.Errorf("Unmatched = %q, want it to name %q", why, s)
		}
	}
	// Files landed before the retirement are still loaded with its last
	// definition.
	if h, ok := v.Hash("samples"); !ok || h != h2 {
		t.Errorf("Hash of the retired feed = %q, %v; want %s", h, ok, h2)
	}
}
