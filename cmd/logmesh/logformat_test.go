package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// --log-format picks the handler; $LOGMESH_LOG_FORMAT is its default; an
// unknown format is a usage error that names it.
func TestLogFormat(t *testing.T) {
	tests := []struct {
		name, env string
		args      []string
		wantJSON  bool
		wantErr   bool
	}{
		{name: "default text"},
		{name: "json flag", args: []string{"--log-format", "json"}, wantJSON: true},
		{name: "json flag after the command", args: []string{"files", "--log-format=json"}, wantJSON: true},
		{name: "text flag", args: []string{"--log-format=text"}},
		{name: "env json", env: "json", wantJSON: true},
		{name: "flag beats env", env: "json", args: []string{"--log-format", "text"}},
		{name: "bad", args: []string{"--log-format", "yaml"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("LOGMESH_LOG_FORMAT", tt.env)
			var stderr bytes.Buffer
			g, _, err := parseGlobal(tt.args, &stderr)
			if tt.wantErr {
				if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), `"yaml"`) {
					t.Fatalf("err = %v, want a usage error naming the format", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			g.log.Info("hello", "file", "a.csv")
			line := strings.TrimSpace(stderr.String())
			var obj map[string]any
			isJSON := json.Unmarshal([]byte(line), &obj) == nil
			if isJSON != tt.wantJSON {
				t.Fatalf("log line %q: JSON %v, want %v", line, isJSON, tt.wantJSON)
			}
			if tt.wantJSON && (obj["msg"] != "hello" || obj["file"] != "a.csv") {
				t.Errorf("JSON line %v", obj)
			}
			if !tt.wantJSON && !strings.Contains(line, "msg=hello file=a.csv") {
				t.Errorf("text line %q", line)
			}
		})
	}
}
