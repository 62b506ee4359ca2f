package events

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Topic names of the default installation (Topics{}). A domain's private bus
// is DomainTopic(domain), what the mesh router delivers to it is
// InboxTopic(domain).
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

// DefaultPrefix is the prefix of every topic name of Topics{}.
const DefaultPrefix = "logmesh"

// Topics names the topics of one logmesh installation. Every name starts
// with Prefix and a dot; the zero value uses DefaultPrefix, so Topics{} names
// the default topics (CentralTopic, BatchesTopic, ...). Installations that
// share a cluster, and tests that share a real broker, use their own prefix.
// A Topics is a plain value, safe for concurrent use.
type Topics struct {
	// Prefix is the first part of every topic name. Default DefaultPrefix.
	Prefix string
}

func (t Topics) prefix() string {
	if t.Prefix == "" {
		return DefaultPrefix
	}
	return t.Prefix
}

// Domain returns a domain's private bus, "<prefix>.<domain>.events".
func (t Topics) Domain(domain string) string { return t.prefix() + "." + domain + ".events" }

// Inbox returns the topic the mesh router delivers a domain's granted
// events to, "<prefix>.<domain>.inbox".
func (t Topics) Inbox(domain string) string { return t.prefix() + "." + domain + ".inbox" }

// Central returns the central mesh bus, Domain(DomainCentral).
func (t Topics) Central() string { return t.Domain(DomainCentral) }

// Batches returns the planner's work topic, "<prefix>.raw.batches".
func (t Topics) Batches() string { return t.prefix() + "." + DomainRaw + ".batches" }

// Schemas returns the built-in registry's compacted topic,
// "<prefix>._schemas".
func (t Topics) Schemas() string { return t.prefix() + "._schemas" }

// For returns the topic ev is produced to: the events topic of its
// envelope's domain.
func (t Topics) For(ev Event) string { return t.Domain(ev.Meta().Domain) }

// DomainOf returns the domain whose events topic is topic; ok is false if
// topic is not one.
func (t Topics) DomainOf(topic string) (domain string, ok bool) {
	rest, ok := strings.CutPrefix(topic, t.prefix()+".")
	if !ok {
		return "", false
	}
	domain, ok = strings.CutSuffix(rest, ".events")
	return domain, ok && ValidDomain(domain) == nil
}

// AllDomains is the set of every domain's events topic, present and future:
// the pattern "^<prefix>\.[a-z0-9_-]+\.events$".
func (t Topics) AllDomains() TopicSet {
	return TopicSet{Pattern: `^` + regexp.QuoteMeta(t.prefix()) + `\.[a-z0-9_-]+\.events$`}
}

// AllInboxes is the set of every domain's inbox: the pattern
// "^<prefix>\.[a-z0-9_-]+\.inbox$".
func (t Topics) AllInboxes() TopicSet {
	return TopicSet{Pattern: `^` + regexp.QuoteMeta(t.prefix()) + `\.[a-z0-9_-]+\.inbox$`}
}

// InboxDomain returns the domain whose inbox topic is, under any prefix.
func InboxDomain(topic string) (domain string, ok bool) {
	rest, found := strings.CutSuffix(topic, ".inbox")
	if !found {
		return "", false
	}
	i := strings.LastIndex(rest, ".")
	if i < 0 || ValidDomain(rest[i+1:]) != nil {
		return "", false
	}
	return rest[i+1:], true
}

// All is the set of every topic of the installation but the registry's:
// the pattern "^<prefix>\.[^_].*" (events, inboxes, work and dead-letter
// topics).
func (t Topics) All() TopicSet {
	return TopicSet{Pattern: `^` + regexp.QuoteMeta(t.prefix()) + `\.[^_].*`}
}

// TopicSet is the set of topics something reads: fixed names, or every topic
// whose name matches a regular expression (RE2, as kgo.ConsumeRegex takes
// it), or both. A topic that does not exist yet is an empty topic. The zero
// value is empty.
type TopicSet struct {
	// Names are topics by name.
	Names []string
	// Pattern, if set, adds every topic matching it.
	Pattern string
}

