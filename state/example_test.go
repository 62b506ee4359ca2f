package state_test

import (
	"bytes"
	"fmt"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/logmesh/logmesh/state"
)

// A processor applies a fetch of records into one batch and commits the
// state and the next offset together.
func Example() {
	s, err := state.Open("data", &state.Options{FS: vfs.NewMem()})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	const topic, partition = "logmesh.raw.events", 0
	b := s.NewBatch()
	sc := b.Scope(topic, partition) // what a projection's Apply gets
	if err := sc.Set([]byte("file/landing/a.csv"), []byte("LANDED")); err != nil {
		fmt.Println(err)
		b.Close()
		return
	}
	b.SetOffset(topic, partition, 43) // record 42 was applied
	if err := b.Commit(true); err != nil {
		fmt.Println(err)
		return
	}

	next, ok, err := s.Offset(topic, partition)
	fmt.Println(next, ok, err)
	v, _, _ := s.Get(topic, partition, []byte("file/landing/a.csv"))
	fmt.Println(string(v))
	// Output:
	// 43 true <nil>
	// LANDED
}

// A snapshot of one store, restored into another, reproduces its state and
// offsets; the digests prove it.
func ExampleStore_Snapshot() {
	src, _ := state.Open("src", &state.Options{FS: vfs.NewMem()})
	defer src.Close()
	dst, _ := state.Open("dst", &state.Options{FS: vfs.NewMem()})
	defer dst.Close()

	b := src.NewBatch()
	b.Scope("t", 0).Set([]byte("k"), []byte("v"))
	b.SetOffset("t", 0, 1)
	b.Commit(false)

	var buf bytes.Buffer
	if err := src.Snapshot(&buf); err != nil {
		fmt.Println(err)
		return
	}
	if err := dst.Restore(&buf); err != nil {
		fmt.Println(err)
		return
	}
	a, _ := src.DigestAll()
	d, _ := dst.DigestAll()
	off, _ := dst.Offsets()
	fmt.Println(a == d, off)
	// Output: true map[t/0:1]
}
