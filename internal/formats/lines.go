package formats

import (
	"bufio"
	"io"
)

// lineReader reads lines of at most max bytes (terminator excluded) from a
// bufio.Reader, for the line-based formats.
type lineReader struct {
	br  *bufio.Reader
	max int
	buf []byte // a long line being assembled
	n   int64  // lines read so far
}

func newLineReader(r io.Reader, max int) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(r, bufSize(max)), max: max}
}

// next returns the next line without its "\n" or "\r\n". A final line
// without a terminator counts. For a line longer than max, tooLong is set,
// line holds its first max bytes and the rest has been skipped. At the end
// of the input err is io.EOF; any other error is the input's.
func (l *lineReader) next() (line []byte, tooLong bool, err error) {
	b, err := l.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		l.buf = append(l.buf[:0], b...)
		for err == bufio.ErrBufferFull {
			b, err = l.br.ReadSlice('\n')
			if room := l.max + 2 - len(l.buf); room > 0 {
				// Keep up to max+2 bytes: enough to tell a line of
				// max bytes plus "\r\n" from a longer one.
				l.buf = append(l.buf, b[:min(room, len(b))]...)
			} else {
				tooLong = true
			}
		}
		b = l.buf
	}
	if err != nil && err != io.EOF {
		return nil, false, err
	}
	if len(b) == 0 && err == io.EOF && !tooLong {
		return nil, false, io.EOF
	}
	l.n++
	if !tooLong {
		b = trimNewline(b)
	}
	if len(b) > l.max {
		tooLong = true
		b = b[:l.max]
	}
	return b, tooLong, nil
}
