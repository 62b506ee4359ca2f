// Package state is the local store of a logmesh processor: a Pebble v2
// database in which a processor's projection state and the Kafka offsets it
// consumed are written in one atomic batch, so that after a crash the state
// and the position in the log always agree. Nothing is applied twice and
// nothing is skipped.
//
// State is scoped by (topic, partition): a host applies the records of
// partition p of topic t into the scope (t, p) only. State for a partition
// therefore depends only on that partition's records, and when a
// consumer-group rebalance moves a partition to another host, that host
// catches the scope up from its own stored offset by replaying the log.
//
// # Using it
//
// A processor opens one Store per data directory, and for each fetch it
// creates a Batch, applies each record through the Scope of the record's
// partition (a Scope satisfies the projections' Store interface and reads its
// own uncommitted writes), records the next offset to consume with
// SetOffset, and commits. On assignment it resumes each partition from
// Offset. Digest and DigestAll make replays checkable (rebuild in a fresh
// store, compare digests); Snapshot and Restore copy a whole store.
//
// # Key layout (format version 1)
//
// Every key starts with a one-byte key-space prefix:
//
//	m format                                 store format version, uint32 BE
//	o <scope>                                next offset to consume, int64 BE
//	s <scope> <user key>                     state value
//
// where <scope> is the topic with every 0x00 byte written as 0x00 0xFF,
// then the terminator 0x00 0x01, then the partition as a 4-byte big-endian
// integer with its sign bit flipped. The escaping makes any topic name safe
// (a topic that is a prefix of another, or one that contains 0x00, cannot
// collide), no scope's encoding is a prefix of another's, and keys sort by
// topic (bytewise), then partition (numerically), then user key (bytewise).
// Open writes the format marker into a new store and refuses a store whose
// marker is missing or holds another version.
//
// # Concurrency
//
// A Store is safe for concurrent use by multiple goroutines; a Batch and its
// Scopes are not. Committed reads (Get, Scan, ScanAll, Digest, Snapshot, ...)
// each see one consistent point in time. Close waits for calls in progress to
// return; it must therefore not be called from inside a Scan or ScanAll
// callback.
package state

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
)

var (
	// ErrClosed is returned by every method of a Store, Batch or Scope that
	// is used after the Store was closed.
	ErrClosed = errors.New("state: store closed")
	// ErrBatchClosed is returned by a Batch or Scope used after the batch was
	// committed or closed.
	ErrBatchClosed = errors.New("state: batch closed")
	// ErrUnsupportedFormat is returned by Open for a directory that holds a
	// Pebble database this package did not write, or wrote with another key
	// layout version.
	ErrUnsupportedFormat = errors.New("state: unsupported store format")
	// ErrCorrupt is returned when a stored key or value does not decode.
	ErrCorrupt = errors.New("state: corrupt store")
	// ErrCorruptSnapshot is returned by Restore for a stream that is not a
	// complete, intact snapshot. The store is left as it was.
	ErrCorruptSnapshot = errors.New("state: corrupt snapshot")
)

// Options configure Open. A nil *Options means all defaults. The zero value
// of each field is its default.
type Options struct {
	// FS is the filesystem the store lives on. Default: the OS filesystem.
	// Tests use vfs.NewMem().
	FS vfs.FS
	// Logger receives Pebble's messages and the store's own. Default: discard.
	Logger *slog.Logger
	// CacheSize is the size in bytes of Pebble's block cache. Default: DefaultCacheSize.
	CacheSize int64
	// MemTableSize is the size in bytes of one Pebble memtable, which also
	// bounds how much committed data may be lost with the WAL disabled and
	// how large a batch is before Pebble handles it out of line.
	// Default: DefaultMemTableSize.
	MemTableSize uint64
	// DisableWAL writes no write-ahead log, for a store rebuilt from
	// scratch by a replay (or one in memory): commits skip a copy of every
	// change, and a crash loses what was not flushed yet, never part of a
	// batch, so the store still holds consistent state and offsets and the
	// replay goes on from them. Flush makes everything durable.
	DisableWAL bool
}

