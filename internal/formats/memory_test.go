package formats_test

import (
	"fmt"
	"io"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/logmesh/logmesh/internal/formats"
)

// rowSource is an io.Reader that generates a file of about size bytes:
// head, then rows made by row(i) until size is reached. Nothing is stored
// but the row being delivered.
type rowSource struct {
	head  []byte
	row   func(dst []byte, i int) []byte
	size  int64
	i     int
	sent  int64
	buf   []byte
	pend  []byte
	Count int // rows generated
}

func (s *rowSource) Read(p []byte) (int, error) {
	for len(s.pend) == 0 {
		if s.head != nil {
			s.pend, s.head = s.head, nil
			break
		}
		if s.sent >= s.size {
			return 0, io.EOF
		}
		s.buf = s.row(s.buf[:0], s.i)
		s.i++
		s.Count++
		s.pend = s.buf
	}
	n := copy(p, s.pend)
	s.pend = s.pend[n:]
	s.sent += int64(n)
	return n, nil
}

var epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

const csvHeader = "id,account,name,price,qty,amount,ts,active,country,note\n"

// csvRow appends a 10-column row: ids, strings, decimals, timestamps.
func csvRow(b []byte, i int) []byte {
	b = strconv.AppendInt(b, int64(i), 10)
	b = fmt.Appendf(b, ",ACC-%08d,customer %d,", i*7919%100000000, i%1000)
	b = strconv.AppendFloat(b, float64(i%100000)/100, 'f', 2, 64)
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(i%500), 10)
	b = append(b, ',')
	b = strconv.AppendFloat(b, float64(i%100000)*float64(i%500)/100, 'f', 2, 64)
	b = append(b, ',')
	b = epoch.Add(time.Duration(i)*time.Second).AppendFormat(b, time.RFC3339)
	if i%2 == 0 {
		b = append(b, ",true,DE,"...)
	} else {
		b = append(b, ",false,FR,"...)
	}
	if i%10 == 0 {
		b = append(b, `"quoted, with ""escapes"""`...)
	} else {
		b = append(b, "plain note"...)
	}
	return append(b, '\n')
}

func ndjsonRow(b []byte, i int) []byte {
	b = fmt.Appendf(b, `{"id":%d,"account":"ACC-%08d","price":%d.%02d,"ts":"`, i, i*7919%100000000, i%1000, i%100)
	b = epoch.Add(time.Duration(i)*time.Second).AppendFormat(b, time.RFC3339)
	return append(b, `","active":true,"tags":["a","b"],"note":null}`+"\n"...)
}

// TestMemoryBounded parses a generated 200 MB stream per format and checks
// that the heap in use stays under 64 MB while it does: the parsers hold one
// record at a time, not the file. Under the race detector the stream is
// 48 MB and the limit 16 MB, so a parser that kept the file would still
// fail.
func TestMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("parses 200 MB per format")
	}
	size, limit := int64(200<<20), uint64(64<<20)
	if raceEnabled {
		size, limit = 48<<20, 16<<20
	}
	tests := []struct {
		format string
		src    *rowSource
	}{
		{"csv", &rowSource{head: []byte(csvHeader), row: csvRow, size: size}},
		{"ndjson", &rowSource{row: ndjsonRow, size: size}},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			rd, err := formats.NewRegistry().Open(tt.format, tt.src, formats.Defaults())
			if err != nil {
				t.Fatal(err)
			}
			var ms runtime.MemStats
			var n int
			var peak uint64
			for {
				_, err := rd.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("record %d: %v", n+1, err)
				}
				n++
				if n%100_000 == 0 {
					runtime.ReadMemStats(&ms)
					peak = max(peak, ms.HeapInuse)
					if ms.HeapInuse > limit {
						t.Fatalf("after %d records: HeapInuse %d MB, want under %d MB", n, ms.HeapInuse>>20, limit>>20)
					}
				}
			}
			if n != tt.src.Count {
				t.Fatalf("read %d records, generated %d", n, tt.src.Count)
			}
			t.Logf("%d records, %d MB, peak HeapInuse %.1f MB", n, tt.src.sent>>20, float64(peak)/(1<<20))
		})
	}
}
