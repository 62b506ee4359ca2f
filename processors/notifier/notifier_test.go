package notifier_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkaconn"
	"github.com/logmesh/logmesh/internal/kafkatest"
	"github.com/logmesh/logmesh/internal/proctest"
	"github.com/logmesh/logmesh/processors/host"
	"github.com/logmesh/logmesh/processors/notifier"
	"github.com/logmesh/logmesh/processors/proc"
	"github.com/logmesh/logmesh/state"
)

// Env of the child process of TestNotifierKilledWhileTheWebhookFails.
const (
	envChild    = "LOGMESH_NOTIFIERTEST_CHILD"
	envBrokers  = "LOGMESH_NOTIFIERTEST_BROKERS"
	envRegistry = "LOGMESH_NOTIFIERTEST_REGISTRY"
	envPrefix   = "LOGMESH_NOTIFIERTEST_PREFIX"
	envGroup    = "LOGMESH_NOTIFIERTEST_GROUP"
	envDir      = "LOGMESH_NOTIFIERTEST_DIR"
	envWebhook  = "LOGMESH_NOTIFIERTEST_WEBHOOK"
)

// hook is a webhook that refuses its first failures calls and records the
// incident ids of the calls it accepted.
type hook struct {
	failures int

	mu       sync.Mutex
	calls    int
	accepted map[string]int
	bad      []string
	onAccept func(n int)
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body struct {
		IncidentID string `json:"incident_id"`
	}
	err := json.NewDecoder(r.Body).Decode(&body)
	h.mu.Lock()
	h.calls++
	if err != nil || body.IncidentID == "" || r.Header.Get("Idempotency-Key") != body.IncidentID {
		h.bad = append(h.bad, fmt.Sprintf("%v %q key %q", err, body.IncidentID, r.Header.Get("Idempotency-Key")))
	}
	if h.calls <= h.failures {
		h.mu.Unlock()
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	h.accepted[body.IncidentID]++
	n := len(h.accepted)
	cb := h.onAccept
	h.mu.Unlock()
	if cb != nil {
		cb(n)
	}
	w.WriteHeader(http.StatusNoContent)
}

func incident(i int, domain string) *events.IncidentOpened {
	id := events.DeriveID("notifiertest", fmt.Sprint(i))
	return &events.IncidentOpened{
		Envelope:   events.Envelope{EventID: id, OccurredAt: time.Unix(1764000000+int64(i), 0).UTC(), Domain: domain, CorrelationID: fmt.Sprintf("file-%d", i)},
		IncidentID: id, Severity: "error", SubjectKind: "file", Subject: fmt.Sprintf("f%d.csv", i), Summary: "it broke",
	}
}

// TestNotifierChild is the notifier process the test kills.
func TestNotifierChild(t *testing.T) {
	if os.Getenv(envChild) != "1" {
		t.Skip("run as a child process by TestNotifierKilledWhileTheWebhookFails")
	}
	st, err := state.Open(os.Getenv(envDir), nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := notifier.New(proc.Config{Conn: kafkaconn.Plain(strings.Split(os.Getenv(envBrokers), ",")...),
		Group: os.Getenv(envGroup), Topics: events.Topics{Prefix: os.Getenv(envPrefix)},
		ClientOpts: []kgo.Opt{kgo.SessionTimeout(6 * time.Second)}}, st, kafkatest.CodecAt(t, os.Getenv(envRegistry)),
		notifier.WithSink(notifier.Webhook(os.Getenv(envWebhook), nil)),
		notifier.Backoff(20*time.Millisecond, 100*time.Millisecond),
		notifier.HostOpts(host.MaxPollRecords(5)))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("running")
	if err := n.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// A webhook that fails its first calls, and a notifier SIGKILLed halfway and
// restarted on its store: every incident is delivered, none is lost, each
// with its id as the idempotency key.
func TestNotifierKilledWhileTheWebhookFails(t *testing.T) {
	const total = 40
	c := kafkatest.New(t)
	codec, regURL := kafkatest.Codec(t)
	names := events.Topics{Prefix: kafkatest.Unique("nt")}
	ctx := context.Background()
	if err := c.Conn().EnsureTopics(ctx, names.Specs(3, "equities")...); err != nil {
		t.Fatal(err)
	}
	cl := c.Client(t)
	for i := range total {
		domain := []string{"raw", "central", "equities"}[i%3]
		rec, err := codec.Record(incident(i, domain))
		if err != nil {
			t.Fatal(err)
		}
		rec.Topic = names.Domain(domain)
		if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	h := &hook{failures: 7, accepted: map[string]int{}}
	halfway := make(chan struct{})
	var once sync.Once
	h.onAccept = func(n int) {
		if n >= total/2 {
			once.Do(func() { close(halfway) })
		}
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	dir, group := t.TempDir(), kafkatest.Unique("notifier")
	child := proctest.Start(t, "notifier", []string{envChild + "=1", envBrokers + "=" + strings.Join(c.Brokers, ","),
		envRegistry + "=" + regURL, envPrefix + "=" + names.Prefix, envGroup + "=" + group, envDir + "=" + dir,
		envWebhook + "=" + srv.URL}, "-test.run=^TestNotifierChild$", "-test.v")
	select {
	case <-halfway:
	case <-time.After(proctest.Wait):
		t.Fatal("the child delivered fewer than half the incidents")
	}
	child.Kill()
	h.mu.Lock()
	atKill := len(h.accepted)
	h.mu.Unlock()
	if atKill >= total {
		t.Fatalf("the child delivered all %d incidents before the kill; the test did not interrupt it", total)
	}
	t.Logf("killed the notifier after %d of %d incidents (%d calls)", atKill, total, h.calls)

	// The restarted notifier: the same store, the same group.
	st, err := state.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h.mu.Lock()
	h.failures = h.calls + 3 // down again for a while after the restart
	h.mu.Unlock()
	done := make(chan struct{})
	var doneOnce sync.Once
	h.onAccept = func(n int) {
		if n == total {
			doneOnce.Do(func() { close(done) })
		}
	}
	n, err := notifier.New(proc.Config{Conn: c.Conn(), Group: group, Topics: names}, st, codec,
		notifier.WithSink(notifier.Webhook(srv.URL, nil)), notifier.Backoff(20*time.Millisecond, 100*time.Millisecond),
		notifier.HostOpts(host.MaxPollRecords(5)))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- n.Run(runCtx) }()
	select {
	case <-done:
	case err := <-ran:
		t.Fatalf("notifier stopped: %v", err)
	case <-time.After(3 * time.Minute):
		t.Fatal("not every incident was delivered after the restart")
	}
	cancel()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range total {
		if id := incident(i, "").IncidentID; h.accepted[id] == 0 {
			t.Errorf("incident %d (%s) was never delivered", i, id)
		}
	}
	if len(h.bad) > 0 {
		t.Errorf("malformed deliveries: %v", h.bad)
	}
}

// Close stops a notifier whose sink is down, while it retries a delivery
// with its partitions held: Run returns, nothing is committed.
func TestCloseWhileTheSinkIsDown(t *testing.T) {
	c := kafkatest.New(t)
	codec, _ := kafkatest.Codec(t)
	names := events.Topics{Prefix: kafkatest.Unique("nc")}
	ctx := context.Background()
	if err := c.Conn().EnsureTopics(ctx, names.Specs(1)...); err != nil {
		t.Fatal(err)
	}
	rec, err := codec.Record(incident(1, "raw"))
	if err != nil {
		t.Fatal(err)
	}
	rec.Topic = names.Domain("raw")
	if err := c.Client(t).ProduceSync(ctx, rec).FirstErr(); err != nil {
		t.Fatal(err)
	}
	tried := make(chan struct{}, 1)
	down := notifier.SinkFunc(func(context.Context, *events.IncidentOpened) error {
		select {
		case tried <- struct{}{}:
		default:
		}
		return errors.New("down")
	})
	st, err := state.Open("", &state.Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n, err := notifier.New(proc.Config{Conn: c.Conn(), Group: kafkatest.Unique("g"), Topics: names}, st, codec,
		notifier.WithSink(down), notifier.Backoff(10*time.Millisecond, 20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ran := make(chan error, 1)
	go func() { ran <- n.Run(ctx) }()
	select {
	case <-tried:
	case <-time.After(proctest.Wait):
		t.Fatal("the sink was never tried")
	}
	n.Close()
	select {
	case err := <-ran:
		if err != nil {
			t.Fatalf("Run after Close: %v", err)
		}
	case <-time.After(proctest.Wait):
		t.Fatal("Run did not return after Close while the sink was down")
	}
	if _, ok, _ := st.Offset(names.Domain("raw"), 0); ok {
		t.Error("an offset was committed for an incident never delivered")
	}
}
