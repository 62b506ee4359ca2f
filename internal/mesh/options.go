package mesh

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
	// Encoding is the file's character encoding; default utf-8.
	Encoding string `yaml:"encoding"`
	// Comment starts a comment line, one character; default none.
	Comment string `yaml:"comment"`
	// TrimSpace trims leading and trailing white space from values.
	TrimSpace bool `yaml:"trim_space"`
	// MaxRecordBytes caps a record's size; 0 means the parser's default.
	MaxRecordBytes int `yaml:"max_record_bytes"`
	// MaxRawBytes caps the raw text kept for rejection reports; 0 means the
	// parser's default.
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
