//go:build race

package formats_test

// raceEnabled: the race detector slows parsing about tenfold, so the
// memory test parses a smaller stream (with a lower heap limit) under it.
const raceEnabled = true
