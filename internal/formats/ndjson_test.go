package formats_test

import (
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
					"3:3:unexpected end of JSON input",
					"4:4:invalid character '{' after top-level value",
					`5:5:duplicate key "a"`,
					"6:6:not a JSON object: a string",
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
			name: "binary garbage is many bad records, not a crash",
			in:   "\x00\x01\xff\n\x89PNG\r\n\x1a\n",
			want: check{
				fields:  [][]string{},
				rejects: []string{"1:1:invalid UTF-8", "2:2:invalid UTF-8", "3:3:invalid character"},
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
