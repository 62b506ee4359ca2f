package state

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// Batch collects state changes in any number of scopes and the offsets they
// consumed, and writes them all at once with Commit: either every change and
// every offset of the batch is stored, or none is. Reads through a Scope see
// the batch's own uncommitted writes.
//
// A Batch is not safe for concurrent use. Whoever calls NewBatch must call
// Commit or Close; a batch that is dropped without either is discarded (as
// on a crash before commit) but holds its memory until collected.
type Batch struct {
	s   *Store
	b   *pebble.Batch // nil once committed or closed
	err error         // first error from a method that cannot return one
	buf []byte        // scratch for keys
}

// NewBatch returns an empty batch. The caller must Commit or Close it. On a
// closed store the batch is inert and its methods return ErrClosed. Safe for
// concurrent use.
func (s *Store) NewBatch() *Batch {
	if err := s.acquire(); err != nil {
		return &Batch{s: s, err: err}
	}
	defer s.release()
	return &Batch{s: s, b: s.db.NewIndexedBatch()}
}

// Scope returns the view of scope (topic, partition) through the batch. The
// Scope is valid until the batch is committed or closed, and like the batch
// is not safe for concurrent use.
func (b *Batch) Scope(topic string, partition int32) *Scope {
	return &Scope{b: b, prefix: stateScopePrefix(topic, partition), tp: TopicPartition{topic, partition}}
}

// SetOffset records next as the next offset to consume from (topic,
// partition); it is stored when the batch commits. An error (only possible
// if the batch is unusable) is reported by Commit.
func (b *Batch) SetOffset(topic string, partition int32, next int64) {
	if b.b == nil {
		return // Commit reports why
	}
	var v [offsetLen]byte
	putInt64(v[:], next)
	if err := b.b.Set(offsetKey(topic, partition), v[:], nil); err != nil && b.err == nil {
		b.err = fmt.Errorf("state: set offset of %s/%d: %w", topic, partition, err)
	}
}

// Commit writes the batch's state changes and offsets atomically, and
// closes the batch, whether or not the write succeeds. With sync the write is
// durable on disk before Commit returns; without it, a machine crash (not a
// process crash) may lose the most recent commits, but never part of one.
func (b *Batch) Commit(sync bool) error {
	if b.b == nil {
		if b.err != nil {
			return b.err
		}
		return ErrBatchClosed
	}
	defer b.Close()
	if b.err != nil {
		return b.err
	}
	if err := b.s.acquire(); err != nil {
		return err
	}
	defer b.s.release()
	opts := pebble.NoSync
	if sync {
		opts = pebble.Sync
	}
	if err := b.b.Commit(opts); err != nil {
		return fmt.Errorf("state: commit: %w", err)
	}
	return nil
}

// Close discards the batch's uncommitted changes and releases it. It is
// idempotent, and a no-op after Commit.
func (b *Batch) Close() error {
	if b.b == nil {
		return nil
	}
	pb := b.b
	b.b = nil
	if b.err == nil {
		b.err = ErrBatchClosed
	}
	if err := pb.Close(); err != nil {
		return fmt.Errorf("state: close batch: %w", err)
	}
	return nil
}

// Empty reports whether the batch holds no changes (a closed batch holds
// none).
func (b *Batch) Empty() bool {
	return b.b == nil || b.b.Empty()
}

// Scope is the state of one (topic, partition) seen through a Batch: writes
// go into the batch, and reads see the batch's own writes over the committed
// state. It satisfies the projections' Store interface. A Scope is not safe
// for concurrent use, and is valid until its batch is committed or closed,
// after which its methods return ErrBatchClosed.
type Scope struct {
	b      *Batch
	prefix []byte // stateScopePrefix of the scope
	tp     TopicPartition
}

func (sc *Scope) key(k []byte) []byte {
	sc.b.buf = append(append(sc.b.buf[:0], sc.prefix...), k...)
	return sc.b.buf
}

// usable reports why the scope's batch cannot be used, or nil.
func (sc *Scope) usable() error {
	if sc.b.b == nil {
		return sc.b.err
	}
	return nil
}

// Get returns a copy of the value of key, as the batch would leave it; ok is
// false if there is none.
func (sc *Scope) Get(key []byte) (value []byte, ok bool, err error) {
	if err := sc.usable(); err != nil {
		return nil, false, err
	}
	if err := sc.b.s.acquire(); err != nil {
		return nil, false, err
	}
	defer sc.b.s.release()
	v, closer, err := sc.b.b.Get(sc.key(key))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("state: get %q in %s: %w", key, sc.tp, err)
	}
	defer closer.Close()
	return bytes.Clone(v), true, nil
}

// Set stores value under key in the batch. Both slices are copied.
func (sc *Scope) Set(key, value []byte) error {
	if err := sc.usable(); err != nil {
		return err
	}
	if err := sc.b.b.Set(sc.key(key), value, nil); err != nil {
		return fmt.Errorf("state: set %q in %s: %w", key, sc.tp, err)
	}
	return nil
}

// Delete removes key in the batch; deleting a missing key is not an error.
func (sc *Scope) Delete(key []byte) error {
	if err := sc.usable(); err != nil {
		return err
	}
	if err := sc.b.b.Delete(sc.key(key), nil); err != nil {
		return fmt.Errorf("state: delete %q in %s: %w", key, sc.tp, err)
	}
	return nil
}