// TopicPartition names a scope: the state and offset that belong to one
// partition of one topic. TopicPartition values are comparable and can be
// used as map keys.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// String returns "topic/partition", for logs and errors.
func (tp TopicPartition) String() string {
	return fmt.Sprintf("%s/%d", tp.Topic, tp.Partition)
}

// compare orders TopicPartitions by topic, then partition: the order of
// their encoded keys.
// Compare orders scopes by topic, then partition: -1, 0 or +1, for
// slices.SortFunc.
func (tp TopicPartition) Compare(o TopicPartition) int {
	if c := bytes.Compare([]byte(tp.Topic), []byte(o.Topic)); c != 0 {
		return c
	}
	switch {
	case tp.Partition < o.Partition:
		return -1
	case tp.Partition > o.Partition:
		return 1
	}
	return 0
}

// DefaultCacheSize is the block cache of a store whose Options leave
// CacheSize at zero.
const DefaultCacheSize = 64 << 20

// DefaultMemTableSize is the memtable of a store whose Options leave
// MemTableSize at zero: 64 MiB, not Pebble's 4 MiB, so that a host's batch
// of a poll (10,000 events, a few MB) goes into the memtable rather than
// being handled as a large batch of its own, and a replay flushes (and
// compacts) sixteen times less often. Only the pages written are resident.
const DefaultMemTableSize = 64 << 20

// Store is a Pebble database holding scoped state and consumed offsets.
//
// A Store is safe for concurrent use. Whoever opens a Store must Close it;
// Batches made from it must be committed or closed before (a batch that is
// merely dropped is discarded, like a crash before commit).
type Store struct {
	db     *pebble.DB
	logger *slog.Logger
	dir    string
	filter *keyFilter // the state keys ever set, if the store was opened empty
	noWAL  bool       // Options.DisableWAL: a write cannot be synced

	mu       sync.Mutex
	idle     sync.Cond // signalled when inflight drops to 0 after closed
	closed   bool
	inflight int
	closeErr error
}

// Open opens the store in dir, creating it if needed. The returned Store must
// be closed by the caller. Open refuses (with ErrUnsupportedFormat) a
// directory holding a database of another format.
func Open(dir string, opts *Options) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.CacheSize < 0 {
		return nil, fmt.Errorf("state: open %s: negative cache size %d", dir, o.CacheSize)
	}
	if o.MemTableSize == 0 {
		o.MemTableSize = DefaultMemTableSize
	}
	po := &pebble.Options{
		FS:                 o.FS,
		Logger:             pebbleLogger{o.Logger},
		FormatMajorVersion: pebble.FormatNewest,
		MemTableSize:       o.MemTableSize,
		DisableWAL:         o.DisableWAL,
	}
	if o.DisableWAL {
		// A rebuild's store: let L0 grow instead of stalling writes while
		// compactions catch up; its reads of keys not written yet do not
		// reach the sstables (the key filter), so read amplification costs
		// little until the compactions after the rebuild.
		po.L0CompactionThreshold, po.L0StopWritesThreshold = 8, 64
		po.MemTableStopWritesThreshold = 4
	}
	if o.CacheSize == 0 {
		o.CacheSize = DefaultCacheSize
	}
	// Projections read a key per event, mostly keys that do not exist yet:
	// bloom filters let those misses skip the sstables, and larger index
	// blocks keep big tables to one index level. See decision 0004.
	for i := range po.Levels {
		po.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
		po.Levels[i].IndexBlockSize = 256 << 10
	}
	if o.CacheSize > 0 {
		c := pebble.NewCache(o.CacheSize)
		defer c.Unref() // the DB holds its own reference
		po.Cache = c
	}
	db, err := pebble.Open(dir, po)
	if err != nil {
		return nil, fmt.Errorf("state: open %s: %w", dir, err)
	}
	if err := checkFormat(db, syncOpt(!o.DisableWAL)); err != nil {
		return nil, errors.Join(fmt.Errorf("state: open %s: %w", dir, err), db.Close())
	}
	fresh, err := noState(db)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("state: open %s: %w", dir, err), db.Close())
	}
	s := &Store{db: db, logger: o.Logger, dir: dir, filter: newKeyFilter(fresh), noWAL: o.DisableWAL}
	s.idle.L = &s.mu
	s.logger.Debug("state store opened", "dir", dir)
	return s, nil
}

