// Package ingest is the landing watcher: it watches a landing area (a local
// directory or an S3 bucket) and records every file that arrives there as
// one FileLanded event on the raw domain's bus, logmesh.raw.events. Land
// copies local files into a landing area (`logmesh land`).
//
// # Identity and exactly-once landing
//
// A landed file is identified by its key and the SHA-256 of its content:
// its file id is events.DeriveID(key, checksum), and that id is both the
// FileLanded event id and its correlation id (the Kafka record key), so all
// events about one file share a partition. A file changed under the same
// key has a new checksum and so is a new file, landed again; a file whose
// content returns to an earlier version is not (that (key, checksum) was
// landed already).
//
// The watcher keeps no local store. On start it reads logmesh.raw.events
// from the start up to its end (a view, without a consumer group) and
// remembers which file ids were landed; before every scan it reads what was
// appended since, including FileLanded events of other watchers. So a file
// is not landed again by the same watcher, by a restarted one, or by another
// watcher that has already seen its event.
//
// Two watchers racing on the same landing area can still both hash a new
// file before either event is on the log, and both produce it. Both events
// then have the same event id and the same record key (so the same
// partition): consumers of FileLanded must drop an event whose id they have
// seen, which the audit projection does. No other coordination is needed,
// and nothing is lost if a watcher dies mid-scan: the next scan (or the next
// watcher) lands whatever has no event yet.
//
// # Change detection and memory
//
// Each scan lists the landing area and hashes only objects whose size,
// modification time or version (ETag) changed since this process last saw
// them (a local file modified within two seconds of being hashed counts as
// changed until it is older, since some file systems have coarse
// timestamps). Hashing streams the object through SHA-256 with a 64 KiB buffer;
// files are never held in memory. A file whose size changes while it is
// hashed (still being written) is skipped and hashed again on a later scan.
// Writers should write to a temporary name (see IsTemp) and rename, as
// LocalSource.Put does. On an object store, a (key, ETag) already recorded
// in a FileLanded event is trusted without re-hashing, so restarting a
// watcher over a large bucket is cheap; a local directory has no versions
// and is hashed once per process start.
package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkaconn"
	"github.com/logmesh/logmesh/internal/logging"
	"github.com/logmesh/logmesh/internal/logview"
	"github.com/logmesh/logmesh/projections/audit"
)

// ErrClosed is returned by Scan and Run after Close.
var ErrClosed = errors.New("ingest: watcher closed")

// Matcher maps a landed key to the feed whose key pattern it matches and the
// raw table that feed loads into. It must be safe for concurrent use.
type Matcher interface {
	// Match returns the feed and table for key, or ok false if no feed
	// matches.
	Match(key string) (feed, table string, ok bool)
}

// MatcherFunc adapts a function to Matcher.
type MatcherFunc func(key string) (feed, table string, ok bool)

// Match calls f(key).
func (f MatcherFunc) Match(key string) (feed, table string, ok bool) { return f(key) }

// DefaultInterval is the default time between two scans of Run.
const DefaultInterval = 2 * time.Second

// Follower is an optional capability of a Matcher that follows the
// definitions on the log: the watcher calls CatchUp before each scan, so
// a file is matched against the definitions in force when it is landed.
type Follower interface {
	CatchUp(ctx context.Context) error
}

// Explainer is an optional capability of a Matcher: why no feed matches a
// key, for the FileFailed (stage "match") that records the outcome of a
// file no feed takes.
type Explainer interface {
	Unmatched(key string) string
}

type config struct {
	names      events.Topics
	clientOpts []kgo.Opt
	interval   time.Duration
	matcher    Matcher
	logger     *slog.Logger
	domain     string
	clock      func() time.Time
}

// Option configures a Watcher.
type Option func(*config)

// Topics sets the installation's topic names. Default events.Topics{}.
func Topics(t events.Topics) Option { return func(c *config) { c.names = t } }

// ClientOpts adds franz-go options to the watcher's Kafka clients, after the
// connection's own.
func ClientOpts(opts ...kgo.Opt) Option {
	return func(c *config) { c.clientOpts = append(c.clientOpts, opts...) }
}

