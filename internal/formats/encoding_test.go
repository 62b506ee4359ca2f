package formats_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/logmesh/logmesh/internal/formats"
)

// utf16Bytes encodes s as UTF-16, little- or big-endian, with or without a
// byte order mark.
func utf16Bytes(s string, bigEndian, bom bool) []byte {
	units := utf16.Encode([]rune(s))
	if bom {
		units = append([]uint16{0xFEFF}, units...)
	}
	out := make([]byte, 0, 2*len(units))
	for _, u := range units {
		if bigEndian {
			out = append(out, byte(u>>8), byte(u))
		} else {
			out = append(out, byte(u), byte(u>>8))
		}
	}
	return out
}

// sample is one small file per built-in format, with the options to read
// it and the records it holds. The text has an accented letter and a
// character outside the BMP (a surrogate pair in UTF-16).
var samples = []struct {
	format string
	text   string
	opts   formats.Options
	fields [][]string
}{
	{"csv", "id,name\r\n1,café\r\n2,\"x 😀\"\r\n", formats.Defaults(),
		[][]string{{"id=1", "name=café"}, {"id=2", "name=x 😀"}}},
	{"ndjson", "{\"id\":1,\"name\":\"café\"}\n{\"id\":2,\"name\":\"x 😀\"}\n", formats.Options{},
		[][]string{{"id=1", "name=café"}, {"id=2", "name=x 😀"}}},
	{"json", "[{\"id\":1,\"name\":\"café\"},\n {\"id\":2,\"name\":\"x 😀\"}]", formats.Options{},
		[][]string{{"id=1", "name=café"}, {"id=2", "name=x 😀"}}},
	{"xml", "<?xml version=\"1.0\" encoding=\"UTF-16\"?>\n<r><t><id>1</id><name>café</name></t><t><id>2</id><name>x 😀</name></t></r>",
		formats.Options{RecordPath: "t"},
		[][]string{{"id=1", "name=café"}, {"id=2", "name=x 😀"}}},
	{"fixed-width", "1 café\n2 x 😀\n", formats.Options{FixedWidth: []formats.Column{{Name: "id", Start: 1, Width: 1}, {Name: "name", Start: 3, Width: 10}}},
		[][]string{{"id=1", "name=café"}, {"id=2", "name=x 😀"}}},
}

func TestUTF16(t *testing.T) {
	encodings := []struct {
		name           string
		bigEndian, bom bool
	}{
		{"utf-16le", false, false},
		{"utf-16le", false, true},
		{"UTF-16LE", false, true},
		{"utf-16be", true, false},
		{"utf-16be", true, true},
		{"utf-16", false, true},
		{"utf-16", true, true},
		{"utf16", true, true},
	}
	for _, s := range samples {
		for _, enc := range encodings {
			t.Run(fmt.Sprintf("%s/%s/bigEndian=%v,bom=%v", s.format, enc.name, enc.bigEndian, enc.bom), func(t *testing.T) {
				in := utf16Bytes(s.text, enc.bigEndian, enc.bom)
				opts := s.opts
				opts.Encoding = enc.name
				rd, err := formats.NewRegistry().Open(s.format, bytes.NewReader(in), opts)
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				check{fields: s.fields}.verify(t, drain(t, rd, len(in)+2))
			})
		}
	}
}

// TestXMLUTF16Detected: with no Encoding, an XML file in UTF-16 is read as
// such from its byte order mark or from "<?" in UTF-16 (XML 1.0 appendix F).
func TestXMLUTF16Detected(t *testing.T) {
	s := samples[3]
	for _, tt := range []struct{ bigEndian, bom bool }{{false, true}, {true, true}, {false, false}, {true, false}} {
		t.Run(fmt.Sprintf("bigEndian=%v,bom=%v", tt.bigEndian, tt.bom), func(t *testing.T) {
			in := utf16Bytes(s.text, tt.bigEndian, tt.bom)
			rd, err := formats.NewRegistry().Open("xml", bytes.NewReader(in), s.opts)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			check{fields: s.fields}.verify(t, drain(t, rd, len(in)+2))
		})
	}
	// A declaration that reads as ASCII cannot be telling the truth.
	_, err := open(t, "xml", `<?xml version="1.0" encoding="UTF-16"?><r/>`, formats.Options{})
	if !errors.Is(err, formats.ErrEncoding) || !strings.Contains(err.Error(), `names encoding "UTF-16", but the file is not UTF-16`) {
		t.Errorf("Open of an ASCII file declaring UTF-16: %v, want ErrEncoding", err)
	}
}

