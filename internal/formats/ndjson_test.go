package formats_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/logmesh/logmesh/internal/formats"
)

func TestNDJSON(t *testing.T) {
	tests := []struct {
		name string
		in   string
		opts formats.Options
		want check
	}{
		{
			name: "value kinds, field order, blank lines",
			in: `{"z":"s","a":1.50,"e":1e3,"t":true,"f":false,"n":null,"o":{ "k" : [1, 2] },"u":"\u00e9\n"}` + "\n" +
				"\n   \n" +
				`{"id":-0.5}` + "\r\n" +
				`{}`,
			want: check{
				fields: [][]string{
					{"z=s", "a=1.50", "e=1e3", "t=true", "f=false", "n=<null>", `o={"k":[1,2]}`, "u=é\n"},
					{"id=-0.5"},
					{},
				},
				lines: []int64{1, 4, 5},
			},
		},
		{
			name: "bad lines are bad records",
			in: `{"a":1}` + "\n" +
				`[1,2]` + "\n" +
				`{"a":` + "\n" +
				`{"a":1} {"b":2}` + "\n" +
				`{"a":1,"a":2}` + "\n" +
				`"text"` + "\n" +
				"{\"a\":\"caf\xe9\"}\n" +
				`{"a":3}` + "\n",
			want: check{
				fields: [][]string{{"a=1"}, {"a=3"}},
				lines:  []int64{1, 8},
				rejects: []string{
					"2:2:not a JSON object: an array",
					"3:3:line 3: not valid JSON: the line ends inside a value (unclosed string, object or array?)",
					"4:4:line 4: not valid JSON: more after the end of the value, at column 9 (one object per line)",
					`5:5:duplicate key "a"`,
					`6:6:not a JSON object: a string, "text"`,
					"7:7:invalid UTF-8",
				},
			},
		},
		{
			name: "over-long line is skipped to the next newline",
			in:   `{"a":"` + strings.Repeat("x", 100) + `"}` + "\n" + `{"a":"ok"}` + "\n" + `{"b":"` + strings.Repeat("y", 5000) + `"}`,
			opts: formats.Options{MaxRecordBytes: 64},
			want: check{
				fields:  [][]string{{"a=ok"}},
				lines:   []int64{2},
				rejects: []string{"1:1:record too large", "3:3:record too large"},
			},
		},
		{
			name: "line of exactly MaxRecordBytes passes",
			in:   `{"a":"` + strings.Repeat("x", 56) + `"}` + "\r\n",
			opts: formats.Options{MaxRecordBytes: 64},
			want: check{fields: [][]string{{"a=" + strings.Repeat("x", 56)}}},
		},
		{
			name: "latin1",
			in:   "{\"v\":\"caf\xe9\"}\n",
			opts: formats.Options{Encoding: "iso-8859-1"},
			want: check{fields: [][]string{{"v=café"}}},
		},
		{
			name: "BOM",
			in:   "\xEF\xBB\xBF{\"v\":1}\n",
			want: check{fields: [][]string{{"v=1"}}},
		},
		{
			name: "syntax errors say what was expected, and where",
			in: `{"a":th}` + "\n" +
				`{a:1}` + "\n" +
				`{"é":1 "b":2}` + "\n" +
				`{"a" 1}` + "\n" +
				`{"a":[1 2]}` + "\n" +
				"{\"a\":\"x\x01\"}\n" +
				`{"a":,}` + "\n" +
				`{"a":"\q"}` + "\n",
			want: check{
				fields: [][]string{},
				rejects: []string{
					"1:1:line 1: not valid JSON: unexpected 'h' at column 7, expecting true, false or null (an unquoted string?)",
					"2:2:line 2: not valid JSON: unexpected 'a' at column 2, expecting a quoted key",
					`3:3:line 3: not valid JSON: unexpected '"' at column 8, expecting ',' or '}'`,
					"4:4:line 4: not valid JSON: unexpected '1' at column 6, expecting ':'",
					"5:5:line 5: not valid JSON: unexpected '2' at column 9, expecting ',' or ']'",
					"6:6:line 6: not valid JSON: control character U+0001 in a string at column 8 (it must be escaped)",
					"7:7:line 7: not valid JSON: unexpected ',' at column 6, expecting a value",
					`8:8:line 8: not valid JSON: unexpected 'q' at column 8`,
				},
			},
		},
		{
			name: "garbled text is many bad records, not a crash",
			in:   "\x01\xff\n%%%\n{\"ok\":true}\n",
			want: check{
				fields:  [][]string{{"ok=true"}},
				rejects: []string{"1:1:invalid UTF-8", "2:2:line 2: not valid JSON: unexpected '%' at column 1, expecting a value"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rd, err := open(t, "ndjson", tt.in, tt.opts)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			tt.want.verify(t, drain(t, rd, len(tt.in)+2))
		})
	}
}

// TestNDJSONBadLineCause: the cause of a bad line's *RecordError still
// unwraps to encoding/json's *json.SyntaxError.
func TestNDJSONBadLineCause(t *testing.T) {
	rd, err := open(t, "ndjson", "{\"a\":1}\n{\"a\":tru}\n", formats.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rd.Next(); err != nil {
		t.Fatal(err)
	}
	_, err = rd.Next()
	var re *formats.RecordError
	var se *json.SyntaxError
	if !errors.As(err, &re) || !errors.As(err, &se) {
		t.Fatalf("Next = %v, want a *RecordError wrapping a *json.SyntaxError", err)
	}
	if want := "line 2: not valid JSON: unexpected '}' at column 9, expecting true, false or null (an unquoted string?)"; re.Err.Error() != want {
		t.Errorf("cause %q, want %q", re.Err, want)
	}
}

// TestNDJSONBinary: a binary file is not many bad records: it fails at Open.
func TestNDJSONBinary(t *testing.T) {
	_, err := open(t, "ndjson", "\x00\x01\xff\n\x89PNG\r\n\x1a\n", formats.Options{})
	if !errors.Is(err, formats.ErrBinary) {
		t.Fatalf("Open: %v, want ErrBinary", err)
	}
}
