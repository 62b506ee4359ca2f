// Command benchreport is what `make bench` runs: it runs the benchmarks of
// package bench, streaming go test's output to stderr so progress is
// visible, and prints a table of logmesh's figures, each beside a baseline
// measured in the same run and as a ratio of it (figure ÷ baseline), with
// the date and the commit it measured. The baselines: raw franz-go for the
// Kafka figures, and consume + decode (the rate at which the same events
// can be read and decoded at all) for the folds; for the ingest figures
// (the loader on a 10-column CSV and on the same rows as NDJSON), the peer,
// embedded DuckDB converting the same file to Parquet, and the raw limits
// the loader is built from, parsing the same file alone and writing the
// same rows with parquet-go alone; for the replay of 5,000,000 events, also
// the replay of 200,000 (near 1: the cost per event stays flat as the store
// grows); for the router with 10,000 subscriptions, also the router with
// 10, routing the same facts to the same inboxes, so that ratio (near 1) is
// what the subscription count costs; likewise the orchestrator with 10,000
// declared products beside the one with 10, deciding the same facts; and
// the planner's tick over the audit of 1,000,000 files beside its tick over
// 1,000 (near 1: planning costs the files pending, not history). The
// orchestration latency (a refresh to the JobStarted it causes, p50 and p99)
// is beside the round trip of one record through franz-go alone. A ratio,
// unlike an absolute figure, means the same thing on a laptop and on a CI
// runner. A row with a goal (the issue "Speed") says whether the median
// ratio meets it.
//
// Most figures are rates (a unit ending in "/s"), where a ratio below 1 is
// slower than the baseline; the latencies are times (a unit ending in
// "-ms"), where a ratio above 1 is slower, and the table says so beside
// each.
//
// The benchmarks run in `rounds` rounds, each a `go test -count 1` of every
// benchmark with one iteration, so that a figure and its baseline are
// measured minutes apart at most and a load that comes and goes on the
// machine hits both alike. The table shows the median over the rounds of each
// value and of each round's ratio. To add a figure, add a benchmark that
// reports a per-second metric (or a time in ms, its unit ending in "-ms") to
// package bench and a row to rows.
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
	"time"
)

// rounds is how many times each benchmark runs; medians are reported. Each
// run of a benchmark handles 200,000 events (bench's -bench.events default;
// the router benchmarks, about 10s each on 2 cores, route as many facts),
// 5,000,000 events (the big replay, -bench.bigevents), 5,000,000 CSV or
// NDJSON rows (-bench.ingestrows), 100,000 inbox facts (the
// orchestrator benchmarks, -bench.orchfacts, 3 to 5s each on 2 cores) or
// 500 refresh-to-JobStarted runs (-bench.latencyruns, a few seconds).
const rounds = 5

// row is one line of the table: a figure and the baseline it is divided by,
// each named by its benchmark (without the "Benchmark" prefix) and metric,
// and, for a figure with a goal (issue "Speed"), the least ratio that meets
// it.
type row struct {
	Figure, FigureBench     string
	Baseline, BaselineBench string
	Unit                    string  // the metric both report, such as "events/s" or "p99-ms"
	Goal                    float64 // the least ratio that meets the goal; 0: no goal
}

// isTime reports whether unit is a time in ms, such as "p99-ms" (lower is
// better), rather than a rate.
func isTime(unit string) bool { return strings.HasSuffix(unit, "-ms") }

// rows are the lines of the table, in order.
var rows = []row{
	{"produce (encode + produce)", "ProduceEvents", "produce raw", "ProduceRaw", "events/s", 0.6},
	{"consume + decode", "ConsumeDecode", "consume raw", "ConsumeRaw", "events/s", 0.6},
	{"replay lineage (Pebble commit), 200k events", "ReplayLineage", "consume + decode", "ConsumeDecode", "events/s", 0.5},
	{"replay lineage (Pebble commit), 5M events", "ReplayLineageBig", "consume + decode", "ConsumeDecode", "events/s", 0.5},
	{"replay lineage, 5M events (flat per event)", "ReplayLineageBig", "replay lineage, 200k events", "ReplayLineage", "events/s", 0.8},
	{"host lineage (group, Pebble)", "HostLineage", "consume + decode", "ConsumeDecode", "events/s", 0.5},
	{"replay lineage (Pebble commit), 200k events", "ReplayLineage", "consume raw", "ConsumeRaw", "events/s", 0},
	{"router, 10 subscriptions (exactly once)", "Router10", "consume raw", "ConsumeRaw", "events/s", 0},
	{"router, 10,000 subscriptions (exactly once)", "Router10000", "consume raw", "ConsumeRaw", "events/s", 0},
	{"router, 10,000 subscriptions (exactly once)", "Router10000", "router, 10 subscriptions", "Router10", "events/s", 0},
	{"ingest CSV (loader)", "IngestCSV", "DuckDB CSV → Parquet (embedded)", "IngestDuckDBCSV", "rows/s", 0.5},
	{"ingest NDJSON (loader)", "IngestNDJSON", "DuckDB NDJSON → Parquet (embedded)", "IngestDuckDBNDJSON", "rows/s", 0.5},
	{"ingest CSV (loader)", "IngestCSV", "parse only", "IngestParseOnly", "rows/s", 0},
	{"ingest CSV (loader)", "IngestCSV", "parquet-go write", "IngestParquetRaw", "rows/s", 0},
	{"planner tick, 1,000,000 audited files", "PlanPending1M", "planner tick, 1,000 audited files", "PlanPending1k", "ticks/s", 0.8},
	{"orchestrator, 10 products (exactly once)", "Orchestrator10", "consume raw", "ConsumeRaw", "events/s", 0},
	{"orchestrator, 10,000 products (exactly once)", "Orchestrator10000", "consume raw", "ConsumeRaw", "events/s", 0},
	{"orchestrator, 10,000 products (exactly once)", "Orchestrator10000", "orchestrator, 10 products", "Orchestrator10", "events/s", 0},
	{"refresh → JobStarted p50 (3 hops, embedded)", "OrchestratorLatency", "produce → consume raw p50", "LatencyRaw", "p50-ms", 0},
	{"refresh → JobStarted p99 (goal < 20 ms)", "OrchestratorLatency", "produce → consume raw p99", "LatencyRaw", "p99-ms", 0},
}