// Interval sets the time between two scans of Run. Default DefaultInterval;
// it must be positive.
func Interval(d time.Duration) Option { return func(c *config) { c.interval = d } }

// WithMatcher sets the feed matcher. Default nil: files land with no feed
// and no table, and no outcome is recorded for them. With a matcher, a file
// that matches no feed lands and at once gets a FileFailed at stage
// StageMatch (UNMATCHED in the audit), with the reason the matcher's
// Explainer gives, if it has one.
func WithMatcher(m Matcher) Option { return func(c *config) { c.matcher = m } }

// Logger sets the logger; the default discards.
func Logger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// Domain sets the domain of the FileLanded events and so their topic,
// the domain's events topic. Default events.DomainRaw.
func Domain(name string) Option { return func(c *config) { c.domain = name } }

// Clock sets the clock that stamps FileLanded.OccurredAt. Default time.Now.
func Clock(now func() time.Time) Option { return func(c *config) { c.clock = now } }

// StageMatch is the FileFailed stage of a file that no feed matches
// (audit.StageMatch: UNMATCHED in the audit).
const StageMatch = audit.StageMatch

// Watcher watches one landing area and produces a FileLanded event for
// every new file (see the package documentation for the guarantees).
// Create it with NewWatcher, run it with Run (or call Scan yourself), stop
// it by cancelling Run's context, and release it with Close.
//
// A Watcher is safe for concurrent use; scans are serialized. The Source
// and the Codec remain the caller's.
type Watcher struct {
	src   Source
	codec *events.Codec
	conn  kafkaconn.Conn
	cfg   config
	log   *slog.Logger
	topic string

	scanMu   sync.Mutex            // held for a whole Scan; guards the fields below
	landed   map[string]struct{}   // file ids with a FileLanded on the log
	outcomes map[string]struct{}   // file ids with an unmatched outcome on the log
	versions map[versionKey]string // (source, key, version) → file id, from the log
	seen     map[string]seenObject // key → the object as this process last hashed it
	view     *logview.View         // reads the topic

	mu     sync.Mutex // guards cl and closed
	cl     *kgo.Client
	closed bool
}

// versionKey names one version of one object of one source.
type versionKey struct{ source, key, version string }

// seenObject is what the watcher knows of an object it hashed.
type seenObject struct {
	size     int64
	modTime  time.Time
	version  string
	hashedAt time.Time // wall clock when it was read
}

// racyWindow covers coarse file-system timestamps: a file without a version
// that was modified less than racyWindow before it was hashed may change
// again without a visible change of size or modification time, so it is
// hashed again until its modification time is older than that (as git does
// for "racily clean" files).
const racyWindow = 2 * time.Second

// unchanged reports whether o is, as far as listing can tell, the object
// this process hashed before.
func (p seenObject) unchanged(o Object) bool {
	if p.size != o.Size || !p.modTime.Equal(o.ModTime) || p.version != o.Version {
		return false
	}
	return o.Version != "" || p.hashedAt.Sub(p.modTime) >= racyWindow
}

// NewWatcher validates its arguments and returns a Watcher over src that
// encodes events with codec; it does not connect. If codec has no schema
// ids yet, the first scan registers them (codec.Register).
func NewWatcher(src Source, codec *events.Codec, conn kafkaconn.Conn, opts ...Option) (*Watcher, error) {
	if src == nil || codec == nil {
		return nil, errors.New("ingest: NewWatcher: nil Source or Codec")
	}
	cfg := config{interval: DefaultInterval, domain: events.DomainRaw, clock: time.Now}
	for _, o := range opts {
		o(&cfg)
	}
	switch {
	case len(conn.Brokers()) == 0:
		return nil, errors.New("ingest: NewWatcher: no brokers")
	case cfg.interval <= 0:
		return nil, fmt.Errorf("ingest: NewWatcher: Interval %v must be positive", cfg.interval)
	case cfg.clock == nil:
		return nil, errors.New("ingest: NewWatcher: nil Clock")
	}
	if err := events.ValidDomain(cfg.domain); err != nil {
		return nil, fmt.Errorf("ingest: NewWatcher: %w", err)
	}
	log := cfg.logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	topic := cfg.names.Domain(cfg.domain)
	view, err := logview.New(conn, events.TopicNames(topic), logview.Logger(log), logview.ClientOpts(cfg.clientOpts...))
	if err != nil {
		return nil, fmt.Errorf("ingest: NewWatcher: %w", err)
	}
	w := &Watcher{
		src:      src,
		codec:    codec,
		conn:     conn,
		cfg:      cfg,
		log:      log.With("source", src.Name()),
		topic:    topic,
		landed:   map[string]struct{}{},
		outcomes: map[string]struct{}{},
		versions: map[versionKey]string{},
		seen:     map[string]seenObject{},
		view:     view,
	}
	return w, nil
}

