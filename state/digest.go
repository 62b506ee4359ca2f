package state

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"

	"github.com/cockroachdb/pebble/v2"
)

// Digests are SHA-256 over a header naming the digest kind and version,
// then, for each state key in key order, length-prefixed fields (each length
// an unsigned varint). Digest hashes key and value of one scope; DigestAll
// hashes topic, partition (4 bytes big-endian, two's complement), key and
// value of every scope. Offsets and the store's metadata are never hashed,
// so a store rebuilt by replay to the same contents has the same digest
// whatever its position in the log.
const (
	digestScopeHeader = "logmesh/state digest scope v1\x00"
	digestAllHeader   = "logmesh/state digest all v1\x00"
)

// Digest returns the SHA-256 digest of the committed state of scope (topic,
// partition): its keys and values in key order, each length-prefixed. It
// depends only on the contents, not on how or in which batches they were
// written; offsets are excluded. Safe for concurrent use.
func (s *Store) Digest(topic string, partition int32) ([32]byte, error) {
	h := sha256.New()
	h.Write([]byte(digestScopeHeader))
	var lenBuf [binary.MaxVarintLen64]byte
	err := s.Scan(topic, partition, nil, func(k, v []byte) error {
		writeField(h, lenBuf[:], k)
		writeField(h, lenBuf[:], v)
		return nil
	})
	if err != nil {
		return [32]byte{}, fmt.Errorf("state: digest %s/%d: %w", topic, partition, err)
	}
	return [32]byte(h.Sum(nil)), nil
}

// DigestAll returns the SHA-256 digest of the committed state of every scope,
// ordered by topic, partition and key, each record hashed as its
// length-prefixed topic, its partition, and its length-prefixed key and value.
// Offsets are excluded. Safe for concurrent use.
func (s *Store) DigestAll() ([32]byte, error) {
	h := sha256.New()
	h.Write([]byte(digestAllHeader))
	var lenBuf [binary.MaxVarintLen64]byte
	err := s.ScanAll(nil, func(tp TopicPartition, k, v []byte) error {
		writeField(h, lenBuf[:], []byte(tp.Topic))
		var p [4]byte
		binary.BigEndian.PutUint32(p[:], uint32(tp.Partition))
		h.Write(p[:])
		writeField(h, lenBuf[:], k)
		writeField(h, lenBuf[:], v)
		return nil
	})
	if err != nil {
		return [32]byte{}, fmt.Errorf("state: digest all: %w", err)
	}
	return [32]byte(h.Sum(nil)), nil
}

// writeField writes len(b) as a uvarint, then b. Writes to a hash.Hash never
// fail.
func writeField(h hash.Hash, buf, b []byte) {
	h.Write(buf[:binary.PutUvarint(buf, uint64(len(b)))])
	h.Write(b)
}

func putInt64(dst []byte, v int64) { binary.BigEndian.PutUint64(dst, uint64(v)) }

// Checkpoint is one scope's position and digest at one point in time.
type Checkpoint struct {
	// Next is the next offset to consume, valid if HasOffset.
	Next      int64
	HasOffset bool
	// Digest is Digest(topic, partition) at that point.
	Digest [32]byte
}

// Checkpoints returns the offset and digest of every scope that has state or
// an offset, all read from one snapshot, so each digest is the state at
// exactly its offset even while batches are committed. It is what a live
// store offers `logmesh replay --verify`: replay each partition to Next and
// compare digests. Safe for concurrent use.
func (s *Store) Checkpoints() (map[TopicPartition]Checkpoint, error) {
	if err := s.acquire(); err != nil {
		return nil, err
	}
	defer s.release()
	snap := s.db.NewSnapshot()
	defer snap.Close()
	out := map[TopicPartition]Checkpoint{}
	it, err := snap.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixOffset}, UpperBound: []byte{prefixOffset + 1}})
	if err != nil {
		return nil, fmt.Errorf("state: checkpoints: %w", err)
	}
	for ok := it.First(); ok; ok = it.Next() {
		tp, off, err := decodeOffset(it.Key(), it.Value())
		if err != nil {
			return nil, errors.Join(fmt.Errorf("state: checkpoints: %w", err), it.Close())
		}
		out[tp] = Checkpoint{Next: off, HasOffset: true}
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return nil, fmt.Errorf("state: checkpoints: %w", err)
	}
	var (
		cur    TopicPartition
		h      hash.Hash
		lenBuf [binary.MaxVarintLen64]byte
	)
	flush := func() {
		if h != nil {
			c := out[cur]
			c.Digest = [32]byte(h.Sum(nil))
			out[cur] = c
		}
	}
	err = s.scanAll(snap, nil, func(tp TopicPartition, k, v []byte) error {
		if h == nil || tp != cur {
			flush()
			cur, h = tp, sha256.New()
			h.Write([]byte(digestScopeHeader))
		}
		writeField(h, lenBuf[:], k)
		writeField(h, lenBuf[:], v)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("state: checkpoints: %w", err)
	}
	flush()
	empty := sha256.Sum256([]byte(digestScopeHeader))
	for tp, c := range out {
		if c.Digest == ([32]byte{}) {
			c.Digest = empty
			out[tp] = c
		}
	}
	return out, nil
}
