// Package projectiontest holds test doubles for projections: an in-memory
// Store and a digest over it, so a projection can be folded and compared
// without Pebble or Kafka.
package projectiontest

import (
	"crypto/sha256"
	"encoding/binary"
	"slices"

	"github.com/logmesh/logmesh/projections"
)

// MemStore is an in-memory projections.Store for tests. It is a test double:
// not safe for concurrent use, no persistence.
type MemStore map[string][]byte

var _ projections.Store = MemStore(nil)

// Get implements projections.Store.
func (m MemStore) Get(key []byte) ([]byte, bool, error) {
	v, ok := m[string(key)]
	return slices.Clone(v), ok, nil
}

// Set implements projections.Store.
func (m MemStore) Set(key, value []byte) error {
	m[string(key)] = slices.Clone(value)
	return nil
}

// Delete implements projections.Store.
func (m MemStore) Delete(key []byte) error {
	delete(m, string(key))
	return nil
}

// Digest returns a SHA-256 over the store's keys and values in key order.
func (m MemStore) Digest() [32]byte {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	h := sha256.New()
	for _, k := range keys {
		h.Write(binary.AppendUvarint(nil, uint64(len(k))))
		h.Write([]byte(k))
		h.Write(binary.AppendUvarint(nil, uint64(len(m[k]))))
		h.Write(m[k])
	}
	var d [32]byte
	h.Sum(d[:0])
	return d
}
