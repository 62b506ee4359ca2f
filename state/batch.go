package state

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2"
)

// Batch collects state changes in any number of scopes and the offsets they
// consumed, and writes them all at once with Commit: either every change and
// every offset of the batch is stored, or none is. Reads through a Scope see
// the batch's own uncommitted writes.
//
// The changes wait in memory, by key, until Commit writes them into one
// Pebble batch: a key read or written again in the same batch (a
// projection's counter, say, read and set by every event of a poll) costs a
// map lookup, not a Pebble read. Memory grows with the distinct keys a batch
// writes, so a batch is one poll's worth, as hosts use it.
//
// A Batch is not safe for concurrent use. Whoever calls NewBatch must call
// Commit or Close; a batch that is dropped without either is discarded (as
// on a crash before commit).
type Batch struct {
	s      *Store
	open   bool
	writes map[string]pending // full key → change
	err    error              // first error from a method that cannot return one
	buf    []byte             // scratch for keys
}

// pending is one change of a batch: a value, or a delete.
type pending struct {
	value   []byte
	deleted bool
}

// NewBatch returns an empty batch. The caller must Commit or Close it. On a
// closed store the batch is inert and its methods return ErrClosed. Safe for
// concurrent use.
func (s *Store) NewBatch() *Batch {
	if err := s.acquire(); err != nil {
		return &Batch{s: s, err: err}
	}
	defer s.release()
	return &Batch{s: s, open: true, writes: map[string]pending{}}
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
	if !b.open {
		return // Commit reports why
	}
	var v [offsetLen]byte
	putInt64(v[:], next)
	b.put(offsetKey(topic, partition), v[:], false)
}

// put records a change of full key k; it copies k and v.
func (b *Batch) put(k, v []byte, deleted bool) {
	if p, ok := b.writes[string(k)]; ok {
		// Reuse the old value's memory when it fits.
		b.writes[string(k)] = pending{value: append(p.value[:0], v...), deleted: deleted}
		return
	}
	b.writes[string(k)] = pending{value: bytes.Clone(v), deleted: deleted}
}

// Commit writes the batch's state changes and offsets atomically, and
// closes the batch, whether or not the write succeeds. With sync the write is
// durable on disk before Commit returns; without it, a machine crash (not a
// process crash) may lose the most recent commits, but never part of one.
func (b *Batch) Commit(sync bool) error {
	if !b.open {
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
	// The filter learns the keys before anyone can read them.
	b.s.filter.add(func(yield func([]byte) bool) {
		for k, p := range b.writes {
			if !p.deleted && k[0] == prefixState && !yield([]byte(k)) {
				return
			}
		}
	})
	// In key order: the memtable's skiplist inserts a run of ascending keys
	// from the previous key's position instead of searching from the top.
	keys := make([]string, 0, len(b.writes))
	size := 12 // Pebble's batch header
	for k, p := range b.writes {
		keys = append(keys, k)
		size += len(k) + len(p.value) + 2*binary.MaxVarintLen32 + 1
	}
	pb := b.s.db.NewBatchWithSize(size)
	defer pb.Close()
	slices.Sort(keys)
	for _, k := range keys {
		p := b.writes[k]
		var err error
		if p.deleted {
			err = pb.Delete([]byte(k), nil)
		} else {
			err = pb.Set([]byte(k), p.value, nil)
		}
		if err != nil {
			return fmt.Errorf("state: commit: %w", err)
		}
	}
	if err := pb.Commit(b.s.write(sync)); err != nil {
		return fmt.Errorf("state: commit: %w", err)
	}
	return nil
}

// Close discards the batch's uncommitted changes and releases it. It is
// idempotent, and a no-op after Commit.
func (b *Batch) Close() error {
	if !b.open {
		return nil
	}
	b.open, b.writes = false, nil
	if b.err == nil {
		b.err = ErrBatchClosed
	}
	return nil
}

// Empty reports whether the batch holds no changes (a closed batch holds
// none).
func (b *Batch) Empty() bool {
	return !b.open || len(b.writes) == 0
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
	if !sc.b.open {
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
	k := sc.key(key)
	if p, ok := sc.b.writes[string(k)]; ok {
		if p.deleted {
			return nil, false, nil
		}
		return bytes.Clone(p.value), true, nil
	}
	if !sc.b.s.filter.mayHave(k) {
		return nil, false, nil
	}
	v, closer, err := sc.b.s.db.Get(k)
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
	sc.b.put(sc.key(key), value, false)
	return nil
}

// Delete removes key in the batch; deleting a missing key is not an error.
func (sc *Scope) Delete(key []byte) error {
	if err := sc.usable(); err != nil {
		return err
	}
	sc.b.put(sc.key(key), nil, true)
	return nil
}
