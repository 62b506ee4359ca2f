package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

// files retry refuses what it cannot do before it reads the log, with
// the synopsis or the valid values.
func TestFilesRetryUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		says string
	}{
		{"nothing to retry", []string{"files", "retry"}, "give keys or --status"},
		{"keys and a status", []string{"files", "retry", "a.csv", "--status", "FAILED"}, "give keys or --status"},
		{"a status that cannot be retried", []string{"files", "retry", "--status", "PROCESSED"}, "only UNMATCHED and FAILED"},
		{"an unknown status", []string{"files", "retry", "--status", "DONE"}, "only UNMATCHED and FAILED"},
		{"--since without --status", []string{"files", "retry", "a.csv", "--since", "2026-11-01T00:00:00Z"}, "--since goes with --status"},
		{"--since not a time", []string{"files", "retry", "--status", "FAILED", "--since", "yesterday"}, "RFC 3339"},
		{"--at", []string{"--at", "2026-11-01T00:00:00Z", "files", "retry", "--status", "FAILED"}, "--at is not for it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(context.Background(), tt.args, &out, &errOut)
			if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("logmesh %v: %v; want a usage error saying %q", tt.args, err, tt.says)
			}
			if out.Len() != 0 {
				t.Errorf("printed %q", out.String())
			}
		})
	}
}
