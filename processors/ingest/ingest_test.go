package ingest_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkaconn"
	"github.com/logmesh/logmesh/internal/kafkatest"
	"github.com/logmesh/logmesh/processors/ingest"
	"github.com/logmesh/logmesh/processors/proc"
)

// Environment of the S3 suite, as `deploy/minio/minio.sh env` prints it.
const (
	envS3Endpoint  = "LOGMESH_TEST_S3_ENDPOINT"
	envS3AccessKey = "LOGMESH_TEST_S3_ACCESS_KEY"
	envS3SecretKey = "LOGMESH_TEST_S3_SECRET_KEY"
)

// waitTimeout bounds every wait for a condition; it is a safety net, not a
// timed assertion.
const waitTimeout = 2 * time.Minute

// landedAt is the fixed clock of the test watchers.
var landedAt = time.Date(2026, 11, 2, 9, 30, 0, 0, time.UTC)

// rig is one test's Kafka cluster, registry, codec and raw domain (unique
// per test, so a real shared cluster works too).
type rig struct {
	cluster *kafkatest.Cluster
	codec   *events.Codec
	domain  string
	topic   string
}

func newRig(t *testing.T) *rig {
	t.Helper()
	c := kafkatest.New(t)
	codec, _ := kafkatest.Codec(t)
	domain := kafkatest.Unique("ingesttest")
	topic := events.DomainTopic(domain)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(c.Client(t)).CreateTopic(ctx, 3, 1, map[string]*string{"retention.ms": kadm.StringPtr("-1")}, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	return &rig{cluster: c, codec: codec, domain: domain, topic: topic}
}

// tradesMatcher maps keys under trades/ to the trades feed.
var tradesMatcher = ingest.MatcherFunc(func(key string) (string, string, bool) {
	if len(key) > 7 && key[:7] == "trades/" {
		return "trades", "raw.trades", true
	}
	return "", "", false
})

// watcher returns a new Watcher (a fresh process, as far as state goes),
// closed when the test ends.
func (r *rig) watcher(t *testing.T, src ingest.Source, opts ...ingest.Option) *ingest.Watcher {
	t.Helper()
	pc := proc.Config{Conn: r.cluster.Conn(), Clock: func() time.Time { return landedAt }}
	w, err := ingest.NewWatcher(pc, src, r.codec, append([]ingest.Option{
		ingest.Domain(r.domain),
		ingest.WithMatcher(tradesMatcher),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// landed reads every FileLanded on the rig's topic, in partition/offset
// order.
func (r *rig) landed(t *testing.T) []*events.FileLanded {
	t.Helper()
	var out []*events.FileLanded
	for _, ev := range r.events(t) {
		if fl, ok := ev.(*events.FileLanded); ok {
			out = append(out, fl)
		}
	}
	return out
}

// events reads every event on the rig's topic, in partition/offset order.
func (r *rig) events(t *testing.T) []events.Event {
	t.Helper()
	recs := kafkatest.ReadAll(t, r.cluster.Brokers, r.topic)
	sort.SliceStable(recs, func(i, j int) bool {
		return recs[i].Partition < recs[j].Partition || recs[i].Partition == recs[j].Partition && recs[i].Offset < recs[j].Offset
	})
	var out []events.Event
	for _, rec := range recs {
		ev, err := r.codec.Decode(context.Background(), rec.Value)
		if err != nil {
			t.Errorf("decode %d@%d: %v", rec.Partition, rec.Offset, err)
			continue
		}
		out = append(out, ev)
	}
	return out
}

func scan(t *testing.T, w *ingest.Watcher, want int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	n, err := w.Scan(ctx)
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	if n != want {
		t.Fatalf("Scan landed %d files, want %d", n, want)
	}
}

func sum(content string) string {
	s := sha256.Sum256([]byte(content))
	return hex.EncodeToString(s[:])
}

// writeTemp writes a local file to land and returns its path.
func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func put(t *testing.T, src ingest.Source, key, content string) {
	t.Helper()
	if err := src.Put(context.Background(), key, bytes.NewReader([]byte(content)), int64(len(content))); err != nil {
		t.Fatalf("Put %s: %v", key, err)
	}
}

// file is what a FileLanded should say about one file.
type file struct {
	key, content, feed, table, contentType string
}

// checkLanded compares the FileLanded events of the topic with want, in any
// order, and checks the envelope and source fields.
func checkLanded(t *testing.T, r *rig, src ingest.Source, want []file) {
	t.Helper()
	got := r.landed(t)
	if len(got) != len(want) {
		for _, g := range got {
			t.Logf("landed: %s %s", g.Key, g.Checksum)
		}
		t.Fatalf("%d FileLanded on %s, want %d", len(got), r.topic, len(want))
	}
	s3 := src.Name() != "local"
	for _, w := range want {
		i := slices.IndexFunc(got, func(g *events.FileLanded) bool { return g.Key == w.key && g.Checksum == sum(w.content) })
		if i < 0 {
			t.Errorf("no FileLanded for %s with checksum %s", w.key, sum(w.content))
			continue
		}
		g := got[i]
		id := events.DeriveID(w.key, sum(w.content))
		if g.Envelope.EventID != id || g.Envelope.CorrelationID != id || g.Envelope.Domain != r.domain ||
			!g.Envelope.OccurredAt.Equal(landedAt) || g.Envelope.CausationID != "" {
			t.Errorf("%s: envelope %+v, want id = correlation id = %s, domain %s, occurred %v", w.key, g.Envelope, id, r.domain, landedAt)
		}
		if g.Size != int64(len(w.content)) {
			t.Errorf("%s: size %d, want %d", w.key, g.Size, len(w.content))
		}
		if deref(g.Feed) != w.feed || deref(g.Table) != w.table {
			t.Errorf("%s: feed/table %q/%q, want %q/%q", w.key, deref(g.Feed), deref(g.Table), w.feed, w.table)
		}
		if deref(g.ContentType) != w.contentType {
			t.Errorf("%s: content type %q, want %q", w.key, deref(g.ContentType), w.contentType)
		}
		if s3 {
			if g.Source != events.SourceS3 || deref(g.Bucket) != src.Name() || deref(g.Version) == "" {
				t.Errorf("%s: source %q bucket %q version %q, want s3, %q and an ETag", w.key, g.Source, deref(g.Bucket), deref(g.Version), src.Name())
			}
		} else if g.Source != events.SourceLocal || g.Bucket != nil || g.Version != nil {
			t.Errorf("%s: source %q bucket %v version %v, want local, nil, nil", w.key, g.Source, g.Bucket, g.Version)
		}
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// testCore is the scenario every Source must pass: land, rescan, restart,
// modify, land while down.
func testCore(t *testing.T, src ingest.Source) {
	r := newRig(t)
	ctx := context.Background()

	keys, err := ingest.Land(ctx, src, []string{writeTemp(t, "ignored-name.csv", "id,px\n1,100\n")}, "trades/2026-11-01.csv")
	if err != nil || !slices.Equal(keys, []string{"trades/2026-11-01.csv"}) {
		t.Fatalf("Land with key: %v, %v", keys, err)
	}
	keys, err = ingest.Land(ctx, src, []string{writeTemp(t, "b.json", `[{"id":1}]`), writeTemp(t, "c.ndjson", "{\"id\":1}\n{\"id\":2}\n")}, "")
	if err != nil || !slices.Equal(keys, []string{"b.json", "c.ndjson"}) {
		t.Fatalf("Land: %v, %v", keys, err)
	}
	want := []file{
		{"trades/2026-11-01.csv", "id,px\n1,100\n", "trades", "raw.trades", "text/csv"},
		{"b.json", `[{"id":1}]`, "", "", "application/json"},
		{"c.ndjson", "{\"id\":1}\n{\"id\":2}\n", "", "", "application/x-ndjson"},
	}

	w1 := r.watcher(t, src)
	scan(t, w1, 3)
	checkLanded(t, r, src, want)

	scan(t, w1, 0) // nothing changed
	w1.Close()

	w2 := r.watcher(t, src) // a restart: learns from the log
	scan(t, w2, 0)
	checkLanded(t, r, src, want)

	// Same size, and maybe the same modification time on a coarse file
	// system: the watcher must still see the change.
	put(t, src, "b.json", `[{"id":2}]`)
	want = append(want, file{"b.json", `[{"id":2}]`, "", "", "application/json"})
	scan(t, w2, 1)
	scan(t, w2, 0)
	checkLanded(t, r, src, want)
	w2.Close()

	put(t, src, "trades/2026-11-02.csv", "id,px\n2,101\n") // while no watcher runs
	want = append(want, file{"trades/2026-11-02.csv", "id,px\n2,101\n", "trades", "raw.trades", "text/csv"})
	w3 := r.watcher(t, src)
	scan(t, w3, 1)
	checkLanded(t, r, src, want)
}

func TestLocalCore(t *testing.T) {
	src, err := ingest.NewLocalSource(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	testCore(t, src)
}

func TestS3Core(t *testing.T) {
	testCore(t, newS3(t))
}

// newS3 returns an S3Source over a new bucket of the MinIO (or S3) named by
// the LOGMESH_TEST_S3_* variables, or skips the test. The bucket is emptied
// and removed when the test ends.
func newS3(t *testing.T) *ingest.S3Source {
	t.Helper()
	endpoint, access, secret := os.Getenv(envS3Endpoint), os.Getenv(envS3AccessKey), os.Getenv(envS3SecretKey)
	if endpoint == "" || access == "" || secret == "" {
		t.Skipf("set %s, %s and %s (deploy/minio/minio.sh env) to run the S3 suite", envS3Endpoint, envS3AccessKey, envS3SecretKey)
	}
	bucket := kafkatest.Unique("logmesh-ingest-test")
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	src, err := ingest.NewS3Source(ctx, endpoint, bucket, "landing/",
		ingest.S3Credentials(access, secret), ingest.S3Secure(false), ingest.S3CreateBucket(true))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cl, err := minio.New(endpoint, &minio.Options{Creds: credentials.NewStaticV4(access, secret, "")})
		if err != nil {
			t.Error(err)
			return
		}
		ctx := context.Background()
		for oi := range cl.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true}) {
			if oi.Err == nil {
				_ = cl.RemoveObject(ctx, bucket, oi.Key, minio.RemoveObjectOptions{})
			}
		}
		if err := cl.RemoveBucket(ctx, bucket); err != nil {
			t.Logf("remove bucket %s: %v", bucket, err)
		}
	})
	return src
}

func TestS3MissingBucket(t *testing.T) {
	newS3(t) // skips without MinIO
	ctx := context.Background()
	_, err := ingest.NewS3Source(ctx, os.Getenv(envS3Endpoint), kafkatest.Unique("logmesh-missing"), "",
		ingest.S3Credentials(os.Getenv(envS3AccessKey), os.Getenv(envS3SecretKey)), ingest.S3Secure(false))
	if err == nil {
		t.Fatal("NewS3Source without S3CreateBucket accepted a missing bucket")
	}
}

// Temporary files, and the spool's files (it lands them itself), are not
// landed by the watcher.
func TestTempFilesIgnored(t *testing.T) {
	r := newRig(t)
	dir := t.TempDir()
	src, err := ingest.NewLocalSource(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{".hidden.csv", "upload.csv.tmp", "upload.csv.part", ".staging/x.csv", "sub/.y.csv",
		ingest.SpoolPrefix + "orders/up/0/1-2.ndjson"} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("a,b\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	w := r.watcher(t, src)
	scan(t, w, 0)
	if err := os.Rename(filepath.Join(dir, "upload.csv.part"), filepath.Join(dir, "sub", "upload.csv")); err != nil {
		t.Fatal(err)
	}
	scan(t, w, 1)
	checkLanded(t, r, src, []file{{"sub/upload.csv", "a,b\n", "", "", "text/csv"}})
}

func TestLandRules(t *testing.T) {
	src, err := ingest.NewLocalSource(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, b := writeTemp(t, "a.csv", "1"), writeTemp(t, "b.csv", "2")
	otherA := writeTemp(t, "a.csv", "3")
	tests := []struct {
		name    string
		files   []string
		key     string
		want    []string
		wantErr error // nil: any error when want is nil
	}{
		{"base names", []string{a, b}, "", []string{"a.csv", "b.csv"}, nil},
		{"key for one file", []string{a}, "in/2026/x.csv", []string{"in/2026/x.csv"}, nil},
		{"key for two files", []string{a, b}, "x.csv", nil, ingest.ErrKeyWithManyFiles},
		{"key leaves the root", []string{a}, "../x.csv", nil, ingest.ErrBadKey},
		{"absolute key", []string{a}, "/x.csv", nil, ingest.ErrBadKey},
		{"temporary key", []string{a}, "x.csv.part", nil, ingest.ErrBadKey},
		{"spool key", []string{a}, ingest.SpoolPrefix + "x.ndjson", nil, ingest.ErrBadKey},
		{"same base name twice", []string{a, otherA}, "", nil, nil},
		{"missing file", []string{filepath.Join(t.TempDir(), "nope.csv")}, "", nil, nil},
		{"empty folder", []string{t.TempDir()}, "", nil, nil},
		{"no files", nil, "", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ingest.Land(ctx, src, tt.files, tt.key)
			if tt.want == nil {
				if err == nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Fatalf("Land = %v, %v; want error %v", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("Land = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
	b2, err := os.ReadFile(filepath.Join(src.Dir(), "in", "2026", "x.csv"))
	if err != nil || string(b2) != "1" {
		t.Fatalf("landed content %q, %v", b2, err)
	}
	objs, err := src.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, o := range objs {
		listed = append(listed, o.Key)
	}
	slices.Sort(listed)
	if want := []string{"a.csv", "b.csv", "in/2026/x.csv"}; !slices.Equal(listed, want) {
		t.Fatalf("List = %v, want %v (no temp files left behind)", listed, want)
	}
}

// TestRacingWatchers runs two watchers over one directory at once. Both may
// land a file before seeing the other's event; the duplicates must then carry
// the same event id, so consumers drop them.
func TestRacingWatchers(t *testing.T) {
	r := newRig(t)
	src, err := ingest.NewLocalSource(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	for i := range n {
		put(t, src, "f"+string(rune('a'+i))+".csv", "content "+string(rune('a'+i)))
	}
	ws := []*ingest.Watcher{r.watcher(t, src), r.watcher(t, src)}
	var wg sync.WaitGroup
	errs := make([]error, len(ws))
	for i, w := range ws {
		wg.Go(func() { _, errs[i] = w.Scan(context.Background()) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	ids := map[string]string{}
	for _, fl := range r.landed(t) {
		if want := events.DeriveID(fl.Key, fl.Checksum); fl.Envelope.EventID != want {
			t.Errorf("%s: event id %s, want %s", fl.Key, fl.Envelope.EventID, want)
		}
		ids[fl.Envelope.EventID] = fl.Key
	}
	if len(ids) != n {
		t.Fatalf("%d distinct file ids landed, want %d", len(ids), n)
	}
	scan(t, ws[0], 0)
	scan(t, ws[1], 0)
	scan(t, r.watcher(t, src), 0)
}

func TestRun(t *testing.T) {
	r := newRig(t)
	src, err := ingest.NewLocalSource(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	w := r.watcher(t, src, ingest.Interval(20*time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	put(t, src, "trades/t.csv", "id\n1\n")
	deadline := time.Now().Add(waitTimeout)
	for len(r.landed(t)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("Run did not land the file")
		}
		time.Sleep(20 * time.Millisecond) // polling the topic: no event to wait on
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v after cancel, want nil", err)
	}
	checkLanded(t, r, src, []file{{"trades/t.csv", "id\n1\n", "trades", "raw.trades", "text/csv"}})
	w.Close()
	w.Close() // idempotent
	if _, err := w.Scan(context.Background()); !errors.Is(err, ingest.ErrClosed) {
		t.Fatalf("Scan after Close = %v, want ErrClosed", err)
	}
}

func TestNewWatcherValidates(t *testing.T) {
	src, err := ingest.NewLocalSource(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	codec, err := events.NewCodec(events.SRRegistry(mustSR(t)))
	if err != nil {
		t.Fatal(err)
	}
	conn := kafkaconn.Plain("x:1")
	tests := []struct {
		name string
		src  ingest.Source
		conn kafkaconn.Conn
		opts []ingest.Option
	}{
		{"nil source", nil, conn, nil},
		{"no brokers", src, kafkaconn.Conn{}, nil},
		{"bad interval", src, conn, []ingest.Option{ingest.Interval(0)}},
		{"bad domain", src, conn, []ingest.Option{ingest.Domain("Raw!")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ingest.NewWatcher(proc.Config{Conn: tt.conn}, tt.src, codec, tt.opts...); err == nil {
				t.Fatal("NewWatcher accepted bad arguments")
			}
		})
	}
	if _, err := ingest.NewLocalSource(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("NewLocalSource accepted a missing directory")
	}
}

func mustSR(t *testing.T) *sr.Client {
	t.Helper()
	reg := srfake.New()
	t.Cleanup(reg.Close)
	cl, err := sr.NewClient(sr.URLs(reg.URL()))
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func TestValidKey(t *testing.T) {
	for _, tt := range []struct {
		key string
		ok  bool
	}{
		{"a.csv", true}, {"trades/2026/a.csv", true}, {"a b.csv", true},
		{"", false}, {"/a.csv", false}, {"../a.csv", false}, {"a/../b.csv", false},
		{"a//b.csv", false}, {"a/", false}, {"./a.csv", false}, {".", false},
		{`a\b.csv`, false}, {"a\x00.csv", false}, {".a.csv", false}, {"d/.a.csv", false},
		{".d/a.csv", false}, {"a.csv.tmp", false}, {"a.part", false}, {"..", false}, {"a/..", false},
	} {
		if err := ingest.ValidKey(tt.key); (err == nil) != tt.ok {
			t.Errorf("ValidKey(%q) = %v, want ok %v", tt.key, err, tt.ok)
		}
	}
}

func TestContentType(t *testing.T) {
	for key, want := range map[string]string{
		"a.csv": "text/csv", "d/A.CSV": "text/csv", "a.json": "application/json",
		"a.ndjson": "application/x-ndjson", "a.xml": "application/xml", "a.dat": "text/plain",
		"a.bin": "", "noext": "",
	} {
		if got := ingest.ContentType(key); got != want {
			t.Errorf("ContentType(%q) = %q, want %q", key, got, want)
		}
	}
}

// unmatchedMatcher is tradesMatcher with an explanation.
type unmatchedMatcher struct{ ingest.MatcherFunc }

func (unmatchedMatcher) Unmatched(key string) string {
	return "no feed matches key " + key + "; patterns: trades/*"
}

// A file no feed matches lands and gets exactly one FileFailed at stage
// match with the matcher's reason, also when a watcher died between the two
// events, and never again after a restart.
func TestUnmatchedKeyGetsAnOutcome(t *testing.T) {
	r := newRig(t)
	dir := t.TempDir()
	src, err := ingest.NewLocalSource(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := ingest.WithMatcher(unmatchedMatcher{tradesMatcher})
	put(t, src, "quotes/q.csv", "a,b\n1,2\n")
	put(t, src, "trades/t.csv", "a,b\n1,2\n")
	scan(t, r.watcher(t, src, m), 2)
	// A landing without an outcome, as a watcher that died after the
	// FileLanded would leave it (no matcher: no outcome).
	put(t, src, "other/o.csv", "x\n")
	scan(t, r.watcher(t, src, ingest.WithMatcher(nil)), 1)
	// A restarted watcher with the matcher records the missing outcome,
	// and only that one.
	scan(t, r.watcher(t, src, m), 0)
	scan(t, r.watcher(t, src, m), 0)

	outcomes := map[string][]string{}
	for _, ev := range r.events(t) {
		if ff, ok := ev.(*events.FileFailed); ok {
			if ff.Stage != ingest.StageMatch || ff.Envelope.CorrelationID != events.DeriveID(ff.FileKey, *ff.FileChecksum) {
				t.Errorf("outcome %+v", ff)
			}
			outcomes[ff.FileKey] = append(outcomes[ff.FileKey], ff.Reason)
		}
	}
	if len(outcomes) != 2 || len(outcomes["quotes/q.csv"]) != 1 || len(outcomes["other/o.csv"]) != 1 {
		t.Fatalf("outcomes %v, want exactly one for each unmatched file", outcomes)
	}
	if got := outcomes["quotes/q.csv"][0]; got != "no feed matches key quotes/q.csv; patterns: trades/*" {
		t.Errorf("reason %q", got)
	}
}
