package formats_test

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/logmesh/logmesh/internal/formats"
)

// The fuzz targets share one invariant: whatever the input, a parser never
// panics, finishes within len(input)+1 calls to Next (every record, good or
// bad, consumes at least one byte), and every error is io.EOF, a
// *RecordError with a cause, or a sticky fatal error with a message (see
// drain). Open may refuse the input, with a message.

// fuzzOpen opens data and drains it, or checks Open's error.
func fuzzOpen(t *testing.T, format string, data []byte, opts formats.Options) (result, bool) {
	rd, err := formats.NewRegistry().Open(format, bytes.NewReader(data), opts)
	if err != nil {
		if err.Error() == "" {
			t.Fatalf("Open failed with an empty message: %#v", err)
		}
		return result{}, false
	}
	return drain(t, rd, len(data)+1), true
}

// notText reports whether Open refuses data as binary or as not in its
// encoding. A round trip may write fewer bytes before a NUL or a control
// character than the original had (rejected records and blank lines are
// not written back), which can bring it into the sniffed start of the
// file: such a refusal is no round-trip failure.
func notText(data []byte, format string, opts formats.Options) bool {
	_, err := formats.NewRegistry().Open(format, bytes.NewReader(data), opts)
	return errors.Is(err, formats.ErrBinary) || errors.Is(err, formats.ErrEncoding)
}

// fuzzOptions derives options from the fuzzer's flag bits.
func fuzzOptions(flags uint8) formats.Options {
	o := formats.Defaults()
	o.Header = flags&1 == 0
	if flags&2 != 0 {
		o.Comment = '#'
	}
	o.TrimSpace = flags&4 != 0
	if flags&8 != 0 {
		o.MaxRecordBytes = 32
	}
	if flags&16 != 0 {
		o.Encoding = "latin1"
	}
	o.Delimiter = []rune{',', ';', '\t', '|'}[flags>>5&3]
	if flags&128 != 0 {
		o.MaxRawBytes = 8
	}
	return o
}

// FuzzCSV also checks that the good records survive a round trip: written
// back with encoding/csv and parsed again, they come out the same.
func FuzzCSV(f *testing.F) {
	for _, s := range []string{
		"id,name\n1,ann\n2,\"b\"\"ob\"\n",
		"a,b\r\n1,\"two\nlines\"\r\n\r\n3\n",
		"a,b\n1,x\"y\n2,\"z\"w\n3,\"open\n",
		"\xEF\xBB\xBFa;b\n# c\n1;2\n",
		"a,a\n",
		"a,b\n1,caf\xe9\n",
		"\xFF\xFEa\x00,\x00b\x00\n\x001\x00,\x002\x00\n\x00",
		"\x1f\x8b\x08\x00\x00\x00\x00\x00",
		"a,b\n1,x\x00y\n",
		"a,b\n1,\x01\x02\x03\n",
	} {
		f.Add([]byte(s), uint8(0))
		f.Add([]byte(s), uint8(2|8|32))
	}
	f.Fuzz(func(t *testing.T, data []byte, flags uint8) {
		opts := fuzzOptions(flags)
		if !opts.Header {
			opts.Columns = []string{"c1", "c2", "c3"}
		}
		res, ok := fuzzOpen(t, "csv", data, opts)
		if !ok || len(res.recs) == 0 || opts.Comment != 0 || opts.MaxRecordBytes < 1<<20 {
			return
		}
		var buf bytes.Buffer
		w := csv.NewWriter(&buf)
		w.Comma = opts.Delimiter
		var names []string
		for _, f := range res.recs[0].Fields {
			names = append(names, f.Name)
		}
		if opts.Header {
			_ = w.Write(names)
		}
		for _, r := range res.recs {
			var row []string
			for _, f := range r.Fields {
				row = append(row, f.Value)
			}
			if len(row) == 1 && row[0] == "" {
				// csv.Writer writes a blank line, which readers skip.
				w.Flush()
				buf.WriteString("\"\"\n")
				continue
			}
			_ = w.Write(row)
		}
		w.Flush()
		opts.Encoding = ""
		again, ok := fuzzOpen(t, "csv", buf.Bytes(), opts)
		if !ok && notText(buf.Bytes(), "csv", opts) {
			return
		}
		if !ok || again.fatal != nil || len(again.rejects) > 0 ||
			fmt.Sprint(fieldsOf(again.recs)) != fmt.Sprint(fieldsOf(res.recs)) {
			t.Fatalf("round trip changed the records:\nfirst %q\nagain %q\nwritten %q\n%s", fieldsOf(res.recs), fieldsOf(again.recs), buf.Bytes(), again)
		}
	})
}

