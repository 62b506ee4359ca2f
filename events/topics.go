package events

import (
	"fmt"
	"slices"
)

// Topic names. A domain's private bus is DomainTopic(domain), what the mesh
// router delivers to it is InboxTopic(domain).
const (
	// CentralTopic is the central mesh bus (the events topic of the central
	// domain).
	CentralTopic = "logmesh.central.events"
	// BatchesTopic is the planner's work topic, keyed by table.
	BatchesTopic = "logmesh.raw.batches"
	// SchemasTopic holds the built-in schema registry's state; compacted.
	SchemasTopic = "logmesh._schemas"
)

// Well-known domains.
const (
	// DomainRaw is the ingestion domain.
	DomainRaw = "raw"
	// DomainCentral is the governance domain; its events topic is CentralTopic.
	DomainCentral = "central"
)

// DefaultPartitions is the partition count DefaultTopics gives every topic
// except SchemasTopic (which has 1).
const DefaultPartitions int32 = 6

// DomainTopic returns the name of a domain's private bus,
// "logmesh.<domain>.events".
func DomainTopic(domain string) string { return "logmesh." + domain + ".events" }

// InboxTopic returns the name of the topic the mesh router delivers a
// domain's granted events to, "logmesh.<domain>.inbox".
func InboxTopic(domain string) string { return "logmesh." + domain + ".inbox" }

// DeadLetterTopic returns the dead-letter topic of topic, topic + ".dlq".
func DeadLetterTopic(topic string) string { return topic + ".dlq" }

// TopicFor returns the topic ev is produced to: the events topic of its
// envelope's domain.
func TopicFor(ev Event) string { return DomainTopic(ev.Meta().Domain) }

// TopicSpec describes a topic to create.
type TopicSpec struct {
	// Name is the topic name.
	Name string
	// Partitions is the partition count.
	Partitions int32
	// Configs are topic configs, as kadm.CreateTopics takes them.
	Configs map[string]*string
}

// ValidDomain reports whether name can be used as a domain: 1 to 100
// characters from [a-z0-9_-], so that every topic name built from it is a
// valid Kafka topic name.
func ValidDomain(name string) error {
	if name == "" || len(name) > 100 {
		return fmt.Errorf("events: domain %q: length must be 1..100", name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return fmt.Errorf("events: domain %q: only a-z, 0-9, _ and - are allowed", name)
		}
	}
	return nil
}

// DefaultTopics returns the topics `logmesh dev` creates, sorted by name:
// for the raw and central domains and each given domain, its events topic
// and its inbox topic, each with a dead-letter topic; BatchesTopic and its
// dead-letter topic; and SchemasTopic. Fact, inbox, work and dead-letter
// topics keep everything (retention.ms=-1, retention.bytes=-1);
// SchemasTopic is compacted and has one partition so the registry reads its
// history in order. Every other topic has DefaultPartitions partitions; the
// caller may change the returned specs. Duplicate domains are listed once.
func DefaultTopics(domains ...string) []TopicSpec {
	all := append([]string{DomainRaw, DomainCentral}, domains...)
	slices.Sort(all)
	all = slices.Compact(all)

	keep := func(name string) TopicSpec {
		return TopicSpec{Name: name, Partitions: DefaultPartitions, Configs: map[string]*string{
			"cleanup.policy":  ptr("delete"),
			"retention.ms":    ptr("-1"),
			"retention.bytes": ptr("-1"),
		}}
	}
	var out []TopicSpec
	for _, d := range all {
		for _, t := range []string{DomainTopic(d), InboxTopic(d)} {
			out = append(out, keep(t), keep(DeadLetterTopic(t)))
		}
	}
	out = append(out, keep(BatchesTopic), keep(DeadLetterTopic(BatchesTopic)))
	out = append(out, TopicSpec{Name: SchemasTopic, Partitions: 1, Configs: map[string]*string{
		"cleanup.policy": ptr("compact"),
	}})
	slices.SortFunc(out, func(a, b TopicSpec) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return out
}

func ptr(s string) *string { return &s }
