package main

import (
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

func TestParseMedian(t *testing.T) {
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
		{"ProduceRaw", "events/s", 1159357}, // even count: mean of the middle two
		{"ProduceEvents", "events/s", 500000},
		{"ProduceEvents", "ns/op", 370488569},
	} {
		got, err := res.median(tc.bench, tc.unit)
		if err != nil || got != tc.want {
			t.Errorf("median(%s, %s) = %v, %v; want %v", tc.bench, tc.unit, got, err, tc.want)
		}
	}
	if _, err := res.median("ConsumeRaw", "events/s"); err == nil {
		t.Error("median of a missing benchmark: no error")
	}
}

func TestReportMissingFigure(t *testing.T) {
	res, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	err = report(&out, res)
	if err == nil {
		t.Fatal("report with missing figures: no error")
	}
	if !strings.Contains(out.String(), "produce (encode + produce)") {
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
