package formats_test

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/logmesh/logmesh/internal/formats"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// result is everything a reader produced, up to EOF or a fatal error.
type result struct {
	recs    []formats.Record
	rejects []*formats.RecordError
	fatal   error // nil when the reader reached io.EOF
	// log is a readable transcript, for golden files and failures.
	log []string
}

func (r result) String() string { return strings.Join(r.log, "\n") + "\n" }

// drain reads rd to the end. It fails the test if the reader yields more
// than limit results, breaks the Reader contract (an error that is neither
// io.EOF, a *RecordError nor a non-empty fatal error; a fatal error that is
// not sticky), or returns records whose Number does not increase.
func drain(t testing.TB, rd formats.Reader, limit int) result {
	t.Helper()
	var res result
	var last int64
	for i := 0; ; i++ {
		if i > limit {
			t.Fatalf("reader did not finish within %d calls to Next", limit)
		}
		rec, err := rd.Next()
		var re *formats.RecordError
		switch {
		case err == nil:
			if rec.Number <= last {
				t.Fatalf("record number %d after %d", rec.Number, last)
			}
			last = rec.Number
			res.recs = append(res.recs, rec.Clone())
			res.log = append(res.log, describe(rec))
		case errors.As(err, &re):
			if re.Number <= last {
				t.Fatalf("rejected record number %d after %d", re.Number, last)
			}
			if re.Err == nil {
				t.Fatalf("RecordError without a cause: %v", re)
			}
			last = re.Number
			res.rejects = append(res.rejects, re)
			res.log = append(res.log, fmt.Sprintf("reject %d line %d: %v\n  raw %q", re.Number, re.Line, re.Err, re.Raw))
		case err == io.EOF:
			if _, err2 := rd.Next(); err2 != io.EOF {
				t.Fatalf("Next after io.EOF returned %v", err2)
			}
			res.log = append(res.log, "EOF")
			return res
		default:
			if err.Error() == "" {
				t.Fatalf("fatal error with an empty message: %#v", err)
			}
			if _, err2 := rd.Next(); err2 == nil || err2.Error() != err.Error() {
				t.Fatalf("Next after fatal %q returned %v", err, err2)
			}
			res.fatal = err
			res.log = append(res.log, "FATAL "+err.Error())
			return res
		}
	}
}

func describe(rec formats.Record) string {
	var b strings.Builder
	fmt.Fprintf(&b, "record %d line %d:", rec.Number, rec.Line)
	for _, f := range rec.Fields {
		if f.Null {
			fmt.Fprintf(&b, " %s=null", f.Name)
		} else {
			fmt.Fprintf(&b, " %s=%s", f.Name, strconv.Quote(f.Value))
		}
	}
	fmt.Fprintf(&b, "\n  raw %q", rec.Raw)
	return b.String()
}

// open opens s in format with opts through a fresh registry.
func open(t testing.TB, format, s string, opts formats.Options) (formats.Reader, error) {
	t.Helper()
	return formats.NewRegistry().Open(format, strings.NewReader(s), opts)
}

// fieldsOf renders records as "name=value" lists, null as name=<null>.
func fieldsOf(recs []formats.Record) [][]string {
	out := make([][]string, len(recs))
	for i, r := range recs {
		out[i] = []string{}
		for _, f := range r.Fields {
			v := f.Value
			if f.Null {
				v = "<null>"
			}
			out[i] = append(out[i], f.Name+"="+v)
		}
	}
	return out
}

// golden compares got with testdata/golden/name, or rewrites it with
// -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from golden file:\n--- got\n%s--- want\n%s", name, got, want)
	}
}

type check struct {
	fields  [][]string // expected records' fields, in order
	lines   []int64    // expected records' lines (nil: not checked)
	rejects []string   // "number:line:substring of the cause", in order
	fatal   string     // substring of the fatal error; "" means io.EOF
}

func (c check) verify(t *testing.T, res result) {
	t.Helper()
	if got := fieldsOf(res.recs); fmt.Sprint(got) != fmt.Sprint(c.fields) {
		t.Errorf("records:\n got %q\nwant %q\n%s", got, c.fields, res)
	}
	if c.lines != nil {
		var got []int64
		for _, r := range res.recs {
			got = append(got, r.Line)
		}
		if fmt.Sprint(got) != fmt.Sprint(c.lines) {
			t.Errorf("lines: got %v, want %v", got, c.lines)
		}
	}
	var rej []string
	for _, re := range res.rejects {
		rej = append(rej, fmt.Sprintf("%d:%d:%v", re.Number, re.Line, re.Err))
	}
	if len(rej) != len(c.rejects) {
		t.Errorf("rejects: got %q, want %q", rej, c.rejects)
	} else {
		for i := range rej {
			want := c.rejects[i]
			parts := strings.SplitN(want, ":", 3)
			prefix, sub := parts[0]+":"+parts[1]+":", parts[2]
			if !strings.HasPrefix(rej[i], prefix) || !strings.Contains(rej[i][len(prefix):], sub) {
				t.Errorf("reject %d: got %q, want %q", i, rej[i], want)
			}
		}
	}
	switch {
	case c.fatal == "" && res.fatal != nil:
		t.Errorf("unexpected fatal error: %v", res.fatal)
	case c.fatal != "" && res.fatal == nil:
		t.Errorf("no fatal error, want one containing %q", c.fatal)
	case c.fatal != "" && !strings.Contains(res.fatal.Error(), c.fatal):
		t.Errorf("fatal error %q, want one containing %q", res.fatal, c.fatal)
	}
}

func withOpts(f func(*formats.Options)) formats.Options {
	o := formats.Defaults()
	if f != nil {
		f(&o)
	}
	return o
}
