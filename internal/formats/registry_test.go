package formats_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/logmesh/logmesh/internal/formats"
)

// kvReader is a test parser for "key=value;key=value" lines, registered
// through Registry.Register.
type kvReader struct {
	sc   *bufio.Scanner
	line int64
	n    int64
}

func openKV(r io.Reader, _ formats.Options) (formats.Reader, error) {
	return &kvReader{sc: bufio.NewScanner(r)}, nil
}

func (k *kvReader) Next() (formats.Record, error) {
	for k.sc.Scan() {
		k.line++
		text := k.sc.Text()
		if text == "" {
			continue
		}
		k.n++
		rec := formats.Record{Number: k.n, Line: k.line, Raw: []byte(text)}
		for pair := range strings.SplitSeq(text, ";") {
			name, value, ok := strings.Cut(pair, "=")
			if !ok {
				return formats.Record{}, &formats.RecordError{Number: k.n, Line: k.line, Raw: rec.Raw,
					Err: fmt.Errorf("%q is not key=value", pair)}
			}
			rec.Fields = append(rec.Fields, formats.Field{Name: name, Value: value})
		}
		return rec, nil
	}
	if err := k.sc.Err(); err != nil {
		return formats.Record{}, err
	}
	return formats.Record{}, io.EOF
}

func TestRegistryCustomParser(t *testing.T) {
	g := formats.NewRegistry()
	if err := g.Register("kv", formats.ParserFunc(openKV)); err != nil {
		t.Fatal(err)
	}
	rd, err := g.Open("kv", strings.NewReader("a=1;b=2\n\nbroken\na=3\n"), formats.Options{})
	if err != nil {
		t.Fatal(err)
	}
	check{
		fields:  [][]string{{"a=1", "b=2"}, {"a=3"}},
		lines:   []int64{1, 4},
		rejects: []string{`2:3:"broken" is not key=value`},
	}.verify(t, drain(t, rd, 10))

	want := []string{"csv", "fixed-width", "json", "kv", "ndjson", "xml"}
	if got := g.Formats(); !slices.Equal(got, want) {
		t.Errorf("Formats() = %q, want %q", got, want)
	}
}

func TestRegistryRefusals(t *testing.T) {
	g := formats.NewRegistry()
	p := formats.ParserFunc(openKV)
	for _, tt := range []struct {
		name string
		p    formats.Parser
		want string
	}{
		{"", p, "empty format name"},
		{"csv", p, "already registered"},
		{"kv", nil, "nil parser"},
	} {
		if err := g.Register(tt.name, tt.p); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Register(%q): %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
	if err := g.Register("kv", p); err != nil {
		t.Fatal(err)
	}
	if err := g.Register("kv", p); err == nil {
		t.Error("second Register(kv) succeeded")
	}
	_, err := g.Open("parquet", strings.NewReader(""), formats.Options{})
	if !errors.Is(err, formats.ErrUnknownFormat) {
		t.Errorf("Open(parquet): %v, want ErrUnknownFormat", err)
	}
}

func TestRegistryConcurrentUse(t *testing.T) {
	g := formats.NewRegistry()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 8 {
		wg.Go(func() {
			if err := g.Register(fmt.Sprintf("kv%d", i), formats.ParserFunc(openKV)); err != nil {
				errs <- err
			}
		})
		wg.Go(func() {
			rd, err := g.Open("csv", strings.NewReader("a\n1\n"), formats.Defaults())
			if err == nil {
				_, err = rd.Next()
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(g.Formats()); n != 13 {
		t.Errorf("%d formats registered, want 13", n)
	}
}
