// Package hostile generates the hostile-input corpus of the ingestion
// suite: malformed, truncated, wrongly encoded and malicious files, one per
// case, each with the outcome the platform must give it. The committed copy
// lives in cmd/logmesh/testdata/hostile; regenerate it with
//
//	go generate ./internal/ingesttest/hostile
//
// which runs the check of cmd/logmesh with -update. Anything large (the
// 100 MB lines) is not in Files: WriteLine writes it at test time. Test support
// only; nothing in the platform imports it.
package hostile

//go:generate go test -count=1 -run TestHostileCorpusCommitted ../../../cmd/logmesh -update

import (
	"bufio"
	"fmt"
	"io"
	"path"
	"strings"
	"unicode/utf16"
)

// Outcome is a file's final audit status, as `logmesh files` names it.
type Outcome string

// The outcomes a hostile file may get.
const (
	Processed Outcome = "PROCESSED"
	Failed    Outcome = "FAILED"
	Unmatched Outcome = "UNMATCHED"
)

// File is one case of the corpus. It is plain data.
type File struct {
	// Key is the landing key, which is also its path under the corpus
	// directory: the folder names the format (csv/, ndjson/, json/, xml/,
	// fixed/), which the suite's mesh (MeshYAML) maps to a feed.
	Key string
	// Content is the file's bytes.
	Content []byte
	// Outcome is the status the file must end in.
	Outcome Outcome
	// Reason is a fragment, lower case, that the file's error or one of its
	// rejections must contain; empty only for a PROCESSED file with no
	// rejection.
	Reason string
	// Rejected is how many records must be rejected, -1 for any number.
	Rejected int
	// AtTestTime marks a case too large to commit (the deep nestings):
	// the suite generates it from Files when it runs, never from the
	// corpus directory.
	AtTestTime bool
}

// MeshYAML is the suite's mesh: one feed per format, each reading the
// corpus folder of that format. The CSV, NDJSON, JSON and XML records have
// fields a (string) and b (long); fixed-width lines have a (columns 1-4)
// and b (5-8).
const MeshYAML = `# The hostile-input suite's mesh (internal/ingesttest/hostile).
domains:
  - name: raw
feeds:
  - name: h_csv
    table: raw.h_csv
    key_pattern: "csv/*.csv"
    format: csv
    options: {header: true}
    schema: &ab
      type: record
      name: AB
      fields:
        - {name: a, type: string}
        - {name: b, type: long}
    mode: append
    reject_threshold: 0.5
  - name: h_ndjson
    table: raw.h_ndjson
    key_pattern: "ndjson/*.ndjson"
    format: ndjson
    schema: *ab
    mode: append
    reject_threshold: 0.5
  - name: h_json
    table: raw.h_json
    key_pattern: "json/*.json"
    format: json
    schema: *ab
    mode: append
    reject_threshold: 0.5
  - name: h_xml
    table: raw.h_xml
    key_pattern: "xml/*.xml"
    format: xml
    options: {record_path: "rs/r"}
    schema: *ab
    mode: append
    reject_threshold: 0.5
  - name: h_fixed
    table: raw.h_fixed
    key_pattern: "fixed/*.txt"
    format: fixed-width
    options:
      fixed_width:
        - {name: a, start: 1, width: 4}
        - {name: b, start: 5, width: 4}
    schema: *ab
    mode: append
    reject_threshold: 0.5
`

