package catalog_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/processors/catalog"
)

// tail calls GET /v1/tail as principal with query q and decodes a 200.
func (r *rig) tail(principal string, q url.Values) (int, catalog.TailView, string) {
	r.t.Helper()
	status, body, _ := r.call(principal, "GET", "/v1/tail?"+q.Encode(), "")
	var v catalog.TailView
	if status == 200 {
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			r.t.Fatalf("%v: %s", err, body)
		}
	}
	return status, v, body
}

// ids are the event ids of a tail's records, an error as "!error".
func ids(v catalog.TailView) string {
	var out []string
	for _, rec := range v.Records {
		if rec.Error != "" {
			out = append(out, "!"+rec.Error)
			continue
		}
		out = append(out, rec.EventID)
	}
	return strings.Join(out, ",")
}

func committed(id string, at time.Time) *events.TableCommitted {
	return &events.TableCommitted{Envelope: events.Envelope{EventID: id, OccurredAt: at, Domain: "own"},
		Table: "own.pub", Version: 9, MetadataLocation: "file:///m.json", SnapshotID: 9, Operation: "append", RowsTotal: 1}
}

// Governance tails a domain's topic: the newest facts decoded with their
// names, then with after=next only the newer ones, limit at a time; a
// record that is no fact is answered with its error and moves the cursor.
func TestTailAPI(t *testing.T) {
	r := newRig(t, catalog.Rules{})
	topic := r.names.Domain("own")
	status, v, body := r.tail("governance", url.Values{"topic": {topic}})
	name := (&events.TableCommitted{}).Name()
	want := events.DeriveID("tc", "own.pub", "1") + "," + events.DeriveID("tc", "own.priv", "1")
	if status != 200 || v.Topic != topic || ids(v) != want || v.Next != "0:2" {
		t.Fatalf("the newest: %d %s", status, body)
	}
	var value map[string]any
	if rec := v.Records[0]; json.Unmarshal(rec.Value, &value) != nil || value["table"] != "own.pub" || rec.Name != name ||
		rec.OccurredAt == nil || !rec.OccurredAt.Equal(t0.Add(2*time.Minute)) || rec.Offset != 0 || rec.Timestamp.IsZero() {
		t.Errorf("the first record: %+v %s", rec, rec.Value)
	}
	if _, v, body := r.tail("governance", url.Values{"topic": {topic}, "limit": {"1"}}); ids(v) != events.DeriveID("tc", "own.priv", "1") || v.Next != "0:2" {
		t.Errorf("the newest one: %s", body)
	}

	r.produce(committed("new-1", t0.Add(time.Hour)), committed("new-2", t0.Add(time.Hour)), committed("new-3", t0.Add(time.Hour)))
	if err := r.cluster.Client(t).ProduceSync(context.Background(), &kgo.Record{Topic: topic, Value: []byte("plain text")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	_, v2, body := r.tail("governance", url.Values{"topic": {topic}, "after": {v.Next}, "limit": {"2"}})
	if ids(v2) != "new-1,new-2" || v2.Next != "0:4" {
		t.Fatalf("after %s, 2: %s", v.Next, body)
	}
	_, v3, body := r.tail("governance", url.Values{"topic": {topic}, "after": {v2.Next}})
	if ids(v3) != "new-3,!readout: not a logmesh fact (not a Confluent-framed Avro value)" || v3.Next != "0:6" {
		t.Fatalf("after %s: %s", v2.Next, body)
	}
	start := time.Now()
	if _, v4, body := r.tail("governance", url.Values{"topic": {topic}, "after": {v3.Next}}); len(v4.Records) != 0 || v4.Next != v3.Next {
		t.Errorf("at the end: %s", body)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("a tail at the end took %s", d)
	}
	// The domain tails its own topic.
	if status, v, body := r.tail("own", url.Values{"topic": {topic}, "limit": {"500"}}); status != 200 || len(v.Records) != 6 {
		t.Errorf("own tails its topic: %d %s", status, body)
	}
}

// Who may tail what, and the request's mistakes: a domain tails its own
// events topic only (a refusal is a 403 and an AccessDenied), governance
// any topic of the installation; a missing topic is a 404.
func TestTailAuthorization(t *testing.T) {
	r := newRig(t, catalog.Rules{})
	own := r.names.Domain("own")
	tests := []struct {
		principal string
		q         url.Values
		status    int
		has       string
	}{
		{"d", url.Values{"topic": {own}}, 403, "d may not tail " + own + ": a domain tails its own events topic, " + r.names.Domain("d")},
		{"own", url.Values{"topic": {r.names.Central()}}, 403, "may not tail"},
		{"own", url.Values{"topic": {r.names.Inbox("own")}}, 403, "may not tail"},
		{"governance", url.Values{"topic": {"elsewhere.events"}}, 403, "not a topic of this installation"},
		{"governance", url.Values{"topic": {r.names.Schemas()}}, 403, "not a topic of this installation"},
		{"governance", url.Values{"topic": {r.names.Domain("nope")}}, 404, "no topic " + r.names.Domain("nope")},
		{"governance", url.Values{"topic": {r.names.Inbox("own")}}, 200, `"records": []`},
		{"d", url.Values{"topic": {r.names.Domain("d")}}, 200, `"records": []`},
		{"governance", url.Values{}, 400, "topic is required"},
		{"governance", url.Values{"topic": {own}, "limit": {"0"}}, 400, "limit"},
		{"governance", url.Values{"topic": {own}, "limit": {"501"}}, 400, "limit"},
		{"governance", url.Values{"topic": {own}, "limit": {"x"}}, 400, "limit"},
		{"governance", url.Values{"topic": {own}, "after": {"0-2"}}, 400, "after"},
		{"anonymous", url.Values{"topic": {own}}, 401, ""},
	}
	for _, tt := range tests {
		status, _, body := r.tail(tt.principal, tt.q)
		if status != tt.status || !strings.Contains(body, tt.has) {
			t.Errorf("%s tails %v: %d %s, want %d with %q", tt.principal, tt.q, status, body, tt.status, tt.has)
		}
	}
	var tails []string
	for _, d := range r.denied() {
		if d.Action == "tail" {
			tails = append(tails, d.Principal+"→"+d.Resource)
		}
	}
	if want := []string{"d→" + own, "own→" + r.names.Central(), "own→" + r.names.Inbox("own"), "governance→elsewhere.events",
		"governance→" + r.names.Schemas()}; !slices.Equal(tails, want) {
		t.Errorf("the AccessDenied of tails: %v, want %v", tails, want)
	}
	// The topics one may tail.
	for _, c := range []struct {
		principal string
		has       []string
		hasNot    []string
	}{
		{"governance", []string{own, r.names.Central(), r.names.Domain(events.DomainRaw), r.names.Batches()}, []string{r.names.Schemas()}},
		{"d", []string{r.names.Domain("d")}, []string{own}},
	} {
		status, body, _ := r.call(c.principal, "GET", "/v1/tail/topics", "")
		var tv catalog.TailTopicsView
		if err := json.Unmarshal([]byte(body), &tv); err != nil || status != 200 {
			t.Fatalf("%s's topics: %d %s", c.principal, status, body)
		}
		for _, h := range c.has {
			if !slices.Contains(tv.Topics, h) {
				t.Errorf("%s's topics lack %s: %v", c.principal, h, tv.Topics)
			}
		}
		for _, h := range c.hasNot {
			if slices.Contains(tv.Topics, h) {
				t.Errorf("%s's topics have %s: %v", c.principal, h, tv.Topics)
			}
		}
	}
}

// Transactions: an aborted transaction's records are not answered, an
// open one's wait for its commit, and neither their markers nor they
// stall the cursor.
func TestTailTransactions(t *testing.T) {
	r := newRig(t, catalog.Rules{})
	ctx := context.Background()
	topic := r.names.Domain("own")
	_, v, body := r.tail("governance", url.Values{"topic": {topic}})
	if v.Next != "0:2" {
		t.Fatalf("the start: %s", body)
	}
	txn := func(commit bool, ids ...string) {
		t.Helper()
		cl := r.cluster.Client(t, kgo.TransactionalID(fmt.Sprintf("tail-%v-%s", commit, ids[0])))
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			rec, err := r.codec.Record(committed(id, t0.Add(time.Hour)))
			if err != nil {
				t.Fatal(err)
			}
			rec.Topic = topic
			if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
	}
	txn(false, "aborted-1", "aborted-2")
	txn(true, "committed-1")
	_, v2, body := r.tail("governance", url.Values{"topic": {topic}, "after": {v.Next}})
	// 2, 3 aborted, 4 its marker, 5 committed-1, 6 its marker.
	if ids(v2) != "committed-1" || v2.Next != "0:7" {
		t.Fatalf("after the transactions: %s", body)
	}
	if _, v3, body := r.tail("governance", url.Values{"topic": {topic}, "after": {v2.Next}}); len(v3.Records) != 0 || v3.Next != v2.Next {
		t.Errorf("past the markers: %s", body)
	}
	if _, v, body := r.tail("governance", url.Values{"topic": {topic}}); strings.Contains(body, "aborted") || !strings.Contains(ids(v), "committed-1") {
		t.Errorf("the newest: %s", body)
	}
}

// The console's Live tail: the topics one may tail in its datalist, the
// newest records server-rendered (newest first, escaped) with the cursor
// its script polls from; another domain's topic is refused as the API
// refuses it.
func TestConsoleTail(t *testing.T) {
	r := newRig(t, catalog.Rules{})
	own := r.names.Domain("own")
	ev := committed("markup-1", t0.Add(time.Hour))
	ev.Operation = "<b>append</b>"
	r.produce(ev)
	status, page := r.consoleGet("governance", "/console/tail?topic="+url.QueryEscape(own))
	if status != 200 {
		t.Fatalf("governance's tail of %s: %d\n%s", own, status, page)
	}
	first := strings.Index(page, `data-event-id="markup-1"`)
	second := strings.Index(page, `data-event-id="`+events.DeriveID("tc", "own.priv", "1")+`"`)
	for _, s := range []string{`<option value="` + own + `">`, `<option value="` + r.names.Central() + `">`, `id="tail-status"`,
		`src="/console/assets/tail.js"`, `data-next="0:3"`, `data-name="` + (&events.TableCommitted{}).Name() + `"`, `<code>{&#34;event&#34;:`} {
		if !strings.Contains(page, s) {
			t.Errorf("the page lacks %s:\n%s", s, page)
		}
	}
	if first < 0 || second < 0 || first > second || strings.Contains(page, "<b>append</b>") {
		t.Errorf("the rows are not newest first, or not escaped:\n%s", page)
	}
	status, page = r.consoleGet("d", "/console/tail")
	if status != 200 || !strings.Contains(page, `<option value="`+r.names.Domain("d")+`">`) || strings.Contains(page, `<option value="`+own+`">`) {
		t.Errorf("d's tail page: %d\n%s", status, page)
	}
	if status, page := r.consoleGet("d", "/console/tail?topic="+url.QueryEscape(own)); status != 403 || !strings.Contains(page, "may not tail") {
		t.Errorf("d's tail of own's topic: %d\n%s", status, page)
	}
	if status, body := r.consoleGet("governance", "/console/api/tail?topic="+url.QueryEscape(own)+"&after=0:2"); status != 200 || !strings.Contains(body, `"event_id": "markup-1"`) {
		t.Errorf("the script's poll: %d %s", status, body)
	}
}

// Over partitions: records come in timestamp order; the newest limit are
// the newest of every partition together; and a cursor walked limit at a
// time answers every record exactly once, in order.
func TestTailPartitions(t *testing.T) {
	r := newRig(t, catalog.Rules{})
	topic := r.cluster.Topic(t, r.names.Prefix+".multi", 3, nil)
	cl := r.cluster.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	var want []string
	// Partition p holds the records of minutes p, p+3, p+6, ...: their
	// timestamps interleave across partitions.
	for i := range 12 {
		id := fmt.Sprintf("r-%02d", i)
		want = append(want, id)
		rec, err := r.codec.Record(committed(id, t0.Add(time.Duration(i)*time.Minute)))
		if err != nil {
			t.Fatal(err)
		}
		rec.Topic, rec.Partition, rec.Timestamp = topic, int32(i%3), base.Add(time.Duration(i)*time.Minute)
		if err := cl.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	_, v, body := r.tail("governance", url.Values{"topic": {topic}, "limit": {"5"}})
	// Five from each partition is 12, of which the newest 5.
	if ids(v) != strings.Join(want[7:], ",") || v.Next != "0:4,1:4,2:4" {
		t.Errorf("the newest 5: %s", body)
	}
	var got []string
	next := "0:0,1:0,2:0"
	for range 10 {
		_, v, body := r.tail("governance", url.Values{"topic": {topic}, "limit": {"5"}, "after": {next}})
		if len(v.Records) == 0 {
			break
		}
		if len(v.Records) > 5 {
			t.Fatalf("more than the limit: %s", body)
		}
		got = append(got, strings.Split(ids(v), ",")...)
		next = v.Next
	}
	if strings.Join(got, ",") != strings.Join(want, ",") || next != "0:4,1:4,2:4" {
		t.Errorf("walked 5 at a time: %v (next %s), want %v", got, next, want)
	}
}