// Topic returns the topic the watcher reads and produces to.
func (w *Watcher) Topic() string { return w.topic }

// Run scans the landing area now and then every Interval until ctx is done,
// and returns nil then. A failed scan is logged and retried at the next
// tick; Run returns an error only if it cannot start (the first read of the
// log fails) or after Close (ErrClosed). Run does not close the Watcher.
func (w *Watcher) Run(ctx context.Context) error {
	if err := w.catchUpLocked(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	t := time.NewTicker(w.cfg.interval)
	defer t.Stop()
	for {
		n, err := w.Scan(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, ErrClosed):
			return err
		case err != nil:
			w.log.Warn("scan failed; retrying at the next tick", "landed", n, "err", err)
		case n > 0:
			w.log.Info("scan landed files", "landed", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// catchUpLocked takes the scan lock and brings the view up to date.
func (w *Watcher) catchUpLocked(ctx context.Context) error {
	w.scanMu.Lock()
	defer w.scanMu.Unlock()
	return w.catchUp(ctx)
}

// Scan reconciles once: it reads the log's new FileLanded events, lists the
// landing area, hashes every object that changed since this process last
// saw it, and produces a FileLanded for each (key, checksum) with no event
// yet. It returns how many files it landed. Errors about single objects do
// not stop the scan; they are joined into the returned error, and the
// objects are retried by the next scan. An object that vanished before it
// could be read is not an error.
func (w *Watcher) Scan(ctx context.Context) (landed int, err error) {
	w.scanMu.Lock()
	defer w.scanMu.Unlock()
	if err := w.catchUp(ctx); err != nil {
		return 0, err
	}
	if f, ok := w.cfg.matcher.(Follower); ok {
		if err := f.CatchUp(ctx); err != nil {
			return 0, fmt.Errorf("ingest: the feeds' definitions: %w", err)
		}
	}
	objs, err := w.src.List(ctx)
	if err != nil {
		return 0, err
	}
	listed := make(map[string]bool, len(objs))
	var errs []error
	for _, o := range objs {
		if IsSpooled(o.Key) {
			continue // the spool lands what it writes there
		}
		listed[o.Key] = true
		ok, err := w.reconcile(ctx, o)
		if ctx.Err() != nil {
			return landed, ctx.Err()
		}
		if err != nil {
			errs = append(errs, err)
			if errors.Is(err, ErrClosed) {
				break
			}
			continue
		}
		if ok {
			landed++
		}
	}
	for k := range w.seen {
		if !listed[k] {
			delete(w.seen, k) // gone: forget it, keep memory bounded
		}
	}
	return landed, errors.Join(errs...)
}

// reconcile hashes o if it changed and lands it if it is new.
func (w *Watcher) reconcile(ctx context.Context, o Object) (bool, error) {
	if prev, ok := w.seen[o.Key]; ok && prev.unchanged(o) {
		return false, nil
	}
	now := seenObject{size: o.Size, modTime: o.ModTime, version: o.Version, hashedAt: time.Now()}
	if o.Version != "" {
		if _, ok := w.versions[versionKey{w.src.Name(), o.Key, o.Version}]; ok {
			w.seen[o.Key] = now
			return false, nil
		}
	}
	sum, n, err := w.hash(ctx, o.Key)
	if errors.Is(err, fs.ErrNotExist) {
		w.log.Debug("file vanished before it was read", "file", o.Key)
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if n != o.Size {
		w.log.Debug("file changed while it was read; retrying later", "file", o.Key, "listed", o.Size, "read", n)
		return false, nil
	}
	id := events.DeriveID(o.Key, sum)
	if _, ok := w.landed[id]; ok {
		if err := w.recordUnmatched(ctx, o.Key, sum, id); err != nil {
			return false, err
		}
		w.seen[o.Key] = now
		return false, nil
	}
	if err := w.produce(ctx, o, sum, id); err != nil {
		return false, err
	}
	w.remember(o.Key, sum, w.src.Name(), o.Version, id)
	w.seen[o.Key] = now
	w.log.Info("file landed", "file", o.Key, "size", o.Size, "checksum", sum, "event_id", id)
	return true, nil
}

// hash streams the object through SHA-256 and returns the lower-case hex
// digest and the bytes read.
func (w *Watcher) hash(ctx context.Context, key string) (string, int64, error) {
	r, err := w.src.Open(ctx, key)
	if err != nil {
		return "", 0, err
	}
	defer r.Close()
	h := sha256.New()
	n, err := copyCtx(ctx, h, r)
	if err != nil {
		return "", n, fmt.Errorf("ingest: reading %s: %w", key, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// produce writes the FileLanded event of o, and the unmatched outcome of a
// file no feed takes, and waits for all in-sync replicas to have them.
func (w *Watcher) produce(ctx context.Context, o Object, sum, id string) error {
	cl, err := w.client(ctx)
	if err != nil {
		return err
	}
	ev := Landed(w.src, o, sum, w.cfg.domain, w.cfg.clock())
	evs := []events.Event{ev}
	if w.cfg.matcher != nil {
		if feed, table, ok := w.cfg.matcher.Match(o.Key); ok {
			ev.Feed, ev.Table = optional(feed), optional(table)
		} else {
			evs = append(evs, w.unmatched(o.Key, sum, id))
		}
	}
	recs := make([]*kgo.Record, 0, len(evs))
	for _, e := range evs {
		rec, err := w.codec.Record(e)
		if err != nil {
			return fmt.Errorf("ingest: %s for %s: %w", e.Name(), o.Key, err)
		}
		rec.Topic = w.topic
		recs = append(recs, rec)
	}
	// One key, one partition, in order: the outcome never precedes the
	// landing.
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("ingest: producing FileLanded for %s to %s: %w", o.Key, w.topic, err)
	}
	if len(evs) > 1 {
		w.outcomes[id] = struct{}{}
		w.log.Warn("no feed matches the landed file", "file", o.Key, "reason", evs[1].(*events.FileFailed).Reason)
	}
	return nil
}

// Landed is the FileLanded of object o of src, whose content has SHA-256
// sum, recorded by domain at at: its event id and correlation id are the
// file id, events.DeriveID(o.Key, sum). Feed and Table are left for the
// caller.
func Landed(src Source, o Object, sum, domain string, at time.Time) *events.FileLanded {
	id := events.DeriveID(o.Key, sum)
	ev := &events.FileLanded{
		Envelope: events.Envelope{
			EventID:       id,
			OccurredAt:    at.UTC(),
			Domain:        domain,
			CorrelationID: id,
		},
		Key:      o.Key,
		Source:   events.SourceLocal,
		Size:     o.Size,
		Checksum: sum,
		Version:  optional(o.Version),
	}
	if b, ok := src.(bucketer); ok {
		name := b.Bucket()
		ev.Source, ev.Bucket = events.SourceS3, &name
	}
	ct := ContentType(o.Key)
	if ct == "" {
		ct = o.ContentType
	}
	ev.ContentType = optional(ct)
	return ev
}

// unmatched is the FileFailed (stage StageMatch) of a file no feed takes.
func (w *Watcher) unmatched(key, sum, id string) *events.FileFailed {
	reason := fmt.Sprintf("no feed matches key %q", key)
	if ex, ok := w.cfg.matcher.(Explainer); ok {
		reason = ex.Unmatched(key)
	}
	return &events.FileFailed{
		Envelope: events.Envelope{
			EventID:       events.DeriveID("file-failed", id, StageMatch),
			OccurredAt:    w.cfg.clock().UTC(),
			Domain:        w.cfg.domain,
			CorrelationID: id,
			CausationID:   id,
		},
		FileKey:      key,
		FileChecksum: &sum,
		Stage:        StageMatch,
		Reason:       reason,
		Attempt:      1,
	}
}

// recordUnmatched records the outcome of a landed file that no feed takes
// and that has none on the log yet (a watcher died between the two).
func (w *Watcher) recordUnmatched(ctx context.Context, key, sum, id string) error {
	if w.cfg.matcher == nil {
		return nil
	}
	if _, ok := w.outcomes[id]; ok {
		return nil
	}
	if _, _, ok := w.cfg.matcher.Match(key); ok {
		return nil
	}
	cl, err := w.client(ctx)
	if err != nil {
		return err
	}
	rec, err := w.codec.Record(w.unmatched(key, sum, id))
	if err != nil {
		return err
	}
	rec.Topic = w.topic
	if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		return fmt.Errorf("ingest: producing the unmatched outcome of %s: %w", key, err)
	}
	w.outcomes[id] = struct{}{}
	return nil
}

// remember records a landed file in the view.
func (w *Watcher) remember(key, sum, source, version, id string) {
	w.landed[id] = struct{}{}
	if version != "" {
		w.versions[versionKey{source, key, version}] = id
	}
}

// client returns the producer client, connecting (and registering the
// codec's schemas, if needed) on first use.
func (w *Watcher) client(ctx context.Context) (*kgo.Client, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil, ErrClosed
	}
	if w.cl != nil {
		return w.cl, nil
	}
	if _, ok := w.codec.SchemaID(events.NameFileLanded); !ok {
		if err := w.codec.Register(ctx); err != nil {
			return nil, err
		}
	}
	cl, err := w.conn.Client(append([]kgo.Opt{
		kgo.RequiredAcks(kgo.AllISRAcks()), // the default, stated: idempotent, acks=all
		kgo.DefaultProduceTopic(w.topic),
		kgo.WithLogger(logging.Kafka(w.log)),
	}, w.cfg.clientOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("ingest: kafka client: %w", err)
	}
	w.cl = cl
	return cl, nil
}

// catchUp reads the topic through the log view up to its last stable
// offsets, and records every FileLanded and unmatched outcome in it.
// Undecodable records are skipped (the projection hosts dead-letter them).
// Called with scanMu held.
func (w *Watcher) catchUp(ctx context.Context) error {
	if _, err := w.client(ctx); err != nil {
		return err
	}
	poison := func(r *kgo.Record, err error) error {
		w.log.Warn("skipping an undecodable record", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "err", err)
		return nil
	}
	_, err := w.view.CatchUp(ctx, logview.Events(ctx, w.codec, w.apply, poison, events.NameFileLanded, events.NameFileFailed))
	if errors.Is(err, logview.ErrClosed) {
		return ErrClosed
	}
	if err != nil {
		return fmt.Errorf("ingest: reading %s: %w", w.topic, err)
	}
	return nil
}

// apply records a FileLanded or an unmatched outcome from the log.
func (w *Watcher) apply(_ *kgo.Record, ev events.Event) error {
	switch e := ev.(type) {
	case *events.FileLanded:
		id := events.DeriveID(e.Key, e.Checksum)
		source := events.SourceLocal
		if e.Bucket != nil {
			source = *e.Bucket
		}
		version := ""
		if e.Version != nil {
			version = *e.Version
		}
		w.remember(e.Key, e.Checksum, source, version, id)
	case *events.FileFailed:
		if e.Stage == StageMatch {
			w.outcomes[e.Envelope.CorrelationID] = struct{}{}
		}
	}
	return nil
}

// Close releases the Kafka clients; it is idempotent and safe to call while
// Run or Scan is in progress (they then return ErrClosed or a context
// error). It always returns nil.
func (w *Watcher) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	if w.cl != nil {
		w.cl.Close()
	}
	w.view.Close()
	return nil
}

// optional returns nil for "", else a pointer to s.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
