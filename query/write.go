package query

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The writers below only read r, so several may render one Result at once.
// Each refuses a Result whose rows do not have one value per column.

// WriteJSON writes r as one JSON array of objects, one object per row with
// the keys in column order, one row per line. Values are written as:
// timestamps in RFC 3339 with nanoseconds in UTC, DATE as "2006-01-02", TIME
// as "15:04:05.999999999" (TIMETZ with its offset), []byte in standard
// base64, DECIMAL and big integers as exact JSON numbers, NaN and ±Inf as the
// strings "NaN", "Infinity" and "-Infinity", STRUCT and MAP as objects with
// sorted keys. A column name that repeats an earlier one gets a suffix ("id",
// "id_1") so that every key of an object is distinct. r.Truncated is not
// written; callers that care report it themselves.
func WriteJSON(w io.Writer, r *Result) error {
	if err := checkShape(r); err != nil {
		return err
	}
	keys := uniqueNames(r.Columns)
	bw := bufio.NewWriter(w)
	var buf bytes.Buffer
	if len(r.Rows) == 0 {
		bw.WriteString("[]\n")
		return flush(bw)
	}
	bw.WriteString("[\n")
	for i, row := range r.Rows {
		buf.Reset()
		buf.WriteByte('{')
		for j, v := range row {
			if j > 0 {
				buf.WriteByte(',')
			}
			writeJSONString(&buf, keys[j])
			buf.WriteByte(':')
			if err := writeJSONValue(&buf, v, typeAt(r, j)); err != nil {
				return fmt.Errorf("query: write json: row %d, column %q: %w", i, r.Columns[j], err)
			}
		}
		buf.WriteByte('}')
		if i < len(r.Rows)-1 {
			buf.WriteByte(',')
		}
		buf.WriteByte('\n')
		bw.Write(buf.Bytes())
	}
	bw.WriteString("]\n")
	return flush(bw)
}

// checkShape refuses a Result a writer would misrender: every row must
// have one value per column.
func checkShape(r *Result) error {
	if r == nil {
		return errors.New("query: write: nil result")
	}
	for i, row := range r.Rows {
		if len(row) != len(r.Columns) {
			return fmt.Errorf("query: write: row %d has %d values for %d columns", i, len(row), len(r.Columns))
		}
	}
	return nil
}

func flush(bw *bufio.Writer) error {
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("query: write: %w", err)
	}
	return nil
}

func typeAt(r *Result, i int) string {
	if i < len(r.Types) {
		return r.Types[i]
	}
	return ""
}

// uniqueNames returns names with repeats suffixed _1, _2, ... so that they
// can be keys of one object.
func uniqueNames(names []string) []string {
	out := make([]string, len(names))
	used := make(map[string]bool, len(names))
	for i, n := range names {
		k := n
		for s := 1; used[k]; s++ {
			k = n + "_" + strconv.Itoa(s)
		}
		used[k] = true
		out[i] = k
	}
	return out
}

func writeJSONString(buf *bytes.Buffer, s string) {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	enc.Encode(s)               //nolint:errcheck // a string always encodes
	buf.Truncate(buf.Len() - 1) // Encode appends '\n'
}

func writeJSONValue(buf *bytes.Buffer, v any, typ string) error {
	switch x := v.(type) {
	case nil:
		buf.WriteString("null")
	case bool:
		buf.WriteString(strconv.FormatBool(x))
	case int64:
		buf.WriteString(strconv.FormatInt(x, 10))
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			writeJSONString(buf, formatFloat(x))
		} else {
			buf.WriteString(formatFloat(x))
		}
	case json.Number:
		buf.WriteString(string(x))
	case string:
		writeJSONString(buf, x)
	case time.Time, []byte:
		writeJSONString(buf, Text(x, typ))
	case []any:
		et := elemType(typ)
		buf.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeJSONValue(buf, e, et); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		buf.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeJSONString(buf, k)
			buf.WriteByte(':')
			if err := writeJSONValue(buf, x[k], ""); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return err
		}
		buf.Write(b)
	}
	return nil
}

// formatFloat formats f as encoding/json does (shortest form, exponent only
// for very large or small magnitudes), with NaN, Infinity and -Infinity for
// the values JSON has no number for.
func formatFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	b, _ := json.Marshal(f) // cannot fail for a finite float
	return string(b)
}

