package query_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/parquet-go/parquet-go"

	"github.com/logmesh/logmesh/query"
)

// Example registers one snapshot of raw.trades, given as its local Parquet
// files, and runs an aggregate over it.
func Example() {
	dir, err := os.MkdirTemp("", "query-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	type trade struct {
		Symbol string  `parquet:"symbol"`
		Qty    int64   `parquet:"qty"`
		Price  float64 `parquet:"price"`
	}
	file := filepath.Join(dir, "00000-trades.parquet")
	if err := parquet.WriteFile(file, []trade{{"ACME", 10, 2.5}, {"INIT", 5, 100}, {"ACME", 4, 3}}); err != nil {
		log.Fatal(err)
	}

	ctx := context.Background()
	engine, err := query.Open(ctx, query.Threads(1))
	if err != nil {
		log.Fatal(err)
	}
	defer engine.Close()

	if err := engine.Register(ctx, []query.Table{{Name: "raw.trades", Files: []string{file}}}); err != nil {
		log.Fatal(err)
	}
	res, err := engine.Query(ctx, `
		SELECT symbol, sum(qty) AS qty, sum(qty * price) AS notional
		FROM raw.trades GROUP BY symbol ORDER BY symbol`)
	if err != nil {
		log.Fatal(err)
	}
	if err := query.WriteTable(os.Stdout, res); err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Types)
	// Output:
	// symbol  qty  notional
	// ------  ---  --------
	// ACME     14        37
	// INIT      5       500
	// (2 rows)
	// [VARCHAR HUGEINT DOUBLE]
}
