package host

import (
	"slices"

	"github.com/logmesh/logmesh/projections"
)

// overlay buffers one event's writes over a store, so that a projection
// refusing the event leaves the batch untouched. Reads see the buffered
// writes first. Not safe for concurrent use.
type overlay struct {
	base   projections.Store
	writes map[string][]byte // nil value = delete
	err    error             // first error from base, reported by flush
}

func newOverlay(base projections.Store) *overlay {
	return &overlay{base: base, writes: map[string][]byte{}}
}

func (o *overlay) Get(key []byte) ([]byte, bool, error) {
	if v, ok := o.writes[string(key)]; ok {
		return slices.Clone(v), v != nil, nil
	}
	v, ok, err := o.base.Get(key)
	if err != nil && o.err == nil {
		o.err = err
	}
	return v, ok, err
}

func (o *overlay) Set(key, value []byte) error {
	if value == nil {
		value = []byte{}
	}
	o.writes[string(key)] = slices.Clone(value)
	return nil
}

func (o *overlay) Delete(key []byte) error {
	o.writes[string(key)] = nil
	return nil
}

// flush writes the buffered changes to the base store in key order.
func (o *overlay) flush() error {
	if o.err != nil {
		return o.err
	}
	keys := make([]string, 0, len(o.writes))
	for k := range o.writes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		var err error
		if v := o.writes[k]; v == nil {
			err = o.base.Delete([]byte(k))
		} else {
			err = o.base.Set([]byte(k), v)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
