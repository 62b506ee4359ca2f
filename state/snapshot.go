package state

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/cockroachdb/pebble/v2"
)

// Snapshot stream format, version 1. All integers are big-endian unless
// noted.
//
//	magic    8 bytes  "LMSTATE\x00"
//	version  2 bytes  1
//	records  any number of:
//	           tag 'K', key length (uvarint), key, value length (uvarint), value
//	         with the store's raw keys (offsets and state, not metadata, see the
//	         package doc) in strictly increasing order
//	trailer  tag 'E', record count (8 bytes), SHA-256 of every byte before it
//	         (32 bytes); the stream ends there
const (
	snapshotMagic   = "LMSTATE\x00"
	snapshotVersion = 1
	tagRecord       = 'K'
	tagEnd          = 'E'
	// maxFieldLen bounds a key or value in a stream: Pebble batches are
	// limited to 4 GiB. Restore reads fields progressively, so a corrupt
	// length cannot make it allocate more than the stream holds.
	maxFieldLen = 1<<32 - 1
)

// Snapshot writes a consistent point-in-time copy of the whole store (every
// scope's state and every offset) to w, in a versioned and checksummed
// stream that Restore reads. Writes committed while it runs are not included.
// Snapshot does not close w. Safe for concurrent use with everything but
// Close, which waits for it.
func (s *Store) Snapshot(w io.Writer) (err error) {
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.release()
	snap := s.db.NewSnapshot()
	defer snap.Close()

	h := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(w, h), 64<<10)
	bw.WriteString(snapshotMagic)
	bw.Write(binary.BigEndian.AppendUint16(nil, snapshotVersion))

	it, err := snap.NewIter(&pebble.IterOptions{
		LowerBound: []byte{prefixOffset},
		UpperBound: []byte{prefixState + 1},
	})
	if err != nil {
		return fmt.Errorf("state: snapshot: %w", err)
	}
	defer func() { err = errors.Join(err, it.Close()) }()
	var (
		n   uint64
		buf [binary.MaxVarintLen64]byte
	)
	for ok := it.First(); ok; ok = it.Next() {
		if k := it.Key(); k[0] != prefixOffset && k[0] != prefixState {
			continue // no other key space exists today; skip any future one
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return fmt.Errorf("state: snapshot: %w", err)
		}
		bw.WriteByte(tagRecord)
		bw.Write(buf[:binary.PutUvarint(buf[:], uint64(len(it.Key())))])
		bw.Write(it.Key())
		bw.Write(buf[:binary.PutUvarint(buf[:], uint64(len(v)))])
		if _, err := bw.Write(v); err != nil {
			return fmt.Errorf("state: snapshot: write: %w", err)
		}
		n++
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("state: snapshot: %w", err)
	}
	bw.WriteByte(tagEnd)
	bw.Write(binary.BigEndian.AppendUint64(nil, n))
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("state: snapshot: write: %w", err)
	}
	// The checksum covers everything before it, so it goes straight to w.
	if _, err := w.Write(h.Sum(nil)); err != nil {
		return fmt.Errorf("state: snapshot: write: %w", err)
	}
	return nil
}

// Restore replaces the whole contents of the store (every scope's state and
// every offset) by the snapshot read from r, which must hold exactly one
// stream written by Snapshot. The stream is verified (structure, key order,
// record count and checksum) while it is loaded into a batch that is
// committed, with sync, only if all of it is intact; a truncated or corrupt
// stream is refused with an error wrapping ErrCorruptSnapshot and leaves the
// store as it was. The loaded snapshot is held in memory until the commit.
//
// Restore is safe to call concurrently with reads, which see the old or the
// new contents, never a mix. Batches committed concurrently may land before
// or after it, so a host should stop applying records while it restores.
// Restore does not close r.
func (s *Store) Restore(r io.Reader) error {
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.release()
	b := s.db.NewBatch()
	defer b.Close()
	if err := loadSnapshot(b, r); err != nil {
		return fmt.Errorf("state: restore: %w", err)
	}
	s.filter.disable() // before the restored keys can be read
	if err := b.Commit(s.write(true)); err != nil {
		return fmt.Errorf("state: restore: %w", err)
	}
	return nil
}

// hashingReader feeds every byte it reads into a hash.
type hashingReader struct {
	r *bufio.Reader
	h hash.Hash
}

func (hr *hashingReader) Read(p []byte) (int, error) {
	n, err := hr.r.Read(p)
	hr.h.Write(p[:n])
	return n, err
}

func (hr *hashingReader) ReadByte() (byte, error) {
	c, err := hr.r.ReadByte()
	if err == nil {
		hr.h.Write([]byte{c})
	}
	return c, err
}

