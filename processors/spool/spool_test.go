package spool_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/confluent"
	"github.com/logmesh/logmesh/internal/kafkaconn"
	"github.com/logmesh/logmesh/internal/kafkatest"
	"github.com/logmesh/logmesh/internal/proctest"
	"github.com/logmesh/logmesh/processors/ingest"
	"github.com/logmesh/logmesh/processors/proc"
	"github.com/logmesh/logmesh/processors/spool"
)

const orderSchema = `{"type":"record","name":"Order","namespace":"up","fields":[
	{"name":"id","type":"string"},
	{"name":"qty","type":"long"},
	{"name":"note","type":["null","string"],"default":null}]}`

// rig is an upstream topic, a landing area and a landing bus.
type rig struct {
	t       *testing.T
	cluster *kafkatest.Cluster
	codec   *events.Codec
	regURL  string
	names   events.Topics
	topic   string
	dir     string
	src     *ingest.LocalSource
	cl      *kgo.Client
	schema  avro.Schema
	id      int
}

func newRig(t *testing.T, dir string) *rig {
	t.Helper()
	c := kafkatest.New(t)
	codec, url := kafkatest.Codec(t)
	r := &rig{t: t, cluster: c, codec: codec, regURL: url, names: events.Topics{Prefix: kafkatest.Unique("sp")},
		dir: dir, cl: c.Client(t)}
	ctx := context.Background()
	if err := c.Conn().EnsureTopics(ctx, r.names.Specs(3, events.DomainRaw)...); err != nil {
		t.Fatal(err)
	}
	r.topic = c.Topic(t, "up.orders", 3, nil)
	src, err := ingest.NewLocalSource(dir)
	if err != nil {
		t.Fatal(err)
	}
	r.src = src
	srcl, err := sr.NewClient(sr.URLs(url))
	if err != nil {
		t.Fatal(err)
	}
	ss, err := srcl.CreateSchema(ctx, r.topic+"-value", sr.Schema{Schema: orderSchema})
	if err != nil {
		t.Fatal(err)
	}
	r.schema, r.id = avro.MustParse(orderSchema), ss.ID
	return r
}

// produce writes orders from..to-1 (keyed by id, so spread over the
// partitions); every 10th has a note.
func (r *rig) produce(from, to int) {
	r.t.Helper()
	var recs []*kgo.Record
	for i := from; i < to; i++ {
		v := map[string]any{"id": fmt.Sprintf("O%d", i), "qty": int64(i)}
		if i%10 == 0 {
			v["note"] = map[string]any{"string": "tenth"}
		}
		body, err := avro.Marshal(r.schema, v)
		if err != nil {
			r.t.Fatal(err)
		}
		val := append(binary.BigEndian.AppendUint32([]byte{0}, uint32(r.id)), body...)
		recs = append(recs, &kgo.Record{Topic: r.topic, Key: []byte(v["id"].(string)), Value: val})
	}
	if err := r.cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) feed() spool.Feed {
	return spool.Feed{Name: "orders", Table: "raw.orders", Topic: r.topic}
}

func (r *rig) newSpool(opts ...spool.Option) *spool.Spool {
	r.t.Helper()
	dec, err := newDecoder(r.regURL)
	if err != nil {
		r.t.Fatal(err)
	}
	s, err := spool.New(proc.Config{Conn: r.cluster.Conn(), Topics: r.names, Group: r.names.Prefix + ".spool",
		ClientOpts: []kgo.Opt{kgo.SessionTimeout(6 * time.Second)}}, []spool.Feed{r.feed()}, r.src, r.codec, dec,
		append([]spool.Option{spool.MaxRecords(7)}, opts...)...)
	if err != nil {
		r.t.Fatal(err)
	}
	return s
}

func newDecoder(url string) (*confluent.Decoder, error) {
	cl, err := sr.NewClient(sr.URLs(url))
	if err != nil {
		return nil, err
	}
	return confluent.NewDecoder(cl), nil
}

