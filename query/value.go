package query

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// convert turns a value from duckdb-go into the JSON-friendly form
// documented on [Engine.Query]. typ is DuckDB's type name of the value's
// column (or list element), used where the Go value alone is ambiguous:
// a UUID and a BLOB both arrive as []byte.
func convert(v any, typ string) any {
	switch x := v.(type) {
	case nil, bool, string, int64, float64, time.Time, json.Number:
		return x
	case int8:
		return int64(x)
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case int:
		return int64(x)
	case uint8:
		return int64(x)
	case uint16:
		return int64(x)
	case uint32:
		return int64(x)
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x)
		}
		return json.Number(strconv.FormatUint(x, 10))
	case float32:
		// Shortest decimal that round-trips the float32, so 0.1 stays 0.1
		// instead of becoming 0.10000000149011612.
		f, err := strconv.ParseFloat(strconv.FormatFloat(float64(x), 'g', -1, 32), 64)
		if err != nil { // ±Inf, NaN
			return float64(x)
		}
		return f
	case *big.Int:
		if x == nil {
			return nil
		}
		if x.IsInt64() {
			return x.Int64()
		}
		return json.Number(x.String())
	case duckdb.Decimal:
		return json.Number(decimalString(x))
	case duckdb.Interval:
		return intervalString(x)
	case []byte:
		if typ == "UUID" && len(x) == 16 {
			return uuidString(x)
		}
		return x
	case duckdb.UUID:
		return uuidString(x[:])
	case []any:
		et := elemType(typ)
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = convert(e, et)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = convert(e, "")
		}
		return out
	case duckdb.OrderedMap:
		out := make(map[string]any, x.Len())
		vals := x.Values()
		for i, k := range x.Keys() {
			out[mapKey(convert(k, ""))] = convert(vals[i], "")
		}
		return out
	case duckdb.Map:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[mapKey(convert(k, ""))] = convert(e, "")
		}
		return out
	case duckdb.Union:
		return convert(x.Value, "")
	case fmt.Stringer:
		return x.String()
	default:
		return fmt.Sprint(x)
	}
}

// elemType returns the element type of a LIST ("T[]") or ARRAY ("T[n]")
// type name, or "" if typ is neither.
func elemType(typ string) string {
	if !strings.HasSuffix(typ, "]") {
		return ""
	}
	if i := strings.LastIndexByte(typ, '['); i > 0 {
		return typ[:i]
	}
	return ""
}

// mapKey renders a converted MAP key as an object key.
func mapKey(k any) string {
	switch x := k.(type) {
	case string:
		return x
	case nil:
		return "null"
	default:
		return Text(x, "")
	}
}

// decimalString renders d with exactly d.Scale fractional digits.
func decimalString(d duckdb.Decimal) string {
	if d.Value == nil {
		return "0"
	}
	digits := new(big.Int).Abs(d.Value).String()
	sign := ""
	if d.Value.Sign() < 0 {
		sign = "-"
	}
	scale := int(d.Scale)
	if scale == 0 {
		return sign + digits
	}
	if len(digits) <= scale {
		digits = strings.Repeat("0", scale-len(digits)+1) + digits
	}
	return sign + digits[:len(digits)-scale] + "." + digits[len(digits)-scale:]
}

// intervalString renders an interval in ISO 8601 duration form: P1Y2M3DT4H5M6.5S.
// DuckDB keeps months, days and microseconds separately (a month is not a
// fixed number of days), and so does this form. Negative parts carry their
// own sign, as in PostgreSQL's ISO output.
func intervalString(iv duckdb.Interval) string {
	if iv.Months == 0 && iv.Days == 0 && iv.Micros == 0 {
		return "PT0S"
	}
	var b strings.Builder
	b.WriteByte('P')
	if y := iv.Months / 12; y != 0 {
		fmt.Fprintf(&b, "%dY", y)
	}
	if m := iv.Months % 12; m != 0 {
		fmt.Fprintf(&b, "%dM", m)
	}
	if iv.Days != 0 {
		fmt.Fprintf(&b, "%dD", iv.Days)
	}
	if iv.Micros != 0 {
		b.WriteByte('T')
		us := iv.Micros
		sign := ""
		if us < 0 {
			sign = "-"
			us = -us
		}
		h, m := us/3_600_000_000, us/60_000_000%60
		s, frac := us/1_000_000%60, us%1_000_000
		if h != 0 {
			fmt.Fprintf(&b, "%s%dH", sign, h)
		}
		if m != 0 {
			fmt.Fprintf(&b, "%s%dM", sign, m)
		}
		if s != 0 || frac != 0 {
			fmt.Fprintf(&b, "%s%d", sign, s)
			if frac != 0 {
				b.WriteString("." + strings.TrimRight(fmt.Sprintf("%06d", frac), "0"))
			}
			b.WriteByte('S')
		}
	}
	return b.String()
}

func uuidString(u []byte) string {
	h := hex.EncodeToString(u)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