// TestEncodingMismatch: a byte order mark (or UTF-16 text) under another
// encoding fails Open with a message that names the encoding to set.
func TestEncodingMismatch(t *testing.T) {
	const text = "id,name\n1,ann\n2,bob\n"
	le, be := utf16Bytes(text, false, true), utf16Bytes(text, true, true)
	tests := []struct {
		name string
		in   []byte
		enc  string
		want string
	}{
		{"UTF-16LE BOM as the default utf-8", le, "", `file starts with a UTF-16LE byte order mark; set the feed's encoding to "utf-16le"`},
		{"UTF-16BE BOM as utf-8", be, "utf-8", `file starts with a UTF-16BE byte order mark; set the feed's encoding to "utf-16be"`},
		{"UTF-16LE BOM as latin1", le, "latin1", `file starts with a UTF-16LE byte order mark; set the feed's encoding to "utf-16le"`},
		{"UTF-16BE BOM as windows-1252", be, "cp1252", `file starts with a UTF-16BE byte order mark; set the feed's encoding to "utf-16be"`},
		{"UTF-8 BOM as latin1", []byte("\xEF\xBB\xBF" + text), "latin1", `file starts with a UTF-8 byte order mark; set the feed's encoding to "utf-8"`},
		{"UTF-8 BOM as utf-16le", []byte("\xEF\xBB\xBF" + text), "utf-16le", `file starts with a UTF-8 byte order mark; set the feed's encoding to "utf-8"`},
		{"UTF-16BE BOM as utf-16le", be, "utf-16le", `file starts with a UTF-16BE byte order mark; set the feed's encoding to "utf-16be"`},
		{"UTF-16LE BOM as utf-16be", le, "utf-16be", `file starts with a UTF-16LE byte order mark; set the feed's encoding to "utf-16le"`},
		{"UTF-32LE BOM", append([]byte{0xFF, 0xFE, 0, 0}, "i\x00\x00\x00"...), "", "file starts with a UTF-32LE byte order mark; UTF-32LE is not supported: convert the file to UTF-8"},
		{"utf-16 without a BOM, LE text", utf16Bytes(text, false, false), "utf-16", `encoding "utf-16" needs a byte order mark (FF FE or FE FF) at the start of the file, and there is none; set the feed's encoding to "utf-16le"`},
		{"utf-16 without a BOM, other bytes", []byte(text), "utf-16", `encoding "utf-16" needs a byte order mark (FF FE or FE FF) at the start of the file, and there is none; set the feed's encoding to "utf-16le" or "utf-16be"`},
		{"UTF-16LE text without a BOM as utf-8", utf16Bytes(text, false, false), "", `the file looks like UTF-16LE text without a byte order mark; set the feed's encoding to "utf-16le"`},
		{"UTF-16BE text without a BOM as latin1", utf16Bytes(text, true, false), "latin1", `the file looks like UTF-16BE text without a byte order mark; set the feed's encoding to "utf-16be"`},
	}
	for _, tt := range tests {
		for _, format := range []string{"csv", "ndjson", "json", "xml", "fixed-width"} {
			t.Run(tt.name+"/"+format, func(t *testing.T) {
				opts := formats.Options{Encoding: tt.enc, Header: true, FixedWidth: []formats.Column{{Name: "a", Start: 1, Width: 2}}}
				if format == "xml" && tt.enc == "" {
					opts.Encoding = "utf-8" // else the BOM picks UTF-16
				}
				_, err := formats.NewRegistry().Open(format, bytes.NewReader(tt.in), opts)
				if !errors.Is(err, formats.ErrEncoding) {
					t.Fatalf("Open: %v, want an error wrapping ErrEncoding", err)
				}
				if want := "formats: " + format + ": " + tt.want; !strings.HasPrefix(err.Error(), want) {
					t.Errorf("Open:\n got %v\nwant %s", err, want)
				}
			})
		}
	}
}

func TestEncodingNames(t *testing.T) {
	for _, enc := range []string{"", "utf-8", "UTF8", "latin1", "ISO-8859-1", "cp1252", "utf-16", "UTF-16LE", "utf16le", "utf-16be", "UTF16BE"} {
		if _, err := open(t, "ndjson", "", formats.Options{Encoding: enc}); err != nil {
			t.Errorf("encoding %q: %v", enc, err)
		}
	}
	for _, enc := range []string{"ebcdic", "utf-32", "ucs-2", "utf-16-le"} {
		if _, err := open(t, "ndjson", "", formats.Options{Encoding: enc}); !errors.Is(err, formats.ErrOptions) {
			t.Errorf("encoding %q: %v, want ErrOptions", enc, err)
		}
	}
}

