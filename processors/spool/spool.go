// Package spool feeds tables from upstream topics: for every feed of the
// mesh that names a topic instead of a key pattern, it reads the topic's
// Confluent-framed Avro records (written by `logmesh produce` or any
// Confluent producer) and stages each run of them as one NDJSON file in the
// landing area, then lands that file itself (a FileLanded naming the feed
// and its table). From there the file is batched, validated record by
// record, rejected or committed, audited and refreshed exactly like a file
// that was dropped in the landing area: one path for every source.
//
// # Files
//
// A run of records of one partition, offsets from F to T, is staged as
//
//	_spool/<feed>/<topic>/<partition>/<F>-<T>.ndjson
//
// (ingest.SpoolPrefix; F and T zero-padded to 20 digits), one JSON object
// per record: the record's value decoded with its writer's schema, a union
// as its branch's value, a timestamp as RFC 3339, a decimal as its exact
// digits. A value that can never be decoded (not Confluent-framed, a schema
// id the registry does not know) is staged as a JSON string saying why, so
// the loader rejects that line, and the reject is recorded, as it would be
// for any bad line of a landed file. A tombstone (no value) has no row and
// is passed over.
//
// # Exactly once
//
// The spool keeps no store and commits no offsets: the landing bus is its
// log of progress. When it is assigned a partition it reads its own
// FileLanded events from the landing bus and resumes after the last offset
// a landed file covers; it writes a file before it lands it, and the
// landing (ProduceSync, all in-sync replicas) is what moves it on. So a
// spool killed after writing a file but before landing it writes the run
// again (the unlanded file, if its run differs, is garbage nobody loads);
// one killed after landing resumes after the run. Rebalances are blocked
// while a poll's runs are staged and landed, so a partition changes hands
// only between runs.
package spool

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/confluent"
	"github.com/logmesh/logmesh/internal/kafkaconn"
	"github.com/logmesh/logmesh/internal/logging"
	"github.com/logmesh/logmesh/internal/logview"
	"github.com/logmesh/logmesh/processors/ingest"
	"github.com/logmesh/logmesh/processors/proc"
)

// DefaultGroup is the spool's consumer group unless Group says otherwise.
const DefaultGroup = "logmesh-spool"

// Defaults of the options.
const (
	DefaultMaxRecords       = 10_000
	DefaultMaxBytes   int64 = 16 << 20
	DefaultBackoff          = time.Second
)

// ContentType is the content type of a staged file.
const ContentType = "application/x-ndjson"

// Feed is one topic feed: the feed's name, the table it loads and the
// upstream topic it reads.
type Feed struct {
	Name, Table, Topic string
}

type config struct {
	proc.Config
	domain     string
	maxRecords int
	maxBytes   int64
	backoff    time.Duration
	onLanded   func(Stats)
}

// Option configures a Spool.
type Option func(*config)

// Domain sets the domain whose bus files are landed on, the landing
// watcher's; default events.DomainRaw.
func Domain(d string) Option { return func(c *config) { c.domain = d } }

// MaxRecords bounds the records of one staged file; default
// DefaultMaxRecords.
func MaxRecords(n int) Option { return func(c *config) { c.maxRecords = n } }

// MaxBytes bounds the bytes of one staged file (a single larger record
// still makes a file of its own); default DefaultMaxBytes.
func MaxBytes(n int64) Option { return func(c *config) { c.maxBytes = n } }

// Backoff sets the wait before a failed run (the landing area or the
// registry unreachable) is tried again; default DefaultBackoff.
func Backoff(d time.Duration) Option { return func(c *config) { c.backoff = d } }

// OnLanded calls fn with the spool's counts after each file it landed.
func OnLanded(fn func(Stats)) Option { return func(c *config) { c.onLanded = fn } }

// Spool stages the records of topic feeds as landed files. Create it with
// New; Run it once.
type Spool struct {
	feeds map[string]Feed // by topic
	src   ingest.Source
	codec *events.Codec
	dec   *confluent.Decoder
	conn  kafkaconn.Conn
	cfg   config
	log   *slog.Logger
	bus   string // the landing bus

	mu   sync.Mutex
	view *logview.View
	next map[logview.TP]int64 // per upstream partition: the offset after the last landed run
	n    Stats
}

