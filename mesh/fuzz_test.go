package mesh_test

import (
	"errors"
	"os"
	"testing"

	"github.com/logmesh/logmesh/mesh"
)

// FuzzParse: Parse never panics, returns a mesh or an error wrapping
// ErrInvalid (never both), and a parsed mesh yields definitions and
// answers FeedFor.
func FuzzParse(f *testing.F) {
	if b, err := os.ReadFile("testdata/mesh.yaml"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(base))
	f.Add([]byte("domains: [{name: raw}]\nfeeds: [{name: a, table: raw.a, key_pattern: '**/x', format: csv, schema: '\"string\"'}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := mesh.Parse(data, "mesh.yaml", "testdata")
		if (m == nil) == (err == nil) {
			t.Fatalf("mesh %v and error %v", m, err)
		}
		if err != nil {
			if !errors.Is(err, mesh.ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		_ = m.Definitions(fixedTime)
		_, _ = m.FeedFor("trades/x.csv")
	})
}