// corrupt wraps a read error as a corrupt stream; a stream that ends early is
// corrupt too (truncated), other read errors are reported as they are.
func corrupt(what string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: truncated in %s", ErrCorruptSnapshot, what)
	}
	return fmt.Errorf("read %s: %w", what, err)
}

// loadSnapshot verifies the stream in r while it writes its contents, after
// a deletion of all current contents, into b.
func loadSnapshot(b *pebble.Batch, r io.Reader) error {
	hr := &hashingReader{r: bufio.NewReaderSize(r, 64<<10), h: sha256.New()}
	var head [len(snapshotMagic) + 2]byte
	if _, err := io.ReadFull(hr, head[:]); err != nil {
		return corrupt("header", err)
	}
	if string(head[:len(snapshotMagic)]) != snapshotMagic {
		return fmt.Errorf("%w: bad magic %q", ErrCorruptSnapshot, head[:len(snapshotMagic)])
	}
	if v := binary.BigEndian.Uint16(head[len(snapshotMagic):]); v != snapshotVersion {
		return fmt.Errorf("%w: unsupported version %d", ErrCorruptSnapshot, v)
	}
	for _, p := range []byte{prefixOffset, prefixState} {
		if err := b.DeleteRange([]byte{p}, []byte{p + 1}, nil); err != nil {
			return err
		}
	}
	var (
		n         uint64
		prev, key bytes.Buffer
		val       bytes.Buffer
	)
	for {
		tag, err := hr.ReadByte()
		if err != nil {
			return corrupt("record tag", err)
		}
		if tag == tagEnd {
			break
		}
		if tag != tagRecord {
			return fmt.Errorf("%w: bad tag 0x%02x after %d records", ErrCorruptSnapshot, tag, n)
		}
		if err := readField(hr, &key, "key"); err != nil {
			return err
		}
		if err := readField(hr, &val, "value"); err != nil {
			return err
		}
		k := key.Bytes()
		if n > 0 && bytes.Compare(prev.Bytes(), k) >= 0 {
			return fmt.Errorf("%w: key %q out of order", ErrCorruptSnapshot, k)
		}
		if err := checkRecord(k, val.Bytes()); err != nil {
			return fmt.Errorf("%w: %w", ErrCorruptSnapshot, err)
		}
		if err := b.Set(k, val.Bytes(), nil); err != nil {
			return err
		}
		prev, key = key, prev // keep k as prev, reuse the old buffer
		n++
	}
	var count [8]byte
	if _, err := io.ReadFull(hr, count[:]); err != nil {
		return corrupt("trailer", err)
	}
	if got := binary.BigEndian.Uint64(count[:]); got != n {
		return fmt.Errorf("%w: trailer counts %d records, stream holds %d", ErrCorruptSnapshot, got, n)
	}
	want := hr.h.Sum(nil)
	var sum [sha256.Size]byte
	if _, err := io.ReadFull(hr.r, sum[:]); err != nil {
		return corrupt("checksum", err)
	}
	if !bytes.Equal(sum[:], want) {
		return fmt.Errorf("%w: checksum mismatch", ErrCorruptSnapshot)
	}
	if _, err := hr.r.ReadByte(); err != io.EOF {
		if err != nil {
			return fmt.Errorf("read after checksum: %w", err)
		}
		return fmt.Errorf("%w: trailing bytes after checksum", ErrCorruptSnapshot)
	}
	return nil
}

// readField reads one uvarint-length-prefixed field into buf, growing it only
// as data arrives.
func readField(hr *hashingReader, buf *bytes.Buffer, what string) error {
	l, err := binary.ReadUvarint(hr)
	if err != nil {
		return corrupt(what+" length", err)
	}
	if l > maxFieldLen {
		return fmt.Errorf("%w: %s length %d", ErrCorruptSnapshot, what, l)
	}
	buf.Reset()
	if _, err := io.CopyN(buf, hr, int64(l)); err != nil {
		return corrupt(what, err)
	}
	return nil
}

// checkRecord verifies that k is a well-formed offset or state key and, for
// an offset, that v is one.
func checkRecord(k, v []byte) error {
	if len(k) == 0 {
		return errors.New("empty key")
	}
	switch k[0] {
	case prefixOffset:
		_, _, err := decodeOffset(k, v)
		return err
	case prefixState:
		if _, _, err := decodeScope(k[1:]); err != nil {
			return fmt.Errorf("state key %q: %w", k, err)
		}
		return nil
	}
	return fmt.Errorf("key %q outside the offset and state key spaces", k)
}
