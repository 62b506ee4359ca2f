// Package lag measures consumer lag: per consumer group, topic and
// partition, how many records of the log the group has not consumed yet,
// and how old the oldest of them is.
//
// Lag is counted against the log START offset, not zero: a group whose
// committed offset is below the start (the records it had not read were
// deleted by retention or compaction) or that never committed has not
// "missed" records that no longer exist, so
//
//	lag = end - max(committed, start)     (never below zero)
//
// and a group with no commit counts from the start. The age in seconds is
// now minus the timestamp of the first record still readable at
// max(committed, start), read by a short-lived read_committed consumer. A
// partition where nothing but transaction markers follows the committed
// offset (a transactional consumer commits after its last data record, not
// after the marker) has no lag.
//
// Logmesh processors resume from the offsets stored beside their state;
// the Kafka commits they also make exist for this measurement (decision
// 0001).
package lag

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logmesh/logmesh/events"
)

// Group is a consumer group and the topics it reads. Partitions the group
// committed on topics outside Topics are measured too.
type Group struct {
	// Name is the consumer group.
	Name string
	// Topics are the topics the group reads, by name or pattern; a group
	// that never committed is measured on them from the log start.
	Topics events.TopicSet
}

// Partition is the lag of one group on one partition.
type Partition struct {
	Group     string `json:"group"`
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// Committed is the group's committed offset, -1 if none.
	Committed int64 `json:"committed"`
	// Start and End are the partition's log start and end offsets.
	Start int64 `json:"start"`
	End   int64 `json:"end"`
	// Records is Records(Committed, Start, End).
	Records int64 `json:"records"`
	// Seconds is the age of the oldest unconsumed record (0 with no lag),
	// set by Ages; AgeKnown is false until it is (or if no record could be
	// read in time).
	Seconds  float64 `json:"seconds"`
	AgeKnown bool    `json:"age_known"`
}

// Records is the lag in records of a group that committed committed (-1:
// never) on a partition whose log runs from start to end: end minus the
// greater of committed and start, and never below zero (a commit beyond
// end, as a truncated log can leave, is no lag).
func Records(committed, start, end int64) int64 {
	from := max(committed, start, 0)
	return max(end-from, 0)
}

// From is the first offset the group has still to consume:
// max(committed, start).
func (p Partition) From() int64 { return max(p.Committed, p.Start, 0) }

// Measure returns the record lag of every partition of every group's
// topics (and of every partition a group committed), sorted by group,
// topic and partition. Seconds are not set; see Ages. A group that does not
// exist yet counts as one that never committed.
func Measure(ctx context.Context, adm *kadm.Client, groups []Group) ([]Partition, error) {
	var listed kadm.TopicDetails
	need := func() (kadm.TopicDetails, error) {
		if listed == nil {
			l, err := adm.ListTopics(ctx)
			if err != nil {
				return nil, fmt.Errorf("lag: list topics: %w", err)
			}
			listed = l
		}
		return listed, nil
	}
	type gt struct {
		group  string
		topics []string
		commit kadm.OffsetResponses
	}
	var all []gt
	topicSet := map[string]bool{}
	for _, g := range groups {
		var topics []string
		topics = append(topics, g.Topics.Names...)
		if g.Topics.Pattern != "" {
			match, err := g.Topics.Compile()
			if err != nil {
				return nil, fmt.Errorf("lag: group %s: %w", g.Name, err)
			}
			l, err := need()
			if err != nil {
				return nil, err
			}
			for _, t := range l.Names() {
				if match(t) {
					topics = append(topics, t)
				}
			}
		}
		commit, err := adm.FetchOffsets(ctx, g.Name)
		if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
			return nil, fmt.Errorf("lag: committed offsets of group %s: %w", g.Name, err)
		}
		for t := range commit {
			topics = append(topics, t)
		}
		slices.Sort(topics)
		topics = slices.Compact(topics)
		for _, t := range topics {
			topicSet[t] = true
		}
		all = append(all, gt{g.Name, topics, commit})
	}
	if len(topicSet) == 0 {
		return nil, nil
	}
	names := make([]string, 0, len(topicSet))
	for t := range topicSet {
		names = append(names, t)
	}
	slices.Sort(names)
	starts, err := adm.ListStartOffsets(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("lag: start offsets: %w", err)
	}
	ends, err := adm.ListEndOffsets(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("lag: end offsets: %w", err)
	}
	var out []Partition
	for _, g := range all {
		for _, t := range g.topics {
			for p, end := range ends[t] {
				if end.Err != nil {
					if errors.Is(end.Err, kerr.UnknownTopicOrPartition) {
						continue // deleted meanwhile
					}
					return nil, fmt.Errorf("lag: end offset of %s/%d: %w", t, p, end.Err)
				}
				start, ok := starts.Lookup(t, p)
				if !ok || start.Err != nil {
					return nil, fmt.Errorf("lag: no start offset of %s/%d: %v", t, p, start.Err)
				}
				committed := int64(-1)
				if c, ok := g.commit.Lookup(t, p); ok && c.Err == nil {
					committed = c.At
				}
				out = append(out, Partition{Group: g.group, Topic: t, Partition: p, Committed: committed,
					Start: start.Offset, End: end.Offset, Records: Records(committed, start.Offset, end.Offset)})
			}
		}
	}
	slices.SortFunc(out, func(a, b Partition) int {
		return cmp.Or(strings.Compare(a.Group, b.Group), strings.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	return out, nil
}

// NewClient makes a Kafka client from options (kafkaconn.Conn.Client).
type NewClient func(opts ...kgo.Opt) (*kgo.Client, error)

// Ages sets Seconds of every partition of parts: 0 (known) with no lag,
// otherwise now minus the timestamp of the first committed record at or
// after From, read by one consumer over every lagging partition until each
// gave a record or ctx ends. Partitions it could not read keep AgeKnown
// false; the error is ctx's only if nothing could be read.
func Ages(ctx context.Context, newClient NewClient, parts []Partition, now time.Time) error {
	want := map[string]map[int32]kgo.Offset{}
	idx := map[string]map[int32][]int{}
	left := 0
	for i := range parts {
		p := &parts[i]
		if p.Records == 0 {
			p.Seconds, p.AgeKnown = 0, true
			continue
		}
		if want[p.Topic] == nil {
			want[p.Topic], idx[p.Topic] = map[int32]kgo.Offset{}, map[int32][]int{}
		}
		if _, ok := want[p.Topic][p.Partition]; !ok {
			left++
		}
		// Two groups on one partition may be at different offsets; read
		// from the earlier, and age both from their own first record.
		if cur, ok := want[p.Topic][p.Partition]; !ok || p.From() < cur.EpochOffset().Offset {
			want[p.Topic][p.Partition] = kgo.NewOffset().At(p.From())
		}
		idx[p.Topic][p.Partition] = append(idx[p.Topic][p.Partition], i)
	}
	if left == 0 {
		return nil
	}
	cl, err := newClient(kgo.ConsumePartitions(want), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords(),
		kgo.FetchMaxPartitionBytes(64<<10), kgo.FetchMaxBytes(1<<20))
	if err != nil {
		return fmt.Errorf("lag: ages: %w", err)
	}
	defer cl.Close()
	for left > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			break
		}
		fs.EachRecord(func(r *kgo.Record) {
			for _, i := range idx[r.Topic][r.Partition] {
				p := &parts[i]
				switch {
				case p.AgeKnown || r.Offset < p.From():
				case !r.Attrs.IsControl():
					p.Seconds, p.AgeKnown = max(now.Sub(r.Timestamp).Seconds(), 0), true
				case r.Offset >= p.End-1:
					// Nothing but transaction markers is left: a consumer
					// that committed after its last data record is not
					// behind.
					p.Records, p.Seconds, p.AgeKnown = 0, 0, true
				}
			}
			if js := idx[r.Topic][r.Partition]; len(js) > 0 && allKnown(parts, js) {
				delete(idx[r.Topic], r.Partition)
				cl.PauseFetchPartitions(map[string][]int32{r.Topic: {r.Partition}})
				left--
			}
		})
	}
	if left > 0 && left == countLagging(parts) {
		return fmt.Errorf("lag: ages: no record read: %w", ctx.Err())
	}
	return nil
}

