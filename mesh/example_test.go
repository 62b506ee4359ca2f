package mesh_test

import (
	"fmt"

	"github.com/logmesh/logmesh/mesh"
)

func ExampleLoad() {
	m, err := mesh.Load("testdata/mesh.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, d := range m.Domains {
		fmt.Println("domain", d.Name)
	}
	for _, key := range []string{"trades/2026-11-03.csv", "positions/eu/2026/11/03.txt", "other/x.csv"} {
		if f, ok := m.FeedFor(key); ok {
			fmt.Printf("%s -> feed %s, table %s (%s, %s)\n", key, f.Name, f.Table, f.Format, f.Mode)
		} else {
			fmt.Printf("%s -> no feed\n", key)
		}
	}
	// Output:
	// domain raw
	// domain equities
	// trades/2026-11-03.csv -> feed trades, table raw.trades (csv, upsert)
	// positions/eu/2026/11/03.txt -> feed positions, table raw.positions (fixed-width, append)
	// other/x.csv -> no feed
}

func ExampleParse_errors() {
	src := `domains: [{name: raw}]
feeds:
  - name: trades
    table: eq.trades
    key_pattern: "trades/*.csv"
    format: ndjson
    schema: {type: record, name: T, fields: [{name: trade_id, type: string}]}
    primary_key: [id]
`
	_, err := mesh.Parse([]byte(src), "mesh.yaml", ".")
	fmt.Println(err)
	// Output:
	// mesh.yaml:4: feed trades: domain "eq" of table eq.trades is not declared
	// mesh.yaml:8: feed trades: primary_key field 'id' not in schema
}