// Text renders a non-nil value of a Result as text for CSV and tables (and
// for the runner, which validates a transform's rows as a loader does a
// file's): times as in
// WriteJSON, []byte as base64, LIST/STRUCT/MAP as JSON.
func Text(v any, typ string) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return formatFloat(x)
	case json.Number:
		return string(x)
	case []byte:
		return base64.StdEncoding.EncodeToString(x)
	case time.Time:
		switch typ {
		case "DATE":
			return x.Format(time.DateOnly)
		case "TIME":
			return x.Format("15:04:05.999999999")
		case "TIMETZ":
			return x.Format("15:04:05.999999999Z07:00")
		default:
			return x.UTC().Format(time.RFC3339Nano)
		}
	case []any, map[string]any:
		var buf bytes.Buffer
		if err := writeJSONValue(&buf, x, typ); err != nil {
			return fmt.Sprint(x)
		}
		return buf.String()
	default:
		return fmt.Sprint(x)
	}
}

// WriteCSV writes r as CSV (RFC 4180, "\n" line ends): a header of column
// names, then one record per row. NULL is an empty field; other values are
// written as in [WriteTable]. r.Truncated is not written.
func WriteCSV(w io.Writer, r *Result) error {
	if err := checkShape(r); err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(r.Columns); err != nil {
		return fmt.Errorf("query: write csv: %w", err)
	}
	rec := make([]string, len(r.Columns))
	for _, row := range r.Rows {
		for j, v := range row {
			if v == nil {
				rec[j] = ""
			} else {
				rec[j] = Text(v, typeAt(r, j))
			}
		}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("query: write csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("query: write csv: %w", err)
	}
	return nil
}

// WriteTable writes r as aligned text for people: a header, a rule, one line
// per row, and a footer with the row count ("(2 rows)", with ", truncated"
// when r.Truncated). Numeric columns are right-aligned, NULL is written as
// NULL, times as in [WriteJSON], []byte as base64, LIST/STRUCT/MAP as JSON;
// tabs and line breaks inside values are shown as \t, \n and \r so that every
// row stays on one line. Widths count runes, so wide characters may misalign.
func WriteTable(w io.Writer, r *Result) error {
	if err := checkShape(r); err != nil {
		return err
	}
	n := len(r.Columns)
	cells := make([][]string, 0, len(r.Rows)+2)
	cells = append(cells, slices.Clone(r.Columns))
	for _, row := range r.Rows {
		line := make([]string, n)
		for j := range row {
			if row[j] == nil {
				line[j] = "NULL"
			} else {
				line[j] = escapeCell(Text(row[j], typeAt(r, j)))
			}
		}
		cells = append(cells, line)
	}
	for j := range cells[0] {
		cells[0][j] = escapeCell(cells[0][j])
	}
	width := make([]int, n)
	for _, line := range cells {
		for j, c := range line {
			width[j] = max(width[j], utf8.RuneCountInString(c))
		}
	}
	rule := make([]string, n)
	for j := range rule {
		rule[j] = strings.Repeat("-", width[j])
	}
	cells = slices.Insert(cells, 1, rule)

	bw := bufio.NewWriter(w)
	var sb strings.Builder
	for i, line := range cells {
		sb.Reset()
		for j, c := range line {
			if j > 0 {
				sb.WriteString("  ")
			}
			pad := strings.Repeat(" ", width[j]-utf8.RuneCountInString(c))
			if i > 1 && isNumericType(typeAt(r, j)) {
				sb.WriteString(pad + c)
			} else {
				sb.WriteString(c + pad)
			}
		}
		bw.WriteString(strings.TrimRight(sb.String(), " "))
		bw.WriteByte('\n')
	}
	switch len(r.Rows) {
	case 1:
		bw.WriteString("(1 row")
	default:
		fmt.Fprintf(bw, "(%d rows", len(r.Rows))
	}
	if r.Truncated {
		bw.WriteString(", truncated")
	}
	bw.WriteString(")\n")
	return flush(bw)
}

var cellEscaper = strings.NewReplacer("\t", `\t`, "\n", `\n`, "\r", `\r`)

func escapeCell(s string) string { return cellEscaper.Replace(s) }

func isNumericType(typ string) bool {
	switch typ {
	case "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT",
		"UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT",
		"BIGNUM", "FLOAT", "DOUBLE":
		return true
	}
	return strings.HasPrefix(typ, "DECIMAL")
}