// Stats counts what the spool did since it started.
type Stats struct {
	Files   int64 // files staged and landed
	Records int64 // records staged (undecodable ones included)
	Bad     int64 // records staged as undecodable
}

// New returns a spool of feeds (each with a topic) that stages into src and
// lands on the landing bus; dec decodes the upstream records. It reads
// through pc.Conn in pc.Group (default DefaultGroup); pc.Clock is the
// clock of the FileLanded events.
func New(pc proc.Config, feeds []Feed, src ingest.Source, codec *events.Codec, dec *confluent.Decoder, opts ...Option) (*Spool, error) {
	cfg := config{Config: pc.WithDefaults(DefaultGroup), domain: events.DomainRaw, maxRecords: DefaultMaxRecords,
		maxBytes: DefaultMaxBytes, backoff: DefaultBackoff}
	for _, o := range opts {
		o(&cfg)
	}
	switch {
	case src == nil || codec == nil || dec == nil:
		return nil, errors.New("spool: New: nil Source, Codec or Decoder")
	case len(cfg.Conn.Brokers()) == 0:
		return nil, errors.New("spool: New: no brokers")
	case cfg.maxRecords < 1 || cfg.maxBytes < 1:
		return nil, fmt.Errorf("spool: New: MaxRecords %d and MaxBytes %d must be positive", cfg.maxRecords, cfg.maxBytes)
	}
	s := &Spool{feeds: map[string]Feed{}, src: src, codec: codec, dec: dec, conn: cfg.Conn, cfg: cfg,
		log: cfg.Logger.With("processor", "spool"), bus: cfg.Topics.Domain(cfg.domain), next: map[logview.TP]int64{}}
	for _, f := range feeds {
		if f.Topic == "" || f.Name == "" || f.Table == "" {
			return nil, fmt.Errorf("spool: New: feed %+v needs a name, a table and a topic", f)
		}
		if g, dup := s.feeds[f.Topic]; dup {
			return nil, fmt.Errorf("spool: New: feeds %s and %s both read %s", g.Name, f.Name, f.Topic)
		}
		s.feeds[f.Topic] = f
	}
	view, err := logview.New(cfg.Conn, events.TopicNames(s.bus), logview.Logger(cfg.Logger))
	if err != nil {
		return nil, fmt.Errorf("spool: New: %w", err)
	}
	s.view = view
	return s, nil
}

// Stats returns what the spool did so far.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// Run stages and lands the feeds' records until ctx ends (nil). A run that
// cannot be staged or landed is retried after the backoff, from its first
// record; Run returns an error only if the client cannot be made.
func (s *Spool) Run(ctx context.Context) error {
	defer s.view.Close()
	if len(s.feeds) == 0 {
		<-ctx.Done()
		return nil
	}
	topics := make([]string, 0, len(s.feeds))
	for t := range s.feeds {
		topics = append(topics, t)
	}
	cl, err := s.conn.Client(append([]kgo.Opt{
		kgo.ConsumerGroup(s.cfg.Group),
		kgo.ConsumeTopics(topics...),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.AdjustFetchOffsetsFn(s.resume),
		kgo.WithLogger(logging.Kafka(s.cfg.Logger)),
	}, s.cfg.ClientOpts...)...)
	if err != nil {
		return fmt.Errorf("spool: client: %w", err)
	}
	defer cl.Close()
	s.log.Info("spooling topic feeds", "topics", topics, "landing_bus", s.bus)
	for {
		fs := cl.PollRecords(ctx, s.cfg.maxRecords)
		if ctx.Err() != nil || fs.IsClientClosed() {
			cl.AllowRebalance()
			return nil
		}
		fs.EachError(func(t string, p int32, err error) {
			s.log.Warn("fetch error", "topic", t, "partition", p, "err", err)
		})
		var failed error
		rewind := map[string]map[int32]kgo.EpochOffset{}
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			if len(p.Records) == 0 {
				return
			}
			if failed == nil {
				failed = s.spool(ctx, cl, p.Topic, p.Partition, p.Records)
				if failed == nil {
					return
				}
			}
			// This poll's records of the partition come again, from
			// where the landed runs end.
			s.mu.Lock()
			next, ok := s.next[logview.TP{Topic: p.Topic, Partition: p.Partition}]
			s.mu.Unlock()
			if !ok || next < p.Records[0].Offset {
				next = p.Records[0].Offset
			}
			if rewind[p.Topic] == nil {
				rewind[p.Topic] = map[int32]kgo.EpochOffset{}
			}
			rewind[p.Topic][p.Partition] = kgo.EpochOffset{Epoch: -1, Offset: next}
		})
		if failed != nil {
			cl.SetOffsets(rewind)
		}
		cl.AllowRebalance()
		if failed != nil {
			if ctx.Err() != nil {
				return nil
			}
			s.log.Warn("staging failed; retrying", "err", failed, "in", s.cfg.backoff)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(s.cfg.backoff):
			}
		}
	}
}

