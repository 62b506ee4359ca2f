package pattern

import (
	"cmp"
	"slices"
	"sync"
)

// Set holds many patterns under ids of type K and finds the ones an event
// matches at a cost that grows with the patterns that can match, not with
// all of them.
//
// The index works on a few top-level key fields named in NewSet. A pattern
// is filed under the exact values it requires of one key field: a pattern
// with event: [A, B] is filed under event=A and event=B, and only an event
// whose event field holds A or B (or an array holding either) looks at it.
// A top-level $or files a pattern under the keys of each alternative (it
// may be filed under several fields), provided every alternative requires
// exact values of some key field. When a pattern constrains more than one
// key field exactly, it is filed under the one whose buckets for its values
// hold the fewest patterns when it is added, so the key fields can be named
// in any order. A pattern that requires no exact value of any key field
// (only prefixes, say, or nothing at all on them) goes in a fallback list
// that every event checks.
//
// Set is safe for concurrent use: Add and Remove take a write lock,
// Matches a read lock. The zero Set is an empty set with no key fields
// (every pattern in the fallback list).
type Set[K comparable] struct {
	mu       sync.RWMutex
	keys     []string
	index    []map[scalar][]*entry[K] // per key field; each bucket sorted by seq
	fallback []*entry[K]              // sorted by seq
	byID     map[K]*entry[K]
	seq      uint64
}

type entry[K comparable] struct {
	id   K
	p    *Pattern
	seq  uint64
	locs []loc // where the entry is filed; nil: in the fallback list
}

type loc struct {
	key int // index into Set.keys
	val scalar
}

// NewSet returns an empty Set indexed on the given top-level key fields
// (duplicates are ignored). With no key fields every pattern is checked
// for every event.
func NewSet[K comparable](keyFields ...string) *Set[K] {
	s := &Set[K]{}
	for _, k := range keyFields {
		if !slices.Contains(s.keys, k) {
			s.keys = append(s.keys, k)
		}
	}
	s.index = make([]map[scalar][]*entry[K], len(s.keys))
	for i := range s.index {
		s.index[i] = make(map[scalar][]*entry[K])
	}
	return s
}

// Len returns the number of patterns in the set. It is safe for concurrent
// use.
func (s *Set[K]) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.byID)
}

// Add files p under id, replacing the pattern id had (which then takes its
// place at the end of the order Matches reports in). Add(id, nil) is
// Remove(id). The set keeps p, which is immutable. Add is safe for
// concurrent use.
func (s *Set[K]) Add(id K, p *Pattern) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byID == nil {
		s.byID = make(map[K]*entry[K])
	}
	if old := s.byID[id]; old != nil {
		s.remove(old)
	}
	if p == nil || p.root == nil {
		return
	}
	s.seq++
	e := &entry[K]{id: id, p: p, seq: s.seq}
	s.byID[id] = e
	locs, ok := s.place(p.root, nil)
	if !ok || len(locs) == 0 {
		s.fallback = append(s.fallback, e)
		return
	}
	slices.SortFunc(locs, func(a, b loc) int {
		return cmp.Or(cmp.Compare(a.key, b.key), compareScalar(a.val, b.val))
	})
	e.locs = slices.Compact(locs)
	for _, l := range e.locs {
		// e has the highest seq yet: appending keeps the bucket sorted.
		s.index[l.key][l.val] = append(s.index[l.key][l.val], e)
	}
}

// place appends to locs the buckets an object's pattern is filed under: the
// values of the cheapest key field the object itself requires exactly, or
// else the buckets of each of its alternatives. ok is false when some
// branch of the pattern requires no exact value of any key field.
func (s *Set[K]) place(o *object, locs []loc) (_ []loc, ok bool) {
	best, bestCost := -1, 0
	var bestVals []scalar
	for i, name := range s.keys {
		f := o.leaf(name)
		if f == nil || !f.exactOnly() {
			continue
		}
		cost := 0
		for _, v := range f.exacts {
			cost += len(s.index[i][v])
		}
		if best < 0 || cost < bestCost {
			best, bestCost, bestVals = i, cost, f.exacts
		}
	}
	if best >= 0 {
		for _, v := range bestVals {
			locs = append(locs, loc{key: best, val: v})
		}
		return locs, true
	}
	if o.or == nil {
		return nil, false
	}
	for _, a := range o.or {
		if locs, ok = s.place(a, locs); !ok {
			return nil, false
		}
	}
	return locs, true
}

// Remove drops the pattern filed under id, if any. It is safe for
// concurrent use.
func (s *Set[K]) Remove(id K) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.byID[id]; e != nil {
		s.remove(e)
	}
}

func (s *Set[K]) remove(e *entry[K]) {
	delete(s.byID, e.id)
	if e.locs == nil {
		s.fallback = removeEntry(s.fallback, e)
		return
	}
	for _, l := range e.locs {
		b := removeEntry(s.index[l.key][l.val], e)
		if len(b) == 0 {
			delete(s.index[l.key], l.val)
		} else {
			s.index[l.key][l.val] = b
		}
	}
}

func removeEntry[K comparable](list []*entry[K], e *entry[K]) []*entry[K] {
	i, ok := slices.BinarySearchFunc(list, e.seq, func(x *entry[K], seq uint64) int { return cmp.Compare(x.seq, seq) })
	if !ok {
		return list
	}
	list = slices.Delete(list, i, i+1)
	return list
}

// Matches calls fn with the id of every pattern in the set that ev
// matches, each once, in the order the ids were added: exactly the ids for
// which Pattern.Match(ev) holds. Only the patterns filed under the values
// of ev's key fields, and those in the fallback list, are checked.
//
// Matches is safe for concurrent use with itself, Add and Remove. fn runs
// while the set's read lock is held: it must not call methods of the set
// (Add or Remove would deadlock). Matches allocates nothing beyond what
// Pattern.Match does, unless ev's key fields hold arrays of more than a few
// values.
func (s *Set[K]) Matches(ev any, fn func(id K)) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var stack [8][]*entry[K]
	lists := stack[:0]
	if len(s.fallback) > 0 {
		lists = append(lists, s.fallback)
	}
	if m, ok := ev.(map[string]any); ok {
		for i, name := range s.keys {
			if len(s.index[i]) == 0 {
				continue
			}
			if v, ok := m[name]; ok {
				lists = collect(lists, s.index[i], v)
			}
		}
	}
	// Merge the sorted lists, one entry per seq.
	for {
		var next *entry[K]
		for _, l := range lists {
			if len(l) > 0 && (next == nil || l[0].seq < next.seq) {
				next = l[0]
			}
		}
		if next == nil {
			return
		}
		for i, l := range lists {
			if len(l) > 0 && l[0] == next {
				lists[i] = l[1:]
			}
		}
		if next.p.Match(ev) {
			fn(next.id)
		}
	}
}

// collect appends the buckets for the leaf values of v (as matchLeaf reads
// them).
func collect[K comparable](lists [][]*entry[K], idx map[scalar][]*entry[K], v any) [][]*entry[K] {
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			lists = collect(lists, idx, e)
		}
		return lists
	case map[string]any:
		return lists
	}
	if sc, ok := eventScalar(v); ok {
		if b := idx[sc]; len(b) > 0 {
			lists = append(lists, b)
		}
	}
	return lists
}
