package tables

import (
	"errors"
	"fmt"
	"io"

	icebergio "github.com/apache/iceberg-go/io"
	"github.com/parquet-go/parquet-go"
)

// dataWriter streams rows into Parquet data files named
// <dir>/<prefix>-<n><suffix>.parquet, rolling to a new file at the target size and
// flushing a row group at the row-group size, so its memory is bounded by
// about one row group. Not safe for concurrent use; Close (or Abort) must
// be called.
type dataWriter struct {
	fs        icebergio.WriteFileIO
	schema    *parquet.Schema
	dir       string
	prefix    string
	suffix    string
	target    int64
	rowGroup  int64
	n         int // files started
	files     []string
	rows      int64 // rows written, all files
	out       icebergio.FileWriter
	w         *parquet.Writer
	flushedAt int64 // w.Size() after the last row-group flush
	buf       []parquet.Row
	pending   int // rows in buf
}

const writeBatch = 256

func newDataWriter(fs icebergio.WriteFileIO, schema *parquet.Schema, dir, prefix, suffix string, target, rowGroup int64) *dataWriter {
	return &dataWriter{fs: fs, schema: schema, dir: dir, prefix: prefix, suffix: suffix, target: target, rowGroup: rowGroup,
		buf: make([]parquet.Row, writeBatch)}
}

// writerOptions are the options of every data file writer: the schema
// (whose leaves carry the column encodings, see kind.parquet) and zstd.
func writerOptions(schema *parquet.Schema) []parquet.WriterOption {
	return []parquet.WriterOption{
		schema,
		parquet.Compression(&parquet.Zstd),
		parquet.CreatedBy("logmesh", "", ""),
	}
}

// row returns a reusable row to fill; it is written by commitRow.
func (d *dataWriter) row() parquet.Row { return d.buf[d.pending] }

// commitRow queues the row last returned by row (possibly grown) for
// writing.
func (d *dataWriter) commitRow(r parquet.Row) error {
	d.buf[d.pending] = r
	d.pending++
	if d.pending == len(d.buf) {
		return d.flushBuf()
	}
	return nil
}

func (d *dataWriter) flushBuf() error {
	if d.pending == 0 {
		return nil
	}
	if d.w == nil {
		loc := fmt.Sprintf("%s/%s-%d%s.parquet", d.dir, d.prefix, d.n, d.suffix)
		out, err := d.fs.Create(loc)
		if err != nil {
			return fmt.Errorf("tables: create %s: %w", loc, err)
		}
		d.n++
		d.files = append(d.files, loc)
		d.out = out
		d.w = parquet.NewWriter(out, writerOptions(d.schema)...)
		d.flushedAt = 0
	}
	if _, err := d.w.WriteRows(d.buf[:d.pending]); err != nil {
		return fmt.Errorf("tables: write %s: %w", d.files[len(d.files)-1], err)
	}
	d.rows += int64(d.pending)
	d.pending = 0
	size := d.w.Size()
	switch {
	case size >= d.target:
		return d.closeFile()
	case size-d.flushedAt >= d.rowGroup:
		if err := d.w.Flush(); err != nil {
			return fmt.Errorf("tables: write %s: %w", d.files[len(d.files)-1], err)
		}
		d.flushedAt = d.w.Size()
	}
	return nil
}

func (d *dataWriter) closeFile() error {
	if d.w == nil {
		return nil
	}
	loc := d.files[len(d.files)-1]
	err := d.w.Close()
	if cerr := d.out.Close(); err == nil {
		err = cerr
	}
	d.w, d.out = nil, nil
	if err != nil {
		return fmt.Errorf("tables: close %s: %w", loc, err)
	}
	return nil
}

// Close writes buffered rows and closes the current file. It returns the
// locations of all files written.
func (d *dataWriter) Close() ([]string, error) {
	if err := d.flushBuf(); err != nil {
		d.Abort()
		return nil, err
	}
	if err := d.closeFile(); err != nil {
		d.Abort()
		return nil, err
	}
	return d.files, nil
}

// Abort closes and removes every file written (best effort); files left
// behind are uncommitted garbage that vacuum collects.
func (d *dataWriter) Abort() {
	if d.out != nil {
		d.out.Close()
		d.w, d.out = nil, nil
	}
	for _, f := range d.files {
		_ = d.fs.Remove(f)
	}
	d.files = nil
}

// fileRows streams the rows of one Parquet data file as typed rows aligned
// with l, mapping columns by name. The returned function yields until
// io.EOF. Call close when done.
func readFile(fs icebergio.IO, loc string, l *layout, fn func(row []any) error) (err error) {
	f, err := fs.Open(loc)
	if err != nil {
		return fmt.Errorf("tables: open %s: %w", loc, err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("tables: stat %s: %w", loc, err)
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		return fmt.Errorf("tables: open parquet %s: %w", loc, err)
	}
	colOf := make([]int, len(l.fields))
	for i := range colOf {
		colOf[i] = -1
	}
	for ci, path := range pf.Schema().Columns() {
		if len(path) == 1 {
			if i, ok := l.byName[path[0]]; ok {
				colOf[i] = ci
			}
		}
	}
	for i, c := range colOf {
		if c < 0 {
			return fmt.Errorf("%w: %s has no column %q", ErrSchemaMismatch, loc, l.fields[i].name)
		}
	}
	buf := make([]parquet.Row, 128)
	var typed []any
	for _, rg := range pf.RowGroups() {
		rows := rg.Rows()
		for {
			n, rerr := rows.ReadRows(buf)
			for _, r := range buf[:n] {
				typed = l.fromParquet(typed, r, colOf)
				if err := fn(typed); err != nil {
					rows.Close()
					return err
				}
			}
			if rerr != nil {
				rows.Close()
				if errors.Is(rerr, io.EOF) {
					break
				}
				return fmt.Errorf("tables: read %s: %w", loc, rerr)
			}
		}
	}
	return nil
}
