package state

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
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
