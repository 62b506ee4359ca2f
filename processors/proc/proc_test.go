package proc_test

import (
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/logmesh/logmesh/internal/kafkaconn"
	"github.com/logmesh/logmesh/processors/proc"
)

func TestWithDefaults(t *testing.T) {
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	log := slog.New(slog.DiscardHandler)
	tests := []struct {
		name      string
		in        proc.Config
		group     string
		wantGroup string
		wantClock time.Time // zero: time.Now
	}{
		{"zero", proc.Config{}, "logmesh.x", "logmesh.x", time.Time{}},
		{"group kept", proc.Config{Group: "mine"}, "logmesh.x", "mine", time.Time{}},
		{"no default group", proc.Config{}, "", "", time.Time{}},
		{"clock kept", proc.Config{Clock: func() time.Time { return at }, Logger: log}, "g", "g", at},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.in.WithDefaults(tt.group)
			if got.Group != tt.wantGroup {
				t.Errorf("Group %q, want %q", got.Group, tt.wantGroup)
			}
			if got.Logger == nil || got.Clock == nil {
				t.Fatalf("Logger %v, Clock nil %v: want both set", got.Logger, got.Clock == nil)
			}
			if tt.in.Logger != nil && got.Logger != tt.in.Logger {
				t.Error("Logger replaced")
			}
			if c := got.Clock(); !tt.wantClock.IsZero() && !c.Equal(tt.wantClock) {
				t.Errorf("Clock() %v, want %v", c, tt.wantClock)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	if err := (proc.Config{}).Validate(); !errors.Is(err, proc.ErrNoBrokers) {
		t.Errorf("no connection: %v, want ErrNoBrokers", err)
	}
	if err := (proc.Config{Conn: kafkaconn.Plain("x:1")}).Validate(); err != nil {
		t.Errorf("a connection: %v", err)
	}
}
