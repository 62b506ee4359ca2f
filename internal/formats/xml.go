package formats

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// xsiNS is the XML Schema instance namespace, home of xsi:nil.
const xsiNS = "http://www.w3.org/2001/XMLSchema-instance"

// maxXMLDepth bounds element nesting, which encoding/xml keeps a stack for.
const maxXMLDepth = 10_000

// openXML opens an XML reader; see xmlReader.
func openXML(r io.Reader, opts Options) (Reader, error) {
	opts = opts.withDefaults()
	enc := opts.Encoding
	if enc == "" {
		// No encoding given: a UTF-16 start (XML 1.0, appendix F), else
		// the XML declaration decides.
		br := bufio.NewReader(r)
		label, err := declaredEncoding(br)
		var fe *fileError
		switch {
		case errors.As(err, &fe):
			return nil, err
		case err != nil:
			return nil, fmt.Errorf("formats: xml: read: %w", err)
		}
		if _, ok := encodingName(label); !ok {
			return nil, fmt.Errorf("formats: xml: unsupported encoding %q in the XML declaration", label)
		}
		r, enc = br, label
	}
	in, _, err := decodeInput(r, enc, FormatXML, opts.AllowControl)
	if err != nil {
		return nil, err
	}
	x := &xmlReader{opts: opts, win: newWindow(in, opts.MaxRecordBytes, true)}
	if p := strings.Trim(opts.RecordPath, "/"); p != "" {
		x.path = strings.Split(p, "/")
		x.anywhere = !strings.Contains(opts.RecordPath, "/")
	}
	x.dec = xml.NewDecoder(x.win)
	x.dec.Strict = true
	// The input is UTF-8 by now, whatever the declaration says.
	x.dec.CharsetReader = func(_ string, in io.Reader) (io.Reader, error) { return in, nil }
	return x, nil
}

var encodingAttr = regexp.MustCompile(`^(?:\xEF\xBB\xBF)?<\?xml[^>]*?\sencoding\s*=\s*["']([A-Za-z0-9._:-]*)["']`)

// declaredEncoding peeks at the start of the file for the encoding of an
// XML file with no Options.Encoding: "utf-16" for a UTF-16 byte order mark,
// "utf-16le" or "utf-16be" for "<?" in UTF-16 without one, else what the
// XML declaration names ("" if none). A declaration read as single bytes
// cannot truthfully name UTF-16; that is an error.
func declaredEncoding(br *bufio.Reader) (string, error) {
	head, err := br.Peek(256)
	if err != nil && err != io.EOF && !errors.Is(err, bufio.ErrBufferFull) {
		if len(head) == 0 {
			return "", err
		}
	}
	switch {
	case bytes.HasPrefix(head, bomUTF16LE), bytes.HasPrefix(head, bomUTF16BE):
		return "utf-16", nil
	case bytes.HasPrefix(head, []byte("<\x00?\x00")):
		return "utf-16le", nil
	case bytes.HasPrefix(head, []byte("\x00<\x00?")):
		return "utf-16be", nil
	}
	m := encodingAttr.FindSubmatch(head)
	if m == nil {
		return "", nil
	}
	label := string(m[1])
	if name, _ := encodingName(label); strings.HasPrefix(name, "utf-16") {
		return "", &fileError{kind: ErrEncoding, msg: fmt.Sprintf("formats: xml: the XML declaration names encoding %q, "+
			"but the file is not UTF-16 (no byte order mark, and the declaration reads as single bytes); "+
			"fix the declaration or set the feed's encoding", label)}
	}
	return label, nil
}

// xmlReader implements FormatXML; the rules are documented there.
type xmlReader struct {
	opts     Options
	dec      *xml.Decoder
	win      *window
	path     []string
	anywhere bool     // RecordPath is one name: match it at any depth
	stack    []string // open elements outside records
	sawRoot  bool
	n        int64
	rec      Record
	text     bytes.Buffer // a child's text
	markup   bytes.Buffer // a child's content as XML
	err      error        // sticky
}

// matches reports whether an element named name, opened under x.stack, is a
// record.
func (x *xmlReader) matches(name string) bool {
	switch {
	case len(x.path) == 0:
		return len(x.stack) == 1
	case x.anywhere:
		return name == x.path[0]
	case len(x.stack) != len(x.path)-1 || name != x.path[len(x.path)-1]:
		return false
	}
	for i, s := range x.stack {
		if s != x.path[i] {
			return false
		}
	}
	return true
}

func (x *xmlReader) fatal(err error) error {
	line, _ := x.dec.InputPos()
	if errors.Is(err, io.ErrUnexpectedEOF) || err == io.EOF {
		err = fmt.Errorf("unexpected EOF (truncated file?): %w", io.ErrUnexpectedEOF)
	}
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("formats: xml: %w", err) // carries its line
	}
	return fmt.Errorf("formats: xml: line %d: %w", line, err)
}

