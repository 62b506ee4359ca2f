// Package ingesttest generates the ingest workload shared by the benchmarks
// (bench) and the memory check (bench/rsscheck): a deterministic
// 10-column file of trade fills, as CSV or as NDJSON with the same rows, the
// feeds that read them, the same rows as the validator types them, and a
// wait for the loader's result. Test support
// only; nothing in the platform imports it.
package ingesttest

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkaconn"
	"github.com/logmesh/logmesh/internal/logview"
)

// MeshYAML defines the feeds of the generated files, fills (CSV, table
// raw.fills) and fills_json (NDJSON, table raw.fills_json), with the same
// contract: append mode and no unique_key, so the loader keeps no per-key
// state and its memory stays bounded whatever the row count.
const MeshYAML = `
domains:
  - name: raw
feeds:
  - name: fills
    table: raw.fills
    key_pattern: "fills/*.csv"
    format: csv
    options: {header: true}
    mode: append
    schema: &fill
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
  - name: fills_json
    table: raw.fills_json
    key_pattern: "fills/*.ndjson"
    format: ndjson
    mode: append
    schema: *fill
`

// Format is a generated file's format: "csv" or "ndjson", as the feeds of
// MeshYAML name them.
type Format string

// The formats Write generates.
const (
	CSV    Format = "csv"
	NDJSON Format = "ndjson"
)

// Feed returns the feed of MeshYAML that reads format f and its table.
func (f Format) Feed() (feed, table string) {
	if f == NDJSON {
		return "fills_json", "raw.fills_json"
	}
	return "fills", "raw.fills"
}

// Header is the CSV header line.
const Header = "id,ref,account,symbol,qty,seq,price,fee,traded_at,note\n"

var (
	symbols = []string{"AAPL", "MSFT", "GOOG", "AMZN", "NVDA", "TSLA", "META", "IBM"}
	// Epoch is the traded_at of row 0.
	Epoch = time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
)

// The columns of row i, shared by the CSV and the typed rows so both
// describe the same data. Row i is deterministic.
func rowAccount(i int) int64         { return int64(i) * 7919 % 1_000_000 }
func rowQty(i int) int64             { return int64(i%1000 + 1) }
func rowPriceCents(i int) int64      { return 1000 + int64(i)*31%500_000 }
func rowFeeMils(i int) (int64, bool) { return int64(i % 5000), i%7 != 0 } // every 7th fee is null
func rowTradedAt(i int) time.Time    { return Epoch.Add(time.Duration(i) * 1237 * time.Microsecond) }
func rowQuoted(i int) bool           { return i%10 == 0 }

const (
	plainNote  = "plain note"
	quotedNote = `quoted, with "escapes"`
)

// AppendCSVRow appends row i as a CSV line, about 100 bytes.
func AppendCSVRow(b []byte, i int) []byte {
	b = strconv.AppendInt(b, int64(i), 10)
	b = append(b, ",T-"...)
	b = appendPadded(b, int64(i), 10)
	b = append(b, ",ACC-"...)
	b = appendPadded(b, rowAccount(i), 6)
	b = append(b, ',')
	b = append(b, symbols[i%len(symbols)]...)
	b = append(b, ',')
	b = strconv.AppendInt(b, rowQty(i), 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(int32(i)), 10)
	b = append(b, ',')
	b = strconv.AppendFloat(b, float64(rowPriceCents(i))/100, 'f', -1, 64)
	b = append(b, ',')
	if fee, ok := rowFeeMils(i); ok {
		b = strconv.AppendFloat(b, float64(fee)/1000, 'f', -1, 64)
	}
	b = append(b, ',')
	b = rowTradedAt(i).AppendFormat(b, "2006-01-02T15:04:05.000000Z07:00")
	b = append(b, ',')
	if rowQuoted(i) {
		b = append(b, `"quoted, with ""escapes"""`...)
	} else {
		b = append(b, plainNote...)
	}
	return append(b, '\n')
}

