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
// # Retries
//
// A file that ended UNMATCHED or FAILED is tried again when a
// FileRetryRequested for attempt n is on the log (`logmesh files retry`).
// The watcher reads the requests with the rest of the log, and after each
// scan acts on those for files of its own landing area whose latest
// attempt has ended in a failure and is earlier than n: if the file is
// still there with the same checksum, it matches the key again and
// produces a FileLanded of attempt n (event id events.AttemptID(file id,
// n), causation id the request's) with the feed and table that match now,
// or, if no feed matches, a FileFailed at stage StageMatch of attempt n;
// if the file is gone or changed, a FileFailed at stage "read" of attempt
// n. The FileFailed ids include the attempt. A run of a topic feed that
// the spool landed (under SpoolPrefix) lands again with the feed it landed
// with. A request for a file whose latest outcome is PROCESSED, or for an
// attempt that has already begun, is dropped; one for a file whose latest
// attempt has no outcome yet waits for it. What the log says decides: a restarted watcher, or a second one,
// reads the attempt's first event after the request and does not act
// again, and two watchers racing on one request produce events with the
// same id, of which consumers keep one.
//
// # Change detection and memory
//
// Each scan lists the landing area and hashes only objects whose size,
// modification time or version (ETag) changed since this process last saw
// them (a local file modified within two seconds of being hashed counts as
// changed until it is older, since some file systems have coarse
// timestamps). Hashing streams the object through SHA-256 with a 64 KiB buffer;
// files are never held in memory. A file whose size changes while it is
// hashed (still being written), or, in a local directory, whose
// modification time does (rewritten in place, even to the same size), is
// skipped and hashed again on a later scan: a torn read never lands.
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
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkaconn"
	"github.com/logmesh/logmesh/internal/logging"
	"github.com/logmesh/logmesh/internal/logview"
	"github.com/logmesh/logmesh/processors/proc"
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
	proc.Config
	interval time.Duration
	matcher  Matcher
	domain   string
}

// Option configures a Watcher.
type Option func(*config)

// Interval sets the time between two scans of Run. Default DefaultInterval;
// it must be positive.
func Interval(d time.Duration) Option { return func(c *config) { c.interval = d } }

// WithMatcher sets the feed matcher. Default nil: files land with no feed
// and no table, and no outcome is recorded for them. With a matcher, a file
// that matches no feed lands and at once gets a FileFailed at stage
// StageMatch (UNMATCHED in the audit), with the reason the matcher's
// Explainer gives, if it has one.
func WithMatcher(m Matcher) Option { return func(c *config) { c.matcher = m } }

// Domain sets the domain of the FileLanded events and so their topic,
// the domain's events topic. Default events.DomainRaw.
func Domain(name string) Option { return func(c *config) { c.domain = name } }

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

	scanMu   sync.Mutex                            // held for a whole Scan; guards the fields below
	landed   map[string]fileLog                    // file ids with a FileLanded on the log → what the log says of them
	outcomes map[string]struct{}                   // file ids with an unmatched outcome on the log
	retries  map[string]*events.FileRetryRequested // file id → its latest retry request not yet acted on
	spooled  map[string]feedTable                  // file id of a spooled run → the feed and table it landed with
	versions map[versionKey]string                 // (source, key, version) → file id, from the log
	seen     map[string]seenObject                 // key → the object as this process last hashed it
	view     *logview.View                         // reads the topic

	mu     sync.Mutex // guards cl and closed
	cl     *kgo.Client
	closed bool
}

// versionKey names one version of one object of one source.
type versionKey struct{ source, key, version string }

// feedTable is a feed and the table it loads into.
type feedTable struct{ feed, table string }

