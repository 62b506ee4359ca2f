package main

import (
	"os"
	"path/filepath"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/ingesttest"
)

// writeCSV writes the generated fills CSV under dir/key until the file holds
// at least size bytes, streaming (the file is never held in memory). It
// returns the file's batch entry and row count.
func writeCSV(dir, key string, size int64) (events.BatchFile, int64, error) {
	path := filepath.Join(dir, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return events.BatchFile{}, 0, err
	}
	return ingesttest.WriteCSV(path, key, func(_, bytes int64) bool { return bytes < size })
}