// Files returns the corpus, deterministically, in key order of its
// folders. The cases to commit (not AtTestTime) are well under 100 kB
// together.
func Files() []File {
	const csvGood = "a,b\nx,1\ny,2\n"
	nested := strings.Repeat("<n>", 100_000) // no closing tags needed: it fails first
	var out []File
	add := func(key string, content []byte, o Outcome, reason string, rejected int) {
		out = append(out, File{Key: key, Content: content, Outcome: o, Reason: reason, Rejected: rejected,
			AtTestTime: len(content) > 32<<10})
	}
	s := func(v string) []byte { return []byte(v) }

	// CSV.
	add("csv/empty.csv", nil, Failed, "empty", 0)
	add("csv/truncated.csv", s("a,b\nx,1\ny,\"2"), Failed, "quote", -1)
	add("csv/ragged-short.csv", s("a,b\nx,1\ny\nz,3\n"), Processed, "field", 1)
	add("csv/ragged-long.csv", s("a,b\nx,1\ny,2,extra\nz,3\n"), Processed, "field", 1)
	add("csv/unbalanced-quote.csv", s("a,b\n\"x,1\ny,2\n"), Failed, "quote", -1)
	add("csv/invalid-utf8.csv", s("a,b\nx\xff\xfe,1\ny,2\n"), Processed, "utf-8", 1)
	add("csv/nul-in-field.csv", s("a,b\nx\x00y,1\nz,2\n"), Failed, "binary", 0)
	add("csv/nul-in-field-after-8k.csv", s("a,b\n"+padRows(8<<10)+"x\x00y,1\nz,2\n"), Processed, "control", 1)
	add("csv/utf16le-bom.csv", utf16LE(csvGood, true), Failed, "byte order mark", 0)
	add("csv/utf16le-nobom.csv", utf16LE(csvGood, false), Failed, "utf-16", 0)
	add("csv/utf16be-bom.csv", utf16BE(csvGood, true), Failed, "byte order mark", 0)

	// NDJSON.
	add("ndjson/empty.ndjson", nil, Processed, "", 0) // zero records is a valid NDJSON file
	add("ndjson/invalid-utf8.ndjson", s(`{"a":"x","b":1}`+"\n"+"{\"a\":\"y\xff\",\"b\":2}\n"+`{"a":"z","b":3}`+"\n"), Processed, "utf-8", 1)
	add("ndjson/utf16le-bom.ndjson", utf16LE(`{"a":"x","b":1}`+"\n", true), Failed, "byte order mark", 0)
	add("ndjson/truncated.ndjson", s("{\"a\":\"x\",\"b\":1}\n{\"a\":\"y\",\"b\":2}\n{\"a\":\"z\",\"b\""), Processed, "json", 1)
	add("ndjson/huge-numbers.ndjson", s(`{"a":"x","b":1}`+"\n"+`{"a":"y","b":1e400}`+"\n"+`{"a":"z","b":`+strings.Repeat("9", 10_000)+"}\n"+`{"a":"w","b":2}`+"\n"), Processed, "b", 2)
	add("ndjson/duplicate-keys.ndjson", s(`{"a":"x","b":1}`+"\n"+`{"a":"y","a":"z","b":2}`+"\n"+`{"a":"w","b":3}`+"\n"), Processed, "duplicate", 1)
	add("ndjson/deep-nesting.ndjson", s(`{"a":"x","b":1}`+"\n"+`{"a":`+strings.Repeat("[", 100_000)+"\n"+`{"a":"w","b":3}`+"\n"), Processed, "", 1)

	// JSON.
	add("json/empty.json", nil, Failed, "empty", 0)
	add("json/truncated.json", s(`[{"a":"x","b":1},{"a":"y","b":2},{"a":"z","b`), Failed, "", -1)
	add("json/huge-numbers.json", s(`[{"a":"x","b":1},{"a":"y","b":1e400},{"a":"z","b":`+strings.Repeat("9", 10_000)+`},{"a":"w","b":2}]`), Processed, "b", 2)
	add("json/duplicate-keys.json", s(`[{"a":"x","b":1},{"a":"y","a":"z","b":2},{"a":"w","b":3}]`), Processed, "duplicate", 1)
	add("json/deep-nesting.json", s(strings.Repeat("[", 100_000)), Failed, "", -1)
	add("json/deep-nesting-in-record.json", s(`[{"a":"x","b":1},{"a":`+strings.Repeat("[", 100_000)), Failed, "", -1)

	// XML.
	add("xml/empty.xml", nil, Failed, "empty", 0)
	add("xml/truncated.xml", s(`<?xml version="1.0"?><rs><r><a>x</a><b>1</b></r><r><a>y</a><b>2`), Failed, "", -1)
	add("xml/billion-laughs.xml", s(billionLaughs), Failed, "entity", 0)
	add("xml/external-entity.xml", s(`<?xml version="1.0"?>`+"\n"+`<!DOCTYPE rs [<!ENTITY x SYSTEM "file:///etc/passwd">]>`+"\n"+`<rs><r><a>&x;</a><b>1</b></r></rs>`), Failed, "entity", 0)
	add("xml/deep-nesting.xml", s(`<?xml version="1.0"?><rs><r><a>x</a><b>1</b></r>`+nested), Failed, "nested deeper", -1)
	add("xml/deep-nesting-in-record.xml", s(`<?xml version="1.0"?><rs><r><a>x</a><b>1</b></r><r><a>`+nested), Failed, "nested deeper", -1)
	add("xml/invalid-utf8.xml", s("<?xml version=\"1.0\"?><rs><r><a>x\xff</a><b>1</b></r></rs>"), Failed, "utf-8", -1)
	add("xml/utf16be-bom.xml", utf16BE(`<?xml version="1.0"?><rs><r><a>x</a><b>1</b></r></rs>`, true), Processed, "", 0)
	add("xml/utf16le-nobom.xml", utf16LE(`<?xml version="1.0"?><rs><r><a>x</a><b>1</b></r></rs>`, false), Processed, "", 0)

	// Fixed width.
	add("fixed/empty.txt", nil, Processed, "", 0) // zero lines is a valid fixed-width file
	add("fixed/truncated.txt", s("x      1\ny      2\nz  "), Processed, "", 1)
	add("fixed/nul-in-field.txt", s("x\x00y   1\nz      2\n"), Failed, "binary", 0)
	return out
}

