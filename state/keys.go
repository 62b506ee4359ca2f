package state

import (
	"encoding/binary"
	"fmt"
)

// Key space prefixes. Every key in the Pebble database starts with one of
// these bytes; see the package documentation for the full layout.
const (
	prefixMeta   = 'm'
	prefixOffset = 'o'
	prefixState  = 's'
)

// metaFormatKey holds the store's layout version as a 4-byte big-endian
// integer.
var metaFormatKey = []byte{prefixMeta, 'f', 'o', 'r', 'm', 'a', 't'}

// formatVersion is the key layout written by this package. Open refuses a
// store whose marker holds any other value.
const formatVersion uint32 = 1

const (
	escByte    = 0x00 // introduces an escape or the terminator in a topic
	escLiteral = 0xFF // 0x00 0xFF is a literal 0x00 inside a topic
	escEnd     = 0x01 // 0x00 0x01 ends the topic
	partLen    = 4
	offsetLen  = 8
	signFlip   = 0x80000000
)

// appendScope appends the escaped topic, its terminator and the partition to
// dst. The encoding is prefix-free (no scope's encoding is a prefix of
// another's) and preserves the order (topic, partition), so scopes sort as
// their TopicPartition values do.
func appendScope(dst []byte, topic string, partition int32) []byte {
	for i := 0; i < len(topic); i++ {
		c := topic[i]
		if c == escByte {
			dst = append(dst, escByte, escLiteral)
			continue
		}
		dst = append(dst, c)
	}
	dst = append(dst, escByte, escEnd)
	return binary.BigEndian.AppendUint32(dst, uint32(partition)^signFlip)
}

// stateKey returns the key under which key of scope (topic, partition) is
// stored, appended to dst.
func stateKey(dst []byte, topic string, partition int32, key []byte) []byte {
	dst = append(dst, prefixState)
	dst = appendScope(dst, topic, partition)
	return append(dst, key...)
}

// stateScopePrefix returns the prefix shared by every state key of a scope.
func stateScopePrefix(topic string, partition int32) []byte {
	return stateKey(nil, topic, partition, nil)
}

// offsetKey returns the key holding the next offset of (topic, partition).
func offsetKey(topic string, partition int32) []byte {
	return appendScope([]byte{prefixOffset}, topic, partition)
}

// decodeScope decodes the scope at the start of b (which excludes the key-space
// prefix byte). It returns the scope and the length of its encoding.
func decodeScope(b []byte) (tp TopicPartition, n int, err error) {
	var topic []byte
	start := 0 // first byte of the topic not yet copied into topic
	for i := 0; i < len(b); i++ {
		if b[i] != escByte {
			continue
		}
		if i+1 >= len(b) {
			return tp, 0, fmt.Errorf("%w: topic escape cut short", ErrCorrupt)
		}
		switch b[i+1] {
		case escLiteral:
			topic = append(topic, b[start:i+1]...) // up to and including the 0x00
			i++
			start = i + 1
		case escEnd:
			topic = append(topic, b[start:i]...)
			end := i + 2
			if len(b) < end+partLen {
				return tp, 0, fmt.Errorf("%w: partition cut short", ErrCorrupt)
			}
			p := int32(binary.BigEndian.Uint32(b[end:]) ^ signFlip)
			return TopicPartition{Topic: string(topic), Partition: p}, end + partLen, nil
		default:
			return tp, 0, fmt.Errorf("%w: bad topic escape 0x%02x", ErrCorrupt, b[i+1])
		}
	}
	return tp, 0, fmt.Errorf("%w: topic not terminated", ErrCorrupt)
}

// prefixSuccessor returns the smallest key greater than every key that has
// prefix p, or nil if there is none (p is empty or all 0xFF).
func prefixSuccessor(p []byte) []byte {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] != 0xFF {
			s := make([]byte, i+1)
			copy(s, p)
			s[i]++
			return s
		}
	}
	return nil
}
