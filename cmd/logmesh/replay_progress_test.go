package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/logmesh/logmesh/processors/host"
	"github.com/logmesh/logmesh/state"
)

// The progress line: records, offsets of the total, a rate and an ETA.
func TestProgressPrinter(t *testing.T) {
	var buf bytes.Buffer
	tp := state.TopicPartition{Topic: "t", Partition: 0}
	print := progressPrinter(&buf, "audit", map[state.TopicPartition]int64{tp: 1000})
	print(host.Progress{Records: 250, Offsets: map[state.TopicPartition]int64{tp: 250}})
	got := buf.String()
	for _, want := range []string{"\raudit: 250 records", "offsets 250 of 1000", "events/s", "ETA "} {
		if !strings.Contains(got, want) {
			t.Errorf("%q lacks %q", got, want)
		}
	}
	if strings.Contains(got, "ETA ?") {
		t.Errorf("no ETA with a quarter done: %q", got)
	}
	buf.Reset()
	print(host.Progress{Records: 260, Offsets: map[state.TopicPartition]int64{tp: 260}})
	if buf.Len() != 0 {
		t.Errorf("printed again within half a second: %q", buf.String())
	}
}