func (x *xmlReader) Next() (Record, error) {
	if x.err != nil {
		return Record{}, x.err
	}
	for {
		line, _ := x.dec.InputPos()
		start := x.dec.InputOffset()
		tok, err := x.dec.Token()
		if err == io.EOF {
			if !x.sawRoot {
				x.err = errors.New("formats: xml: no root element (empty or truncated file)")
			} else {
				x.err = io.EOF
			}
			return Record{}, x.err
		}
		if err != nil {
			x.err = x.fatal(err)
			return Record{}, x.err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			x.sawRoot = true
			if x.matches(t.Name.Local) {
				return x.record(t, int64(line), start)
			}
			if len(x.stack) >= maxXMLDepth {
				x.err = x.fatal(fmt.Errorf("elements nested deeper than %d", maxXMLDepth))
				return Record{}, x.err
			}
			x.stack = append(x.stack, t.Name.Local)
		case xml.EndElement:
			if len(x.stack) > 0 {
				x.stack = x.stack[:len(x.stack)-1]
			}
		case xml.Directive:
			x.err = x.directive(t, line)
			return Record{}, x.err
		}
		x.win.mark(x.dec.InputOffset())
	}
}

// directive returns the fatal error for a <!...> directive at line: a
// DOCTYPE, a declaration of a DTD (ENTITY, ELEMENT, ATTLIST, NOTATION), or
// anything else encoding/xml reads as a directive (comments and CDATA are
// not directives). Every one is refused: a DTD can define entities, which
// encoding/xml does not expand (it fails on "invalid character entity")
// and which, expanded, make the "billion laughs" attack.
func (x *xmlReader) directive(d xml.Directive, line int) error {
	word, _, _ := strings.Cut(strings.TrimSpace(string(d)), " ")
	word, _, _ = strings.Cut(word, "[")
	word = strings.ToUpper(strings.TrimSpace(word))
	var msg string
	switch word {
	case "DOCTYPE":
		msg = "XML DTDs (<!DOCTYPE>) are refused, for safety (entity expansion); remove the DOCTYPE"
	case "ENTITY", "ELEMENT", "ATTLIST", "NOTATION":
		msg = "XML DTD declarations (<!" + word + ">) are refused, for safety (entity expansion); remove it"
	default:
		msg = "XML directives (<!...>) are refused: only comments and CDATA may start with <!"
	}
	return &fileError{kind: ErrDTD, msg: fmt.Sprintf("formats: xml: line %d: %s", line, msg)}
}

// record reads the rest of the record element opened by se.
func (x *xmlReader) record(se xml.StartElement, line, start int64) (Record, error) {
	x.n++
	fields := x.rec.Fields[:0]
	for _, a := range se.Attr {
		if skipAttr(a) {
			continue
		}
		v := a.Value
		if x.opts.TrimSpace {
			v = strings.TrimSpace(v)
		}
		fields = append(fields, Field{Name: a.Name.Local, Value: v})
	}
	// depth 0: in the record; 1: in a child; more: in the child's content.
	depth := 0
	var child Field
	var nested bool
	for {
		tok, err := x.dec.Token()
		if err != nil {
			x.err = x.fatal(err)
			return Record{}, x.err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth > maxXMLDepth {
				x.err = x.fatal(fmt.Errorf("elements nested deeper than %d", maxXMLDepth))
				return Record{}, x.err
			}
			if depth == 1 {
				child = Field{Name: t.Name.Local, Null: isNil(t.Attr)}
				nested = false
				x.text.Reset()
				x.markup.Reset()
				continue
			}
			nested = true
			x.markup.WriteByte('<')
			x.markup.WriteString(t.Name.Local)
			for _, a := range t.Attr {
				if skipAttr(a) {
					continue
				}
				fmt.Fprintf(&x.markup, ` %s="`, a.Name.Local)
				_ = xml.EscapeText(&x.markup, []byte(a.Value))
				x.markup.WriteByte('"')
			}
			x.markup.WriteByte('>')
		case xml.EndElement:
			depth--
			switch {
			case depth < 0: // the record's end
				end := x.dec.InputOffset()
				raw := x.win.span(start, end)
				x.win.mark(end)
				x.rec.Fields = fields
				if name, dup := duplicateName(fields); dup {
					return Record{}, &RecordError{Number: x.n, Line: line, Raw: x.opts.rawCopy(raw),
						Err: fmt.Errorf("duplicate field %q", name)}
				}
				x.rec.Number, x.rec.Line = x.n, line
				x.rec.Raw = x.opts.rawLimit(raw)
				return x.rec, nil
			case depth == 0: // a child's end
				if !child.Null {
					if nested {
						child.Value = x.markup.String()
					} else {
						child.Value = x.text.String()
					}
					if x.opts.TrimSpace {
						child.Value = strings.TrimSpace(child.Value)
					}
				}
				fields = append(fields, child)
			default:
				x.markup.WriteString("</")
				x.markup.WriteString(t.Name.Local)
				x.markup.WriteByte('>')
			}
		case xml.Directive:
			line, _ := x.dec.InputPos()
			x.err = x.directive(t, line)
			return Record{}, x.err
		case xml.CharData:
			if depth == 0 {
				continue
			}
			x.text.Write(t)
			if len(bytes.TrimSpace(t)) > 0 {
				_ = xml.EscapeText(&x.markup, t)
			}
		}
	}
}

// skipAttr reports whether an attribute is markup rather than data:
// namespace declarations and xsi:* attributes.
func skipAttr(a xml.Attr) bool {
	return a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") ||
		a.Name.Space == xsiNS || a.Name.Space == "xsi"
}

// isNil reports whether attrs hold xsi:nil="true".
func isNil(attrs []xml.Attr) bool {
	for _, a := range attrs {
		if a.Name.Local == "nil" && (a.Name.Space == xsiNS || a.Name.Space == "xsi") {
			v := strings.TrimSpace(a.Value)
			return v == "true" || v == "1"
		}
	}
	return false
}
