package catalog_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/processors/catalog"
	"github.com/logmesh/logmesh/projections/audit"
)

// auditFile is a landed test file.
type auditFile struct{ key, table string }

func (f auditFile) sum() string { return "sum-" + f.key }
func (f auditFile) id() string  { return events.DeriveID(f.key, f.sum()) }

func (r *rig) produceOn(topic string, evs ...events.Event) {
	r.t.Helper()
	cl := r.cluster.Client(r.t)
	for _, ev := range evs {
		rec, err := r.codec.Record(ev)
		if err != nil {
			r.t.Fatal(err)
		}
		rec.Topic = topic
		if err := cl.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
			r.t.Fatal(err)
		}
	}
}

func (r *rig) landFile(f auditFile, at time.Time) {
	r.t.Helper()
	ev := &events.FileLanded{Envelope: events.Envelope{EventID: "landed-" + f.key, OccurredAt: at, Domain: events.DomainRaw, CorrelationID: f.id()},
		Key: f.key, Checksum: f.sum(), Size: 10, Source: events.SourceLocal}
	if f.table != "" {
		feed := strings.ReplaceAll(f.table, ".", "-")
		ev.Table, ev.Feed = &f.table, &feed
	}
	r.produceOn(r.names.Domain(events.DomainRaw), ev)
}

func (r *rig) planBatch(id string, at time.Time, fs ...auditFile) {
	r.t.Helper()
	bp := &events.BatchPlanned{Envelope: events.Envelope{EventID: "planned-" + id, OccurredAt: at, Domain: events.DomainRaw, CorrelationID: id},
		BatchID: id, Table: fs[0].table, Feed: strings.ReplaceAll(fs[0].table, ".", "-"), Trigger: "interval"}
	for _, f := range fs {
		bp.Files = append(bp.Files, events.BatchFile{Key: f.key, Checksum: f.sum(), Size: 10, LandedEventID: "landed-" + f.key})
		bp.TotalBytes += 10
	}
	r.produceOn(r.names.Batches(), bp)
}

// page is one page of /v1/files.
type filesPage struct {
	Items []catalog.FileView `json:"items"`
	Next  string             `json:"next_page_token"`
}

// files lists /v1/files?query as principal over every page of size
// pageSize, and returns the keys listed.
func (r *rig) files(principal, query string, pageSize int) ([]catalog.FileView, int, string) {
	r.t.Helper()
	var out []catalog.FileView
	tok := ""
	for range 100 {
		q, err := url.ParseQuery(query)
		if err != nil {
			r.t.Fatal(err)
		}
		q.Set("page_size", fmt.Sprint(pageSize))
		if tok != "" {
			q.Set("page_token", tok)
		}
		status, body, _ := r.call(principal, "GET", "/v1/files?"+q.Encode(), "")
		if status != 200 {
			return nil, status, body
		}
		var pg filesPage
		if err := json.Unmarshal([]byte(body), &pg); err != nil {
			r.t.Fatalf("%s: %v", body, err)
		}
		out = append(out, pg.Items...)
		if tok = pg.Next; tok == "" {
			return out, status, body
		}
	}
	r.t.Fatal("more than 100 pages")
	return nil, 0, ""
}

func keysOf(fs []catalog.FileView) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Key)
	}
	return out
}