// AppendNDJSONRow appends row i as an NDJSON line: the CSV row's values
// as a JSON object (numbers as numbers, the null fee as null, traded_at as
// the same RFC 3339 text), about 190 bytes.
func AppendNDJSONRow(b []byte, i int) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, int64(i), 10)
	b = append(b, `,"ref":"T-`...)
	b = appendPadded(b, int64(i), 10)
	b = append(b, `","account":"ACC-`...)
	b = appendPadded(b, rowAccount(i), 6)
	b = append(b, `","symbol":"`...)
	b = append(b, symbols[i%len(symbols)]...)
	b = append(b, `","qty":`...)
	b = strconv.AppendInt(b, rowQty(i), 10)
	b = append(b, `,"seq":`...)
	b = strconv.AppendInt(b, int64(int32(i)), 10)
	b = append(b, `,"price":`...)
	b = strconv.AppendFloat(b, float64(rowPriceCents(i))/100, 'f', -1, 64)
	b = append(b, `,"fee":`...)
	if fee, ok := rowFeeMils(i); ok {
		b = strconv.AppendFloat(b, float64(fee)/1000, 'f', -1, 64)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"traded_at":"`...)
	b = rowTradedAt(i).AppendFormat(b, "2006-01-02T15:04:05.000000Z07:00")
	b = append(b, `","note":`...)
	if rowQuoted(i) {
		b = append(b, `"quoted, with \"escapes\""`...)
	} else {
		b = append(b, `"`+plainNote+`"`...)
	}
	return append(b, "}\n"...)
}

func appendPadded(b []byte, v int64, width int) []byte {
	var d [20]byte
	s := strconv.AppendInt(d[:0], v, 10)
	for range width - len(s) {
		b = append(b, '0')
	}
	return append(b, s...)
}

// TypedRow fills row (10 values) with row i as the validator types it
// (docs/ingestion.md, "Typed rows"), in schema order.
func TypedRow(row []any, i int) {
	row[0] = int64(i)
	row[1] = string(appendPadded([]byte("T-"), int64(i), 10))
	row[2] = string(appendPadded([]byte("ACC-"), rowAccount(i), 6))
	row[3] = symbols[i%len(symbols)]
	row[4] = rowQty(i)
	row[5] = int32(i)
	row[6] = float64(rowPriceCents(i)) / 100
	if fee, ok := rowFeeMils(i); ok {
		row[7] = float64(fee) / 1000
	} else {
		row[7] = nil
	}
	row[8] = rowTradedAt(i)
	if rowQuoted(i) {
		row[9] = quotedNote
	} else {
		row[9] = plainNote
	}
}

// WriteCSV writes the header and rows 0, 1, ... to path until more(rows,
// bytes) is false, streaming through a 1 MiB buffer (the file is never held
// in memory). It returns the file's batch entry under key and the row count.
func WriteCSV(path, key string, more func(rows, bytes int64) bool) (events.BatchFile, int64, error) {
	return Write(path, key, CSV, more)
}

// Write is WriteCSV in format f: for NDJSON, no header and a JSON object
// per line.
func Write(path, key string, f Format, more func(rows, bytes int64) bool) (events.BatchFile, int64, error) {
	fh, err := os.Create(path)
	if err != nil {
		return events.BatchFile{}, 0, err
	}
	defer fh.Close()
	sum := sha256.New()
	w := bufio.NewWriterSize(io.MultiWriter(fh, sum), 1<<20)
	appendRow := AppendNDJSONRow
	var written int64
	if f != NDJSON {
		n, _ := w.WriteString(Header)
		written, appendRow = int64(n), AppendCSVRow
	}
	line := make([]byte, 0, 256)
	var rows int64
	for ; more(rows, written); rows++ {
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

// FileProcessed reads the raw domain topic through the log view, catching
// up again and again until ctx ends, until it finds the FileProcessed of
// batchID.
func FileProcessed(ctx context.Context, codec *events.Codec, brokers []string, batchID string) (*events.FileProcessed, error) {
	v, err := logview.New(kafkaconn.Plain(brokers...), events.TopicNames(events.DomainTopic(events.DomainRaw)))
	if err != nil {
		return nil, err
	}
	defer v.Close()
	var found *events.FileProcessed
	find := logview.Events(ctx, codec, func(_ *kgo.Record, ev events.Event) error {
		if fp, ok := ev.(*events.FileProcessed); ok && fp.BatchID == batchID {
			found = fp
		}
		return nil
	}, nil, events.NameFileProcessed)
	for found == nil {
		if _, err := v.CatchUp(ctx, find); err != nil {
			return nil, fmt.Errorf("no FileProcessed for batch %s: %w", batchID, err)
		}
		if found != nil {
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no FileProcessed for batch %s: %w", batchID, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return found, nil
}