func FuzzNDJSON(f *testing.F) {
	for _, s := range []string{
		`{"a":1,"b":"x","c":null,"d":[1,{"e":true}]}` + "\n\n" + `{"a":2}`,
		"[1]\n\"s\"\n{\"a\":1,\"a\":2}\n{\"a\":\n",
		"\x00\xff\n\x89PNG\r\n",
		"{\"a\":th}\n{a:1}\n{\"a\":1} 2\n{\"\xc3\xa9\":\"\x01\"}\n",
		`{"u":"\u00e9\ud83d\ude00","n":-1.5e-3}` + "\r\n",
	} {
		f.Add([]byte(s), uint8(0))
		f.Add([]byte(s), uint8(8|16))
	}
	f.Fuzz(func(t *testing.T, data []byte, flags uint8) {
		fuzzOpen(t, "ndjson", data, fuzzOptions(flags))
	})
}

func FuzzJSON(f *testing.F) {
	for _, s := range []string{
		`[{"a":1,"b":"x"},{"c":null,"d":[1,{"e":true}]}]`,
		`[{"a":1}, 2, "x", [1], null, {"a":1,"a":2}]`,
		`{"meta":{},"data":[{"a":1}],"x":[1]}`,
		`[{"a":1},{"a":`,
		`[{"a":1}] trailing`,
	} {
		f.Add([]byte(s), uint8(0), "")
		f.Add([]byte(s), uint8(8), "data")
	}
	f.Fuzz(func(t *testing.T, data []byte, flags uint8, path string) {
		opts := fuzzOptions(flags)
		opts.RecordPath = path
		fuzzOpen(t, "json", data, opts)
	})
}

func FuzzXML(f *testing.F) {
	for _, s := range []string{
		tradesXML,
		`<r><t a="1"><b>2</b><c xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:nil="true"/></t></r>`,
		"<r><t><a>1</a><a>2</a></t><t><a>",
		"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><r><t><a>caf\xe9</a></t></r>",
		"<r><t><a><b><c>deep</c></b></a></t></r>",
		`<!DOCTYPE r [<!ENTITY x "y">]><r><t><a>&x;</a></t></r>`,
		"\xFE\xFF\x00<\x00r\x00>\x00<\x00t\x00/\x00>\x00<\x00/\x00r\x00>",
	} {
		f.Add([]byte(s), uint8(0), "trades/trade")
		f.Add([]byte(s), uint8(8), "t")
		f.Add([]byte(s), uint8(4), "")
	}
	f.Fuzz(func(t *testing.T, data []byte, flags uint8, path string) {
		opts := fuzzOptions(flags)
		opts.RecordPath = path
		if flags&16 != 0 {
			opts.Encoding = ""
		}
		fuzzOpen(t, "xml", data, opts)
	})
}