// resume starts every assigned partition after the last run the landing
// bus says was landed, or at the topic's start.
func (s *Spool) resume(ctx context.Context, assigned map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	if err := s.catchUp(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for topic, parts := range assigned {
		for p := range parts {
			next, ok := s.next[logview.TP{Topic: topic, Partition: p}]
			if ok {
				parts[p] = kgo.NewOffset().At(next).WithEpoch(-1)
			} else {
				parts[p] = kgo.NewOffset().AtStart()
			}
			s.log.Info("resuming partition", "topic", topic, "partition", p, "offset", next, "landed_before", ok)
		}
	}
	return assigned, nil
}

// catchUp reads the landing bus's new FileLanded events and remembers where
// the landed runs of each partition end.
func (s *Spool) catchUp(ctx context.Context) error {
	poison := func(r *kgo.Record, err error) error {
		s.log.Warn("skipping an undecodable record", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "err", err)
		return nil
	}
	apply := func(_ *kgo.Record, ev events.Event) error {
		fl, ok := ev.(*events.FileLanded)
		if !ok || fl.Feed == nil {
			return nil
		}
		topic, p, _, to, ok := parseKey(*fl.Feed, fl.Key)
		if !ok {
			return nil
		}
		tp := logview.TP{Topic: topic, Partition: p}
		s.mu.Lock()
		if to+1 > s.next[tp] {
			s.next[tp] = to + 1
		}
		s.mu.Unlock()
		return nil
	}
	if _, err := s.view.CatchUp(ctx, logview.Events(ctx, s.codec, apply, poison, events.NameFileLanded)); err != nil {
		return fmt.Errorf("spool: reading %s: %w", s.bus, err)
	}
	return nil
}

// spool stages recs (one partition's, in offset order) as files of at most
// MaxRecords records and MaxBytes bytes and lands each, skipping records a
// landed run already covers.
func (s *Spool) spool(ctx context.Context, cl *kgo.Client, topic string, p int32, recs []*kgo.Record) error {
	f, ok := s.feeds[topic]
	if !ok {
		return nil
	}
	tp := logview.TP{Topic: topic, Partition: p}
	s.mu.Lock()
	next := s.next[tp]
	s.mu.Unlock()
	var (
		buf      bytes.Buffer
		from, to int64 = -1, -1
		n, bad   int
	)
	flush := func() error {
		if n == 0 {
			return nil
		}
		if err := s.land(ctx, cl, f, p, from, to, buf.Bytes()); err != nil {
			return err
		}
		s.mu.Lock()
		s.next[tp] = to + 1
		s.n.Files++
		s.n.Records += int64(n)
		s.n.Bad += int64(bad)
		st := s.n
		s.mu.Unlock()
		if s.cfg.onLanded != nil {
			s.cfg.onLanded(st)
		}
		buf.Reset()
		from, n, bad = -1, 0, 0
		return nil
	}
	for _, r := range recs {
		if r.Offset < next {
			continue // a landed run has it
		}
		line, undecodable, err := s.line(ctx, r)
		if err != nil {
			return err
		}
		if line == nil {
			continue // tombstone
		}
		if n > 0 && (n >= s.cfg.maxRecords || int64(buf.Len()+len(line)+1) > s.cfg.maxBytes) {
			if err := flush(); err != nil {
				return err
			}
		}
		if from < 0 {
			from = r.Offset
		}
		to = r.Offset
		buf.Write(line)
		buf.WriteByte('\n')
		n++
		if undecodable {
			bad++
		}
	}
	return flush()
}

// line is r's value as one NDJSON line: the decoded record, or, for a value
// that can never be decoded, a JSON string that says why (undecodable
// true). A tombstone has no line. Other errors (the registry unreachable)
// are returned.
func (s *Spool) line(ctx context.Context, r *kgo.Record) (line []byte, undecodable bool, err error) {
	if r.Value == nil {
		return nil, false, nil
	}
	_, v, _, err := s.dec.Decode(ctx, r.Value)
	if err == nil {
		line, err = confluent.JSON(v)
		if err == nil {
			if _, isObject := v.(map[string]any); isObject {
				return line, false, nil
			}
			err = fmt.Errorf("%w: the value is an Avro %T, not a record", confluent.ErrUndecodable, v)
		} else {
			err = fmt.Errorf("%w: %w", confluent.ErrUndecodable, err)
		}
	}
	if !errors.Is(err, confluent.ErrUndecodable) {
		return nil, false, fmt.Errorf("spool: %s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err)
	}
	why, _ := json.Marshal(fmt.Sprintf("%s partition %d offset %d: %v", r.Topic, r.Partition, r.Offset, err))
	return why, true, nil
}

// land stores the run's file and records its FileLanded.
func (s *Spool) land(ctx context.Context, cl *kgo.Client, f Feed, p int32, from, to int64, data []byte) error {
	key := Key(f.Name, f.Topic, p, from, to)
	if err := s.src.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
		return fmt.Errorf("spool: staging %s: %w", key, err)
	}
	sum := sha256.Sum256(data)
	ev := ingest.Landed(s.src, ingest.Object{Key: key, Size: int64(len(data)), ContentType: ContentType},
		hex.EncodeToString(sum[:]), s.cfg.domain, s.cfg.Clock())
	ev.Feed, ev.Table = &f.Name, &f.Table
	rec, err := s.codec.Record(ev)
	if err != nil {
		return fmt.Errorf("spool: FileLanded for %s: %w", key, err)
	}
	rec.Topic = s.bus
	if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		return fmt.Errorf("spool: landing %s on %s: %w", key, s.bus, err)
	}
	s.log.Info("records staged and landed", "feed", f.Name, "topic", f.Topic, "partition", p, "from", from, "to", to,
		"file", key, "bytes", len(data))
	return nil
}