// Flush writes the memtables to disk and waits: with DisableWAL, what is
// committed is durable once Flush returns.
func (s *Store) Flush() error {
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.release()
	if err := s.db.Flush(); err != nil {
		return fmt.Errorf("state: flush: %w", err)
	}
	return nil
}

// syncOpt is Pebble's write option for a write that is synced or not.
func syncOpt(sync bool) *pebble.WriteOptions {
	if sync {
		return pebble.Sync
	}
	return pebble.NoSync
}

// write is the write option of the store's durable writes: synced, unless
// there is no WAL to sync (then Flush makes them durable).
func (s *Store) write(sync bool) *pebble.WriteOptions { return syncOpt(sync && !s.noWAL) }

// noState reports whether db holds no state key.
func noState(db *pebble.DB) (bool, error) {
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixState}, UpperBound: []byte{prefixState + 1}})
	if err != nil {
		return false, err
	}
	empty := !it.First()
	return empty, errors.Join(it.Error(), it.Close())
}

// checkFormat verifies the format marker, writing it into an empty database.
func checkFormat(db *pebble.DB, sync *pebble.WriteOptions) error {
	v, closer, err := db.Get(metaFormatKey)
	switch {
	case err == nil:
		defer closer.Close()
		if len(v) != 4 {
			return fmt.Errorf("%w: format marker of %d bytes", ErrUnsupportedFormat, len(v))
		}
		if got := binary.BigEndian.Uint32(v); got != formatVersion {
			return fmt.Errorf("%w: version %d, want %d", ErrUnsupportedFormat, got, formatVersion)
		}
		return nil
	case !errors.Is(err, pebble.ErrNotFound):
		return fmt.Errorf("read format marker: %w", err)
	}
	it, err := db.NewIter(nil)
	if err != nil {
		return err
	}
	empty := !it.First()
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return err
	}
	if !empty {
		return fmt.Errorf("%w: no format marker in a non-empty database", ErrUnsupportedFormat)
	}
	return db.Set(metaFormatKey, binary.BigEndian.AppendUint32(nil, formatVersion), sync)
}

// acquire registers a call in progress; it fails once the store is closed.
// Every successful acquire must be paired with release.
func (s *Store) acquire() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.inflight++
	return nil
}

func (s *Store) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inflight--
	if s.closed && s.inflight == 0 {
		s.idle.Broadcast()
	}
}

// Close waits for calls in progress, then closes the database. It is
// idempotent: later calls return the first call's result. Calls that start
// after Close return ErrClosed. Close must not be called from inside a Scan
// or ScanAll callback (it would wait for that scan forever).
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		for s.inflight > 0 || s.db != nil {
			s.idle.Wait() // another Close is in progress
		}
		err := s.closeErr
		s.mu.Unlock()
		return err
	}
	s.closed = true
	for s.inflight > 0 {
		s.idle.Wait()
	}
	db := s.db
	s.mu.Unlock()

	err := db.Close()
	if err != nil {
		err = fmt.Errorf("state: close %s: %w", s.dir, err)
	}
	s.mu.Lock()
	s.closeErr, s.db = err, nil
	s.idle.Broadcast()
	s.mu.Unlock()
	s.logger.Debug("state store closed", "dir", s.dir)
	return err
}

// Offset returns the next offset to consume from (topic, partition), as last
// committed by Batch.SetOffset. ok is false if none was committed. Safe for
// concurrent use.
func (s *Store) Offset(topic string, partition int32) (next int64, ok bool, err error) {
	if err := s.acquire(); err != nil {
		return 0, false, err
	}
	defer s.release()
	v, closer, err := s.db.Get(offsetKey(topic, partition))
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("state: offset of %s/%d: %w", topic, partition, err)
	}
	defer closer.Close()
	if len(v) != offsetLen {
		return 0, false, fmt.Errorf("%w: offset of %s/%d has %d bytes", ErrCorrupt, topic, partition, len(v))
	}
	return int64(binary.BigEndian.Uint64(v)), true, nil
}

