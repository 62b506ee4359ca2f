package host

import (
	"bytes"
	"slices"

	"github.com/logmesh/logmesh/projections"
)

// overlay buffers one event's writes over a store, so that a projection
// refusing the event leaves the batch untouched. Reads see the buffered
// writes first. A fold reuses one overlay for every record (reset), so an
// event's few writes cost no allocation of their own. Not safe for
// concurrent use.
type overlay struct {
	base   projections.Store
	writes []write // in the order written; a key appears once
	arena  []byte  // the keys and values of writes
	err    error   // first error from base, reported by flush
}

// write is one buffered change; value is nil for a delete.
type write struct {
	key, value []byte
}

// reset empties the overlay and puts it over base.
func (o *overlay) reset(base projections.Store) {
	o.base, o.writes, o.arena, o.err = base, o.writes[:0], o.arena[:0], nil
}

// copied returns a copy of b in the arena; capacity-clipped, so a later
// append cannot overwrite what follows it.
func (o *overlay) copied(b []byte) []byte {
	n := len(o.arena)
	o.arena = append(o.arena, b...)
	return o.arena[n:len(o.arena):len(o.arena)]
}

func (o *overlay) find(key []byte) int {
	return slices.IndexFunc(o.writes, func(w write) bool { return bytes.Equal(w.key, key) })
}

func (o *overlay) Get(key []byte) ([]byte, bool, error) {
	if i := o.find(key); i >= 0 {
		v := o.writes[i].value
		return slices.Clone(v), v != nil, nil
	}
	v, ok, err := o.base.Get(key)
	if err != nil && o.err == nil {
		o.err = err
	}
	return v, ok, err
}

func (o *overlay) Set(key, value []byte) error {
	v := o.copied(value)
	if v == nil {
		v = []byte{}
	}
	if i := o.find(key); i >= 0 {
		o.writes[i].value = v
		return nil
	}
	o.writes = append(o.writes, write{key: o.copied(key), value: v})
	return nil
}

func (o *overlay) Delete(key []byte) error {
	if i := o.find(key); i >= 0 {
		o.writes[i].value = nil
		return nil
	}
	o.writes = append(o.writes, write{key: o.copied(key)})
	return nil
}

// flush writes the buffered changes to the base store, in the order they
// were first written.
func (o *overlay) flush() error {
	if o.err != nil {
		return o.err
	}
	for _, w := range o.writes {
		var err error
		if w.value == nil {
			err = o.base.Delete(w.key)
		} else {
			err = o.base.Set(w.key, w.value)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
