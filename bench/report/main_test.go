package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const sample = `goos: linux
cpu: AMD EPYC
BenchmarkProduceRaw-2      	       1	 151662877 ns/op	   1318714 events/s
BenchmarkProduceRaw-2      	       1	 151662877 ns/op	   1000000 events/s
BenchmarkProduceEvents     	       1	 370488569 ns/op	    500000 events/s
BenchmarkProduceEvents     	       1	 370488569 ns/op	    600000 events/s
BenchmarkProduceEvents     	       1	 370488569 ns/op	    400000 events/s
PASS
`

func TestParse(t *testing.T) {
	res, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if res.cpu != "AMD EPYC" {
		t.Errorf("cpu = %q", res.cpu)
	}
	for _, tc := range []struct {
		bench, unit string
		want        float64
	}{
		{"ProduceRaw", "events/s", 1000000}, // the last value reported
		{"ProduceEvents", "events/s", 400000},
		{"ProduceEvents", "ns/op", 370488569},
	} {
		got, err := res.value(tc.bench, tc.unit)
		if err != nil || got != tc.want {
			t.Errorf("value(%s, %s) = %v, %v; want %v", tc.bench, tc.unit, got, err, tc.want)
		}
	}
	if _, err := res.value("ConsumeRaw", "events/s"); err == nil {
		t.Error("value of a missing benchmark: no error")
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
	} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestReportMissingFigure(t *testing.T) {
	res, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	err = report(&out, []results{res, res})
	if err == nil {
		t.Fatal("report with missing figures: no error")
	}
	if !strings.Contains(out.String(), "produce (encode + produce)") || !strings.Contains(out.String(), "0.40") {
		t.Errorf("present row missing from table:\n%s", out.String())
	}
}

func TestHuman(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 1234567.8: "1,234,568"} {
		if got := human(in); got != want {
			t.Errorf("human(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestRatio(t *testing.T) {
	for in, want := range map[float64]string{1.004: "1.00", 0.97: "0.97", 0.1: "0.10", 0.0117: "0.012", 0.0004: "0.000"} {
		if got := ratio(in); got != want {
			t.Errorf("ratio(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		v          float64
		unit, want string
	}{
		{1234567.8, "events/s", "1,234,568"},
		{0.0783, "p50-ms", "0.078"},
		{2.091, "p50-ms", "2.09"},
		{253.75, "p99-ms", "253.8"},
	} {
		if got := format(tc.v, tc.unit); got != tc.want {
			t.Errorf("format(%v, %s) = %q, want %q", tc.v, tc.unit, got, tc.want)
		}
	}
}

// A time row's ratio is figure ÷ baseline too, shown with its unit in ms
// and marked as a time, where above 1 is slower.
func TestReportTime(t *testing.T) {
	res, err := parse(strings.NewReader(`BenchmarkLatencyRaw-2            	       1	  9106 ns/op	0.08000 p50-ms	0.2500 p99-ms
BenchmarkOrchestratorLatency-2   	       1	  3191 ns/op	2.000 p50-ms	5.000 p99-ms
`))
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	_ = report(&out, []results{res}) // other figures are missing
	var p50, p99 string
	for line := range strings.Lines(out.String()) {
		switch {
		case strings.HasPrefix(line, "refresh → JobStarted p50"):
			p50 = line
		case strings.HasPrefix(line, "refresh → JobStarted p99"):
			p99 = line
		}
	}
	if !strings.Contains(p50, "2.00 ms") || !strings.Contains(p50, "0.080 ms") || !strings.Contains(p50, "25.00 (time: above 1 is slower)") {
		t.Errorf("p50 row: %q", p50)
	}
	if !strings.Contains(p99, "5.00 ms") || !strings.Contains(p99, "20.00 (time") {
		t.Errorf("p99 row: %q", p99)
	}
}

// Every row names benchmarks that package bench declares.
func TestRowsNameBenchmarks(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "bench", "*_test.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("bench sources: %v %v", files, err)
	}
	var all strings.Builder
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all.Write(b)
	}
	for _, r := range rows {
		for _, name := range []string{r.FigureBench, r.BaselineBench} {
			if !strings.Contains(all.String(), "func Benchmark"+name+"(b *testing.B)") {
				t.Errorf("row %q: package bench has no Benchmark%s", r.Figure, name)
			}
		}
	}
}
