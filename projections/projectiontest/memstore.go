// Package projectiontest holds test doubles for projections: an in-memory
// Store and a digest over it, so a projection can be folded and compared
// without Pebble or Kafka.
package projectiontest

import (
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"strings"

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

// Scopes is a test double for a scoped store such as *state.Store: one
// MemStore per scope name (standing in for a topic and partition), read
// across scopes like (*state.Store).ScanAll. Reverse visits the scopes in
// reverse order, to show that a query's merge does not depend on it. Not
// safe for concurrent use.
type Scopes struct {
	M       map[string]MemStore
	Reverse bool
}

// NewScopes returns empty Scopes.
func NewScopes() *Scopes { return &Scopes{M: map[string]MemStore{}} }

// Scope returns the store of one scope, creating it.
func (s *Scopes) Scope(name string) MemStore {
	if s.M[name] == nil {
		s.M[name] = MemStore{}
	}
	return s.M[name]
}

// ScanAll calls fn for each key with prefix in every scope, scopes in name
// order (reversed if Reverse), keys in order within a scope.
func (s *Scopes) ScanAll(prefix []byte, fn func(scope string, key, value []byte) error) error {
	names := make([]string, 0, len(s.M))
	for n := range s.M {
		names = append(names, n)
	}
	slices.Sort(names)
	if s.Reverse {
		slices.Reverse(names)
	}
	for _, n := range names {
		keys := make([]string, 0, len(s.M[n]))
		for k := range s.M[n] {
			if strings.HasPrefix(k, string(prefix)) {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			if err := fn(n, []byte(k), s.M[n][k]); err != nil {
				return err
			}
		}
	}
	return nil
}