// landed reads the landing bus's FileLanded events of the feed.
func (r *rig) landed() []*events.FileLanded {
	r.t.Helper()
	var out []*events.FileLanded
	for _, rec := range kafkatest.ReadAll(r.t, r.cluster.Brokers, r.names.Domain(events.DomainRaw)) {
		ev, err := r.codec.Decode(context.Background(), rec.Value)
		if err != nil {
			r.t.Fatal(err)
		}
		if fl, ok := ev.(*events.FileLanded); ok {
			out = append(out, fl)
		}
	}
	return out
}

// lines waits until the landed files hold n lines and returns them by
// upstream offset ("partition/offset"), failing on a record staged twice
// or a run that overlaps another.
func (r *rig) lines(n int) map[string]string {
	r.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		got := map[string]string{}
		total := 0
		for _, fl := range r.landed() {
			if fl.Feed == nil || *fl.Feed != "orders" || fl.Table == nil || *fl.Table != "raw.orders" {
				r.t.Fatalf("FileLanded %s: feed %v table %v", fl.Key, fl.Feed, fl.Table)
			}
			var p int32
			var from, to int64
			rest := strings.TrimPrefix(fl.Key, ingest.SpoolPrefix+"orders/"+r.topic+"/")
			if _, err := fmt.Sscanf(rest, "%d/%d-%d.ndjson", &p, &from, &to); err != nil {
				r.t.Fatalf("landed key %s: %v", fl.Key, err)
			}
			f, err := os.Open(filepath.Join(r.dir, filepath.FromSlash(fl.Key)))
			if err != nil {
				r.t.Fatal(err)
			}
			sc := bufio.NewScanner(f)
			off := from
			for sc.Scan() {
				k := fmt.Sprintf("%d/%d", p, off)
				if _, dup := got[k]; dup {
					r.t.Fatalf("%s staged twice (again in %s)", k, fl.Key)
				}
				got[k] = sc.Text()
				off++
				total++
			}
			f.Close()
			if off-1 != to {
				r.t.Fatalf("%s holds offsets %d..%d", fl.Key, from, off-1)
			}
		}
		if total >= n {
			if total > n {
				r.t.Fatalf("%d lines staged, want %d", total, n)
			}
			return got
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%d of %d lines staged", total, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func ids(lines map[string]string) []string {
	var out []string
	for _, l := range lines {
		var v struct{ ID string }
		if json.Unmarshal([]byte(l), &v) == nil && v.ID != "" {
			out = append(out, v.ID)
		}
	}
	slices.Sort(out)
	return out
}

func wantIDs(n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("O%d", i))
	}
	slices.Sort(out)
	return out
}