// Key is the landing key of the run of feed's topic partition p from
// offset from to offset to.
func Key(feed, topic string, p int32, from, to int64) string {
	return fmt.Sprintf("%s%s/%s/%d/%020d-%020d.ndjson", ingest.SpoolPrefix, feed, topic, p, from, to)
}

// parseKey is Key's inverse for the feed's keys; ok is false for any
// other key.
func parseKey(feed, key string) (topic string, p int32, from, to int64, ok bool) {
	rest, found := strings.CutPrefix(key, ingest.SpoolPrefix+feed+"/")
	if !found {
		return "", 0, 0, 0, false
	}
	dir, file := path.Split(rest)
	topic, part, found := strings.Cut(strings.TrimSuffix(dir, "/"), "/")
	if !found {
		return "", 0, 0, 0, false
	}
	pn, err := strconv.ParseInt(part, 10, 32)
	if err != nil {
		return "", 0, 0, 0, false
	}
	span, found := strings.CutSuffix(file, ".ndjson")
	a, b, found2 := strings.Cut(span, "-")
	if !found || !found2 {
		return "", 0, 0, 0, false
	}
	if from, err = strconv.ParseInt(a, 10, 64); err != nil {
		return "", 0, 0, 0, false
	}
	if to, err = strconv.ParseInt(b, 10, 64); err != nil || to < from {
		return "", 0, 0, 0, false
	}
	return topic, int32(pn), from, to, true
}
