package state

import (
	"hash/maphash"
	"math/bits"
	"sync"
	"sync/atomic"
)

// keyFilter answers "has this state key ever been written?" without
// reading Pebble, for a store that was empty when it was opened: every key
// a batch sets is added before the batch commits, so a key the filter has
// never seen is certainly absent and Get skips Pebble's point read (which
// for a missing key walks the memtables and every level's filter and index
// blocks: most of a projection's cost when it reads a key per event that
// does not exist yet, as in a replay; see docs/decisions/0013).
//
// It is a scalable, cache-blocked Bloom filter: stages of doubling
// capacity, each a bitmap of 512-bit blocks where one key's probes all fall
// in one block (one cache line, so a lookup costs one cache miss rather
// than one per probe), about 1% false positives per stage. A false "maybe"
// costs the Pebble read there would have been without the filter. Past
// maxFilterKeys it gives up and answers "maybe" for every key, which is
// always correct. Deleted keys stay in it; that too only costs a read. Safe
// for concurrent use: bits are set and read atomically, so batches of
// several partitions committing at once and their reads do not wait for
// each other; only a new stage takes the lock exclusively.
type keyFilter struct {
	mu     sync.RWMutex
	off    bool // answers maybe for every key
	seed   maphash.Seed
	stages []*stage
}

// stage is one Bloom filter of the scalable filter.
type stage struct {
	blocks [][8]atomic.Uint64 // 512 bits each
	n      atomic.Int64       // keys added
	cap    int64              // keys it is sized for
}

const (
	firstFilterKeys = 1 << 20
	maxFilterKeys   = 32 << 20 // 64 MiB of filter
	bitsPerKey      = 16
	probes          = 8
)

// newKeyFilter returns a filter that knows no key (on is true: the store is
// empty) or one that answers maybe for every key.
func newKeyFilter(on bool) *keyFilter {
	return &keyFilter{off: !on, seed: maphash.MakeSeed()}
}

func newStage(keys int64) *stage {
	return &stage{blocks: make([][8]atomic.Uint64, keys*bitsPerKey/512+1), cap: keys}
}

// block returns the block of hash h in st (its high bits, scaled).
func (st *stage) block(h uint64) *[8]atomic.Uint64 {
	hi, _ := bits.Mul64(h, uint64(len(st.blocks)))
	return &st.blocks[hi]
}

// positions derives the probes' bit positions (0..511) from h by double
// hashing of its low half.
func positions(h uint64, fn func(pos uint32) bool) bool {
	a, b := uint32(h), uint32(h>>32)|1
	for range probes {
		if !fn(a & 511) {
			return false
		}
		a += b
	}
	return true
}

func (st *stage) has(h uint64) bool {
	blk := st.block(h)
	return positions(h, func(p uint32) bool { return blk[p>>6].Load()&(1<<(p&63)) != 0 })
}

func (st *stage) add(h uint64) {
	blk := st.block(h)
	positions(h, func(p uint32) bool { blk[p>>6].Or(1 << (p & 63)); return true })
}

// mayHave reports whether key may have been added.
func (f *keyFilter) mayHave(key []byte) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.off {
		return true
	}
	h := maphash.Bytes(f.seed, key)
	for i := range f.stages {
		if f.stages[i].has(h) {
			return true
		}
	}
	return false
}

// add records keys; it must be called before they can be read.
func (f *keyFilter) add(keys func(yield func([]byte) bool)) {
	f.mu.RLock()
	locked := true
	defer func() {
		if locked {
			f.mu.RUnlock()
		}
	}()
	for k := range keys {
		h := maphash.Bytes(f.seed, k)
		for {
			if f.off {
				return
			}
			last := len(f.stages) - 1
			if last >= 0 && f.stages[last].n.Add(1) <= f.stages[last].cap {
				f.stages[last].add(h)
				break
			}
			// Full: a new stage, under the exclusive lock, then again.
			f.mu.RUnlock()
			locked = false
			f.grow(last)
			f.mu.RLock()
			locked = true
		}
	}
}

// grow appends a stage unless another goroutine did since stage full was
// the last, or turns the filter off past maxFilterKeys.
func (f *keyFilter) grow(full int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.off || len(f.stages)-1 != full {
		return
	}
	size := int64(firstFilterKeys)
	if full >= 0 {
		size = 2 * f.stages[full].cap
	}
	if size*2-firstFilterKeys > maxFilterKeys { // every stage's keys, with this one
		f.off, f.stages = true, nil
		return
	}
	f.stages = append(f.stages, newStage(size))
}

// disable makes the filter answer maybe for every key: for a store whose
// keys came from somewhere it did not see (a restored snapshot).
func (f *keyFilter) disable() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.off, f.stages = true, nil
}