// Offsets returns the committed next offset of every scope that has one.
// The map is the caller's. Safe for concurrent use.
func (s *Store) Offsets() (map[TopicPartition]int64, error) {
	if err := s.acquire(); err != nil {
		return nil, err
	}
	defer s.release()
	it, err := s.db.NewIter(&pebble.IterOptions{
		LowerBound: []byte{prefixOffset},
		UpperBound: []byte{prefixOffset + 1},
	})
	if err != nil {
		return nil, fmt.Errorf("state: offsets: %w", err)
	}
	out := make(map[TopicPartition]int64)
	for ok := it.First(); ok; ok = it.Next() {
		tp, off, err := decodeOffset(it.Key(), it.Value())
		if err != nil {
			return nil, errors.Join(fmt.Errorf("state: offsets: %w", err), it.Close())
		}
		out[tp] = off
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return nil, fmt.Errorf("state: offsets: %w", err)
	}
	return out, nil
}

// decodeOffset decodes an offset key (with its prefix byte) and value.
func decodeOffset(k, v []byte) (TopicPartition, int64, error) {
	tp, n, err := decodeScope(k[1:])
	if err != nil {
		return tp, 0, fmt.Errorf("offset key %q: %w", k, err)
	}
	if n != len(k)-1 {
		return tp, 0, fmt.Errorf("%w: offset key %q has trailing bytes", ErrCorrupt, k)
	}
	if len(v) != offsetLen {
		return tp, 0, fmt.Errorf("%w: offset of %s has %d bytes", ErrCorrupt, tp, len(v))
	}
	return tp, int64(binary.BigEndian.Uint64(v)), nil
}

// Get returns a copy of the committed value of key in scope (topic,
// partition); ok is false if there is none. Safe for concurrent use.
func (s *Store) Get(topic string, partition int32, key []byte) ([]byte, bool, error) {
	if err := s.acquire(); err != nil {
		return nil, false, err
	}
	defer s.release()
	k := stateKey(nil, topic, partition, key)
	if !s.filter.mayHave(k) {
		return nil, false, nil
	}
	v, closer, err := s.db.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("state: get %q in %s/%d: %w", key, topic, partition, err)
	}
	defer closer.Close()
	return bytes.Clone(v), true, nil
}

// Scan calls fn for each committed key with the given prefix in scope
// (topic, partition), in key order, from one consistent view. key and value
// are valid only until fn returns. An error from fn stops the scan and is
// returned as is. Safe for concurrent use; fn must not call Close.
func (s *Store) Scan(topic string, partition int32, prefix []byte, fn func(key, value []byte) error) error {
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.release()
	lower := stateKey(nil, topic, partition, prefix)
	scopeLen := len(lower) - len(prefix)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixSuccessor(lower)})
	if err != nil {
		return fmt.Errorf("state: scan %s/%d: %w", topic, partition, err)
	}
	for ok := it.First(); ok; ok = it.Next() {
		if err := fn(it.Key()[scopeLen:], it.Value()); err != nil {
			return errors.Join(err, it.Close())
		}
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return fmt.Errorf("state: scan %s/%d: %w", topic, partition, err)
	}
	return nil
}

// ScanAll calls fn for each committed key with the given prefix in every
// scope, ordered by topic, partition, then key, from one consistent view. It
// serves queries that merge partitions. key and value are valid only until
// fn returns. An error from fn stops the scan and is returned as is. Safe for
// concurrent use; fn must not call Close.
func (s *Store) ScanAll(prefix []byte, fn func(tp TopicPartition, key, value []byte) error) error {
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.release()
	return s.scanAll(s.db, prefix, fn)
}

// reader is what the committed scans read from: the DB or a snapshot of it.
type reader interface {
	NewIter(*pebble.IterOptions) (*pebble.Iterator, error)
}