// randomBytes returns n reproducible random bytes.
func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestBinary: a file whose start looks binary fails Open with ErrBinary and
// a message that says why, for every text format, instead of whatever the
// parser makes of the bytes (encoding/csv's `bare " in non-quoted-field`).
func TestBinary(t *testing.T) {
	random := randomBytes(1, 4096)
	random[0] = 'x' // no accidental signature
	nul := bytes.IndexByte(random, 0)
	if nul < 0 {
		t.Fatal("the random bytes hold no NUL; pick another seed")
	}
	controls := []byte("a\x01b\x02c\x03d\x04e\x05f\x06g\x07h\x08\n")
	tests := []struct {
		name string
		in   []byte
		enc  string
		want string // after "formats: <format>: the file looks binary ("
	}{
		{"random bytes", random, "", fmt.Sprintf("NUL byte at offset %d), not ", nul)},
		{"random bytes as latin1", random, "latin1", fmt.Sprintf("NUL byte at offset %d), not ", nul)},
		{"NUL after a UTF-8 BOM counts from the file's start", []byte("\xEF\xBB\xBFid\x00,x\n"), "", "NUL byte at offset 5), not "},
		{"gzip", append([]byte{0x1f, 0x8b, 0x08, 0}, random[:100]...), "", "gzip-compressed data), not "},
		{"xlsx", append([]byte("PK\x03\x04"), random[:100]...), "", "a ZIP archive, such as an .xlsx workbook), not "},
		{"PDF", []byte("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"), "", "a PDF document), not "},
		{"control characters", controls, "", "8 of its first 17 bytes are control characters), not "},
	}
	title := map[string]string{"csv": "CSV", "ndjson": "NDJSON", "json": "JSON", "xml": "XML", "fixed-width": "fixed-width"}
	for _, tt := range tests {
		for _, format := range []string{"csv", "ndjson", "json", "xml", "fixed-width"} {
			t.Run(tt.name+"/"+format, func(t *testing.T) {
				opts := formats.Options{Encoding: tt.enc, Header: true, FixedWidth: []formats.Column{{Name: "a", Start: 1, Width: 2}}}
				_, err := formats.NewRegistry().Open(format, bytes.NewReader(tt.in), opts)
				if !errors.Is(err, formats.ErrBinary) {
					t.Fatalf("Open: %v, want an error wrapping ErrBinary", err)
				}
				want := "formats: " + format + ": the file looks binary (" + tt.want + title[format] + " text"
				if err.Error() != want {
					t.Errorf("Open:\n got %v\nwant %s", err, want)
				}
			})
		}
	}
}

// TestNotBinary: text with a few control characters, or a NUL past the
// first 8 KiB, opens; the records carry the characters for validation to
// judge. UTF-16 is not sniffed: its NULs are text.
func TestNotBinary(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want [][]string
	}{
		{"a few control characters", "id,v\n1,a\x01b\n2,tab\there\n3,\x1b[1mbold\x1b[0m\n4,form\x0cfeed\n",
			[][]string{{"id=1", "v=a\x01b"}, {"id=2", "v=tab\there"}, {"id=3", "v=\x1b[1mbold\x1b[0m"}, {"id=4", "v=form\x0cfeed"}}},
		{"NUL past the sniffed start", "id,v\n1," + strings.Repeat("x", 9000) + "\n2,a\x00b\n",
			[][]string{{"id=1", "v=" + strings.Repeat("x", 9000)}, {"id=2", "v=a\x00b"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rd, err := open(t, "csv", tt.in, formats.Defaults())
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			check{fields: tt.want}.verify(t, drain(t, rd, len(tt.in)+2))
		})
	}
}

// A NUL at the start fails a file as binary, unless the feed accepts
// control characters; a binary signature fails it either way.
func TestAllowControlSkipsTheNULCheck(t *testing.T) {
	r := formats.NewRegistry()
	text := "id,note\n1,a\x00b\n"
	if _, err := r.Open(formats.FormatCSV, strings.NewReader(text), formats.Options{Header: true}); !errors.Is(err, formats.ErrBinary) {
		t.Fatalf("NUL without AllowControl: %v, want formats.ErrBinary", err)
	}
	p, err := r.Open(formats.FormatCSV, strings.NewReader(text), formats.Options{Header: true, AllowControl: true})
	if err != nil {
		t.Fatalf("NUL with AllowControl: %v", err)
	}
	rec, err := p.Next()
	if err != nil || len(rec.Fields) != 2 || rec.Fields[1].Value != "a\x00b" {
		t.Fatalf("record %+v, %v", rec, err)
	}
	if _, err := r.Open(formats.FormatCSV, strings.NewReader("\x1f\x8b\x08\x00rest"), formats.Options{Header: true, AllowControl: true}); !errors.Is(err, formats.ErrBinary) {
		t.Fatalf("gzip with AllowControl: %v, want formats.ErrBinary", err)
	}
}
