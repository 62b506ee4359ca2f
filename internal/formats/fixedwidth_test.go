package formats_test

import (
	"strings"
	"testing"

	"github.com/logmesh/logmesh/internal/formats"
)

var fwCols = []formats.Column{
	{Name: "id", Start: 1, Width: 4},
	{Name: "name", Start: 5, Width: 6},
	{Name: "amount", Start: 11, Width: 7},
}

func TestFixedWidth(t *testing.T) {
	tests := []struct {
		name string
		in   string
		opts formats.Options
		want check
	}{
		{
			name: "header, padding, blank and comment lines",
			in: "ID  NAME  AMOUNT\r\n" +
				"0001ann     12.50\r\n" +
				"\n" +
				"* comment\n" +
				"0002 bob     -3\n" +
				"0003 çé      7.00 trailing ignored\n" +
				"0004x         1",
			opts: formats.Options{Header: true, FixedWidth: fwCols, Comment: '*'},
			want: check{
				fields: [][]string{
					{"id=0001", "name=ann", "amount=12.50"},
					{"id=0002", "name=bob", "amount=-3"},
					{"id=0003", "name=çé", "amount=7.00"},
					{"id=0004", "name=x", "amount=1"},
				},
				lines: []int64{2, 5, 6, 7},
			},
		},
		{
			name: "columns in any order, gaps allowed",
			in:   "AAxxBB\n",
			opts: formats.Options{FixedWidth: []formats.Column{{Name: "b", Start: 5, Width: 2}, {Name: "a", Start: 1, Width: 2}}},
			want: check{fields: [][]string{{"b=BB", "a=AA"}}},
		},
		{
			name: "short lines are bad records",
			in:   "0001ann     12.50\n0002bob\n0003carl      1\n",
			opts: formats.Options{FixedWidth: fwCols},
			want: check{
				fields:  [][]string{{"id=0001", "name=ann", "amount=12.50"}, {"id=0003", "name=carl", "amount=1"}},
				rejects: []string{"2:2:line has 7 characters, the last column starts at 11"},
			},
		},
		{
			name: "line ending inside the last column",
			in:   "0001ann       1",
			opts: formats.Options{FixedWidth: fwCols},
			want: check{fields: [][]string{{"id=0001", "name=ann", "amount=1"}}},
		},
		{
			name: "TrimSpace trims tabs too",
			in:   "\t1\t\t2\t\n",
			opts: formats.Options{TrimSpace: true, FixedWidth: []formats.Column{{Name: "a", Start: 1, Width: 3}, {Name: "b", Start: 4, Width: 3}}},
			want: check{fields: [][]string{{"a=1", "b=2"}}},
		},
		{
			name: "invalid UTF-8 and over-long lines are bad records",
			in:   "0001caf\xe9      1\n0002" + strings.Repeat("x", 100) + "\n0003ok        2\n",
			opts: formats.Options{FixedWidth: fwCols, MaxRecordBytes: 40},
			want: check{
				fields:  [][]string{{"id=0003", "name=ok", "amount=2"}},
				rejects: []string{"1:1:invalid UTF-8", "2:2:record too large"},
			},
		},
		{
			name: "latin1 counts characters, not bytes",
			in:   "0001caf\xe9      1\n",
			opts: formats.Options{FixedWidth: fwCols, Encoding: "latin1"},
			want: check{fields: [][]string{{"id=0001", "name=café", "amount=1"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rd, err := open(t, "fixed-width", tt.in, tt.opts)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			tt.want.verify(t, drain(t, rd, len(tt.in)+2))
		})
	}
}

func TestFixedWidthOpenErrors(t *testing.T) {
	tests := []struct {
		name string
		cols []formats.Column
		want string
	}{
		{"no columns", nil, "no columns"},
		{"zero width", []formats.Column{{Name: "a", Start: 1, Width: 0}}, "must be positive"},
		{"zero start", []formats.Column{{Name: "a", Start: 0, Width: 2}}, "must be positive"},
		{"overlap", []formats.Column{{Name: "a", Start: 1, Width: 3}, {Name: "b", Start: 3, Width: 2}}, `"a" and "b" overlap`},
		{"duplicate name", []formats.Column{{Name: "a", Start: 1, Width: 1}, {Name: "a", Start: 2, Width: 1}}, "duplicate"},
		{"empty name", []formats.Column{{Name: "", Start: 1, Width: 1}}, "empty name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := open(t, "fixed-width", "x\n", formats.Options{FixedWidth: tt.cols})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Open: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
