package formats_test

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/logmesh/logmesh/internal/formats"
)

func ExampleRegistry_Open() {
	const file = "id,symbol,price\n1,ABC,1.50\n2,XYZ\n3,\"D,E\",7\n"

	g := formats.NewRegistry()
	rd, err := g.Open("csv", strings.NewReader(file), formats.Defaults())
	if err != nil {
		fmt.Println("open:", err)
		return
	}
	for {
		rec, err := rd.Next()
		var bad *formats.RecordError
		switch {
		case err == io.EOF:
			return
		case errors.As(err, &bad):
			fmt.Println("rejected:", bad)
			continue
		case err != nil:
			fmt.Println("file failed:", err)
			return
		}
		sym, _ := rec.Get("symbol")
		price, _ := rec.Get("price")
		fmt.Printf("line %d: %s at %s\n", rec.Line, sym.Value, price.Value)
	}
	// Output:
	// line 2: ABC at 1.50
	// rejected: formats: record 2 (line 3): 2 fields, want 3
	// line 4: D,E at 7
}
