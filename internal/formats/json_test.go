package formats_test

import (
	"strings"
	"testing"

	"github.com/logmesh/logmesh/internal/formats"
)

func TestJSON(t *testing.T) {
	tests := []struct {
		name string
		in   string
		opts formats.Options
		want check
	}{
		{
			name: "array of objects, value kinds, lines",
			in: "[\n" +
				`  {"z":"s","a":1.50,"t":true,"n":null,"o":{"k": [1, {"x":null}]}},` + "\n" +
				"  {\n    \"id\": 7\n  },\n" +
				`  {"e":"\u00e9\"q\""}` + "\n]\n",
			want: check{
				fields: [][]string{
					{"z=s", "a=1.50", "t=true", "n=<null>", `o={"k":[1,{"x":null}]}`},
					{"id=7"},
					{`e=é"q"`},
				},
				lines: []int64{2, 3, 6},
			},
		},
		{
			name: "empty array",
			in:   " [ ] ",
			want: check{fields: [][]string{}},
		},
		{
			name: "elements that are not objects are bad records",
			in:   `[{"a":1}, 2, "x", [1], null, {"a":1,"a":2}, {"a":3}]`,
			want: check{
				fields: [][]string{{"a=1"}, {"a=3"}},
				rejects: []string{
					"2:1:not a JSON object: a number",
					`3:1:not a JSON object: a string, "x"`,
					"4:1:not a JSON object: an array",
					"5:1:not a JSON object: null",
					`6:1:duplicate key "a"`,
				},
			},
		},
		{
			name: "RecordPath in a top-level object",
			in:   `{"meta":{"n":[1,2]},"data":[{"a":1},{"a":2}],"more":"x"}`,
			opts: formats.Options{RecordPath: "data"},
			want: check{fields: [][]string{{"a=1"}, {"a=2"}}},
		},
		{
			name: "nested RecordPath",
			in:   `{"result":{"count":1,"items":[{"a":1}]},"ok":true}`,
			opts: formats.Options{RecordPath: "result/items"},
			want: check{fields: [][]string{{"a=1"}}},
		},
		{
			name: "truncated in an element",
			in:   `[{"a":1},{"a":`,
			want: check{fields: [][]string{{"a=1"}}, fatal: "unexpected EOF"},
		},
		{
			name: "truncated before the closing bracket",
			in:   "[{\"a\":1},\n",
			want: check{fields: [][]string{{"a=1"}}, fatal: "line 2: unexpected EOF"},
		},
		{
			name: "missing comma",
			in:   `[{"a":1} {"a":2}]`,
			want: check{fields: [][]string{{"a=1"}}, fatal: "line 1: expected comma after array element"},
		},
		{
			name: "data after the array",
			in:   `[{"a":1}] [`,
			want: check{fields: [][]string{{"a=1"}}, fatal: "data after the end of the records"},
		},
		{
			name: "truncated after the record array in an object",
			in:   `{"data":[{"a":1}],"x":`,
			opts: formats.Options{RecordPath: "data"},
			want: check{fields: [][]string{{"a=1"}}, fatal: "unexpected EOF"},
		},
		{
			name: "element over MaxRecordBytes",
			in:   `[{"a":1},{"a":"` + strings.Repeat("x", 100) + `"}]`,
			opts: formats.Options{MaxRecordBytes: 64},
			want: check{fields: [][]string{{"a=1"}}, fatal: "record too large"},
		},
		{
			name: "latin1",
			in:   "[{\"v\":\"caf\xe9\"}]",
			opts: formats.Options{Encoding: "latin1"},
			want: check{fields: [][]string{{"v=café"}}},
		},
		{
			name: "BOM",
			in:   "\xEF\xBB\xBF[{\"v\":1}]",
			want: check{fields: [][]string{{"v=1"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rd, err := open(t, "json", tt.in, tt.opts)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			tt.want.verify(t, drain(t, rd, len(tt.in)+2))
		})
	}
}

func TestJSONOpenErrors(t *testing.T) {
	tests := []struct {
		name, in string
		opts     formats.Options
		want     string
	}{
		{"empty", "", formats.Options{}, "empty"},
		{"object without RecordPath", `{"data":[]}`, formats.Options{}, "set RecordPath"},
		{"scalar", `42`, formats.Options{}, "found a number"},
		{"garbage", "%%", formats.Options{}, "invalid character"},
		{"binary", "\x00\x01", formats.Options{}, "the file looks binary (NUL byte at offset 0), not JSON text"},
		{"array with RecordPath", `[{"a":1}]`, formats.Options{RecordPath: "data"}, `want an object holding "data"`},
		{"RecordPath missing", `{"x":[]}`, formats.Options{RecordPath: "data"}, `no key "data"`},
		{"RecordPath not an array", `{"data":{}}`, formats.Options{RecordPath: "data"}, "not an array"},
		{"truncated before the array", `{"x":1,`, formats.Options{RecordPath: "data"}, "unexpected EOF"},
		{"unknown encoding", `[]`, formats.Options{Encoding: "utf-32"}, "unsupported encoding"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := open(t, "json", tt.in, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Open: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
