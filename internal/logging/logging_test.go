package logging

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestQuietDropsLibraryInfoOnly(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(Quiet(slog.NewTextHandler(&buf, nil), slog.LevelWarn))
	lib := l.With(slog.String(libKey, "franz-go"))
	l.Info("ours")
	lib.Info("chatter")
	lib.Warn("trouble")
	out := buf.String()
	for want, in := range map[string]bool{"ours": true, "chatter": false, "trouble": true} {
		if strings.Contains(out, want) != in {
			t.Errorf("%q in output = %v, want %v:\n%s", want, !in, in, out)
		}
	}
}
