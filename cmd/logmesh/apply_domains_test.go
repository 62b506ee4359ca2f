package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkatest"
	"github.com/logmesh/logmesh/mesh"
	"github.com/logmesh/logmesh/platform"
	"github.com/logmesh/logmesh/processors/catalog"
	"github.com/logmesh/logmesh/projections/definitions"
)

// domainsMesh is the dev's mesh: the domains a token is made for.
const domainsMesh = "domains:\n  - name: raw\n  - name: qa\n  - name: lab\n"

// domainFiles writes name → text under a new folder and returns it.
func domainFiles(t *testing.T, texts map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range texts {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// qaFeed is domain qa with one feed, its schema in a schema file.
const qaFeed = `domains:
  - name: qa
feeds:
  - {name: qa-in, table: qa.in, key_pattern: "qa/in/*.csv", format: csv, options: {header: true}, schema_file: schemas/in.avsc}
`

const inSchema = `{"type":"record","name":"In","fields":[{"name":"id","type":"string"},{"name":"v","type":"long"}]}`

// Two applies for domain qa race: both plan against qa's definition, one
// claim wins, the other apply is refused with the winner's name and time
// and emits nothing else; planned again, it applies. The live definitions
// store equals one rebuilt from the log.
func TestApplyRaceOnTheLog(t *testing.T) {
	if os.Getenv(kafkatest.EnvBrokers) != "" {
		kafkatest.New(t).Reset(t, "logmesh.")
	}
	cfg := meshConfig(t, t.TempDir(), domainsMesh)
	c := &cli{t: t, p: startDev(t, cfg)}
	base := domainFiles(t, map[string]string{"qa.yaml": qaFeed, "schemas/in.avsc": inSchema})
	if out, err := c.run("apply", "-f", base); err != nil || !strings.Contains(out, "+ feed qa-in") {
		t.Fatalf("apply %s: %v\n%s", base, err, out)
	}

	variants := []string{
		strings.Replace(qaFeed, "options: {header: true}", "options: {header: true}, reject_threshold: 0.5", 1),
		qaFeed + "  - {name: qa-more, table: qa.more, key_pattern: \"qa/more/*.csv\", format: csv, options: {header: true}, schema_file: schemas/in.avsc}\n",
	}
	var planned sync.WaitGroup
	planned.Add(len(variants))
	type result struct {
		dir string
		rep *platform.ApplyReport
		err error
	}
	results := make(chan result, len(variants))
	d := c.p.Env.Definer()
	for i, text := range variants {
		dir := domainFiles(t, map[string]string{"qa.yaml": text, "schemas/in.avsc": inSchema})
		srcs, err := mesh.ReadSources(dir)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			rep, err := d.Apply(context.Background(), platform.ApplyInput{Name: dir, Sources: srcs, By: fmt.Sprintf("cli:racer%d", i),
				Authorize: func([]string) error { planned.Done(); planned.Wait(); return nil }}) // both have read qa's definition
			results <- result{dir, rep, err}
		}()
	}
	var won, lost []result
	for range variants {
		switch res := <-results; {
		case res.err == nil:
			won = append(won, res)
		case errors.Is(res.err, platform.ErrRaced):
			lost = append(lost, res)
		default:
			t.Fatalf("apply: %v", res.err)
		}
	}
	if len(won) != 1 || len(lost) != 1 {
		t.Fatalf("%d applies won and %d lost; want one each", len(won), len(lost))
	}
	w := won[0].rep.Claims[0]
	want := fmt.Sprintf("domain qa's definitions changed since this plan: applied by %s at %s", w.By, w.At.Format(time.RFC3339Nano))
	if !strings.Contains(lost[0].err.Error(), want) || !strings.HasSuffix(lost[0].err.Error(), "plan again: "+platform.ErrRaced.Error()) {
		t.Errorf("the loser's error:\n%v\nwant it to say %q", lost[0].err, want)
	}
	if !strings.Contains(strings.Join(lost[0].rep.Lines(), "\n"), "! claim of domain qa refused") {
		t.Errorf("the loser's plan does not show its refused claim:\n%s", strings.Join(lost[0].rep.Lines(), "\n"))
	}
	if d := c.definitions()[definitions.Key{Kind: definitions.KindDomain, Name: "qa"}]; d.EventID != w.EventID {
		t.Errorf("qa's definition is %s, want the winning claim %s", d.EventID, w.EventID)
	}

	// Planned again, the loser applies on top of the winner.
	out, err := c.run("apply", "-f", lost[0].dir)
	if err != nil || !strings.Contains(out, "plan for domains: qa") || !strings.Contains(out, "applied by "+w.By) || !strings.Contains(out, "claimed domain qa") {
		t.Fatalf("the loser planned again: %v\n%s", err, out)
	}

	// The live definitions store, once it has read the central bus to its
	// end, equals a replay.
	c.awaitLive("definitions", events.CentralTopic)
	if out, err := c.run("replay", "--projection", "definitions", "--verify", "--admin", c.p.AdminURL); err != nil {
		t.Fatalf("replay --verify: %v\n%s", err, out)
	}
}

// awaitLive waits until the live store of processor has folded topic to
// its end.
func (c *cli) awaitLive(processor, topic string) {
	c.t.Helper()
	kc, err := kgo.NewClient(kgo.SeedBrokers(c.p.Brokers...))
	if err != nil {
		c.t.Fatal(err)
	}
	defer kc.Close()
	adm := kadm.NewClient(kc)
	ends, err := adm.ListEndOffsets(context.Background(), topic)
	if err != nil {
		c.t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		var cp platform.Checkpoints
		if err := getJSON(context.Background(), http.DefaultClient, c.p.AdminURL+"/v1/stores/"+processor+"/checkpoints", &cp); err == nil {
			next := map[int32]int64{}
			for _, p := range cp.Partitions {
				if p.Topic == topic {
					next[p.Partition] = p.Next
				}
			}
			done := true
			ends.Each(func(o kadm.ListedOffset) {
				if o.Offset > 0 && next[o.Partition] < o.Offset {
					done = false
				}
			})
			if done {
				return
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("the live %s store never read %s to its end", processor, topic)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Applies through the catalog: a domain's token applies its own domain's
// files (the schema files they name sent along) and is refused another's
// with 403 and an AccessDenied; governance applies any, and retires a
// domain once nothing of its own is live. A folder's files are one plan
// of every domain they declare.
func TestApplyThroughCatalog(t *testing.T) {
	if os.Getenv(kafkatest.EnvBrokers) != "" {
		kafkatest.New(t).Reset(t, "logmesh.")
	}
	cfg := meshConfig(t, t.TempDir(), domainsMesh)
	c := &cli{t: t, p: startDev(t, cfg)}
	token := func(principal string) string {
		tok, err := platform.DevToken(filepath.Join(cfg.DataDir, platform.DevTokensFile), principal)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	url := c.p.Env.CatalogURL()
	labFeed := "domains:\n  - name: lab\nfeeds:\n  - {name: lab-in, table: lab.in, key_pattern: \"lab/*.ndjson\", format: ndjson, schema: {type: record, name: L, fields: [{name: id, type: string}]}}\n"
	qa := domainFiles(t, map[string]string{"qa.yaml": qaFeed, "schemas/in.avsc": inSchema})
	lab := domainFiles(t, map[string]string{"lab.yaml": labFeed})
	both := domainFiles(t, map[string]string{"qa.yaml": qaFeed, "lab.yaml": labFeed, "schemas/in.avsc": inSchema})

	out, err := c.run("apply", "-f", both, "--plan")
	if err != nil || !strings.Contains(out, "plan for domains: lab, qa\n") || !strings.Contains(out, "+ feed lab-in") || !strings.Contains(out, "+ feed qa-in") {
		t.Fatalf("apply --plan of a folder: %v\n%s", err, out)
	}

	out, err = c.run("apply", "-f", qa, "--catalog", url, "--token", token("qa"))
	if err != nil || !strings.Contains(out, "plan for domains: qa\n") || !strings.Contains(out, "+ feed qa-in") || !strings.Contains(out, "applied ") {
		t.Fatalf("qa applies qa through the catalog: %v\n%s", err, out)
	}
	if d := c.definitions()[definitions.Key{Kind: definitions.KindFeed, Name: "qa-in"}]; d.Retired || d.Feed == nil || d.Feed.DefinedBy == nil || *d.Feed.DefinedBy != "api:qa" {
		t.Errorf("qa-in applied through the catalog: %+v", d)
	}

	_, err = c.run("apply", "-f", lab, "--catalog", url, "--token", token("qa"))
	if err == nil || !strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), "qa may not apply the definitions of domain lab") {
		t.Fatalf("qa applies lab through the catalog: %v", err)
	}
	var denied *events.AccessDenied
	for _, rec := range kafkatest.ReadAll(t, c.p.Brokers, events.CentralTopic) {
		if ev, err := c.p.Codec.Decode(context.Background(), rec.Value); err == nil {
			if ad, ok := ev.(*events.AccessDenied); ok && ad.Action == "apply" {
				denied = ad
			}
		}
	}
	if denied == nil || denied.Principal != "qa" || denied.Resource != "domain lab" || denied.Reason == "" {
		t.Errorf("the refused apply's AccessDenied: %+v", denied)
	}
	if d, ok := c.definitions()[definitions.Key{Kind: definitions.KindFeed, Name: "lab-in"}]; ok {
		t.Errorf("a refused apply defined lab-in: %+v", d)
	}

	gov := token(catalog.Governance)
	if out, err := c.run("apply", "-f", lab, "--catalog", url, "--token", gov); err != nil || !strings.Contains(out, "+ feed lab-in") {
		t.Fatalf("governance applies lab: %v\n%s", err, out)
	}
	// lab cannot be retired while its feed is live; emptied, it can.
	if out, err := c.run("apply", "--retire-domain", "lab", "--catalog", url, "--token", gov); err == nil ||
		!strings.Contains(out, "! domain lab cannot be retired: still live: feed lab-in, product lab.in") {
		t.Fatalf("retire lab with its feed live: %v\n%s", err, out)
	}
	empty := domainFiles(t, map[string]string{"lab.yaml": "domains:\n  - name: lab\n"})
	if out, err := c.run("apply", "-f", empty, "--catalog", url, "--token", gov); err != nil || !strings.Contains(out, "- feed lab-in (retired: not in the file)") {
		t.Fatalf("governance empties lab: %v\n%s", err, out)
	}
	if out, err := c.run("apply", "--retire-domain", "lab"); err != nil || !strings.Contains(out, "- domain lab (retired: nothing of its own is live)") {
		t.Fatalf("retire lab: %v\n%s", err, out)
	}
	if d := c.definitions()[definitions.Key{Kind: definitions.KindDomain, Name: "lab"}]; !d.Retired {
		t.Errorf("lab after its retirement: %+v", d)
	}
	// Every apply left qa alone.
	if d := c.definitions()[definitions.Key{Kind: definitions.KindFeed, Name: "qa-in"}]; d.Retired {
		t.Errorf("qa-in after lab's applies: %+v", d)
	}
}
