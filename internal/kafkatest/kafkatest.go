// Package kafkatest gives tests a Kafka cluster: an in-process kfake cluster
// by default, or the real brokers named in LOGMESH_TEST_BROKERS (a
// comma-separated list, as started by deploy/kafka/kafka.sh) so the same
// tests run against Apache Kafka in `make test-kafka`.
package kafkatest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkaconn"
	"github.com/logmesh/logmesh/internal/logview"
)

// EnvBrokers is the environment variable that selects a real cluster.
const EnvBrokers = "LOGMESH_TEST_BROKERS"

// Cluster is a Kafka cluster for one test. It is safe for concurrent use.
type Cluster struct {
	// Brokers are the seed addresses of the cluster.
	Brokers []string
	// Real reports whether the cluster is a real Kafka (not kfake).
	Real bool
	// Fake is the in-process cluster, or nil when Real.
	Fake *kfake.Cluster
}

// New returns a cluster that is torn down when the test ends. With
// LOGMESH_TEST_BROKERS set it returns those brokers and ignores opts;
// otherwise it starts a kfake cluster with opts.
func New(t testing.TB, opts ...kfake.Opt) *Cluster {
	t.Helper()
	if env := os.Getenv(EnvBrokers); env != "" {
		return &Cluster{Brokers: strings.Split(env, ","), Real: true}
	}
	opts = append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("kafkatest: start kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return &Cluster{Brokers: c.ListenAddrs(), Fake: c}
}

// Client returns a client for the cluster, closed when the test ends.
func (c *Cluster) Client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.Brokers...)}, opts...)...)
	if err != nil {
		t.Fatalf("kafkatest: client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// Unique returns name with a random suffix, so tests sharing a real cluster
// never see each other's topics or groups.
func Unique(name string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return name + "-" + hex.EncodeToString(b[:])
}

// Topic creates a topic named Unique(name) with the given partitions and
// configs and returns its name.
func (c *Cluster) Topic(t testing.TB, name string, partitions int32, configs map[string]*string) string {
	t.Helper()
	topic := Unique(name)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := kadm.NewClient(c.Client(t))
	resp, err := adm.CreateTopic(ctx, partitions, 1, configs, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("kafkatest: create topic %s: %v", topic, err)
	}
	return topic
}

// Reset deletes every topic and consumer group whose name starts with
// prefix, so a test that uses logmesh's fixed topic names starts from an
// empty log on a shared real cluster. On kfake (a fresh cluster per test) it
// does nothing.
func (c *Cluster) Reset(t testing.TB, prefix string) {
	t.Helper()
	if !c.Real {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	adm := kadm.NewClient(c.Client(t))
	groups, err := adm.ListGroups(ctx)
	if err != nil {
		t.Fatalf("kafkatest: list groups: %v", err)
	}
	var gs []string
	for _, g := range groups.Groups() {
		if strings.HasPrefix(g, prefix) {
			gs = append(gs, g)
		}
	}
	if len(gs) > 0 {
		if _, err := adm.DeleteGroups(ctx, gs...); err != nil {
			t.Fatalf("kafkatest: delete groups: %v", err)
		}
	}
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatalf("kafkatest: list topics: %v", err)
	}
	var ts []string
	for _, name := range topics.Names() {
		if strings.HasPrefix(name, prefix) {
			ts = append(ts, name)
		}
	}
	if len(ts) == 0 {
		return
	}
	if _, err := adm.DeleteTopics(ctx, ts...); err != nil {
		t.Fatalf("kafkatest: delete topics: %v", err)
	}
	// Deletion is asynchronous: wait until the topics are gone.
	for {
		left, err := adm.ListTopics(ctx, ts...)
		if err != nil {
			t.Fatalf("kafkatest: list topics: %v", err)
		}
		n := 0
		for _, d := range left {
			if d.Err == nil {
				n++
			}
		}
		if n == 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("kafkatest: %d topics still there after deletion", n)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Conn returns the connection setting of the cluster.
func (c *Cluster) Conn() kafkaconn.Conn { return kafkaconn.Plain(c.Brokers...) }

// ReadAll returns the committed records of topics (read_committed), from the
// start up to each partition's last stable offset at the time of the call,
// read through the one log view (logview.ReadAll).
func ReadAll(t testing.TB, brokers []string, topics ...string) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	recs, err := logview.ReadAll(ctx, kafkaconn.Plain(brokers...), events.TopicNames(topics...))
	if err != nil {
		t.Fatalf("kafkatest: reading %v to its end: %v", topics, err)
	}
	return recs
}