// The file audit through the catalog: every status, filtered by what each
// principal may read (governance everything, a domain the files of its
// products' tables), in landing order over pages, equal to what the audit
// gives of the catalog's own store; as of a moment; refused for a table
// the caller may not read.
func TestFiles(t *testing.T) {
	r := newRig(t, catalog.Rules{})
	pub1, pub2 := auditFile{"pub/1.csv", "own.pub"}, auditFile{"pub/2.csv", "own.pub"}
	priv1, priv2 := auditFile{"priv/1.csv", "own.priv"}, auditFile{"priv/2.csv", "own.priv"}
	junk, orphan := auditFile{"junk/1.bin", ""}, auditFile{"x/1.csv", "raw.x"} // no feed; a table no product publishes
	at := func(min int) time.Time { return t0.Add(time.Hour + time.Duration(min)*time.Minute) }
	for i, f := range []auditFile{pub1, pub2, priv1, priv2, junk, orphan} {
		r.landFile(f, at(i))
	}
	r.planBatch("b-pub", at(10), pub2)
	r.planBatch("b-priv", at(10), priv1, priv2)
	sum := junk.sum()
	r.produce(
		&events.FileProcessed{Envelope: events.Envelope{EventID: "processed-pub2", OccurredAt: at(20), Domain: events.DomainRaw, CorrelationID: pub2.id()},
			FileKey: pub2.key, FileChecksum: pub2.sum(), Table: pub2.table, BatchID: "b-pub", RecordsRead: 3, RecordsLoaded: 3, TableVersion: new(int64(2))},
		&events.FileFailed{Envelope: events.Envelope{EventID: "failed-priv2", OccurredAt: at(21), Domain: events.DomainRaw, CorrelationID: priv2.id()},
			FileKey: priv2.key, FileChecksum: new(priv2.sum()), Table: new(priv2.table), BatchID: new("b-priv"), Stage: "parse", Reason: "bad row", Attempt: 1},
		&events.FileFailed{Envelope: events.Envelope{EventID: "unmatched-junk", OccurredAt: at(22), Domain: events.DomainRaw, CorrelationID: junk.id()},
			FileKey: junk.key, FileChecksum: &sum, Stage: audit.StageMatch, Reason: "no feed matches", Attempt: 1},
	)

	all, status, body := r.files(catalog.Governance, "", 2)
	if status != 200 {
		t.Fatalf("governance lists the files: %d %s", status, body)
	}
	if got, want := keysOf(all), []string{pub1.key, pub2.key, priv1.key, priv2.key, junk.key, orphan.key}; !slices.Equal(got, want) {
		t.Fatalf("governance's files over pages of 2: %v, want %v (landing order)", got, want)
	}
	// What the catalog's store holds, by the audit's own reading.
	stored, err := audit.Files(r.srv.Store())
	if err != nil {
		t.Fatal(err)
	}
	var back []audit.File
	for _, v := range all {
		back = append(back, v.File())
	}
	if g, w := fmt.Sprintf("%+v", back), fmt.Sprintf("%+v", stored); g != w {
		t.Errorf("the API's files are not the audit's:\n got %s\nwant %s", g, w)
	}

	want := map[string]map[string][]string{ // principal → status → keys
		catalog.Governance: {"RECEIVED": {pub1.key, orphan.key}, "BATCHED": {priv1.key}, "PROCESSED": {pub2.key}, "FAILED": {priv2.key},
			"UNMATCHED": {junk.key}},
		"own": {"RECEIVED": {pub1.key}, "BATCHED": {priv1.key}, "PROCESSED": {pub2.key}, "FAILED": {priv2.key}},
		"a":   {}, // a reads own.pub through a grant; the audit of its files is own's
	}
	for principal, byStatus := range want {
		for _, st := range audit.Statuses() {
			got, status, body := r.files(principal, "status="+strings.ToLower(st), 1)
			if status != 200 || !slices.Equal(keysOf(got), byStatus[st]) {
				t.Errorf("%s lists the %s files: %d %v, want %v: %s", principal, st, status, keysOf(got), byStatus[st], body)
			}
			for _, f := range got {
				if f.Status != st {
					t.Errorf("%s lists %s among the %s files: %+v", principal, f.Key, st, f)
				}
			}
		}
	}
	if got, _, _ := r.files("own", "table=own.pub", 100); !slices.Equal(keysOf(got), []string{pub1.key, pub2.key}) {
		t.Errorf("own lists the files of own.pub: %v", keysOf(got))
	}
	if p := all[1]; p.RowsWritten != 3 || p.TableVersion != 2 || p.BatchID != "b-pub" || len(p.Timeline) != 3 || p.LandedAt == nil {
		t.Errorf("a processed file: %+v", p)
	}
	if f := all[3]; f.Error != "parse: bad row" {
		t.Errorf("a failed file: %+v", f)
	}

	// Refused: a table the caller may not read, a bad status.
	denied := len(r.denied())
	for _, c := range []struct {
		principal, query string
		want             int
	}{
		{"a", "table=own.pub", 403},
		{"own", "table=raw.x", 403},
		{catalog.Anonymous, "", 401},
		{"own", "status=DONE", 400},
	} {
		if _, status, body := r.files(c.principal, c.query, 10); status != c.want {
			t.Errorf("%s lists files?%s: %d, want %d: %s", c.principal, c.query, status, c.want, body)
		}
	}
	if got := len(r.denied()) - denied; got != 3 {
		t.Errorf("%d AccessDenied for the refused lists, want 3", got)
	}

	// As of before pub2 was processed: it was BATCHED.
	got, status, body := r.files(catalog.Governance, "status=BATCHED&as_of="+at(15).Format(time.RFC3339), 10)
	if status != 200 || !slices.Equal(keysOf(got), []string{pub2.key, priv1.key, priv2.key}) {
		t.Errorf("the BATCHED files as of %s: %d %v: %s", at(15), status, keysOf(got), body)
	}
}

// Every endpoint of the API is in openapi.json, and openapi.json names no
// endpoint the API does not serve.
func TestOpenAPIListsEveryRoute(t *testing.T) {
	b, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var documented []string
	for path, ops := range doc.Paths {
		for method := range ops {
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	slices.Sort(documented)
	served := catalog.Routes()
	slices.Sort(served)
	if !slices.Equal(documented, served) {
		t.Errorf("openapi.json documents\n%s\nthe API serves\n%s", strings.Join(documented, "\n"), strings.Join(served, "\n"))
	}
}
