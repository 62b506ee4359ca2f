package formats

import (
	"bytes"
	"fmt"
	"io"
)

// window sits between the decoded input and a streaming decoder
// (encoding/csv, encoding/json, encoding/xml) that buffers a whole record.
// It refuses to deliver more than max+1 bytes past the start of the current
// record (the mark), which bounds the decoder's memory: these decoders read
// only when the record they are on is not complete yet, so running into the
// limit means the record is larger than max. With keep set it also retains
// the bytes since the mark, for Record.Raw and line counting.
type window struct {
	r    io.Reader
	max  int64
	pos  int64 // bytes delivered so far
	base int64 // offset of the mark
	keep bool
	buf  []byte // with keep: buf[off:] holds the bytes base..pos
	off  int
	nl   int64 // with keep: newlines before base
}

func newWindow(r io.Reader, max int, keep bool) *window {
	return &window{r: r, max: int64(max), keep: keep}
}

func (w *window) Read(p []byte) (int, error) {
	room := w.base + w.max + 1 - w.pos
	if room <= 0 {
		return 0, fmt.Errorf("%w: over %d bytes", ErrTooLarge, w.max)
	}
	if int64(len(p)) > room {
		p = p[:room]
	}
	n, err := w.r.Read(p)
	if n > 0 {
		w.pos += int64(n)
		if w.keep {
			if w.off > 0 && len(w.buf)+n > cap(w.buf) {
				k := copy(w.buf, w.buf[w.off:])
				w.buf = w.buf[:k]
				w.off = 0
			}
			w.buf = append(w.buf, p[:n]...)
		}
	}
	return n, err
}

// mark moves the mark to offset (base <= offset <= pos), forgetting the
// bytes before it.
func (w *window) mark(offset int64) {
	if offset <= w.base {
		return
	}
	if w.keep {
		n := int(offset - w.base)
		w.nl += int64(bytes.Count(w.buf[w.off:w.off+n], nl))
		w.off += n
		if w.off == len(w.buf) {
			w.buf, w.off = w.buf[:0], 0
		}
	}
	w.base = offset
}

// span returns the retained bytes from offset from to offset to, both
// between base and pos. It needs keep.
func (w *window) span(from, to int64) []byte {
	if from < w.base || to > w.pos || from > to {
		return nil
	}
	return w.buf[w.off+int(from-w.base) : w.off+int(to-w.base)]
}

// lineAt returns the 1-based line of offset (base <= offset <= pos). It
// needs keep.
func (w *window) lineAt(offset int64) int64 {
	return w.nl + int64(bytes.Count(w.span(w.base, offset), nl)) + 1
}

var nl = []byte{'\n'}