func main() {
	if err := run(os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
}

// run runs the benchmark rounds with their output on progress and writes the
// table to out.
func run(out, progress io.Writer) error {
	var all []results
	for i := range rounds {
		cmd := exec.Command("go", "test", "-run", "^$", "-bench", ".",
			"-benchtime", "1x", "-count", "1", "-timeout", "30m", "./bench/")
		var buf bytes.Buffer
		cmd.Stdout = io.MultiWriter(progress, &buf)
		cmd.Stderr = progress
		fmt.Fprintf(progress, "benchreport: round %d of %d: %s\n", i+1, rounds, strings.Join(cmd.Args, " "))
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("round %d: go test: %w", i+1, err)
		}
		res, err := parse(&buf)
		if err != nil {
			return fmt.Errorf("round %d: %w", i+1, err)
		}
		all = append(all, res)
	}
	return report(out, all)
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

// value returns the last value of the named benchmark's metric.
func (r results) value(bench, unit string) (float64, error) {
	vs := r.metrics[bench][unit]
	if len(vs) == 0 {
		return 0, fmt.Errorf("no %s reported by Benchmark%s", unit, bench)
	}
	return vs[len(vs)-1], nil
}

// median returns the median of vs, which it sorts.
func median(vs []float64) float64 {
	slices.Sort(vs)
	if n := len(vs); n%2 == 0 {
		return (vs[n/2-1] + vs[n/2]) / 2
	}
	return vs[len(vs)/2]
}

// report writes the table of rows, from the results of every round, and the
// machine it ran on.
func report(out io.Writer, rounds []results) error {
	tw := tabwriter.NewWriter(out, 0, 0, 3, ' ', 0)
	fmt.Fprintf(out, "logmesh make bench, %s, commit %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), commit())
	fmt.Fprintln(tw, "figure\tvalue\tbaseline\tvalue\tratio (figure ÷ baseline)\tgoal")
	var errs []error
	for _, r := range rows {
		var figs, bases, ratios []float64
		for i, res := range rounds {
			fig, err1 := res.value(r.FigureBench, r.Unit)
			base, err2 := res.value(r.BaselineBench, r.Unit)
			if err := errors.Join(err1, err2); err != nil {
				errs = append(errs, fmt.Errorf("round %d: %w", i+1, err))
				continue
			}
			figs, bases, ratios = append(figs, fig), append(bases, base), append(ratios, fig/base)
		}
		if len(ratios) == 0 {
			continue
		}
		med := median(ratios)
		rat := ratio(med)
		if isTime(r.Unit) {
			rat += " (time: above 1 is slower)"
		}
		goal := ""
		if r.Goal > 0 {
			goal = "≥ " + ratio(r.Goal) + ": met"
			if med < r.Goal {
				goal = "≥ " + ratio(r.Goal) + ": NOT met"
			}
		}
		fmt.Fprintf(tw, "%s\t%11s %s\t%s\t%11s %s\t%s\t%s\n", r.Figure, format(median(figs), r.Unit), unitLabel(r.Unit),
			r.Baseline, format(median(bases), r.Unit), unitLabel(r.Unit), rat, goal)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	cpu := "unknown cpu"
	if len(rounds) > 0 && rounds[0].cpu != "" {
		cpu = rounds[0].cpu
	}
	fmt.Fprintf(out, "\nmachine: %d CPUs (%s), %s/%s, %s; medians of %d rounds (ratio: median of the rounds' ratios;\n"+
		"for a rate, below 1 is slower than the baseline; for a time, above 1 is)\n",
		runtime.NumCPU(), cpu, runtime.GOOS, runtime.GOARCH, runtime.Version(), len(rounds))
	return errors.Join(errs...)
}

// commit names the checked-out commit, with "+changes" if the work tree
// differs from it, or "unknown" outside a git work tree.
func commit() string {
	out, err := exec.Command("git", "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
		c += "+changes"
	}
	return c
}

// ratio formats a ratio with two decimals, or three below 0.1 (the router
// beside raw consume is about 0.01), so that a small ratio keeps two
// significant digits.
func ratio(v float64) string {
	if v < 0.1 {
		return strconv.FormatFloat(v, 'f', 3, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// format formats a value of unit: a time in ms with two decimals, three
// below 1 ms and one from 100 ms; a rate as human does.
func format(v float64, unit string) string {
	if !isTime(unit) {
		return human(v)
	}
	switch {
	case v < 1:
		return strconv.FormatFloat(v, 'f', 3, 64)
	case v < 100:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

// unitLabel is how the table shows unit: "ms" for a time metric such as
// "p99-ms" (the row names the percentile), the unit itself for a rate.
func unitLabel(unit string) string {
	if isTime(unit) {
		return "ms"
	}
	return unit
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