func allKnown(parts []Partition, is []int) bool {
	for _, i := range is {
		if !parts[i].AgeKnown {
			return false
		}
	}
	return true
}

func countLagging(parts []Partition) int {
	n := 0
	for _, p := range parts {
		if p.Records > 0 && !p.AgeKnown {
			n++
		}
	}
	return n
}

// Collector is a prometheus.Collector that measures lag on each scrape:
//
//	logmesh_consumer_lag_records{group,topic,partition}
//	logmesh_consumer_lag_seconds{group,topic,partition}
//	logmesh_consumer_lag_errors_total  (scrapes whose measurement failed)
//
// It is safe for concurrent use; each scrape takes at most its timeout.
type Collector struct {
	adm       *kadm.Client
	newClient NewClient
	groups    func() []Group
	timeout   time.Duration
	log       *slog.Logger
	now       func() time.Time

	records, seconds *prometheus.Desc
	errs             prometheus.Counter
}

// NewCollector returns a collector over the groups groups returns at each
// scrape, with adm for offsets and newClient for the ages. timeout bounds
// one measurement (default 5s); log gets failed measurements.
func NewCollector(adm *kadm.Client, newClient NewClient, groups func() []Group, timeout time.Duration, log *slog.Logger) *Collector {
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	labels := []string{"group", "topic", "partition"}
	return &Collector{adm: adm, newClient: newClient, groups: groups, timeout: timeout, log: log, now: time.Now,
		records: prometheus.NewDesc("logmesh_consumer_lag_records",
			"Records of the partition the consumer group has not consumed: end - max(committed, log start).", labels, nil),
		seconds: prometheus.NewDesc("logmesh_consumer_lag_seconds",
			"Age of the oldest record of the partition the consumer group has not consumed (0 with no lag).", labels, nil),
		errs: prometheus.NewCounter(prometheus.CounterOpts{Name: "logmesh_consumer_lag_errors_total",
			Help: "Scrapes whose lag measurement failed (the lag series are then absent)."}),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.records
	ch <- c.seconds
	c.errs.Describe(ch)
}

// Collect implements prometheus.Collector: it measures now.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	defer c.errs.Collect(ch)
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	parts, err := Measure(ctx, c.adm, c.groups())
	if err != nil {
		c.errs.Inc()
		c.log.Warn("consumer lag not measured", "err", err)
		return
	}
	if c.newClient != nil {
		if err := Ages(ctx, c.newClient, parts, c.now()); err != nil {
			c.log.Warn("consumer lag age not measured", "err", err)
		}
	}
	for _, p := range parts {
		pl := strconv.Itoa(int(p.Partition))
		ch <- prometheus.MustNewConstMetric(c.records, prometheus.GaugeValue, float64(p.Records), p.Group, p.Topic, pl)
		if p.AgeKnown {
			ch <- prometheus.MustNewConstMetric(c.seconds, prometheus.GaugeValue, p.Seconds, p.Group, p.Topic, pl)
		}
	}
}