// The spool stages every record once as NDJSON, undecodable ones as the
// reason, passes over tombstones, and a new spool resumes after the runs
// on the landing bus — not at a run that was written and never landed.
func TestSpoolStagesAndResumes(t *testing.T) {
	r := newRig(t, t.TempDir())
	r.produce(0, 40)
	if err := r.cl.ProduceSync(context.Background(),
		&kgo.Record{Topic: r.topic, Partition: 0, Key: []byte("O1"), Value: []byte("not avro")},
		&kgo.Record{Topic: r.topic, Key: []byte("gone")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := r.newSpool()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	lines := r.lines(41)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := ids(lines); !slices.Equal(got, wantIDs(40)) {
		t.Fatalf("staged ids %v", got)
	}
	var bad []string
	for _, l := range lines {
		if strings.HasPrefix(l, `"`) {
			bad = append(bad, l)
		}
	}
	if len(bad) != 1 || !strings.Contains(bad[0], "not a Confluent-framed Avro value") {
		t.Errorf("undecodable lines %v", bad)
	}
	for _, l := range lines {
		if strings.Contains(l, `"id":"O10"`) && !strings.Contains(l, `"note":"tenth"`) {
			t.Errorf("O10 staged as %s: the union's value should be plain", l)
		}
	}
	if st := s.Stats(); st.Records != 41 || st.Bad != 1 || st.Files < 6 {
		t.Errorf("stats %+v, want 41 records (1 bad) in at least 6 files of at most 7", st)
	}

	// A run written but never landed (a spool killed between the two) is
	// not taken for progress.
	orphan := spool.Key("orders", r.topic, 0, 1000, 1010)
	if err := r.src.Put(context.Background(), orphan, strings.NewReader("{}\n"), 3); err != nil {
		t.Fatal(err)
	}
	r.produce(40, 60)
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	s2 := r.newSpool()
	go func() { done <- s2.Run(ctx) }()
	lines = r.lines(61)
	if got := ids(lines); !slices.Equal(got, wantIDs(60)) {
		t.Fatalf("after the restart: staged ids %v", got)
	}
	if st := s2.Stats(); st.Records != 20 {
		t.Errorf("the second spool staged %d records, want the 20 new ones", st.Records)
	}
}

const (
	envChild    = "LOGMESH_SPOOLTEST_CHILD"
	envBrokers  = "LOGMESH_SPOOLTEST_BROKERS"
	envRegistry = "LOGMESH_SPOOLTEST_REGISTRY"
	envPrefix   = "LOGMESH_SPOOLTEST_PREFIX"
	envTopic    = "LOGMESH_SPOOLTEST_TOPIC"
	envDir      = "LOGMESH_SPOOLTEST_DIR"
)

// TestSpoolChild is the spool process TestSpoolKilledMidStream kills. It
// prints "staged N" after each landed file.
func TestSpoolChild(t *testing.T) {
	if os.Getenv(envChild) != "1" {
		t.Skip("run as a child process by TestSpoolKilledMidStream")
	}
	names := events.Topics{Prefix: os.Getenv(envPrefix)}
	src, err := ingest.NewLocalSource(os.Getenv(envDir))
	if err != nil {
		t.Fatal(err)
	}
	dec, err := newDecoder(os.Getenv(envRegistry))
	if err != nil {
		t.Fatal(err)
	}
	feed := spool.Feed{Name: "orders", Table: "raw.orders", Topic: os.Getenv(envTopic)}
	s, err := spool.New(proc.Config{Conn: kafkaconn.Plain(strings.Split(os.Getenv(envBrokers), ",")...), Topics: names,
		Group: names.Prefix + ".spool", ClientOpts: []kgo.Opt{kgo.SessionTimeout(6 * time.Second)}},
		[]spool.Feed{feed}, src, kafkatest.CodecAt(t, os.Getenv(envRegistry)), dec, spool.MaxRecords(3),
		spool.OnLanded(func(st spool.Stats) { fmt.Printf("staged %d\n", st.Records) }))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// A spool SIGKILLed mid-stream and restarted: every record is staged in
// exactly one landed file.
func TestSpoolKilledMidStream(t *testing.T) {
	const n = 600
	dir := t.TempDir()
	r := newRig(t, dir)
	r.produce(0, n)
	child := proctest.Start(t, "spool", []string{envChild + "=1", envBrokers + "=" + strings.Join(r.cluster.Brokers, ","),
		envRegistry + "=" + r.regURL, envPrefix + "=" + r.names.Prefix, envTopic + "=" + r.topic, envDir + "=" + dir},
		"-test.run=^TestSpoolChild$", "-test.v")
	child.Await(child.OnLine(func(l string) bool {
		var staged int
		_, err := fmt.Sscanf(l, "staged %d", &staged)
		return err == nil && staged >= n/3
	}), "a third of the records staged")
	child.Kill()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = r.newSpool().Run(ctx) }()
	if got := ids(r.lines(n)); !slices.Equal(got, wantIDs(n)) {
		t.Fatalf("staged %d ids, want each of %d once", len(got), n)
	}
}
