package formats_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/logmesh/logmesh/internal/formats"
)

func TestCSV(t *testing.T) {
	tests := []struct {
		name string
		in   string
		opts formats.Options
		want check
	}{
		{
			name: "basic with CRLF, blank lines and a multi-line quoted field",
			in:   "id,name,note\r\n1,ann,\"hi, there\"\r\n\r\n2,bob,\"two\nlines\"\r\n3,,\"say \"\"x\"\"\"\r\n",
			opts: formats.Defaults(),
			want: check{
				fields: [][]string{
					{"id=1", "name=ann", "note=hi, there"},
					{"id=2", "name=bob", "note=two\nlines"},
					{"id=3", "name=", `note=say "x"`},
				},
				lines: []int64{2, 4, 6},
			},
		},
		{
			name: "no final newline",
			in:   "a,b\n1,2",
			opts: formats.Defaults(),
			want: check{fields: [][]string{{"a=1", "b=2"}}, lines: []int64{2}},
		},
		{
			name: "header only",
			in:   "a,b\n",
			opts: formats.Defaults(),
			want: check{fields: [][]string{}},
		},
		{
			name: "wrong field count is one bad record",
			in:   "a,b\n1,2\n1,2,3\n\n4\n5,6\n",
			opts: formats.Defaults(),
			want: check{
				fields:  [][]string{{"a=1", "b=2"}, {"a=5", "b=6"}},
				lines:   []int64{2, 6},
				rejects: []string{"2:3:3 fields, want 2", "3:5:1 fields, want 2"},
			},
		},
		{
			name: "bare quote in the middle",
			in:   "a,b\n1,x\"y\n2,z\n",
			opts: formats.Defaults(),
			want: check{
				fields:  [][]string{{"a=2", "b=z"}},
				rejects: []string{`1:2:bare "`},
			},
		},
		{
			name: "extraneous quote in the middle",
			in:   "a,b\n1,\"x\"y\n2,z\n",
			opts: formats.Defaults(),
			want: check{
				fields:  [][]string{{"a=2", "b=z"}},
				rejects: []string{`1:2:extraneous or missing "`},
			},
		},
		{
			name: "extraneous quote on the last line is one bad record",
			in:   "a,b\n1,2\n3,\"x\"y\n",
			opts: formats.Defaults(),
			want: check{
				fields:  [][]string{{"a=1", "b=2"}},
				rejects: []string{`2:3:extraneous or missing "`},
			},
		},
		{
			name: "unterminated quote running to EOF is a truncated file",
			in:   "a,b\n1,2\n3,\"never closed\n4,5\n",
			opts: formats.Defaults(),
			want: check{
				fields: [][]string{{"a=1", "b=2"}},
				fatal:  "line 3: quoted field not closed at end of file",
			},
		},
		{
			name: "truncated in the middle of a quoted field after a bad record",
			in:   "a,b\n1,\"x\"y\n3,\"cut",
			opts: formats.Defaults(),
			want: check{
				fields:  [][]string{},
				rejects: []string{`1:2:extraneous`},
				fatal:   "line 3: quoted field not closed",
			},
		},
		{
			name: "UTF-8 BOM is stripped",
			in:   "\xEF\xBB\xBFid,v\n1,x\n",
			opts: formats.Defaults(),
			want: check{fields: [][]string{{"id=1", "v=x"}}, lines: []int64{2}},
		},
		{
			name: "invalid UTF-8 is one bad record",
			in:   "id,v\n1,caf\xe9\n2,ok\n",
			opts: formats.Defaults(),
			want: check{
				fields:  [][]string{{"id=2", "v=ok"}},
				rejects: []string{"1:2:invalid UTF-8"},
			},
		},
		{
			name: "latin1",
			in:   "id,v\n1,caf\xe9\n",
			opts: withOpts(func(o *formats.Options) { o.Encoding = "latin1" }),
			want: check{fields: [][]string{{"id=1", "v=café"}}},
		},
		{
			name: "windows-1252",
			in:   "id,v\n1,\x80 5\n",
			opts: withOpts(func(o *formats.Options) { o.Encoding = "Windows-1252" }),
			want: check{fields: [][]string{{"id=1", "v=€ 5"}}},
		},
		{
			name: "semicolons, comments and TrimSpace",
			in:   "# exported\n id ; v \n1; a \n# note\n2;b\n",
			opts: withOpts(func(o *formats.Options) {
				o.Delimiter, o.Comment, o.TrimSpace = ';', '#', true
			}),
			want: check{fields: [][]string{{"id=1", "v=a"}, {"id=2", "v=b"}}, lines: []int64{3, 5}},
		},
		{
			name: "no header, named columns",
			in:   "1,a\n2,b\n",
			opts: withOpts(func(o *formats.Options) { o.Header, o.Columns = false, []string{"id", "v"} }),
			want: check{fields: [][]string{{"id=1", "v=a"}, {"id=2", "v=b"}}, lines: []int64{1, 2}},
		},
		{
			name: "header matches Columns",
			in:   "id,v\n1,a\n",
			opts: withOpts(func(o *formats.Options) { o.Columns = []string{"id", "v"} }),
			want: check{fields: [][]string{{"id=1", "v=a"}}},
		},
		{
			name: "record over MaxRecordBytes fails the file",
			in:   "id,v\n1,a\n2," + strings.Repeat("x", 100) + "\n3,c\n",
			opts: withOpts(func(o *formats.Options) { o.MaxRecordBytes = 64 }),
			want: check{fields: [][]string{{"id=1", "v=a"}}, fatal: "record at line 3: formats: record too large"},
		},
		{
			name: "record of exactly MaxRecordBytes passes",
			in:   "id,v\n1," + strings.Repeat("x", 62) + "\n",
			opts: withOpts(func(o *formats.Options) { o.MaxRecordBytes = 64 }),
			want: check{fields: [][]string{{"id=1", "v=" + strings.Repeat("x", 62)}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rd, err := open(t, "csv", tt.in, tt.opts)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			tt.want.verify(t, drain(t, rd, len(tt.in)+2))
		})
	}
}

func TestCSVRaw(t *testing.T) {
	in := "id,v\n\n1,\"a\"\"b\"\r\n# c\n2,x,y\n"
	rd, err := open(t, "csv", in, withOpts(func(o *formats.Options) { o.Comment = '#' }))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := rd.Next()
	if err != nil || string(rec.Raw) != `1,"a""b"` {
		t.Fatalf("Next = %q, %v; want raw 1,\"a\"\"b\"", rec.Raw, err)
	}
	_, err = rd.Next()
	var re *formats.RecordError
	if !errors.As(err, &re) || string(re.Raw) != "2,x,y" || re.Line != 5 {
		t.Fatalf("Next = %v; want a RecordError at line 5 with raw 2,x,y", err)
	}
	// MaxRawBytes truncates.
	rd, _ = open(t, "csv", "id,v\n1,abcdef\n", withOpts(func(o *formats.Options) { o.MaxRawBytes = 4 }))
	if rec, err := rd.Next(); err != nil || string(rec.Raw) != "1,ab" {
		t.Fatalf("Next = %q, %v; want raw 1,ab", rec.Raw, err)
	}
}

func TestCSVOpenErrors(t *testing.T) {
	tests := []struct {
		name, in string
		opts     formats.Options
		want     string
	}{
		{"empty file", "", formats.Defaults(), "no header"},
		{"only blank lines", "\n\n", formats.Defaults(), "no header"},
		{"duplicate header", "a,b,a\n1,2,3\n", formats.Defaults(), `duplicate field name "a"`},
		{"empty header name", "a,,c\n", formats.Defaults(), "field 2 has an empty name"},
		{"broken header", "a,\"b\n", formats.Defaults(), "header (line 1)"},
		{"invalid UTF-8 header", "a,\xff\n", formats.Defaults(), "invalid UTF-8"},
		{"header differs from Columns", "id,x\n", withOpts(func(o *formats.Options) { o.Columns = []string{"id", "v"} }), `want ["id" "v"]`},
		{"no header and no Columns", "1,2\n", withOpts(func(o *formats.Options) { o.Header = false }), "Columns must name"},
		{"duplicate Columns", "1,2\n", withOpts(func(o *formats.Options) { o.Header, o.Columns = false, []string{"a", "a"} }), "duplicate"},
		{"quote other than \"", "a\n", withOpts(func(o *formats.Options) { o.Quote = '\'' }), "only '\"'"},
		{"bad delimiter", "a\n", withOpts(func(o *formats.Options) { o.Delimiter = '\n' }), "invalid delimiter"},
		{"delimiter equals comment", "a\n", withOpts(func(o *formats.Options) { o.Delimiter, o.Comment = '#', '#' }), "invalid delimiter"},
		{"unknown encoding", "a\n", withOpts(func(o *formats.Options) { o.Encoding = "ebcdic" }), `unsupported encoding "ebcdic"`},
		{"header too large", "a," + strings.Repeat("b", 100) + "\n", withOpts(func(o *formats.Options) { o.MaxRecordBytes = 10 }), "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rd, err := open(t, "csv", tt.in, tt.opts)
			if err == nil {
				t.Fatalf("Open succeeded (%T), want an error containing %q", rd, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Open: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
