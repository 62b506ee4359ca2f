package mesh

import (
	"slices"
	"unicode/utf8"

	"github.com/logmesh/logmesh/internal/formats"
)

// FormatOptions are a feed's `options:` as written in mesh.yaml: the
// parser's settings plus the layouts the validator uses to read timestamps
// and dates. Zero values mean the parser's (or validator's) default.
type FormatOptions struct {
	// Delimiter is the field separator of csv, one character; default ",".
	Delimiter string `yaml:"delimiter"`
	// Header reports whether the first csv line names the columns.
	Header bool `yaml:"header"`
	// Columns name the columns of a csv file without (or overriding) a header.
	Columns []string `yaml:"columns"`
	// RecordPath selects the records in json and xml documents.
	RecordPath string `yaml:"record_path"`
	// FixedWidth are the columns of the fixed-width format; required there
	// and refused for the other built-in formats.
	FixedWidth []Column `yaml:"fixed_width"`
	// Encoding is the file's character encoding: utf-8 (the default),
	// latin1, windows-1252, utf-16le, utf-16be, or utf-16 (byte order
	// mark required); see formats.Options.Encoding for the aliases and
	// for the byte order mark and binary checks.
	Encoding string `yaml:"encoding"`
	// Comment starts a comment line, one character; default none.
	Comment string `yaml:"comment"`
	// TrimSpace trims leading and trailing white space from values.
	TrimSpace bool `yaml:"trim_space"`
	// MaxRecordBytes caps a record's size; 0 means the parser's default.
	MaxRecordBytes int `yaml:"max_record_bytes"`
	// MaxRawBytes caps the raw text kept for rejection reports; 0 means the
	// parser's default, a negative value keeps none.
	MaxRawBytes int `yaml:"max_raw_bytes"`
	// TimestampLayouts are Go time layouts tried in order for
	// timestamp-micros and timestamp-millis fields; default RFC 3339 (with
	// or without fractional seconds) and "2006-01-02 15:04:05".
	TimestampLayouts []string `yaml:"timestamp_layouts"`
	// DateLayouts are Go time layouts tried in order for date fields;
	// default "2006-01-02".
	DateLayouts []string `yaml:"date_layouts"`
}

// Column is one column of a fixed-width record.
type Column struct {
	// Name is the field name the column's value gets.
	Name string `yaml:"name"`
	// Start is the 1-based position of the column's first character.
	Start int `yaml:"start"`
	// Width is the column's width in characters.
	Width int `yaml:"width"`
}

// Formats returns the parser options for internal/formats: Delimiter and
// Comment become runes (0 when empty), FixedWidth becomes formats.Column.
// Zero values keep the parser's defaults; Header is passed as written
// (false when omitted). The layouts are not parser options. The result
// shares no memory with o.
//
// Feed.ParserOptions adds what the feed itself says about its text.
func (o *FormatOptions) Formats() formats.Options {
	first := func(s string) rune {
		if s == "" {
			return 0
		}
		r, _ := utf8.DecodeRuneInString(s)
		return r
	}
	var cols []formats.Column
	for _, c := range o.FixedWidth {
		cols = append(cols, formats.Column{Name: c.Name, Start: c.Start, Width: c.Width})
	}
	return formats.Options{
		Delimiter:      first(o.Delimiter),
		Header:         o.Header,
		Columns:        slices.Clone(o.Columns),
		RecordPath:     o.RecordPath,
		FixedWidth:     cols,
		Encoding:       o.Encoding,
		Comment:        first(o.Comment),
		TrimSpace:      o.TrimSpace,
		MaxRecordBytes: o.MaxRecordBytes,
		MaxRawBytes:    o.MaxRawBytes,
	}
}

// ParserOptions returns the parser settings of the feed: its format options,
// and AllowControl when the feed accepts control characters (so a NUL in
// the first bytes does not make the file look binary).
func (f *Feed) ParserOptions() formats.Options {
	o := f.Options.Formats()
	o.AllowControl = f.AllowControlCharacters
	return o
}
