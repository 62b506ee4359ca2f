package state

import (
	"bytes"
	"math"
	"slices"
	"testing"
)

var encodingScopes = []TopicPartition{
	{"", 0},
	{"a", math.MinInt32},
	{"a", -1},
	{"a", 0},
	{"a", 1},
	{"a", 256},
	{"a", math.MaxInt32},
	{"a\x00", 0},
	{"a\x00\x00\x00\x00\x00", 0},
	{"a\x00\x01", 0},
	{"a\x00\xff", 7},
	{"a\x01", 0},
	{"ab", 0},
	{"b\xff\xff", math.MaxInt32},
}

// TestScopeEncoding checks the three properties the key layout relies on:
// encodings round-trip, none is a prefix of another (so scopes never see each
// other's keys), and they sort as TopicPartition.Compare does.
func TestScopeEncoding(t *testing.T) {
	if !slices.IsSortedFunc(encodingScopes, TopicPartition.Compare) {
		t.Fatal("test table is not sorted")
	}
	enc := make([][]byte, len(encodingScopes))
	for i, tp := range encodingScopes {
		enc[i] = appendScope(nil, tp.Topic, tp.Partition)
		got, n, err := decodeScope(append(slices.Clone(enc[i]), "userkey"...))
		if err != nil || got != tp || n != len(enc[i]) {
			t.Errorf("decode(encode(%q)) = %q, %d, %v; want %q, %d", tp, got, n, err, tp, len(enc[i]))
		}
	}
	for i := range enc {
		for j := range enc {
			if i != j && bytes.HasPrefix(enc[i], enc[j]) {
				t.Errorf("encoding of %q is a prefix of that of %q", encodingScopes[j], encodingScopes[i])
			}
			if i < j && bytes.Compare(enc[i], enc[j]) >= 0 {
				t.Errorf("encoding of %q does not sort before that of %q", encodingScopes[i], encodingScopes[j])
			}
		}
	}
}

func TestPrefixSuccessor(t *testing.T) {
	for _, tc := range []struct{ in, want []byte }{
		{nil, nil},
		{[]byte{0xff, 0xff}, nil},
		{[]byte("a"), []byte("b")},
		{[]byte{'a', 0xff}, []byte("b")},
		{[]byte{'a', 0x00}, []byte{'a', 0x01}},
	} {
		if got := prefixSuccessor(tc.in); !bytes.Equal(got, tc.want) {
			t.Errorf("prefixSuccessor(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzDecodeScope: decoding never panics, and whatever decodes re-encodes to
// exactly the bytes it was decoded from.
func FuzzDecodeScope(f *testing.F) {
	for _, tp := range encodingScopes {
		f.Add(appendScope(nil, tp.Topic, tp.Partition))
	}
	f.Add([]byte{0x00})
	f.Add([]byte{0x00, 0x02, 1, 2, 3, 4})
	f.Fuzz(func(t *testing.T, b []byte) {
		tp, n, err := decodeScope(b)
		if err != nil {
			return
		}
		if re := appendScope(nil, tp.Topic, tp.Partition); !bytes.Equal(re, b[:n]) {
			t.Fatalf("decode(%q) = %q, which encodes to %q", b[:n], tp, re)
		}
	})
}