// TopicNames returns the set of the given topic names.
func TopicNames(topics ...string) TopicSet { return TopicSet{Names: topics} }

// Empty reports whether s names nothing.
func (s TopicSet) Empty() bool { return len(s.Names) == 0 && s.Pattern == "" }

// Compile checks the pattern and returns a matcher for topic names.
func (s TopicSet) Compile() (func(topic string) bool, error) {
	var re *regexp.Regexp
	if s.Pattern != "" {
		var err error
		if re, err = regexp.Compile(s.Pattern); err != nil {
			return nil, fmt.Errorf("events: topic pattern %q: %w", s.Pattern, err)
		}
	}
	names := slices.Clone(s.Names)
	return func(topic string) bool {
		return slices.Contains(names, topic) || re != nil && re.MatchString(topic)
	}, nil
}

// String describes the set for logs and errors.
func (s TopicSet) String() string {
	parts := slices.Clone(s.Names)
	if s.Pattern != "" {
		parts = append(parts, "/"+s.Pattern+"/")
	}
	return strings.Join(parts, ",")
}

// DomainTopic returns Topics{}.Domain(domain).
func DomainTopic(domain string) string { return Topics{}.Domain(domain) }

// InboxTopic returns Topics{}.Inbox(domain).
func InboxTopic(domain string) string { return Topics{}.Inbox(domain) }

// DeadLetterTopic returns the dead-letter topic of topic, topic + ".dlq".
func DeadLetterTopic(topic string) string { return topic + ".dlq" }

// TopicFor returns Topics{}.For(ev).
func TopicFor(ev Event) string { return Topics{}.For(ev) }

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

// DefaultTopics returns Topics{}.Specs(DefaultPartitions, domains...).
func DefaultTopics(domains ...string) []TopicSpec {
	return Topics{}.Specs(DefaultPartitions, domains...)
}

// Specs returns the topics an installation needs, sorted by name: for the
// raw and central domains and each given domain, its events topic and its
// inbox topic, each with a dead-letter topic; Batches and its dead-letter
// topic; and Schemas. Fact, inbox, work and dead-letter topics keep
// everything (retention.ms=-1, retention.bytes=-1) and have partitions
// partitions (DefaultPartitions if <= 0); Schemas is compacted and has one
// partition so the registry reads its history in order. Duplicate domains
// are listed once.
func (t Topics) Specs(partitions int32, domains ...string) []TopicSpec {
	if partitions <= 0 {
		partitions = DefaultPartitions
	}
	all := append([]string{DomainRaw, DomainCentral}, domains...)
	slices.Sort(all)
	all = slices.Compact(all)

	keep := func(name string) TopicSpec {
		return TopicSpec{Name: name, Partitions: partitions, Configs: map[string]*string{
			"cleanup.policy":  ptr("delete"),
			"retention.ms":    ptr("-1"),
			"retention.bytes": ptr("-1"),
		}}
	}
	var out []TopicSpec
	for _, d := range all {
		for _, topic := range []string{t.Domain(d), t.Inbox(d)} {
			out = append(out, keep(topic), keep(DeadLetterTopic(topic)))
		}
	}
	out = append(out, keep(t.Batches()), keep(DeadLetterTopic(t.Batches())))
	out = append(out, TopicSpec{Name: t.Schemas(), Partitions: 1, Configs: map[string]*string{
		"cleanup.policy": ptr("compact"),
	}})
	slices.SortFunc(out, func(a, b TopicSpec) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func ptr(s string) *string { return &s }

// Regex returns one regular expression matching exactly the topics of s.
func (s TopicSet) Regex() string {
	var alts []string
	for _, n := range s.Names {
		alts = append(alts, `^`+regexp.QuoteMeta(n)+`$`)
	}
	if s.Pattern != "" {
		alts = append(alts, `(?:`+s.Pattern+`)`)
	}
	return strings.Join(alts, "|")
}
