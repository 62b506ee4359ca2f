package state

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// The filter never says absent for a key it was given, across its stages,
// and rarely says maybe for one it was not.
func TestKeyFilter(t *testing.T) {
	f := newKeyFilter(true)
	const n = 3*firstFilterKeys + 17 // three stages
	key := func(i int) []byte { return fmt.Appendf(nil, "s/key-%d", i) }
	for i := 0; i < n; i += 1000 {
		f.add(func(yield func([]byte) bool) {
			for j := i; j < min(i+1000, n); j++ {
				if !yield(key(j)) {
					return
				}
			}
		})
	}
	if len(f.stages) != 3 {
		t.Errorf("%d stages for %d keys, want 3", len(f.stages), n)
	}
	for i := range n {
		if !f.mayHave(key(i)) {
			t.Fatalf("key %d added but reported absent", i)
		}
	}
	fp := 0
	for i := n; i < n+100_000; i++ {
		if f.mayHave(key(i)) {
			fp++
		}
	}
	if rate := float64(fp) / 100_000; rate > 0.01 {
		t.Errorf("false positive rate %.4f over three stages", rate)
	}
	f.disable()
	if !f.mayHave([]byte("anything")) {
		t.Error("a disabled filter said absent")
	}
}

// A store opened empty reads what its batches wrote, through a scope and
// committed, and so does the same store reopened (no filter then) and a
// fresh store restored from its snapshot.
func TestKeyFilterStore(t *testing.T) {
	fs := vfs.NewMem()
	s, err := Open("db", &Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	if s.filter.off {
		t.Fatal("an empty store has no key filter")
	}
	b := s.NewBatch()
	sc := b.Scope("t", 1)
	for i := range 100 {
		if err := sc.Set(fmt.Appendf(nil, "k%d", i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(false); err != nil {
		t.Fatal(err)
	}
	check := func(s *Store, what string) {
		t.Helper()
		b := s.NewBatch()
		defer b.Close()
		for i := range 100 {
			k := fmt.Appendf(nil, "k%d", i)
			if _, ok, err := s.Get("t", 1, k); err != nil || !ok {
				t.Fatalf("%s: Get %s = %v, %v", what, k, ok, err)
			}
			if _, ok, err := b.Scope("t", 1).Get(k); err != nil || !ok {
				t.Fatalf("%s: Scope.Get %s = %v, %v", what, k, ok, err)
			}
		}
		if _, ok, err := s.Get("t", 1, []byte("nope")); err != nil || ok {
			t.Fatalf("%s: Get of a key never set = %v, %v", what, ok, err)
		}
	}
	check(s, "opened empty")
	var snap bytes.Buffer
	if err := s.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open("db", &Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	if !s.filter.off {
		t.Error("a reopened store with state has a key filter that knows none of it")
	}
	check(s, "reopened")
	must(t, s.Close())
	r, err := Open("restored", &Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	must(t, r.Restore(&snap))
	check(r, "restored")
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func BenchmarkKeyFilter(b *testing.B) {
	f := newKeyFilter(true)
	keys := make([][]byte, 1<<20)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "s/lineage/e/%016x", i*7919)
	}
	i := 0
	for b.Loop() {
		k := keys[i&(len(keys)-1)]
		f.add(func(yield func([]byte) bool) { yield(k) })
		sink = f.mayHave(keys[(i*31)&(len(keys)-1)])
		i++
	}
}

var sink bool

// A store without the WAL takes synced commits (there is nothing to sync)
// and, once flushed, holds them after a reopen.
func TestDisableWAL(t *testing.T) {
	fs := vfs.NewMem()
	s, err := Open("db", &Options{FS: fs, DisableWAL: true})
	if err != nil {
		t.Fatal(err)
	}
	b := s.NewBatch()
	must(t, b.Scope("t", 0).Set([]byte("k"), []byte("v")))
	b.SetOffset("t", 0, 7)
	must(t, b.Commit(true))
	must(t, s.Flush())
	must(t, s.Close())
	s, err = Open("db", &Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	v, ok, err := s.Get("t", 0, []byte("k"))
	if err != nil || !ok || string(v) != "v" {
		t.Fatalf("after flush and reopen: %q %v %v", v, ok, err)
	}
	if n, ok, err := s.Offset("t", 0); err != nil || !ok || n != 7 {
		t.Fatalf("offset after flush and reopen: %d %v %v", n, ok, err)
	}
}
