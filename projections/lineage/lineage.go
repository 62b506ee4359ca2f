// Package lineage is the projection behind "why did this happen": it indexes
// every event by id with the event that caused it and the file, batch or job
// it belongs to, and keeps, per correlation id, how many events it has and a
// hash chain over their ids in log order.
//
// The chain makes the projection sensitive to every event being applied
// exactly once and in order, which is why the projection hosts' crash and
// rebalance tests use it.
package lineage

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/projections"
)

// Key prefixes of the state this projection writes.
const (
	prefixEvent       = "e/" // e/<event id> → Node
	prefixCorrelation = "c/" // c/<correlation id> → count (8 bytes) + chain (32 bytes)
	prefixName        = "n/" // n/<event name> → count (8 bytes)
)

// Projection is the lineage fold. The zero value is ready; it holds no state
// of its own and is safe for concurrent use.
type Projection struct{}

var _ projections.Projection = Projection{}

// Name returns "lineage".
func (Projection) Name() string { return "lineage" }

// Topics returns every domain's events topic, present and future (the
// central bus is the central domain's).
func (Projection) Topics(t events.Topics) events.TopicSet { return t.AllDomains() }

// Apply records ev. An event without an id or with an unknown name breaks the
// projection's invariant and is refused with projections.ErrInvariant.
func (Projection) Apply(s projections.Store, ev events.Event) error {
	m := ev.Meta()
	if m.EventID == "" {
		return fmt.Errorf("lineage: %s has no event id: %w", ev.Name(), projections.ErrInvariant)
	}
	node := Node{Name: ev.Name(), Correlation: m.CorrelationID, Causation: m.CausationID}
	if err := s.Set([]byte(prefixEvent+m.EventID), node.encode()); err != nil {
		return err
	}
	ck := []byte(prefixCorrelation + m.CorrelationID)
	old, ok, err := s.Get(ck)
	if err != nil {
		return err
	}
	var count uint64
	var chain []byte // the previous chain, then the event id after it
	if ok {
		if len(old) != 8+sha256.Size {
			return fmt.Errorf("lineage: corrupt chain for %q", m.CorrelationID)
		}
		count = binary.BigEndian.Uint64(old)
		chain = old[8:]
	}
	sum := sha256.Sum256(append(chain, m.EventID...))
	val := binary.BigEndian.AppendUint64(make([]byte, 0, 8+sha256.Size), count+1)
	if err := s.Set(ck, append(val, sum[:]...)); err != nil {
		return err
	}
	return incr(s, []byte(prefixName+ev.Name()))
}

func incr(s projections.Store, key []byte) error {
	old, ok, err := s.Get(key)
	if err != nil {
		return err
	}
	var n uint64
	if ok && len(old) == 8 {
		n = binary.BigEndian.Uint64(old)
	}
	return s.Set(key, binary.BigEndian.AppendUint64(nil, n+1))
}

// Node is what the projection knows of one event.
type Node struct {
	Name        string // Avro full name of the event
	Correlation string // file, batch or job id
	Causation   string // id of the causing event, or ""
}

func (n Node) encode() []byte {
	var b []byte
	for _, s := range []string{n.Name, n.Correlation, n.Causation} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

// Lookup reads the node of event id from a store holding this projection's
// state. ok is false if the event is unknown.
func Lookup(s projections.Store, id string) (n Node, ok bool, err error) {
	v, ok, err := s.Get([]byte(prefixEvent + id))
	if err != nil || !ok {
		return Node{}, ok, err
	}
	var parts [3]string
	for i := range parts {
		l, k := binary.Uvarint(v)
		if k <= 0 || uint64(len(v)-k) < l {
			return Node{}, false, fmt.Errorf("lineage: corrupt node %q", id)
		}
		parts[i] = string(v[k : k+int(l)])
		v = v[k+int(l):]
	}
	return Node{Name: parts[0], Correlation: parts[1], Causation: parts[2]}, true, nil
}

// Count returns how many events of the correlation id have been applied.
func Count(s projections.Store, correlation string) (uint64, error) {
	v, ok, err := s.Get([]byte(prefixCorrelation + correlation))
	if err != nil || !ok {
		return 0, err
	}
	if len(v) != 8+sha256.Size {
		return 0, fmt.Errorf("lineage: corrupt chain for %q", correlation)
	}
	return binary.BigEndian.Uint64(v), nil
}
