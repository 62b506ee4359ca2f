package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/logmesh/logmesh/events"
)

// feedYAML defines the feed of the generated CSV: ten columns (ids,
// strings, ints, doubles, a nullable double, a timestamp), append mode and
// no unique_key, so the loader keeps no per-key state. The same shape as
// bench's ingest figures.
const feedYAML = `
domains:
  - name: raw
feeds:
  - name: fills
    table: raw.fills
    key_pattern: "fills/*.csv"
    format: csv
    options: {header: true}
    mode: append
    schema:
      type: record
      name: Fill
      fields:
        - {name: id, type: long}
        - {name: ref, type: string}
        - {name: account, type: string}
        - {name: symbol, type: string}
        - {name: qty, type: long}
        - {name: seq, type: int}
        - {name: price, type: double}
        - {name: fee, type: ["null", double]}
        - {name: traded_at, type: {type: long, logicalType: timestamp-micros}}
        - {name: note, type: string}
`

const csvHeader = "id,ref,account,symbol,qty,seq,price,fee,traded_at,note\n"

var (
	symbols = []string{"AAPL", "MSFT", "GOOG", "AMZN", "NVDA", "TSLA", "META", "IBM"}
	epoch   = time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
)

// appendRow appends row i of the generated file, about 100 bytes. Rows are
// deterministic; every 7th fee is empty (null) and every 10th note is
// quoted with a comma and escaped quotes.
func appendRow(b []byte, i int) []byte {
	b = strconv.AppendInt(b, int64(i), 10)
	b = append(b, ",T-"...)
	b = appendPadded(b, int64(i), 10)
	b = append(b, ",ACC-"...)
	b = appendPadded(b, int64(i)*7919%1_000_000, 6)
	b = append(b, ',')
	b = append(b, symbols[i%len(symbols)]...)
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(i%1000+1), 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(int32(i)), 10)
	b = append(b, ',')
	b = strconv.AppendFloat(b, float64(1000+int64(i)*31%500_000)/100, 'f', -1, 64)
	b = append(b, ',')
	if i%7 != 0 {
		b = strconv.AppendFloat(b, float64(i%5000)/1000, 'f', -1, 64)
	}
	b = append(b, ',')
	b = epoch.Add(time.Duration(i)*1237*time.Microsecond).AppendFormat(b, "2006-01-02T15:04:05.000000Z07:00")
	if i%10 == 0 {
		b = append(b, `,"quoted, with ""escapes"""`...)
	} else {
		b = append(b, ",plain note"...)
	}
	return append(b, '\n')
}

func appendPadded(b []byte, v int64, width int) []byte {
	var d [20]byte
	s := strconv.AppendInt(d[:0], v, 10)
	for range width - len(s) {
		b = append(b, '0')
	}
	return append(b, s...)
}

// writeCSV writes the header and whole rows under dir/key until the file
// holds at least size bytes, streaming through a 1 MiB buffer (the file is
// never held in memory). It returns the file's batch entry and row count.
func writeCSV(dir, key string, size int64) (events.BatchFile, int64, error) {
	path := filepath.Join(dir, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return events.BatchFile{}, 0, err
	}
	fh, err := os.Create(path)
	if err != nil {
		return events.BatchFile{}, 0, err
	}
	defer fh.Close()
	sum := sha256.New()
	w := bufio.NewWriterSize(io.MultiWriter(fh, sum), 1<<20)
	n, _ := w.WriteString(csvHeader)
	written := int64(n)
	line := make([]byte, 0, 256)
	var rows int64
	for ; written < size; rows++ {
		line = appendRow(line[:0], int(rows))
		n, _ := w.Write(line)
		written += int64(n)
	}
	if err := w.Flush(); err != nil {
		return events.BatchFile{}, 0, err
	}
	if err := fh.Close(); err != nil {
		return events.BatchFile{}, 0, err
	}
	return events.BatchFile{Key: key, Checksum: hex.EncodeToString(sum.Sum(nil)), Size: written}, rows, nil
}
