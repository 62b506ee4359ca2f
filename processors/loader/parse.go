package loader

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"

	"github.com/logmesh/logmesh/internal/formats"
	"github.com/logmesh/logmesh/mesh"
)

// The parse-ahead of scan: a goroutine reads and parses a file (and hashes
// it) while the caller validates the records it parsed before. The two
// hand over whole batches of records through a fixed set of buffers, so
// the parser runs at most parseBuffers-1 batches ahead and memory stays
// bounded whatever the file's size.
const (
	// parseBatch is the most records in one batch.
	parseBatch = 256
	// parseBatchBytes closes a batch early once its field values and raw
	// text reach this size, so wide records do not make batches large.
	parseBatchBytes = 256 << 10
	// parseBuffers is the number of batches: one being filled, one being
	// validated, the rest waiting.
	parseBuffers = 4
)

// parsedItem is a record or a bad record. A record's Fields and Raw point
// into its batch's arenas.
type parsedItem struct {
	rec    formats.Record
	recErr *formats.RecordError
}

// parsedBatch is a batch of records in file order, with the arenas their
// Fields and Raw are copied into: a Reader's Record is valid only until
// its next Next, and the batch outlives many.
type parsedBatch struct {
	items  []parsedItem
	fields []formats.Field
	raw    []byte
	bytes  int
}

func (b *parsedBatch) reset() {
	clear(b.items) // drop references to the strings of the last use
	clear(b.fields)
	b.items, b.fields, b.raw, b.bytes = b.items[:0], b.fields[:0], b.raw[:0], 0
}

// add copies rec into the batch. Raw is kept up to maxRaw+1 bytes, as
// much as a RecordRejected can tell (its raw text and whether it was
// truncated).
func (b *parsedBatch) add(rec formats.Record) {
	start := len(b.fields)
	b.fields = append(b.fields, rec.Fields...)
	rec.Fields = b.fields[start:len(b.fields):len(b.fields)]
	for i := range rec.Fields {
		b.bytes += len(rec.Fields[i].Value)
	}
	if rec.Raw != nil {
		raw := rec.Raw[:min(len(rec.Raw), maxRaw+1)]
		start := len(b.raw)
		b.raw = append(b.raw, raw...)
		rec.Raw = b.raw[start:len(b.raw):len(b.raw)]
		b.bytes += len(raw)
	}
	b.items = append(b.items, parsedItem{rec: rec})
}

func (b *parsedBatch) full() bool {
	return len(b.items) >= parseBatch || b.bytes >= parseBatchBytes
}

// parser is the goroutine of one scan. The caller receives batches from
// full, hands each back through free when it is done with it, and calls
// stop when it is done with the file; err is the scan's outcome once full
// is closed.
type parser struct {
	full chan *parsedBatch
	free chan *parsedBatch
	quit chan struct{}
	done chan struct{}
	once sync.Once
	err  error // set before full is closed
}

// startParse starts parsing rc, the content of a file that landed with
// checksum and size; the caller closes rc after stop.
func (l *batchLoader) startParse(ctx context.Context, feed *mesh.Feed, checksum string, size int64, rc io.Reader) *parser {
	p := &parser{
		full: make(chan *parsedBatch, parseBuffers),
		free: make(chan *parsedBatch, parseBuffers),
		quit: make(chan struct{}),
		done: make(chan struct{}),
	}
	for range parseBuffers {
		p.free <- &parsedBatch{}
	}
	l.running.Add(1)
	go func() {
		defer close(p.done)
		defer l.running.Add(-1)
		p.err = p.run(ctx, l.parsers, feed, checksum, size, rc)
		close(p.full)
	}()
	return p
}

// errStopped ends a parser stopped by its caller; nobody sees it.
var errStopped = errors.New("loader: parser stopped")

// run parses rc to the end and checks its checksum, sending the records in
// batches. Its error is what scan returns after the records. A file that
// fails to parse is read on to its landed size, to tell a file that changed
// after it landed (then the reason is the change, not the parse error its
// new content gives) from one that landed unparsable.
func (p *parser) run(ctx context.Context, parsers *formats.Registry, feed *mesh.Feed, checksum string, size int64, rc io.Reader) error {
	sum := sha256.New()
	read := &countingReader{r: io.TeeReader(rc, sum)}
	broken := func(err error) error {
		if why := changedSinceLanding(ctx, read, sum, size, checksum); why != "" {
			return &brokenFile{"read", why + " (as it is now, it fails to parse: " + err.Error() + ")"}
		}
		return &brokenFile{"parse", err.Error()}
	}
	r, err := parsers.Open(feed.Format, read, feed.ParserOptions())
	if err != nil {
		return broken(err)
	}
	for {
		var b *parsedBatch
		select {
		case b = <-p.free:
		case <-p.quit:
			return errStopped
		case <-ctx.Done():
			return ctx.Err()
		}
		b.reset()
		var end error // io.EOF or a broken file, after b's records
		for !b.full() {
			rec, err := r.Next()
			if err == nil {
				b.add(rec)
				continue
			}
			if err == io.EOF {
				end = io.EOF
				break
			}
			var re *formats.RecordError
			if errors.As(err, &re) {
				b.items = append(b.items, parsedItem{recErr: re})
				b.bytes += len(re.Raw)
				continue
			}
			end = broken(err)
			break
		}
		if len(b.items) == 0 {
			p.free <- b // never blocks: free holds every buffer
		} else {
			select {
			case p.full <- b:
			case <-p.quit:
				return errStopped
			}
		}
		switch {
		case end == io.EOF:
			// Drain what the parser did not need, so the checksum covers
			// the file.
			if _, err := io.Copy(io.Discard, read); err != nil {
				return &brokenFile{"read", err.Error()}
			}
			if got := hex.EncodeToString(sum.Sum(nil)); got != checksum {
				return &brokenFile{"read", fmt.Sprintf("checksum %s, landed as %s: the file changed after it landed", got, checksum)}
			}
			return nil
		case end != nil:
			return end
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}

// changedSinceLanding reads the rest of a file, whose bytes read so far
// went through sum, up to its landed size (and one byte more), and says
// how it differs from what landed, or "" if it does not (or cannot be read
// on: then the caller's error stands).
func changedSinceLanding(ctx context.Context, read *countingReader, sum hash.Hash, size int64, checksum string) string {
	if read.n > size {
		return fmt.Sprintf("the file changed after it landed: %d bytes read, it landed with %d", read.n, size)
	}
	for read.n <= size {
		if ctx.Err() != nil {
			return ""
		}
		n, err := io.CopyN(io.Discard, read, min(size+1-read.n, 1<<20))
		if err == io.EOF || (err == nil && n == 0) {
			break
		}
		if err != nil {
			return ""
		}
	}
	switch {
	case read.n != size:
		return fmt.Sprintf("the file changed after it landed: it has %d bytes now, it landed with %d", read.n, size)
	case hex.EncodeToString(sum.Sum(nil)) != checksum:
		return fmt.Sprintf("checksum %s, landed as %s: the file changed after it landed", hex.EncodeToString(sum.Sum(nil)), checksum)
	}
	return ""
}

// next returns the next batch, or ok false once the parser has ended, with
// its outcome in p.err.
func (p *parser) next(ctx context.Context) (b *parsedBatch, ok bool, err error) {
	select {
	case b, ok = <-p.full:
		return b, ok, nil
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
}

// stop ends the parser and waits for its goroutine, which then no longer
// reads the file. Safe to call more than once.
func (p *parser) stop() {
	p.once.Do(func() { close(p.quit) })
	<-p.done
}