// padRows returns good CSV rows (a,b) of at least n bytes.
func padRows(n int) string {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "pad%d,%d\n", i, i)
	}
	return b.String()
}

// billionLaughs is the classic entity-expansion bomb: ten levels of ten
// references, 10^9 "lol"s if a parser expanded them.
var billionLaughs = func() string {
	var b strings.Builder
	b.WriteString("<?xml version=\"1.0\"?>\n<!DOCTYPE rs [\n  <!ENTITY lol0 \"lol\">\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&b, "  <!ENTITY lol%d \"%s\">\n", i, strings.Repeat(fmt.Sprintf("&lol%d;", i-1), 10))
	}
	b.WriteString("]>\n<rs><r><a>&lol9;</a><b>1</b></r></rs>\n")
	return b.String()
}()

func utf16LE(s string, bom bool) []byte {
	var out []byte
	if bom {
		out = append(out, 0xff, 0xfe)
	}
	for _, u := range utf16.Encode([]rune(s)) {
		out = append(out, byte(u), byte(u>>8))
	}
	return out
}

func utf16BE(s string, bom bool) []byte {
	var out []byte
	if bom {
		out = append(out, 0xfe, 0xff)
	}
	for _, u := range utf16.Encode([]rune(s)) {
		out = append(out, byte(u>>8), byte(u))
	}
	return out
}

// LineSize is the size of the one long line of Lines: 100 MB.
const LineSize = 100 << 20

// Lines returns the cases of one line of LineSize bytes, one per
// format but XML, with the Content left empty: WriteLine writes each at
// test time, never into the repository.
func Lines() []File {
	return []File{
		{Key: "ndjson/one-line-100mb.ndjson", Outcome: Processed, Reason: "line over", Rejected: 1},
		// CSV and JSON cannot find the next record after one too large
		// (formats.Options.MaxRecordBytes): the file fails.
		{Key: "csv/one-line-100mb.csv", Outcome: Failed, Reason: "too large", Rejected: 0},
		{Key: "json/one-line-100mb.json", Outcome: Failed, Reason: "too large", Rejected: 0},
		{Key: "fixed/one-line-100mb.txt", Outcome: Processed, Reason: "line over", Rejected: 1},
	}
}

// WriteLine writes the file of a case of Lines to w: a good record, one
// record of size bytes on one line, and two good records. It streams
// through a small buffer, so it never holds the line in memory.
func WriteLine(w io.Writer, key string, size int64) error {
	var head, tail string
	switch path.Ext(key) {
	case ".ndjson":
		head, tail = `{"a":"x","b":1}`+"\n"+`{"a":"`, `","b":2}`+"\n"+`{"a":"y","b":3}`+"\n"+`{"a":"z","b":4}`+"\n"
	case ".json":
		head, tail = `[{"a":"x","b":1},{"a":"`, `","b":2},{"a":"y","b":3},{"a":"z","b":4}]`
	case ".csv":
		head, tail = "a,b\nx,1\n", ",2\ny,3\nz,4\n"
	case ".txt":
		head, tail = "x      1\n", "      2\ny      3\nz      4\n"
	default:
		return fmt.Errorf("hostile: line: no long-line case for %s", key)
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	if _, err := bw.WriteString(head); err != nil {
		return fmt.Errorf("hostile: line %s: %w", key, err)
	}
	chunk := []byte(strings.Repeat("A", 64<<10))
	for n := int64(0); n < size; {
		m := min(int64(len(chunk)), size-n)
		if _, err := bw.Write(chunk[:m]); err != nil {
			return fmt.Errorf("hostile: line %s: %w", key, err)
		}
		n += m
	}
	if _, err := bw.WriteString(tail); err != nil {
		return fmt.Errorf("hostile: line %s: %w", key, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("hostile: line %s: %w", key, err)
	}
	return nil
}