// fileLog is what the log says of a landed file, as far as retries need.
type fileLog struct {
	source    string // the landing area it landed from (Source.Name())
	attempt   int32  // its latest attempt begun: by a FileLanded, or by a FileFailed of the watcher
	fed       bool   // the latest attempt's FileLanded has a table (a feed matched)
	ended     bool   // the latest attempt has an outcome (FileProcessed or FileFailed)
	processed bool   // that outcome is a FileProcessed
}

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
// ids yet, the first scan registers them (codec.Register). It talks to
// Kafka through pc.Conn; pc.Clock stamps FileLanded.OccurredAt, and
// pc.Group is not used (the watcher consumes in no group).
func NewWatcher(pc proc.Config, src Source, codec *events.Codec, opts ...Option) (*Watcher, error) {
	if src == nil || codec == nil {
		return nil, errors.New("ingest: NewWatcher: nil Source or Codec")
	}
	cfg := config{Config: pc.WithDefaults(""), interval: DefaultInterval, domain: events.DomainRaw}
	for _, o := range opts {
		o(&cfg)
	}
	switch {
	case len(cfg.Conn.Brokers()) == 0:
		return nil, errors.New("ingest: NewWatcher: no brokers")
	case cfg.interval <= 0:
		return nil, fmt.Errorf("ingest: NewWatcher: Interval %v must be positive", cfg.interval)
	}
	if err := events.ValidDomain(cfg.domain); err != nil {
		return nil, fmt.Errorf("ingest: NewWatcher: %w", err)
	}
	log := cfg.Logger
	topic := cfg.Topics.Domain(cfg.domain)
	view, err := logview.New(cfg.Conn, events.TopicNames(topic), logview.Logger(log), logview.ClientOpts(cfg.ClientOpts...))
	if err != nil {
		return nil, fmt.Errorf("ingest: NewWatcher: %w", err)
	}
	w := &Watcher{
		src:      src,
		codec:    codec,
		conn:     cfg.Conn,
		cfg:      cfg,
		log:      log.With("source", src.Name()),
		topic:    topic,
		landed:   map[string]fileLog{},
		outcomes: map[string]struct{}{},
		retries:  map[string]*events.FileRetryRequested{},
		spooled:  map[string]feedTable{},
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
// yet; then it acts on the retry requests on the log that no watcher has
// acted on yet (see Retries in the package documentation). It returns how
// many files it landed, retried attempts included. Errors about single
// objects do not stop the scan; they are joined into the returned error,
// and the objects are retried by the next scan. An object that vanished
// before it could be read is not an error.
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
	listed := make(map[string]Object, len(objs))
	var errs []error
	for _, o := range objs {
		listed[o.Key] = o // for redrive, which retries spooled runs too
		if IsSpooled(o.Key) {
			continue // the spool lands what it writes there
		}
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
		if _, ok := listed[k]; !ok {
			delete(w.seen, k) // gone: forget it, keep memory bounded
		}
	}
	if !errors.Is(errors.Join(errs...), ErrClosed) {
		n, err := w.redrive(ctx, listed)
		landed += n
		if ctx.Err() != nil {
			return landed, ctx.Err()
		}
		if err != nil {
			errs = append(errs, err)
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
	sum, n, mod, err := w.hash(ctx, o.Key)
	if errors.Is(err, fs.ErrNotExist) {
		w.log.Debug("file vanished before it was read", "file", o.Key)
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if n != o.Size || !mod.IsZero() && !mod.Equal(o.ModTime) {
		w.log.Debug("file changed while it was read; retrying later", "file", o.Key, "listed", o.Size, "read", n,
			"listed_mtime", o.ModTime, "mtime", mod)
		return false, nil
	}
	id := events.DeriveID(o.Key, sum)
	if fl, ok := w.landed[id]; ok {
		// Only a first landing without a feed and without an outcome
		// lacks one: retried attempts get theirs from redrive, and a
		// file a feed took gets its outcome from the loader.
		if fl.attempt == 1 && !fl.fed && !fl.ended {
			if err := w.recordUnmatched(ctx, o.Key, sum, id); err != nil {
				return false, err
			}
		}
		w.seen[o.Key] = now
		return false, nil
	}
	fed, err := w.produce(ctx, o, sum, id)
	if err != nil {
		return false, err
	}
	w.remember(o.Key, sum, w.src.Name(), o.Version, id, 1, fed)
	w.seen[o.Key] = now
	if fed {
		w.cfg.Metrics.FileRecorded("matched")
	} else {
		w.cfg.Metrics.FileRecorded("unmatched")
	}
	w.log.Info("file landed", "file", o.Key, "size", o.Size, "checksum", sum, "event_id", id)
	return true, nil
}

// redrive acts on the retry requests read from the log that no watcher has
// acted on: for each file of this landing area whose latest attempt ended
// in a failure and whose request asks for a later attempt n, it checks that
// the file is still there with its checksum (listed holds the listing of
// this scan), matches its key again and produces attempt n's FileLanded,
// or its FileFailed at stage StageMatch (no feed takes it) or "read" (the
// file is gone or changed). A request for a file whose latest outcome is
// PROCESSED, or for an attempt that has begun, is dropped; one for a file
// whose latest attempt has no outcome yet waits for it. It returns how
// many attempts it landed.
func (w *Watcher) redrive(ctx context.Context, listed map[string]Object) (int, error) {
	if len(w.retries) == 0 {
		return 0, nil
	}
	ids := slices.Sorted(maps.Keys(w.retries))
	var errs []error
	landed := 0
	for _, id := range ids {
		req := w.retries[id]
		n := events.Attempt(req.Attempt)
		fl, ok := w.landed[id]
		switch {
		case !ok || fl.source != w.src.Name():
			// Not landed from this landing area: another watcher's.
			delete(w.retries, id)
			continue
		case n <= fl.attempt:
			delete(w.retries, id) // acted on already, by this or another watcher
			continue
		case fl.ended && fl.processed:
			w.log.Info("not retrying a file already processed", "file", req.FileKey, "attempt", fl.attempt, "requested", n)
			delete(w.retries, id)
			continue
		case !fl.ended:
			continue // its latest attempt is still in flight: its outcome decides
		}
		ok, err := w.retry(ctx, req, id, n, listed)
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
	return landed, errors.Join(errs...)
}

// retry begins attempt n of the file id that req asks to retry: it
// produces the attempt's FileLanded (true) or FileFailed (false), or
// nothing and an error that the next scan retries (the file is being
// written, the store failed).
func (w *Watcher) retry(ctx context.Context, req *events.FileRetryRequested, id string, n int32, listed map[string]Object) (bool, error) {
	key, want := req.FileKey, req.FileChecksum
	fail := func(reason string) (bool, error) {
		ff := w.failed(key, want, id, n, req.Envelope.EventID, "read", reason)
		return false, w.begin(ctx, ff, id, n, false)
	}
	o, ok := listed[key]
	if !ok {
		return fail(fmt.Sprintf("the file %s is no longer in the landing area %s; land it again to load it", key, w.src.Name()))
	}
	sum, size, mod, err := w.hash(ctx, key)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fail(fmt.Sprintf("the file %s is no longer in the landing area %s; land it again to load it", key, w.src.Name()))
	case err != nil:
		return false, err
	case size != o.Size || !mod.IsZero() && !mod.Equal(o.ModTime):
		w.log.Debug("file changed while it was read; retrying later", "file", key, "listed", o.Size, "read", size)
		return false, nil
	case sum != want:
		return fail(fmt.Sprintf("the file %s changed: its content has checksum %s now, not %s; the new content lands as a new file", key, sum, want))
	}
	ev := Landed(w.src, o, sum, w.cfg.domain, w.cfg.Clock())
	ev.Envelope.EventID, ev.Envelope.CausationID, ev.Attempt = events.AttemptID(id, n), req.Envelope.EventID, n
	if ft, ok := w.spooled[id]; ok {
		// A run of a topic feed: no key pattern takes it; its feed is
		// the one the spool landed it with.
		ev.Feed, ev.Table = optional(ft.feed), optional(ft.table)
	} else if w.cfg.matcher != nil {
		feed, table, ok := w.cfg.matcher.Match(key)
		if !ok {
			ff := w.unmatched(key, sum, id, n, req.Envelope.EventID)
			w.log.Warn("no feed matches the retried file", "file", key, "attempt", n, "reason", ff.Reason)
			return false, w.begin(ctx, ff, id, n, false)
		}
		ev.Feed, ev.Table = optional(feed), optional(table)
	}
	if err := w.begin(ctx, ev, id, n, ev.Table != nil); err != nil {
		return false, err
	}
	w.log.Info("file landed again", "file", key, "attempt", n, "table", deref(ev.Table), "event_id", ev.Envelope.EventID)
	return true, nil
}

// begin produces ev, the first event of attempt n of file id, and records
// the attempt as begun (landed, fed if ev is a FileLanded with a table, or
// ended if ev is a FileFailed).
func (w *Watcher) begin(ctx context.Context, ev events.Event, id string, n int32, fed bool) error {
	cl, err := w.client(ctx)
	if err != nil {
		return err
	}
	if err := w.send(ctx, cl, ev); err != nil {
		return fmt.Errorf("ingest: producing %s of attempt %d of %s to %s: %w", ev.Name(), n, id, w.topic, err)
	}
	fl := w.landed[id]
	_, failed := ev.(*events.FileFailed)
	fl.attempt, fl.fed, fl.ended, fl.processed = n, fed, failed, false
	w.landed[id] = fl
	delete(w.retries, id)
	return nil
}

// hash streams the object through SHA-256 and returns the lower-case hex
// digest, the bytes read and, if the reader can tell (a local file: an
// *os.File), the modification time once read; else a zero time.
func (w *Watcher) hash(ctx context.Context, key string) (string, int64, time.Time, error) {
	r, err := w.src.Open(ctx, key)
	if err != nil {
		return "", 0, time.Time{}, err
	}
	defer r.Close()
	h := sha256.New()
	n, err := copyCtx(ctx, h, r)
	if err != nil {
		return "", n, time.Time{}, fmt.Errorf("ingest: reading %s: %w", key, err)
	}
	var mod time.Time
	if st, ok := r.(interface{ Stat() (fs.FileInfo, error) }); ok {
		if fi, err := st.Stat(); err == nil {
			mod = fi.ModTime()
		}
	}
	return hex.EncodeToString(h.Sum(nil)), n, mod, nil
}

// produce writes the FileLanded event of o, and the unmatched outcome of a
// file no feed takes, and waits for all in-sync replicas to have them. It
// reports whether a feed took the file.
func (w *Watcher) produce(ctx context.Context, o Object, sum, id string) (fed bool, err error) {
	cl, err := w.client(ctx)
	if err != nil {
		return false, err
	}
	ev := Landed(w.src, o, sum, w.cfg.domain, w.cfg.Clock())
	evs := []events.Event{ev}
	if w.cfg.matcher != nil {
		if feed, table, ok := w.cfg.matcher.Match(o.Key); ok {
			ev.Feed, ev.Table = optional(feed), optional(table)
		} else {
			evs = append(evs, w.unmatched(o.Key, sum, id, 1, id))
		}
	}
	// One key, one partition, in order: the outcome never precedes the
	// landing.
	if err := w.send(ctx, cl, evs...); err != nil {
		return false, fmt.Errorf("ingest: producing FileLanded for %s to %s: %w", o.Key, w.topic, err)
	}
	if len(evs) > 1 {
		w.outcomes[id] = struct{}{}
		w.log.Warn("no feed matches the landed file", "file", o.Key, "reason", evs[1].(*events.FileFailed).Reason)
	}
	return ev.Table != nil, nil
}

// send encodes evs and produces them, in order, to the watcher's topic,
// each keyed by its correlation id (the file id), and waits for all
// in-sync replicas to have them.
func (w *Watcher) send(ctx context.Context, cl *kgo.Client, evs ...events.Event) error {
	recs := make([]*kgo.Record, 0, len(evs))
	for _, e := range evs {
		rec, err := w.codec.Record(e)
		if err != nil {
			return fmt.Errorf("ingest: encode %s: %w", e.Name(), err)
		}
		rec.Topic = w.topic
		recs = append(recs, rec)
	}
	return cl.ProduceSync(ctx, recs...).FirstErr()
}

// Landed is the FileLanded of object o of src, whose content has SHA-256
// sum, recorded by domain at at, as the file's first attempt: its event id
// and correlation id are the file id, events.DeriveID(o.Key, sum). Feed
// and Table are left for the caller.
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
		Attempt:  1,
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

// unmatched is the FileFailed (stage StageMatch) of attempt n of a file no
// feed takes, caused by the event cause (its landing, or a retry request).
func (w *Watcher) unmatched(key, sum, id string, n int32, cause string) *events.FileFailed {
	reason := fmt.Sprintf("no feed matches key %q", key)
	if ex, ok := w.cfg.matcher.(Explainer); ok {
		reason = ex.Unmatched(key)
	}
	return w.failed(key, sum, id, n, cause, StageMatch, reason)
}

// failed is the FileFailed at stage of attempt n of a file, caused by the
// event cause. Its id is derived from the file id, the stage and (for a
// retry) the attempt: events.DeriveID(events.AttemptParts(n,
// "file-failed", id, stage)...), so attempt 1's is the id it always had
// and a retry's is not a duplicate of it.
func (w *Watcher) failed(key, sum, id string, n int32, cause, stage, reason string) *events.FileFailed {
	return &events.FileFailed{
		Envelope: events.Envelope{
			EventID:       events.DeriveID(events.AttemptParts(n, "file-failed", id, stage)...),
			OccurredAt:    w.cfg.Clock().UTC(),
			Domain:        w.cfg.domain,
			CorrelationID: id,
			CausationID:   cause,
		},
		FileKey:      key,
		FileChecksum: &sum,
		Stage:        stage,
		Reason:       reason,
		Attempt:      events.Attempt(n),
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
	rec, err := w.codec.Record(w.unmatched(key, sum, id, 1, id))
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

// remember records the landing of attempt n of a file in the view, fed if
// a feed took it. A landing of the latest attempt again (two watchers
// raced) changes nothing.
func (w *Watcher) remember(key, sum, source, version, id string, n int32, fed bool) {
	n = events.Attempt(n)
	fl, ok := w.landed[id]
	if !ok {
		fl.source = source
	}
	if n > fl.attempt {
		fl.attempt, fl.fed, fl.ended, fl.processed = n, fed, false, false
	}
	w.landed[id] = fl
	if version != "" {
		w.versions[versionKey{source, key, version}] = id
	}
}

// outcome records an outcome of attempt n of a landed file in the view:
// the later outcome of an attempt wins, as in the audit, and an outcome of
// a later attempt than its landing's begins that attempt (the watcher's
// FileFailed of a retry that did not land).
func (w *Watcher) outcome(id string, n int32, processed bool) {
	fl, ok := w.landed[id]
	if n = events.Attempt(n); !ok || n < fl.attempt {
		return
	}
	fl.attempt, fl.ended, fl.processed = n, true, processed
	w.landed[id] = fl
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
	}, w.cfg.ClientOpts...)...)
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
	_, err := w.view.CatchUp(ctx, logview.Events(ctx, w.codec, w.apply, poison, events.NameFileLanded, events.NameFileFailed,
		events.NameFileProcessed, events.NameFileRetryRequested))
	if errors.Is(err, logview.ErrClosed) {
		return ErrClosed
	}
	if err != nil {
		return fmt.Errorf("ingest: reading %s: %w", w.topic, err)
	}
	return nil
}

// apply records, from the log, a FileLanded, an outcome (FileFailed,
// FileProcessed) or a retry request.
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
		w.remember(e.Key, e.Checksum, source, version, id, e.Attempt, e.Table != nil)
		if IsSpooled(e.Key) && e.Feed != nil && e.Table != nil {
			w.spooled[id] = feedTable{*e.Feed, *e.Table}
		}
	case *events.FileFailed:
		if e.Stage == StageMatch {
			w.outcomes[e.Envelope.CorrelationID] = struct{}{}
		}
		w.outcome(e.Envelope.CorrelationID, e.Attempt, false)
	case *events.FileProcessed:
		w.outcome(e.Envelope.CorrelationID, e.Attempt, true)
	case *events.FileRetryRequested:
		id := events.DeriveID(e.FileKey, e.FileChecksum)
		if prev, ok := w.retries[id]; !ok || events.Attempt(e.Attempt) > events.Attempt(prev.Attempt) {
			w.retries[id] = e
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

// deref returns *p, or "" for nil.
func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// optional returns nil for "", else a pointer to s.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