// FuzzFixedWidth also checks a round trip: the good records, padded back
// into their columns, parse to the same values.
func FuzzFixedWidth(f *testing.F) {
	for _, s := range []string{
		"ID  NAME\n0001ann     12.50\n\n0002 bob     -3\n0003 çé      7.00 x\n",
		"0001caf\xe9      1\n0002\n",
		"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a",
	} {
		f.Add([]byte(s), uint8(0), uint8(4), uint8(6))
		f.Add([]byte(s), uint8(1|2|8), uint8(1), uint8(1))
	}
	f.Fuzz(func(t *testing.T, data []byte, flags, w1, w2 uint8) {
		opts := fuzzOptions(flags)
		opts.Header = flags&1 != 0
		// Two columns with a gap of one between them.
		w1, w2 = w1%20+1, w2%20+1
		opts.FixedWidth = []formats.Column{
			{Name: "b", Start: int(w1) + 2, Width: int(w2)},
			{Name: "a", Start: 1, Width: int(w1)},
		}
		res, ok := fuzzOpen(t, "fixed-width", data, opts)
		if !ok || len(res.recs) == 0 || opts.Comment != 0 || opts.MaxRecordBytes < 1<<20 {
			return
		}
		var buf strings.Builder
		if opts.Header {
			buf.WriteString("header\n")
		}
		for _, r := range res.recs {
			line := make([]rune, int(w1)+2+int(w2))
			for i := range line {
				line[i] = ' '
			}
			for _, f := range r.Fields {
				c := opts.FixedWidth[slices.IndexFunc(opts.FixedWidth, func(c formats.Column) bool { return c.Name == f.Name })]
				copy(line[c.Start-1:], []rune(f.Value))
			}
			buf.WriteString(string(line) + "\n")
		}
		opts.Encoding = ""
		again, ok := fuzzOpen(t, "fixed-width", []byte(buf.String()), opts)
		if !ok && notText([]byte(buf.String()), "fixed-width", opts) {
			return
		}
		if !ok || again.fatal != nil || len(again.rejects) > 0 ||
			fmt.Sprint(fieldsOf(again.recs)) != fmt.Sprint(fieldsOf(res.recs)) {
			t.Fatalf("round trip changed the records:\nfirst %q\nagain %q\nwritten %q", fieldsOf(res.recs), fieldsOf(again.recs), buf.String())
		}
	})
}

// FuzzUTF16 checks that the encoding is transparent: valid UTF-8 text (no
// byte order mark) that opens as UTF-8 gives exactly the same transcript
// (records, lines, raw text, rejects, fatal error) when it is encoded as
// UTF-16LE with a byte order mark and read as "utf-16", and as UTF-16BE
// without one read as "utf-16be". Any bytes at all read as UTF-16 never
// break the Reader contract.
func FuzzUTF16(f *testing.F) {
	for _, s := range []string{
		"id,name\r\n1,caf\u00e9\r\n2,\"x \U0001F600\"\n3\n",
		`{"a":1,"b":"\u00e9"}` + "\n" + `{"a":tru}` + "\n",
		`[{"a":1},{"b":[1,2]}]`,
		`<r><t a="1"><b>caf\u00e9</b></t><t><b>2</b><b>3</b></t></r>`,
		"0001ann  12\n0002\n",
		"\xFF\xFE\x00\xD8",
	} {
		for format := range uint8(5) {
			f.Add([]byte(s), uint8(0), format)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, flags, format uint8) {
		name := []string{"csv", "ndjson", "json", "xml", "fixed-width"}[format%5]
		opts := fuzzOptions(flags)
		switch name {
		case "csv":
			if !opts.Header {
				opts.Columns = []string{"c1", "c2", "c3"}
			}
		case "xml":
			opts.RecordPath = "t"
		case "fixed-width":
			opts.FixedWidth = []formats.Column{{Name: "a", Start: 1, Width: 4}, {Name: "b", Start: 6, Width: 3}}
		}
		for _, enc := range []string{"utf-16", "utf-16le", "utf-16be"} {
			opts.Encoding = enc
			fuzzOpen(t, name, data, opts)
		}
		if !utf8.Valid(data) || bytes.HasPrefix(data, []byte("\xEF\xBB\xBF")) {
			return
		}
		opts.Encoding = "utf-8"
		want, ok := fuzzOpen(t, name, data, opts)
		if !ok {
			return
		}
		for _, enc := range []struct {
			name      string
			bigEndian bool
			bom       bool
		}{{"utf-16", false, true}, {"utf-16be", true, false}} {
			opts.Encoding = enc.name
			in := utf16Bytes(string(data), enc.bigEndian, enc.bom)
			got, ok := fuzzOpen(t, name, in, opts)
			if !ok || got.String() != want.String() {
				t.Fatalf("%s as %s differs from UTF-8:\n got %s\nwant %s", name, enc.name, got, want)
			}
		}
	})
}
