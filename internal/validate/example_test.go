package validate_test

import (
	"fmt"

	"github.com/logmesh/logmesh/internal/formats"
	"github.com/logmesh/logmesh/internal/validate"
	"github.com/logmesh/logmesh/mesh"
)

func ExampleValidator_Row() {
	m, err := mesh.Load("../../mesh/testdata/mesh.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	feed, _ := m.Feed("trades")
	v, err := validate.New(feed)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(v.Columns())

	file := v.NewFile()
	records := []formats.Record{
		{Number: 1, Line: 2, Fields: []formats.Field{
			{Name: "trade_id", Value: "T1"}, {Name: "account", Value: "AB1234"}, {Name: "side", Value: "BUY"},
			{Name: "qty", Value: "100"}, {Name: "price", Value: "9.5"}, {Name: "traded_at", Value: "2026-11-03T09:30:00+01:00"},
			{Name: "note", Value: ""},
		}},
		{Number: 2, Line: 3, Fields: []formats.Field{
			{Name: "trade_id", Value: "T2"}, {Name: "account", Value: "ab12"}, {Name: "side", Value: "HOLD"},
			{Name: "qty", Value: "0"}, {Name: "price", Value: "x"}, {Name: "traded_at", Value: "2026-11-03T09:31:00Z"},
		}},
		{Number: 3, Line: 4, Fields: []formats.Field{
			{Name: "trade_id", Value: "T1"}, {Name: "account", Value: "AB1234"}, {Name: "side", Value: "SELL"},
			{Name: "qty", Value: "5"}, {Name: "price", Value: "9.6"}, {Name: "traded_at", Value: "2026-11-03T09:32:00Z"},
		}},
	}
	var rejected int64
	for _, rec := range records {
		row, violations := v.Row(rec)
		if dup := file.Check(row, rec); dup != nil {
			violations = append(violations, *dup)
		}
		if len(violations) > 0 {
			rejected++
			for _, x := range violations {
				fmt.Printf("record %d: %s\n", rec.Number, x)
			}
			continue
		}
		fmt.Printf("record %d: %v\n", rec.Number, row)
	}
	fmt.Println("file fails:", validate.Exceeds(rejected, int64(len(records)), feed.RejectThreshold))
	// Output:
	// [trade_id account side qty price traded_at note]
	// record 1: [T1 AB1234 BUY 100 9.5 2026-11-03 08:30:00 +0000 UTC <nil>]
	// record 2: account: regex: "ab12" does not match ^[A-Z]{2}[0-9]{4}$
	// record 2: side: enum: "HOLD" is not one of BUY, SELL
	// record 2: qty: min: "0" is less than the minimum 1
	// record 2: price: type: "x" is not a number
	// record 3: trade_id: unique: duplicate key trade_id="T1" first seen in record 1
	// file fails: true
}
