package events

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
)

// NewID returns a random event id for a root event (one that no other event
// caused), formatted as a version 4 UUID. It reads crypto/rand. Safe for
// concurrent use.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])  // never returns an error (crypto/rand, Go 1.24+)
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 9562 variant
	return formatUUID(b)
}

// DeriveID returns a deterministic event id for a derived event: the first
// 128 bits of the SHA-256 of the length-prefixed parts, formatted as a
// version 8 UUID. The same parts always give the same id, so a replayed or
// retried derivation produces the same event id and consumers can drop the
// duplicate. Length prefixes make ("ab","c") and ("a","bc") differ.
//
// A typical call is DeriveID(cause.Meta().EventID, NameFileProcessed, fileKey).
// Safe for concurrent use.
func DeriveID(parts ...string) string {
	h := sha256.New()
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(parts)))
	h.Write(n[:])
	for _, p := range parts {
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write([]byte(p))
	}
	var b [16]byte
	copy(b[:], h.Sum(nil))
	b[6] = b[6]&0x0f | 0x80 // version 8 (custom, hash-based)
	b[8] = b[8]&0x3f | 0x80 // RFC 9562 variant
	return formatUUID(b)
}

func formatUUID(b [16]byte) string {
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:36], b[10:16])
	return string(s[:])
}

// Keyer is implemented by events that choose their own Kafka record key, for
// example BatchPlanned and TableCommitted, which are keyed by table so that
// one partition (and so one loader) owns a table.
type Keyer interface {
	// Key returns the record key; "" means use the default.
	Key() string
}

// Key returns the Kafka record key for ev: its Keyer key if it has a
// non-empty one, else its correlation id, else its event id.
func Key(ev Event) string {
	if k, ok := ev.(Keyer); ok {
		if key := k.Key(); key != "" {
			return key
		}
	}
	if m := ev.Meta(); m.CorrelationID != "" {
		return m.CorrelationID
	}
	return ev.Meta().EventID
}