func (s *Store) scanAll(r reader, prefix []byte, fn func(tp TopicPartition, key, value []byte) error) (err error) {
	it, err := r.NewIter(&pebble.IterOptions{
		LowerBound: []byte{prefixState},
		UpperBound: []byte{prefixState + 1},
	})
	if err != nil {
		return fmt.Errorf("state: scan all: %w", err)
	}
	defer func() {
		if cerr := it.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("state: scan all: %w", cerr)
		}
	}()
	var (
		scope   []byte // encoded scope of the current key, with the prefix byte
		tp      TopicPartition
		seekBuf []byte
		ok      = it.First()
	)
	for ok {
		k := it.Key()
		if scope == nil || !bytes.HasPrefix(k, scope) {
			var n int
			tp, n, err = decodeScope(k[1:])
			if err != nil {
				return fmt.Errorf("state: scan all: key %q: %w", k, err)
			}
			scope = append(scope[:0], k[:1+n]...)
		}
		user := k[len(scope):]
		switch {
		case bytes.HasPrefix(user, prefix):
			if err := fn(tp, user, it.Value()); err != nil {
				return err
			}
			ok = it.Next()
		case bytes.Compare(user, prefix) < 0:
			// Before the prefix: jump to it within this scope.
			seekBuf = append(append(seekBuf[:0], scope...), prefix...)
			ok = it.SeekGE(seekBuf)
		default:
			// Past the prefix: jump to the next scope.
			next := prefixSuccessor(scope)
			if next == nil {
				ok = false
				break
			}
			ok = it.SeekGE(next)
		}
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("state: scan all: %w", err)
	}
	return nil
}

// Partitions returns the scopes that have state or an offset, sorted by
// topic, then partition. Safe for concurrent use.
func (s *Store) Partitions() ([]TopicPartition, error) {
	if err := s.acquire(); err != nil {
		return nil, err
	}
	defer s.release()
	snap := s.db.NewSnapshot()
	defer snap.Close()
	seen := make(map[TopicPartition]struct{})
	for _, p := range []byte{prefixOffset, prefixState} {
		if err := scopes(snap, p, func(tp TopicPartition) { seen[tp] = struct{}{} }); err != nil {
			return nil, fmt.Errorf("state: partitions: %w", err)
		}
	}
	out := make([]TopicPartition, 0, len(seen))
	for tp := range seen {
		out = append(out, tp)
	}
	slices.SortFunc(out, TopicPartition.Compare)
	return out, nil
}

// scopes calls fn once for each scope that has a key in key space p, seeking
// past each scope's keys rather than reading them.
func scopes(r reader, p byte, fn func(TopicPartition)) (err error) {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: []byte{p}, UpperBound: []byte{p + 1}})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, it.Close()) }()
	for ok := it.First(); ok; {
		k := it.Key()
		tp, n, err := decodeScope(k[1:])
		if err != nil {
			return fmt.Errorf("key %q: %w", k, err)
		}
		fn(tp)
		next := prefixSuccessor(k[:1+n])
		if next == nil {
			break
		}
		ok = it.SeekGE(next)
	}
	return it.Error()
}

// ResetScope drops the state and the offset of scope (topic, partition) in
// one synced atomic write, leaving other scopes alone; a rebuild then
// replays the partition from offset 0. Safe for concurrent use, but a batch
// committed concurrently for the same scope may land before or after it.
func (s *Store) ResetScope(topic string, partition int32) error {
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.release()
	b := s.db.NewBatch()
	defer b.Close()
	lower := stateScopePrefix(topic, partition)
	if err := b.DeleteRange(lower, prefixSuccessor(lower), nil); err != nil {
		return fmt.Errorf("state: reset %s/%d: %w", topic, partition, err)
	}
	if err := b.Delete(offsetKey(topic, partition), nil); err != nil {
		return fmt.Errorf("state: reset %s/%d: %w", topic, partition, err)
	}
	if err := b.Commit(s.write(true)); err != nil {
		return fmt.Errorf("state: reset %s/%d: %w", topic, partition, err)
	}
	return nil
}

// pebbleLogger hands Pebble's messages to a slog.Logger.
type pebbleLogger struct{ l *slog.Logger }

// Infof logs at debug level: Pebble's informational messages (WAL
// recovery, compactions) are for diagnosing Pebble, not for operators.
func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug(fmt.Sprintf(format, args...), "component", "pebble")
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...), "component", "pebble")
}

// Fatalf is called by Pebble only when it cannot continue (for example on
// corruption it detects in the background) and must not return. Pebble's own
// default exits the process; this logs and panics instead, so that a host can
// at least report the failure before it dies.
func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.l.Error(msg, "component", "pebble", "fatal", true)
	panic("state: pebble: " + msg)
}
