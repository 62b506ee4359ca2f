package formats_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/logmesh/logmesh/internal/formats"
)

const tradesXML = `<?xml version="1.0" encoding="UTF-8"?>
<trades xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" source="x">
  <!-- header -->
  <meta><trade id="not-a-record"/></meta>
  <trade id="1" side="buy">
    <sym>ABC</sym>
    <price>1.50</price>
    <note xsi:nil="true"/>
    <empty></empty>
  </trade>
  <trade
      id="2"><sym>X&amp;Y</sym><venue><name>LSE</name><mic code="XLON"/></venue></trade>
</trades>
`

func TestXML(t *testing.T) {
	tests := []struct {
		name string
		in   string
		opts formats.Options
		want check
	}{
		{
			name: "records by path from the root",
			in:   tradesXML,
			opts: formats.Options{RecordPath: "trades/trade"},
			want: check{
				fields: [][]string{
					{"id=1", "side=buy", "sym=ABC", "price=1.50", "note=<null>", "empty="},
					{"id=2", "sym=X&Y", `venue=<name>LSE</name><mic code="XLON"></mic>`},
				},
				lines: []int64{5, 11},
			},
		},
		{
			name: "one name matches at any depth",
			in:   tradesXML,
			opts: formats.Options{RecordPath: "trade"},
			want: check{
				fields: [][]string{
					{"id=not-a-record"},
					{"id=1", "side=buy", "sym=ABC", "price=1.50", "note=<null>", "empty="},
					{"id=2", "sym=X&Y", `venue=<name>LSE</name><mic code="XLON"></mic>`},
				},
				lines: []int64{4, 5, 11},
			},
		},
		{
			name: "empty RecordPath: children of the root",
			in:   `<r><a x="1"/><b><c>2</c></b></r>`,
			want: check{fields: [][]string{{"x=1"}, {"c=2"}}, lines: []int64{1, 1}},
		},
		{
			name: "TrimSpace",
			in:   "<r><a>\n  v \n</a></r>",
			opts: formats.Options{RecordPath: "r", TrimSpace: true},
			want: check{fields: [][]string{{"a=v"}}},
		},
		{
			name: "duplicate fields are one bad record",
			in:   "<r>\n<t><a>1</a><a>2</a></t>\n<t a=\"1\"><a>2</a></t>\n<t><a>3</a></t>\n</r>",
			opts: formats.Options{RecordPath: "r/t"},
			want: check{
				fields:  [][]string{{"a=3"}},
				lines:   []int64{4},
				rejects: []string{`1:2:duplicate field "a"`, `2:3:duplicate field "a"`},
			},
		},
		{
			name: "truncated inside a record",
			in:   "<r><t><a>1</a></t><t><a>2</a>",
			opts: formats.Options{RecordPath: "r/t"},
			want: check{fields: [][]string{{"a=1"}}, fatal: "unexpected EOF"},
		},
		{
			name: "truncated after a record",
			in:   "<r><t><a>1</a></t>",
			opts: formats.Options{RecordPath: "r/t"},
			want: check{fields: [][]string{{"a=1"}}, fatal: "unexpected EOF"},
		},
		{
			name: "mismatched tags",
			in:   "<r><t><a>1</b></t></r>",
			opts: formats.Options{RecordPath: "r/t"},
			want: check{fields: [][]string{}, fatal: "line 1: element <a> closed by </b>"},
		},
		{
			name: "not XML at all",
			in:   "id,name\n1,x\n",
			want: check{fields: [][]string{}, fatal: "no root element"},
		},
		{
			name: "empty file",
			in:   "",
			want: check{fields: [][]string{}, fatal: "no root element"},
		},
		{
			name: "invalid UTF-8",
			in:   "<r><t><a>caf\xe9</a></t></r>",
			opts: formats.Options{RecordPath: "t"},
			want: check{fields: [][]string{}, fatal: "invalid UTF-8"},
		},
		{
			name: "latin1 by declaration",
			in:   "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><r><t><a>caf\xe9</a></t></r>",
			opts: formats.Options{RecordPath: "t"},
			want: check{fields: [][]string{{"a=café"}}},
		},
		{
			name: "latin1 by option overrides the declaration",
			in:   "<?xml version=\"1.0\" encoding=\"UTF-8\"?><r><t><a>caf\xe9</a></t></r>",
			opts: formats.Options{RecordPath: "t", Encoding: "latin1"},
			want: check{fields: [][]string{{"a=café"}}},
		},
		{
			name: "DOCTYPE with an entity is refused",
			in:   "<?xml version=\"1.0\"?>\n<!DOCTYPE r [\n  <!ENTITY x \"expanded\">\n]>\n<r><t><a>&x;</a></t></r>",
			opts: formats.Options{RecordPath: "t"},
			want: check{fields: [][]string{}, fatal: "formats: xml: line 2: XML DTDs (<!DOCTYPE>) are refused, for safety (entity expansion); remove the DOCTYPE"},
		},
		{
			name: "DOCTYPE with an external DTD is refused",
			in:   "<!doctype r SYSTEM \"file:///etc/passwd\"><r><t><a>1</a></t></r>",
			opts: formats.Options{RecordPath: "t"},
			want: check{fields: [][]string{}, fatal: "line 1: XML DTDs (<!DOCTYPE>) are refused"},
		},
		{
			name: "DTD declaration after records is refused",
			in:   "<r><t><a>1</a></t><!ENTITY y \"z\"><t><a>2</a></t></r>",
			opts: formats.Options{RecordPath: "t"},
			want: check{fields: [][]string{{"a=1"}}, fatal: "XML DTD declarations (<!ENTITY>) are refused, for safety (entity expansion); remove it"},
		},
		{
			name: "DTD declaration inside a record is refused",
			in:   "<r><t><a>1</a><!ATTLIST t a CDATA #IMPLIED></t></r>",
			opts: formats.Options{RecordPath: "t"},
			want: check{fields: [][]string{}, fatal: "XML DTD declarations (<!ATTLIST>) are refused"},
		},
		{
			name: "comments and CDATA are not directives",
			in:   "<!-- c --><r><t><!-- d --><a><![CDATA[<x>]]></a></t></r>",
			opts: formats.Options{RecordPath: "t"},
			want: check{fields: [][]string{{"a=<x>"}}},
		},
		{
			name: "record over MaxRecordBytes",
			in:   "<r><t><a>1</a></t><t><a>" + strings.Repeat("x", 200) + "</a></t></r>",
			opts: formats.Options{RecordPath: "t", MaxRecordBytes: 64},
			want: check{fields: [][]string{{"a=1"}}, fatal: "record too large"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rd, err := open(t, "xml", tt.in, tt.opts)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			tt.want.verify(t, drain(t, rd, len(tt.in)+2))
		})
	}
}

func TestXMLRaw(t *testing.T) {
	rd, err := open(t, "xml", "<r>\n  <t a=\"1\"><b>2</b></t>\n</r>", formats.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := rd.Next()
	if err != nil || string(rec.Raw) != `<t a="1"><b>2</b></t>` {
		t.Fatalf("Next = %q, %v", rec.Raw, err)
	}
}

func TestXMLOpenErrors(t *testing.T) {
	for _, in := range []string{
		`<?xml version="1.0" encoding="EBCDIC"?><r/>`,
	} {
		if _, err := open(t, "xml", in, formats.Options{}); err == nil || !strings.Contains(err.Error(), "unsupported encoding") {
			t.Errorf("Open(%q): %v, want unsupported encoding", in, err)
		}
	}
}

func TestXMLDTDIsErrDTD(t *testing.T) {
	rd, err := open(t, "xml", `<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]><r><t>&b;</t></r>`, formats.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rd.Next(); !errors.Is(err, formats.ErrDTD) {
		t.Fatalf("Next = %v, want ErrDTD", err)
	}
}
