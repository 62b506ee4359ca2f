// Command benchreport is what `make bench` runs: it runs the benchmarks of
// package bench, streaming go test's output to stderr so progress is
// visible, and prints a table of logmesh's throughput figures, each beside a
// raw franz-go baseline measured in the same run and as a ratio of it. A
// ratio, unlike an absolute figure, means the same thing on a laptop and on a
// CI runner.
//
// Each benchmark runs `count` times with one iteration each; the table shows
// the median of its "events/s" metric. To add a figure, add a benchmark that
// reports a per-second metric to package bench and a row to rows.
//
// It exits non-zero if go test fails or a figure of the table is missing.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// count is how many times each benchmark runs; the median is reported. Each
// run of a benchmark handles 200,000 events (bench's -bench.events default).
const count = 5

// row is one line of the table: a figure and the baseline it is divided by,
// each named by its benchmark (without the "Benchmark" prefix) and metric.
type row struct {
	Figure, FigureBench     string
	Baseline, BaselineBench string
	Unit                    string // the metric both report, such as "events/s"
}

// rows are the lines of the table, in order.
var rows = []row{
	{"produce (encode + produce)", "ProduceEvents", "produce raw", "ProduceRaw", "events/s"},
	{"consume + decode", "ConsumeDecode", "consume raw", "ConsumeRaw", "events/s"},
	{"replay lineage (Pebble commit)", "ReplayLineage", "consume raw", "ConsumeRaw", "events/s"},
	{"host lineage (group, Pebble)", "HostLineage", "consume raw", "ConsumeRaw", "events/s"},
}

func main() {
	if err := run(os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
}

// run runs the benchmarks with their output on progress and writes the table
// to out.
func run(out, progress io.Writer) error {
	cmd := exec.Command("go", "test", "-run", "^$", "-bench", ".",
		"-benchtime", "1x", "-count", strconv.Itoa(count), "-timeout", "30m", "./bench/")
	var buf bytes.Buffer
	cmd.Stdout = io.MultiWriter(progress, &buf)
	cmd.Stderr = progress
	fmt.Fprintln(progress, "benchreport: running", strings.Join(cmd.Args, " "))
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go test: %w", err)
	}
	res, err := parse(&buf)
	if err != nil {
		return err
	}
	return report(out, res)
}

// results holds, per benchmark name and metric unit, every value reported.
type results struct {
	cpu     string // go test's "cpu:" line, if any
	metrics map[string]map[string][]float64
}

// parse reads go test -bench output. A result line is the benchmark's name
// (with a "-GOMAXPROCS" suffix), the iteration count, then value-unit pairs.
func parse(r io.Reader) (results, error) {
	res := results{metrics: map[string]map[string][]float64{}}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if cpu, ok := strings.CutPrefix(line, "cpu: "); ok {
			res.cpu = cpu
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
			continue
		}
		name := strings.TrimPrefix(f[0], "Benchmark")
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			name = name[:i]
		}
		if res.metrics[name] == nil {
			res.metrics[name] = map[string][]float64{}
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return res, fmt.Errorf("parse %q: %w", line, err)
			}
			res.metrics[name][f[i+1]] = append(res.metrics[name][f[i+1]], v)
		}
	}
	return res, sc.Err()
}

// median returns the median of the named benchmark's metric.
func (r results) median(bench, unit string) (float64, error) {
	vs := slices.Clone(r.metrics[bench][unit])
	if len(vs) == 0 {
		return 0, fmt.Errorf("no %s reported by Benchmark%s", unit, bench)
	}
	slices.Sort(vs)
	if n := len(vs); n%2 == 0 {
		return (vs[n/2-1] + vs[n/2]) / 2, nil
	}
	return vs[len(vs)/2], nil
}

// report writes the table of rows and the machine it ran on.
func report(out io.Writer, res results) error {
	tw := tabwriter.NewWriter(out, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, "figure\trate\tbaseline (raw franz-go)\trate\tratio")
	var errs []error
	for _, r := range rows {
		fig, err1 := res.median(r.FigureBench, r.Unit)
		base, err2 := res.median(r.BaselineBench, r.Unit)
		if err := errors.Join(err1, err2); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(tw, "%s\t%11s %s\t%s\t%11s %s\t%.2f\n", r.Figure, human(fig), r.Unit, r.Baseline, human(base), r.Unit, fig/base)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	cpu := res.cpu
	if cpu == "" {
		cpu = "unknown cpu"
	}
	fmt.Fprintf(out, "\nmachine: %d CPUs (%s), %s/%s, %s; median of %d runs per benchmark\n",
		runtime.NumCPU(), cpu, runtime.GOOS, runtime.GOARCH, runtime.Version(), count)
	return errors.Join(errs...)
}

// human formats a rate with thousands separators: 1234567.8 → "1,234,568".
func human(v float64) string {
	s := strconv.FormatFloat(v, 'f', 0, 64)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
