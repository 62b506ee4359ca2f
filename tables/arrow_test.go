package tables

import (
	"context"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	icebergio "github.com/apache/iceberg-go/io"
)

type icebergIO = icebergio.IO

func loadFS(ctx context.Context, loc string) (icebergio.IO, error) {
	return icebergio.LoadFS(ctx, nil, loc)
}

// arrowRows converts an Arrow table with the trade schema to typed rows.
func arrowRows(t *testing.T, at arrow.Table) [][]any {
	t.Helper()
	rows := make([][]any, at.NumRows())
	for i := range rows {
		rows[i] = make([]any, at.NumCols())
	}
	for c := 0; c < int(at.NumCols()); c++ {
		r := 0
		for _, ch := range at.Column(c).Data().Chunks() {
			for i := 0; i < ch.Len(); i++ {
				var v any
				if !ch.IsNull(i) {
					switch a := ch.(type) {
					case *array.String:
						v = a.Value(i)
					case *array.Int64:
						v = a.Value(i)
					case *array.Int32:
						v = a.Value(i)
					case *array.Float64:
						v = a.Value(i)
					case *array.Float32:
						v = a.Value(i)
					case *array.Boolean:
						v = a.Value(i)
					case *array.Binary:
						v = append([]byte{}, a.Value(i)...)
					case *array.Timestamp:
						v = time.UnixMicro(int64(a.Value(i))).UTC()
					case *array.Date32:
						v = a.Value(i).ToTime().UTC()
					default:
						t.Fatalf("column %d: unexpected %T", c, ch)
					}
				}
				rows[r][c] = v
				r++
			}
		}
	}
	return rows
}
