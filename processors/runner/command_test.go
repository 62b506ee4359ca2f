package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/logmesh/logmesh/events"
)

// TestMain makes the test binary the external engine of the Command
// tests when LOGMESH_TEST_ENGINE says how to behave.
func TestMain(m *testing.M) {
	if mode := os.Getenv("LOGMESH_TEST_ENGINE"); mode != "" {
		os.Exit(fakeEngine(mode))
	}
	os.Exit(m.Run())
}

// fakeEngine reads the job file and, for "ok", writes one row per pinned
// input: its name, version and number of files.
func fakeEngine(mode string) int {
	path := os.Args[len(os.Args)-1]
	if path != os.Getenv(EnvJobFile) {
		fmt.Fprintf(os.Stderr, "job file argument %q, env %q\n", path, os.Getenv(EnvJobFile))
		return 3
	}
	b, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	var job Job
	if err := json.Unmarshal(b, &job); err != nil || job.Output != os.Getenv(EnvOutputFile) {
		fmt.Fprintln(os.Stderr, "bad job file:", err)
		return 3
	}
	switch mode {
	case "fail":
		fmt.Fprintln(os.Stderr, "Exception in thread main: org.apache.spark.sql.AnalysisException: column q not found")
		return 1
	case "sleep":
		time.Sleep(time.Minute)
		return 0
	case "none":
		return 0
	case "bad":
		return write(job.Output, "{\"input\": \"a\", \"version\": 1, \"files\": 1}\n{not json\n")
	}
	var sb strings.Builder
	for _, in := range job.Inputs {
		fmt.Fprintf(&sb, "{\"files\": %d, \"input\": %q, \"version\": %d, \"note\": null}\n", len(in.Files), in.Name, in.Version)
	}
	fmt.Fprintf(&sb, "\n{\"input\": %q, \"version\": %d, \"files\": 0, \"extra\": true}\n", job.Transform, job.Attempt)
	return write(job.Output, sb.String())
}

func write(path, s string) int {
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	return 0
}

func engineJob() (*events.JobStarted, []Input) {
	js := &events.JobStarted{JobID: "j1", Product: "wm.ext", Attempt: 2, Transform: new("my transform"), OutputTable: "wm.ext",
		OutputSchema: new(`{"type":"record","name":"E","fields":[{"name":"input","type":"string"},{"name":"version","type":"long"},{"name":"files","type":"long"},{"name":"note","type":["null","string"]}]}`),
		PrimaryKey:   []string{}, Mode: "append"}
	inputs := []Input{
		{InputVersion: events.InputVersion{Name: "raw.a", Table: "raw.a", Version: 3}, Files: []string{"/w/a/1.parquet", "/w/a/2.parquet"}},
		{InputVersion: events.InputVersion{Name: "raw.b", Table: "raw.b", Version: 7}, Files: []string{"/w/b/1.parquet"}},
	}
	return js, inputs
}

func engine(t *testing.T, mode string) *Command {
	t.Setenv("LOGMESH_TEST_ENGINE", mode)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return &Command{Args: []string{exe, "-test.run=^$"}}
}

func TestCommandRows(t *testing.T) {
	js, inputs := engineJob()
	rows, err := engine(t, "ok").Launch(context.Background(), js, inputs)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(rows.Columns, ","), "input,version,files,note,extra"; got != want {
		t.Errorf("columns %s, want %s (the contract's, then the others met)", got, want)
	}
	var got []string
	for _, r := range rows.Rows {
		var cells []string
		for _, c := range r {
			if c == nil {
				cells = append(cells, "NULL")
			} else {
				cells = append(cells, *c)
			}
		}
		got = append(got, strings.Join(cells, "|"))
	}
	want := []string{"raw.a|3|2|NULL|NULL", "raw.b|7|1|NULL|NULL", "my transform|2|0|NULL|true"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rows\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestCommandFails(t *testing.T) {
	js, inputs := engineJob()
	for _, c := range []struct{ mode, want string }{
		{"fail", "exit status 1: Exception in thread main: org.apache.spark.sql.AnalysisException: column q not found"},
		{"none", "the engine wrote no output file"},
		{"bad", "output line 2"},
	} {
		_, err := engine(t, c.mode).Launch(context.Background(), js, inputs)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.mode, err, c.want)
		}
	}
	if _, err := (&Command{}).Launch(context.Background(), js, inputs); err == nil {
		t.Error("no command: no error")
	}
}

// The attempt's deadline kills the command and its process group.
func TestCommandTimeout(t *testing.T) {
	js, inputs := engineJob()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := engine(t, "sleep").Launch(ctx, js, inputs)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("%v, want the deadline", err)
	}
}

// A bad output schema fails the attempt, naming the product and the
// schema, rather than running the command with no contract columns.
func TestCommandBadSchema(t *testing.T) {
	for _, schema := range []string{`{"type": "record", "fields": [`, `["null", "string"]`} {
		js, inputs := engineJob()
		js.OutputSchema = new(schema)
		_, err := engine(t, "ok").Launch(context.Background(), js, inputs)
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		if err == nil || !strings.Contains(err.Error(), "wm.ext") || !strings.Contains(err.Error(), schema) ||
			!(errors.As(err, &se) || errors.As(err, &te)) {
			t.Errorf("output schema %s: %v, want an error naming wm.ext and the schema, wrapping the JSON error", schema, err)
		}
	}
}
