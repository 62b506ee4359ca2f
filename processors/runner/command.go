package runner

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/logmesh/logmesh/events"
)

// Environment variables a Command's process gets, besides the runner's own.
const (
	EnvJobFile    = "LOGMESH_JOB_FILE"    // the job file, also the last argument
	EnvOutputFile = "LOGMESH_OUTPUT_FILE" // where the rows go, also in the job file
)

// commandTail bounds how much of a failed command's output its error keeps.
const commandTail = 2048

// Command runs a job with an external engine: a command started for each
// attempt with the path of a JSON job file (Job) as its last argument (and
// in $LOGMESH_JOB_FILE). The command reads the pinned inputs' data files
// the job file lists, runs the transform as it sees fit (spark-submit, a
// script, a container), and writes the result as NDJSON, one object per
// row keyed by column name, to the job file's "output" path (also
// $LOGMESH_OUTPUT_FILE). It succeeds by exiting 0; its rows are then
// validated against the output contract and written like DuckDB's. A
// non-zero exit fails the job with the end of the command's output; the
// attempt's timeout kills the command's whole process group.
type Command struct {
	// Args are the program and its first arguments.
	Args []string
	// Dir is the working directory; default the runner's.
	Dir string
	// MaxRows bounds the result; default DefaultMaxRows.
	MaxRows int
}

// Job is the job file a Command reads.
type Job struct {
	JobID        string          `json:"job_id"`
	Product      string          `json:"product"`
	Attempt      int32           `json:"attempt"`
	Transform    string          `json:"transform"`
	OutputTable  string          `json:"output_table"`
	OutputSchema json.RawMessage `json:"output_schema,omitempty"` // the contract, an Avro record schema
	PrimaryKey   []string        `json:"primary_key"`
	Mode         string          `json:"mode"`
	Inputs       []JobInput      `json:"inputs"`
	// Output is where the command writes the rows, as NDJSON.
	Output string `json:"output"`
}

// JobInput is one pinned input of a Job.
type JobInput struct {
	Name             string   `json:"name"`
	Table            string   `json:"table"`
	Version          int64    `json:"version"`
	SnapshotID       int64    `json:"snapshot_id"`
	MetadataLocation string   `json:"metadata_location"`
	Files            []string `json:"files"` // Parquet data files: local paths, file:// or s3:// URIs
}

// Launch implements Launcher.
func (c *Command) Launch(ctx context.Context, js *events.JobStarted, inputs []Input) (*Rows, error) {
	if len(c.Args) == 0 {
		return nil, errors.New("the engine has no command")
	}
	dir, err := os.MkdirTemp("", "logmesh-job-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	job := Job{JobID: js.JobID, Product: js.Product, Attempt: js.Attempt, Transform: deref(js.Transform),
		OutputTable: js.OutputTable, PrimaryKey: js.PrimaryKey, Mode: js.Mode, Inputs: []JobInput{},
		Output: filepath.Join(dir, "rows.ndjson")}
	cols := []string{}
	if s := deref(js.OutputSchema); s != "" {
		if cols, err = columnsOf(json.RawMessage(s)); err != nil {
			return nil, fmt.Errorf("product %s: output schema of %s %s: %w", js.Product, js.OutputTable, clip(s, 200), err)
		}
		job.OutputSchema = json.RawMessage(s)
	}
	for _, in := range inputs {
		job.Inputs = append(job.Inputs, JobInput{Name: in.Name, Table: in.Table, Version: in.Version, SnapshotID: in.SnapshotID,
			MetadataLocation: in.MetadataLocation, Files: in.Files})
	}
	jobFile := filepath.Join(dir, "job.json")
	b, err := json.MarshalIndent(job, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(jobFile, b, 0o600); err != nil {
		return nil, err
	}

	cmd := exec.CommandContext(ctx, c.Args[0], append(slices.Clone(c.Args[1:]), jobFile)...)
	cmd.Dir = c.Dir
	cmd.Env = append(os.Environ(), EnvJobFile+"="+jobFile, EnvOutputFile+"="+job.Output)
	// The command and whatever it starts are one process group, killed
	// together when the attempt times out or the runner stops.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	out := &tail{max: commandTail}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("engine command %s: %w: %s", filepath.Base(c.Args[0]), err, strings.TrimSpace(out.String()))
	}
	maxRows := c.MaxRows
	if maxRows <= 0 {
		maxRows = DefaultMaxRows
	}
	return readNDJSON(job.Output, cols, maxRows)
}

// columnsOf returns the field names of an Avro record schema, in order.
func columnsOf(schema json.RawMessage) ([]string, error) {
	var rec struct {
		Fields []struct {
			Name string `json:"name"`
		} `json:"fields"`
	}
	if err := json.Unmarshal(schema, &rec); err != nil {
		return nil, fmt.Errorf("not an Avro record schema: %w", err)
	}
	cols := make([]string, 0, len(rec.Fields))
	for _, f := range rec.Fields {
		cols = append(cols, f.Name)
	}
	return cols, nil
}

// clip returns s, cut to n bytes with "..." if it is longer.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// readNDJSON reads the rows a command wrote: the contract's columns first,
// then any other key met, so that validation names it.
func readNDJSON(path string, cols []string, maxRows int) (*Rows, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("the engine wrote no output file (%s)", EnvOutputFile)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	index := map[string]int{}
	for i, c := range cols {
		index[c] = i
	}
	out := &Rows{Columns: slices.Clone(cols)}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	for line := 1; sc.Scan(); line++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		if len(out.Rows) == maxRows {
			return nil, fmt.Errorf("the result has more than %d rows", maxRows)
		}
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.UseNumber()
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			return nil, fmt.Errorf("output line %d: %w", line, err)
		}
		row := make([]*string, len(out.Columns), len(out.Columns)+len(obj))
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			i, ok := index[k]
			if !ok {
				i = len(out.Columns)
				index[k] = i
				out.Columns = append(out.Columns, k)
				for j := range out.Rows {
					out.Rows[j] = append(out.Rows[j], nil)
				}
			}
			for len(row) <= i {
				row = append(row, nil)
			}
			row[i] = text(obj[k])
		}
		out.Rows = append(out.Rows, row)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("output: %w", err)
	}
	return out, nil
}

// text is a JSON value as the text validation parses; nil for null.
func text(v any) *string {
	var s string
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		s = x
	case json.Number:
		s = x.String()
	case bool:
		s = fmt.Sprint(x)
	default:
		b, _ := json.Marshal(x)
		s = string(b)
	}
	return &s
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
