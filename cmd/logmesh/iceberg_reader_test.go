package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	icebergio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"
)

const envIcebergChild = "LOGMESH_ICEBERG_READER_METADATA"

// TestIcebergReaderChild is another engine: a fresh process that knows a
// table's metadata location and nothing of logmesh, and reads the table with
// iceberg-go's own IO and scan. It prints "trade_id:qty" per row, sorted.
func TestIcebergReaderChild(t *testing.T) {
	loc := os.Getenv(envIcebergChild)
	if loc == "" {
		t.Skip("run as a child process by readWithIceberg")
	}
	ctx := context.Background()
	tbl, err := table.NewFromLocation(ctx, table.Identifier{"raw", "trades"}, loc,
		func(ctx context.Context) (icebergio.IO, error) { return icebergio.LoadFS(ctx, nil, loc) }, nil)
	if err != nil {
		t.Fatal(err)
	}
	at, err := tbl.Scan().ToArrowTable(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer at.Release()
	idCol := at.Schema().FieldIndices("trade_id")[0]
	qtyCol := at.Schema().FieldIndices("qty")[0]
	var rows []string
	for ch := 0; ch < len(at.Column(idCol).Data().Chunks()); ch++ {
		ids := at.Column(idCol).Data().Chunk(ch).(*array.String)
		qtys := at.Column(qtyCol).Data().Chunk(ch).(*array.Int64)
		for i := 0; i < ids.Len(); i++ {
			rows = append(rows, fmt.Sprintf("%s:%d", ids.Value(i), qtys.Value(i)))
		}
	}
	sort.Strings(rows)
	fmt.Printf("ROWS %s\n", strings.Join(rows, ","))
}

// readWithIceberg reads raw.trades in a fresh process through iceberg-go.
func readWithIceberg(t *testing.T, metadataLocation string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestIcebergReaderChild$")
	cmd.Env = append(os.Environ(), envIcebergChild+"="+metadataLocation)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("iceberg reader: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if rows, ok := strings.CutPrefix(line, "ROWS "); ok {
			return rows
		}
	}
	t.Fatalf("iceberg reader printed no rows:\n%s", out)
	return ""
}
