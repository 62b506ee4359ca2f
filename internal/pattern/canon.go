package pattern

import (
	"encoding/json"
	"math"
	"strconv"
)

// appendJSON appends the object's canonical JSON: keys in byte order ($or
// among them), each leaf's matchers as compiled (sorted, deduplicated).
func (o *object) appendJSON(b []byte) []byte {
	b = append(b, '{')
	n := 0
	sep := func() {
		if n > 0 {
			b = append(b, ',')
		}
		n++
	}
	orDone := o.or == nil
	writeOr := func() {
		sep()
		b = appendString(b, orKey)
		b = append(b, ':', '[')
		for i, a := range o.or {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, a.canon...)
		}
		b = append(b, ']')
		orDone = true
	}
	for i := range o.fields {
		f := &o.fields[i]
		if !orDone && orKey < f.name {
			writeOr()
		}
		sep()
		b = appendString(b, f.name)
		b = append(b, ':')
		if f.obj != nil {
			b = append(b, f.obj.canon...)
			continue
		}
		b = append(b, '[')
		for j, c := range f.canon {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, c...)
		}
		b = append(b, ']')
	}
	if !orDone {
		writeOr()
	}
	return append(b, '}')
}

func appendString(b []byte, s string) []byte {
	j, _ := json.Marshal(s) // a string always marshals
	return append(b, j...)
}

func appendNumber(b []byte, n float64) []byte {
	j, _ := json.Marshal(n) // finite: checked by Compile
	return append(b, j...)
}

func scalarJSON(s scalar) string {
	return string(appendScalar(nil, s))
}

func appendScalar(b []byte, s scalar) []byte {
	switch s.k {
	case kNull:
		return append(b, "null"...)
	case kBool:
		return strconv.AppendBool(b, s.b)
	case kNumber:
		return appendNumber(b, s.n)
	}
	return appendString(b, s.s)
}

func matcherJSON(m *matcher) string {
	var b []byte
	op := func(name string) {
		b = append(b, '{')
		b = appendString(b, name)
		b = append(b, ':')
	}
	strList := func(ss []string) {
		b = append(b, '[')
		for i, s := range ss {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, s)
		}
		b = append(b, ']')
	}
	switch m.kind {
	case opPrefix, opSuffix:
		op(map[opKind]string{opPrefix: "prefix", opSuffix: "suffix"}[m.kind])
		b = appendString(b, m.str)
	case opPrefixFold, opSuffixFold:
		op(map[opKind]string{opPrefixFold: "prefix", opSuffixFold: "suffix"}[m.kind])
		b = append(b, `{"equals-ignore-case":`...)
		b = appendString(b, m.str)
		b = append(b, '}')
	case opEqualFold:
		op("equals-ignore-case")
		b = appendString(b, m.str)
	case opWildcard:
		op("wildcard")
		b = appendString(b, m.wc[0].src)
	case opNumeric:
		op("numeric")
		b = append(b, '[')
		r := m.rng
		switch {
		case r.lo == r.hi:
			b = append(b, `"=",`...)
			b = appendNumber(b, r.lo)
		default:
			wrote := false
			if !math.IsInf(r.lo, -1) {
				if r.loIncl {
					b = append(b, `">=",`...)
				} else {
					b = append(b, `">",`...)
				}
				b = appendNumber(b, r.lo)
				wrote = true
			}
			if !math.IsInf(r.hi, 1) {
				if wrote {
					b = append(b, ',')
				}
				if r.hiIncl {
					b = append(b, `"<=",`...)
				} else {
					b = append(b, `"<",`...)
				}
				b = appendNumber(b, r.hi)
			}
		}
		b = append(b, ']')
	case opCIDR:
		op("cidr")
		b = appendString(b, m.cidr.String())
	case opNotValues:
		op("anything-but")
		b = append(b, '[')
		for i, v := range m.vals {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendScalar(b, v)
		}
		b = append(b, ']')
	case opNotPrefix, opNotSuffix, opNotEqualFold:
		op("anything-but")
		b = append(b, '{')
		b = appendString(b, map[opKind]string{opNotPrefix: "prefix", opNotSuffix: "suffix", opNotEqualFold: "equals-ignore-case"}[m.kind])
		b = append(b, ':')
		strList(m.strs)
		b = append(b, '}')
	case opNotWildcard:
		op("anything-but")
		b = append(b, `{"wildcard":`...)
		srcs := make([]string, len(m.wc))
		for i := range m.wc {
			srcs[i] = m.wc[i].src
		}
		strList(srcs)
		b = append(b, '}')
	}
	return string(append(b, '}'))
}
