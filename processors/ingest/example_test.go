package ingest_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/logmesh/logmesh/processors/ingest"
)

// Land copies files into a landing area, as `logmesh land` does; a watcher
// over the same area lands them as FileLanded events at its next scan.
func ExampleLand() {
	tmp, _ := os.MkdirTemp("", "landing-example")
	defer os.RemoveAll(tmp)
	landing := filepath.Join(tmp, "landing")
	_ = os.Mkdir(landing, 0o755)
	file := filepath.Join(tmp, "export.csv")
	_ = os.WriteFile(file, []byte("id,px\n1,100\n"), 0o644)

	src, err := ingest.NewLocalSource(landing)
	if err != nil {
		fmt.Println(err)
		return
	}
	keys, err := ingest.Land(context.Background(), src, []string{file}, "trades/2026-11-02.csv")
	fmt.Println(keys, err)
	_, err = ingest.Land(context.Background(), src, []string{file, file}, "x.csv")
	fmt.Println(err)

	objs, _ := src.List(context.Background())
	for _, o := range objs {
		fmt.Println(o.Key, o.Size, ingest.ContentType(o.Key))
	}
	// Output:
	// [trades/2026-11-02.csv] <nil>
	// ingest: a key can name only one file (2 files given)
	// trades/2026-11-02.csv 12 text/csv
}
