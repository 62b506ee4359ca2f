package state_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"testing/iotest"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/logmesh/logmesh/projections"
	"github.com/logmesh/logmesh/state"
)

// A Scope is what a projection host hands to Projection.Apply.
var _ projections.Store = (*state.Scope)(nil)

type tp = state.TopicPartition

// contents is the state of a store as test tables write it: scope → key →
// value.
type contents map[tp]map[string]string

func openMem(t testing.TB) (*state.Store, vfs.FS) {
	t.Helper()
	fs := vfs.NewMem()
	return openOn(t, fs, "db"), fs
}

func openOn(t testing.TB, fs vfs.FS, dir string) *state.Store {
	t.Helper()
	s, err := state.Open(dir, &state.Options{FS: fs})
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// write commits c and offsets in one batch.
func write(t testing.TB, s *state.Store, c contents, offsets map[tp]int64) {
	t.Helper()
	b := s.NewBatch()
	for _, scope := range slices.SortedFunc(maps.Keys(c), cmpTP) {
		sc := b.Scope(scope.Topic, scope.Partition)
		for _, k := range slices.Sorted(maps.Keys(c[scope])) {
			if err := sc.Set([]byte(k), []byte(c[scope][k])); err != nil {
				t.Fatalf("Set: %v", err)
			}
		}
	}
	for scope, off := range offsets {
		b.SetOffset(scope.Topic, scope.Partition, off)
	}
	if err := b.Commit(false); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

func cmpTP(a, b tp) int {
	if c := bytes.Compare([]byte(a.Topic), []byte(b.Topic)); c != 0 {
		return c
	}
	return int(a.Partition) - int(b.Partition)
}

// dump reads back everything committed in s.
func dump(t testing.TB, s *state.Store) contents {
	t.Helper()
	out := contents{}
	err := s.ScanAll(nil, func(scope tp, k, v []byte) error {
		if out[scope] == nil {
			out[scope] = map[string]string{}
		}
		out[scope][string(k)] = string(v)
		return nil
	})
	if err != nil {
		t.Fatalf("ScanAll: %v", err)
	}
	return out
}

func offsets(t testing.TB, s *state.Store) map[tp]int64 {
	t.Helper()
	o, err := s.Offsets()
	if err != nil {
		t.Fatalf("Offsets: %v", err)
	}
	return o
}

func digestAll(t testing.TB, s *state.Store) [32]byte {
	t.Helper()
	d, err := s.DigestAll()
	if err != nil {
		t.Fatalf("DigestAll: %v", err)
	}
	return d
}

func digest(t testing.TB, s *state.Store, scope tp) [32]byte {
	t.Helper()
	d, err := s.Digest(scope.Topic, scope.Partition)
	if err != nil {
		t.Fatalf("Digest(%v): %v", scope, err)
	}
	return d
}

func equalContents(a, b contents) bool {
	return maps.EqualFunc(a, b, func(x, y map[string]string) bool { return maps.Equal(x, y) })
}

func TestBatchAtomicity(t *testing.T) {
	scope := tp{"logmesh.raw.events", 3}
	for _, tc := range []struct {
		name   string
		finish func(*state.Batch) error
		want   bool // state and offset stored
	}{
		{"commit", func(b *state.Batch) error { return b.Commit(false) }, true},
		{"commit sync", func(b *state.Batch) error { return b.Commit(true) }, true},
		{"close", (*state.Batch).Close, false},
		{"crash before commit", func(*state.Batch) error { return nil }, false},
		{"close then commit", func(b *state.Batch) error {
			if err := b.Close(); err != nil {
				return err
			}
			if err := b.Commit(true); !errors.Is(err, state.ErrBatchClosed) {
				return fmt.Errorf("Commit after Close = %v, want ErrBatchClosed", err)
			}
			return nil
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := vfs.NewMem()
			s, err := state.Open("db", &state.Options{FS: fs})
			if err != nil {
				t.Fatal(err)
			}
			b := s.NewBatch()
			if err := b.Scope(scope.Topic, scope.Partition).Set([]byte("file/1"), []byte("LANDED")); err != nil {
				t.Fatal(err)
			}
			b.SetOffset(scope.Topic, scope.Partition, 42)
			if err := tc.finish(b); err != nil {
				t.Fatal(err)
			}
			check := func(when string) {
				_, gotState, err := s.Get(scope.Topic, scope.Partition, []byte("file/1"))
				if err != nil {
					t.Fatal(err)
				}
				off, gotOff, err := s.Offset(scope.Topic, scope.Partition)
				if err != nil {
					t.Fatal(err)
				}
				if gotState != tc.want || gotOff != tc.want {
					t.Errorf("%s: state stored %v, offset stored %v; want both %v", when, gotState, gotOff, tc.want)
				}
				if gotOff && off != 42 {
					t.Errorf("%s: offset %d, want 42", when, off)
				}
			}
			check("before reopen")
			// A process crash loses nothing committed (even without sync, as
			// the WAL is in the OS's hands) and keeps nothing uncommitted.
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = openOn(t, fs, "db")
			check("after reopen")
		})
	}
}

func TestReopen(t *testing.T) {
	for _, tc := range []struct {
		name string
		fs   func(t *testing.T) (vfs.FS, string)
	}{
		{"mem", func(*testing.T) (vfs.FS, string) { return vfs.NewMem(), "db" }},
		{"disk", func(t *testing.T) (vfs.FS, string) { return vfs.Default, t.TempDir() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, dir := tc.fs(t)
			s, err := state.Open(dir, &state.Options{FS: fs, CacheSize: 1 << 20})
			if err != nil {
				t.Fatal(err)
			}
			write(t, s, contents{{"t", 0}: {"a": "1", "b": "2"}}, map[tp]int64{{"t", 0}: 10})
			write(t, s, contents{{"t", 1}: {"a": "x"}, {"u", 0}: {"z": ""}}, map[tp]int64{{"t", 1}: 5, {"t", 0}: 11})
			wantC, wantO, wantD := dump(t, s), offsets(t, s), digestAll(t, s)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = openOn(t, fs, dir)
			if got := dump(t, s); !equalContents(got, wantC) {
				t.Errorf("after reopen: contents %v, want %v", got, wantC)
			}
			if got := offsets(t, s); !maps.Equal(got, wantO) {
				t.Errorf("after reopen: offsets %v, want %v", got, wantO)
			}
			if got := digestAll(t, s); got != wantD {
				t.Errorf("after reopen: digest changed")
			}
		})
	}
}

func TestOpenRefusesForeignDatabase(t *testing.T) {
	fs := vfs.NewMem()
	db, err := pebble.Open("db", &pebble.Options{FS: fs, Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set([]byte("someone else's key"), nil, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := state.Open("db", &state.Options{FS: fs})
	if !errors.Is(err, state.ErrUnsupportedFormat) {
		if err == nil {
			s.Close()
		}
		t.Fatalf("Open on a foreign database: %v, want ErrUnsupportedFormat", err)
	}
}

func TestScopeReadsOwnWrites(t *testing.T) {
	s, _ := openMem(t)
	write(t, s, contents{{"t", 0}: {"a": "1", "b": "2"}}, nil)

	b := s.NewBatch()
	defer b.Close()
	if !b.Empty() {
		t.Error("new batch not empty")
	}
	sc := b.Scope("t", 0)
	key, val := []byte("c"), []byte("3")
	must(t, sc.Set([]byte("a"), []byte("10")))
	must(t, sc.Delete([]byte("b")))
	must(t, sc.Set(key, val))
	must(t, sc.Delete([]byte("never there")))
	key[0], val[0] = 'X', 'X' // Set copied them
	if b.Empty() {
		t.Error("batch with writes is empty")
	}

	for _, tc := range []struct {
		key       string
		batch     string // "" = absent
		committed string
	}{
		{"a", "10", "1"},
		{"b", "", "2"},
		{"c", "3", ""},
		{"X", "", ""},
	} {
		v, ok, err := sc.Get([]byte(tc.key))
		must(t, err)
		if got := strIf(v, ok); got != tc.batch {
			t.Errorf("Scope.Get(%q) = %q, want %q", tc.key, got, tc.batch)
		}
		if ok {
			v[0] = '!' // a copy: must not change the batch
			if again, _, _ := sc.Get([]byte(tc.key)); string(again) != tc.batch {
				t.Errorf("Scope.Get(%q) returned the batch's own memory", tc.key)
			}
		}
		v, ok, err = s.Get("t", 0, []byte(tc.key))
		must(t, err)
		if got := strIf(v, ok); got != tc.committed {
			t.Errorf("Store.Get(%q) before commit = %q, want %q", tc.key, got, tc.committed)
		}
	}
}

func TestBatchUseAfterFinish(t *testing.T) {
	s, _ := openMem(t)
	b := s.NewBatch()
	sc := b.Scope("t", 0)
	must(t, sc.Set([]byte("k"), []byte("v")))
	must(t, b.Commit(false))
	if err := b.Commit(false); !errors.Is(err, state.ErrBatchClosed) {
		t.Errorf("second Commit = %v, want ErrBatchClosed", err)
	}
	if err := sc.Set([]byte("k"), []byte("w")); !errors.Is(err, state.ErrBatchClosed) {
		t.Errorf("Set after Commit = %v, want ErrBatchClosed", err)
	}
	if _, _, err := sc.Get([]byte("k")); !errors.Is(err, state.ErrBatchClosed) {
		t.Errorf("Get after Commit = %v, want ErrBatchClosed", err)
	}
	if err := sc.Delete([]byte("k")); !errors.Is(err, state.ErrBatchClosed) {
		t.Errorf("Delete after Commit = %v, want ErrBatchClosed", err)
	}
	b.SetOffset("t", 0, 1) // a no-op, must not panic
	must(t, b.Close())
	must(t, b.Close())
	if !b.Empty() {
		t.Error("committed batch not empty")
	}
}

// isolationScopes include topics that are prefixes of each other, topics
// holding the escape bytes, and extreme partitions.
var isolationScopes = []tp{
	{"", 0},
	{"a", math.MinInt32},
	{"a", -1},
	{"a", 0},
	{"a", 1},
	{"a", math.MaxInt32},
	{"a\x00", 0},
	{"a\x00\x00\x00\x00\x01", 0},
	{"a\x00\x01", 0},
	{"ab", 0},
	{"b", 0},
}

func TestScopeIsolation(t *testing.T) {
	s, _ := openMem(t)
	want := contents{}
	wantOff := map[tp]int64{}
	b := s.NewBatch()
	for i, scope := range isolationScopes {
		sc := b.Scope(scope.Topic, scope.Partition)
		want[scope] = map[string]string{}
		// The same keys in every scope, including ones that look like the
		// tail of another scope's prefix.
		for _, k := range []string{"k", "", "\x00\x01", "\x00\x00\x00\x00k"} {
			v := fmt.Sprintf("%q=%q", scope, k)
			must(t, sc.Set([]byte(k), []byte(v)))
			want[scope][k] = v
		}
		b.SetOffset(scope.Topic, scope.Partition, int64(i*100))
		wantOff[scope] = int64(i * 100)
	}
	// Uncommitted reads through each scope see only that scope.
	for _, scope := range isolationScopes {
		sc := b.Scope(scope.Topic, scope.Partition)
		for k, wv := range want[scope] {
			v, ok, err := sc.Get([]byte(k))
			must(t, err)
			if !ok || string(v) != wv {
				t.Errorf("uncommitted %v Get(%q) = %q, %v; want %q", scope, k, v, ok, wv)
			}
		}
	}
	must(t, b.Commit(true))

	for _, scope := range isolationScopes {
		for k, wv := range want[scope] {
			v, ok, err := s.Get(scope.Topic, scope.Partition, []byte(k))
			must(t, err)
			if !ok || string(v) != wv {
				t.Errorf("committed %v Get(%q) = %q, %v; want %q", scope, k, v, ok, wv)
			}
		}
		got := map[string]string{}
		must(t, s.Scan(scope.Topic, scope.Partition, nil, func(k, v []byte) error {
			got[string(k)] = string(v)
			return nil
		}))
		if !maps.Equal(got, want[scope]) {
			t.Errorf("Scan(%v) = %q, want %q", scope, got, want[scope])
		}
		if off, ok, err := s.Offset(scope.Topic, scope.Partition); err != nil || !ok || off != wantOff[scope] {
			t.Errorf("Offset(%v) = %d, %v, %v; want %d", scope, off, ok, err, wantOff[scope])
		}
	}
	if got := dump(t, s); !equalContents(got, want) {
		t.Errorf("ScanAll = %q, want %q", got, want)
	}
	if got := offsets(t, s); !maps.Equal(got, wantOff) {
		t.Errorf("Offsets = %v, want %v", got, wantOff)
	}
	parts, err := s.Partitions()
	must(t, err)
	if !slices.Equal(parts, isolationScopes) { // the table is sorted
		t.Errorf("Partitions = %q, want %q", parts, isolationScopes)
	}
	if _, ok, _ := s.Offset("a\x00\x00", 0); ok {
		t.Error("Offset of a scope never written exists")
	}
}

func TestScanPrefixAndOrder(t *testing.T) {
	s, _ := openMem(t)
	write(t, s, contents{
		{"a", 0}:  {"o": "", "p": "a0p", "p/2": "a0p2", "p/1": "a0p1", "q": "", "\xff": ""},
		{"a", 1}:  {"p/1": "a1p1"},
		{"ab", 0}: {"o": "", "q": ""},
		{"b", 0}:  {"p\xff": "b0pff", "\xff\xff": ""},
	}, map[tp]int64{{"c", 0}: 1}) // an offset alone makes no state
	for _, tc := range []struct {
		prefix string
		want   []string // "scope key=value", in order
	}{
		{"p", []string{`a/0 p=a0p`, `a/0 p/1=a0p1`, `a/0 p/2=a0p2`, `a/1 p/1=a1p1`, "b/0 p\xff=b0pff"}},
		{"p/", []string{`a/0 p/1=a0p1`, `a/0 p/2=a0p2`, `a/1 p/1=a1p1`}},
		{"zz", nil},
		{"\xff", []string{"a/0 \xff=", "b/0 \xff\xff="}},
	} {
		var got []string
		must(t, s.ScanAll([]byte(tc.prefix), func(scope tp, k, v []byte) error {
			got = append(got, fmt.Sprintf("%s %s=%s", scope, k, v))
			return nil
		}))
		if !slices.Equal(got, tc.want) {
			t.Errorf("ScanAll(%q) = %q, want %q", tc.prefix, got, tc.want)
		}
		got = nil
		must(t, s.Scan("a", 0, []byte(tc.prefix), func(k, v []byte) error {
			got = append(got, fmt.Sprintf("a/0 %s=%s", k, v))
			return nil
		}))
		var wantA0 []string
		for _, w := range tc.want {
			if w[:4] == "a/0 " {
				wantA0 = append(wantA0, w)
			}
		}
		if !slices.Equal(got, wantA0) {
			t.Errorf("Scan(a/0, %q) = %q, want %q", tc.prefix, got, wantA0)
		}
	}
	stop := errors.New("stop")
	n := 0
	err := s.ScanAll(nil, func(tp, []byte, []byte) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("ScanAll with a failing callback: %v after %d calls, want stop after 1", err, n)
	}
	parts, err := s.Partitions()
	must(t, err)
	if want := []tp{{"a", 0}, {"a", 1}, {"ab", 0}, {"b", 0}, {"c", 0}}; !slices.Equal(parts, want) {
		t.Errorf("Partitions = %v, want %v", parts, want)
	}
}

func TestDigest(t *testing.T) {
	final := contents{
		{"t", 0}: {"a": "1", "b": "2", "c": ""},
		{"t", 1}: {"a": "1"},
		{"u", 0}: {"x": "y"},
	}
	// One store written in one batch; another in reverse order over many
	// batches, with overwrites and deletions on the way, and other offsets.
	one, _ := openMem(t)
	write(t, one, final, map[tp]int64{{"t", 0}: 3})
	many, _ := openMem(t)
	for _, scope := range slices.Backward(slices.SortedFunc(maps.Keys(final), cmpTP)) {
		for _, k := range slices.Backward(slices.Sorted(maps.Keys(final[scope]))) {
			b := many.NewBatch()
			sc := b.Scope(scope.Topic, scope.Partition)
			must(t, sc.Set([]byte(k), []byte("stale")))
			must(t, sc.Set([]byte("gone"), []byte("soon")))
			b.SetOffset(scope.Topic, scope.Partition, 99)
			must(t, b.Commit(false))
			b = many.NewBatch()
			sc = b.Scope(scope.Topic, scope.Partition)
			must(t, sc.Set([]byte(k), []byte(final[scope][k])))
			must(t, sc.Delete([]byte("gone")))
			must(t, b.Commit(false))
		}
	}
	for scope := range final {
		if digest(t, one, scope) != digest(t, many, scope) {
			t.Errorf("Digest(%v) depends on how the contents were written", scope)
		}
	}
	if digestAll(t, one) != digestAll(t, many) {
		t.Error("DigestAll depends on how the contents were written")
	}
	if digest(t, one, tp{"t", 0}) == digest(t, one, tp{"t", 1}) {
		t.Error("scopes with different contents have the same digest")
	}
	if digest(t, one, tp{"none", 0}) != digest(t, many, tp{"none", 0}) {
		t.Error("the digest of an empty scope is not deterministic")
	}

	// Offsets never count.
	before, beforeAll := digest(t, one, tp{"t", 0}), digestAll(t, one)
	write(t, one, nil, map[tp]int64{{"t", 0}: 1000, {"v", 0}: 1})
	if digest(t, one, tp{"t", 0}) != before || digestAll(t, one) != beforeAll {
		t.Error("an offset changed a digest")
	}

	// Each change below must change the digests.
	for _, tc := range []struct {
		name   string
		a, b   contents
		scoped bool // also compare Digest of scope t/0
	}{
		{"value", contents{{"t", 0}: {"k": "1"}}, contents{{"t", 0}: {"k": "2"}}, true},
		{"empty value vs none", contents{{"t", 0}: {"k": ""}}, contents{{"t", 0}: {}}, true},
		{"key/value boundary", contents{{"t", 0}: {"ab": "c"}}, contents{{"t", 0}: {"a": "bc"}}, true},
		{"record boundary", contents{{"t", 0}: {"a": "b", "c": "d"}}, contents{{"t", 0}: {"a": "b\x01c\x01d"}}, true},
		{"partition", contents{{"t", 0}: {"k": "v"}}, contents{{"t", 1}: {"k": "v"}}, false},
		{"topic", contents{{"t", 0}: {"k": "v"}}, contents{{"u", 0}: {"k": "v"}}, false},
		{"topic/key boundary", contents{{"t", 0}: {"k": "v"}}, contents{{"tk", 0}: {"": "v"}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sa, _ := openMem(t)
			sb, _ := openMem(t)
			write(t, sa, tc.a, nil)
			write(t, sb, tc.b, nil)
			if digestAll(t, sa) == digestAll(t, sb) {
				t.Error("DigestAll equal")
			}
			if tc.scoped && digest(t, sa, tp{"t", 0}) == digest(t, sb, tp{"t", 0}) {
				t.Error("Digest equal")
			}
		})
	}
}

// twoStores returns a source with state and offsets in several scopes and a
// target that already holds other contents.
func twoStores(t *testing.T) (src, dst *state.Store) {
	src, _ = openMem(t)
	write(t, src, contents{
		{"t", 0}:     {"a": "1", "b": "2"},
		{"t", 1}:     {"a": "3"},
		{"t\x00", 0}: {"\x00": "\xff"},
	}, map[tp]int64{{"t", 0}: 7, {"t", 1}: 9, {"t\x00", 0}: 1, {"offset-only", 2}: 5})
	dst, _ = openMem(t)
	write(t, dst, contents{
		{"t", 0}:   {"a": "old", "stale": "x"},
		{"old", 0}: {"k": "v"},
	}, map[tp]int64{{"t", 0}: 100, {"old", 0}: 4})
	return src, dst
}

func snapshot(t *testing.T, s *state.Store) []byte {
	t.Helper()
	var buf bytes.Buffer
	must(t, s.Snapshot(&buf))
	return buf.Bytes()
}

func TestSnapshotRestore(t *testing.T) {
	src, dst := twoStores(t)
	snap := snapshot(t, src)
	must(t, dst.Restore(bytes.NewReader(snap)))

	if got, want := dump(t, dst), dump(t, src); !equalContents(got, want) {
		t.Errorf("restored contents %q, want %q", got, want)
	}
	if digestAll(t, dst) != digestAll(t, src) {
		t.Error("restored DigestAll differs")
	}
	if got, want := offsets(t, dst), offsets(t, src); !maps.Equal(got, want) {
		t.Errorf("restored offsets %v, want %v", got, want)
	}
	if _, ok, _ := dst.Get("t", 0, []byte("stale")); ok {
		t.Error("Restore kept a key of the previous contents")
	}
	if _, ok, _ := dst.Offset("old", 0); ok {
		t.Error("Restore kept an offset of the previous contents")
	}
	if again := snapshot(t, dst); !bytes.Equal(again, snap) {
		t.Error("a snapshot of the restored store differs from the one restored")
	}

	// An empty snapshot empties the store.
	empty, _ := openMem(t)
	must(t, dst.Restore(bytes.NewReader(snapshot(t, empty))))
	if got := dump(t, dst); len(got) != 0 {
		t.Errorf("after restoring an empty snapshot: %q", got)
	}
	if got := offsets(t, dst); len(got) != 0 {
		t.Errorf("after restoring an empty snapshot: offsets %v", got)
	}
}

func TestRestoreRefusesCorruptSnapshot(t *testing.T) {
	src, dst := twoStores(t)
	snap := snapshot(t, src)
	wantC, wantO := dump(t, dst), offsets(t, dst)

	type tcase struct {
		name string
		data []byte
	}
	var cases []tcase
	for n := range len(snap) {
		cases = append(cases, tcase{fmt.Sprintf("truncated to %d", n), snap[:n]})
	}
	for bit := range len(snap) * 8 {
		c := slices.Clone(snap)
		c[bit/8] ^= 1 << (bit % 8)
		cases = append(cases, tcase{fmt.Sprintf("bit %d flipped", bit), c})
	}
	cases = append(cases, tcase{"trailing byte", append(slices.Clone(snap), 0)})
	for _, tc := range cases {
		err := dst.Restore(bytes.NewReader(tc.data))
		if !errors.Is(err, state.ErrCorruptSnapshot) {
			t.Errorf("%s: Restore = %v, want ErrCorruptSnapshot", tc.name, err)
		}
	}
	// Streams whose checksum is right but whose contents are not what
	// Snapshot writes: the structure is checked on its own.
	okOffset := []byte("\x00\x00\x00\x00\x00\x00\x00\x01")
	for _, tc := range []struct {
		name    string
		records [][2]string
		count   int
	}{
		{"count too high", [][2]string{{"st\x00\x01\x80\x00\x00\x00k", "v"}}, 2},
		{"count too low", [][2]string{{"st\x00\x01\x80\x00\x00\x00k", "v"}}, 0},
		{"keys out of order", [][2]string{{"st\x00\x01\x80\x00\x00\x00l", ""}, {"st\x00\x01\x80\x00\x00\x00k", ""}}, 2},
		{"duplicate key", [][2]string{{"st\x00\x01\x80\x00\x00\x00k", ""}, {"st\x00\x01\x80\x00\x00\x00k", ""}}, 2},
		{"metadata key", [][2]string{{"mformat", "\x00\x00\x00\x01"}}, 1},
		{"unknown key space", [][2]string{{"x", ""}}, 1},
		{"empty key", [][2]string{{"", ""}}, 1},
		{"unterminated topic", [][2]string{{"st", ""}}, 1},
		{"partition cut short", [][2]string{{"st\x00\x01\x80\x00", ""}}, 1},
		{"offset of 7 bytes", [][2]string{{"ot\x00\x01\x80\x00\x00\x00", string(okOffset[:7])}}, 1},
		{"offset key with a user key", [][2]string{{"ot\x00\x01\x80\x00\x00\x00k", string(okOffset)}}, 1},
	} {
		err := dst.Restore(bytes.NewReader(encodeSnapshot(tc.records, tc.count)))
		if !errors.Is(err, state.ErrCorruptSnapshot) {
			t.Errorf("%s: Restore = %v, want ErrCorruptSnapshot", tc.name, err)
		}
	}
	valid := [][2]string{{"ot\x00\x01\x80\x00\x00\x00", string(okOffset)}, {"st\x00\x01\x80\x00\x00\x00k", "v"}}
	if got := encodeSnapshot(valid, 2); !bytes.Equal(got, snapshotOf(t, contents{{"t", 0}: {"k": "v"}}, map[tp]int64{{"t", 0}: 1})) {
		t.Fatalf("encodeSnapshot does not write what Snapshot writes:\n%q", got)
	}

	// Not corruption, but a failing reader: an error all the same.
	if err := dst.Restore(iotest.TimeoutReader(bytes.NewReader(snap))); err == nil {
		t.Error("Restore from a failing reader succeeded")
	}
	if got := dump(t, dst); !equalContents(got, wantC) {
		t.Errorf("refused restores changed the contents to %q, want %q", got, wantC)
	}
	if got := offsets(t, dst); !maps.Equal(got, wantO) {
		t.Errorf("refused restores changed the offsets to %v, want %v", got, wantO)
	}
}

// encodeSnapshot writes raw records (already in the store's key layout) in
// the documented snapshot format, with a correct checksum.
func encodeSnapshot(records [][2]string, count int) []byte {
	var b bytes.Buffer
	b.WriteString("LMSTATE\x00\x00\x01")
	for _, r := range records {
		b.WriteByte('K')
		b.Write(binary.AppendUvarint(nil, uint64(len(r[0]))))
		b.WriteString(r[0])
		b.Write(binary.AppendUvarint(nil, uint64(len(r[1]))))
		b.WriteString(r[1])
	}
	b.WriteByte('E')
	b.Write(binary.BigEndian.AppendUint64(nil, uint64(count)))
	sum := sha256.Sum256(b.Bytes())
	b.Write(sum[:])
	return b.Bytes()
}

func snapshotOf(t *testing.T, c contents, off map[tp]int64) []byte {
	s, _ := openMem(t)
	write(t, s, c, off)
	return snapshot(t, s)
}

// FuzzRestore: Restore never panics; it either refuses the input and leaves
// the store as it was, or accepts it, and then a snapshot of the result is
// the input byte for byte (the format is canonical).
func FuzzRestore(f *testing.F) {
	src, _ := openMem(f)
	write(f, src, contents{{"t", 0}: {"a": "1"}, {"u", 1}: {"": ""}}, map[tp]int64{{"t", 0}: 2})
	var buf bytes.Buffer
	if err := src.Snapshot(&buf); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add(buf.Bytes()[:20])
	f.Add([]byte("LMSTATE\x00\x00\x01E"))
	dst, _ := openMem(f)
	write(f, dst, contents{{"x", 0}: {"k": "v"}}, map[tp]int64{{"x", 0}: 1})
	wantD, wantO := digestAll(f, dst), offsets(f, dst)
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := dst.Restore(bytes.NewReader(data)); err != nil {
			if digestAll(t, dst) != wantD || !maps.Equal(offsets(t, dst), wantO) {
				t.Fatalf("refused Restore (%v) changed the store", err)
			}
			return
		}
		var out bytes.Buffer
		must(t, dst.Snapshot(&out))
		if !bytes.Equal(out.Bytes(), data) {
			t.Fatalf("accepted %q but it snapshots as %q", data, out.Bytes())
		}
		// Put the original contents back for the next input.
		must(t, dst.Restore(bytes.NewReader(buf.Bytes())))
		wantD, wantO = digestAll(t, dst), offsets(t, dst)
	})
}

func TestResetScope(t *testing.T) {
	s, _ := openMem(t)
	c := contents{
		{"a", 1}:  {"k": "1", "l": "2"},
		{"a", 2}:  {"k": "3"},
		{"a", 0}:  {"k": "4"},
		{"ab", 1}: {"k": "5"},
		{"", 1}:   {"k": "6"},
	}
	off := map[tp]int64{{"a", 1}: 10, {"a", 2}: 20, {"ab", 1}: 30}
	write(t, s, c, off)
	reset := tp{"a", 1}
	before := map[tp][32]byte{}
	for scope := range c {
		before[scope] = digest(t, s, scope)
	}
	must(t, s.ResetScope(reset.Topic, reset.Partition))

	delete(c, reset)
	delete(off, reset)
	if got := dump(t, s); !equalContents(got, c) {
		t.Errorf("after ResetScope(%v): contents %q, want %q", reset, got, c)
	}
	if got := offsets(t, s); !maps.Equal(got, off) {
		t.Errorf("after ResetScope(%v): offsets %v, want %v", reset, got, off)
	}
	for scope := range c {
		if digest(t, s, scope) != before[scope] {
			t.Errorf("ResetScope(%v) changed the digest of %v", reset, scope)
		}
	}
	parts, err := s.Partitions()
	must(t, err)
	if slices.Contains(parts, reset) {
		t.Errorf("Partitions after reset still lists %v", reset)
	}
	must(t, s.ResetScope("never", 0)) // resetting an empty scope is fine
}

func TestClose(t *testing.T) {
	s, err := state.Open("db", &state.Options{FS: vfs.NewMem()})
	must(t, err)
	write(t, s, contents{{"t", 0}: {"k": "v"}}, nil)
	pending := s.NewBatch()
	must(t, pending.Scope("t", 0).Set([]byte("k"), []byte("w")))

	// Readers racing with Close either succeed or get ErrClosed.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				if _, _, err := s.Get("t", 0, []byte("k")); err != nil {
					if !errors.Is(err, state.ErrClosed) {
						t.Errorf("Get during Close: %v", err)
					}
					return
				}
			}
		})
	}
	must(t, s.Close())
	wg.Wait()
	must(t, s.Close()) // idempotent

	checks := map[string]error{}
	_, _, checks["Get"] = s.Get("t", 0, []byte("k"))
	_, _, checks["Offset"] = s.Offset("t", 0)
	_, checks["Offsets"] = s.Offsets()
	_, checks["Partitions"] = s.Partitions()
	_, checks["Digest"] = s.Digest("t", 0)
	_, checks["DigestAll"] = s.DigestAll()
	checks["Scan"] = s.Scan("t", 0, nil, func(k, v []byte) error { return nil })
	checks["ScanAll"] = s.ScanAll(nil, func(tp, []byte, []byte) error { return nil })
	checks["ResetScope"] = s.ResetScope("t", 0)
	checks["Snapshot"] = s.Snapshot(&bytes.Buffer{})
	checks["Restore"] = s.Restore(&bytes.Buffer{})
	_, _, checks["Scope.Get of a pending batch"] = pending.Scope("t", 0).Get([]byte("k"))
	checks["Commit of a pending batch"] = pending.Commit(true)
	late := s.NewBatch()
	checks["Scope.Set of a new batch"] = late.Scope("t", 0).Set([]byte("k"), nil)
	checks["Commit of a new batch"] = late.Commit(true)
	for name, err := range checks {
		if !errors.Is(err, state.ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
	must(t, late.Close())
}

// TestConcurrentCommits commits from one goroutine per partition while
// snapshots are taken, and checks in every snapshot that each partition's
// state matches its offset: no snapshot sees one without the other.
func TestConcurrentCommits(t *testing.T) {
	s, _ := openMem(t)
	const parts, commits = 4, 50
	var wg sync.WaitGroup
	for p := range int32(parts) {
		wg.Go(func() {
			for i := range int64(commits) {
				b := s.NewBatch()
				sc := b.Scope("t", p)
				if err := sc.Set([]byte("n"), fmt.Appendf(nil, "%d", i+1)); err != nil {
					t.Error(err)
					b.Close()
					return
				}
				b.SetOffset("t", p, i+1)
				if err := b.Commit(false); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	var snaps [][]byte
	wg.Go(func() {
		for range 20 {
			var buf bytes.Buffer
			if err := s.Snapshot(&buf); err != nil {
				t.Error(err)
				return
			}
			snaps = append(snaps, buf.Bytes())
		}
	})
	wg.Wait()
	snaps = append(snaps, snapshot(t, s))
	check, _ := openMem(t)
	for i, snap := range snaps {
		must(t, check.Restore(bytes.NewReader(snap)))
		for scope, off := range offsets(t, check) {
			v, ok, err := check.Get(scope.Topic, scope.Partition, []byte("n"))
			must(t, err)
			if !ok || string(v) != fmt.Sprint(off) {
				t.Errorf("snapshot %d: %v has offset %d but state %q", i, scope, off, v)
			}
		}
	}
	if got := offsets(t, s); len(got) != parts {
		t.Errorf("offsets %v, want %d partitions", got, parts)
	}
	for scope, off := range offsets(t, s) {
		if off != commits {
			t.Errorf("%v: offset %d, want %d", scope, off, commits)
		}
	}
}

// BenchmarkCommit commits batches of 1000 keys with 100-byte values and an
// offset, without sync, on the OS filesystem. Sub-benchmarks: keys in
// increasing order, keys in random order, and a baseline with increasing keys
// but no offset. The baseline is faster only because the offset key sorts
// apart from the state keys, so with it every flushed memtable overlaps the
// earlier ones and Pebble must compact; random keys overlap anyway.
func BenchmarkCommit(b *testing.B) {
	const keys = 1000
	for _, bc := range []struct {
		name      string
		random    bool
		setOffset bool
	}{
		{"sequential", false, true},
		{"random", true, true},
		{"sequential-no-offset-baseline", false, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := openOn(b, vfs.Default, b.TempDir())
			value := bytes.Repeat([]byte("v"), 100)
			key := make([]byte, 0, 32)
			rng := rand.New(rand.NewPCG(1, 2))
			var n int64
			for b.Loop() {
				batch := s.NewBatch()
				sc := batch.Scope("logmesh.raw.events", 0)
				for range keys {
					id := uint64(n)
					if bc.random {
						id = rng.Uint64()
					}
					key = fmt.Appendf(key[:0], "file/%020d", id)
					if err := sc.Set(key, value); err != nil {
						b.Fatal(err)
					}
					n++
				}
				if bc.setOffset {
					batch.SetOffset("logmesh.raw.events", 0, n)
				}
				if err := batch.Commit(false); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "keys/s")
		})
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func strIf(v []byte, ok bool) string {
	if !ok {
		return ""
	}
	return string(v)
}

// quietLogger keeps a plain Pebble database's messages out of test output.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

// Checkpoints gives, for every scope with state or an offset, the offset and
// exactly the digest Digest gives.
func TestCheckpoints(t *testing.T) {
	s, _ := openMem(t)
	write(t, s, contents{{"t", 0}: {"a": "1", "b": "2"}, {"t", 1}: {"a": "1"}, {"u", 0}: {"x": "y"}},
		map[tp]int64{{"t", 0}: 3, {"t", 1}: 9, {"v", 2}: 5})
	cps, err := s.Checkpoints()
	must(t, err)
	want := map[tp]struct {
		next int64
		has  bool
	}{{"t", 0}: {3, true}, {"t", 1}: {9, true}, {"u", 0}: {0, false}, {"v", 2}: {5, true}}
	if len(cps) != len(want) {
		t.Fatalf("checkpoints %v, want %d scopes", cps, len(want))
	}
	for scope, w := range want {
		c := cps[scope]
		if c.Next != w.next || c.HasOffset != w.has {
			t.Errorf("%v: offset %d %v, want %d %v", scope, c.Next, c.HasOffset, w.next, w.has)
		}
		if c.Digest != digest(t, s, scope) {
			t.Errorf("%v: checkpoint digest differs from Digest", scope)
		}
	}
}
