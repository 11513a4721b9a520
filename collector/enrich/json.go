package enrich

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// The raw attributes go to JSONB columns. PostgreSQL refuses invalid UTF-8 and NUL
// characters in text and jsonb, and one such value would fail the COPY of a whole batch, so
// the encoder validates while it writes and the span or record carrying the bad value is
// rejected on its own. (encoding/json would silently replace invalid bytes and pass NUL.)

const maxDepth = 16 // nesting of kvlist/array values

var errDepth = errors.New("attribute values nested deeper than 16 levels")

type invalidStringError struct{ s string }

func (e invalidStringError) Error() string {
	q := e.s
	if len(q) > 40 {
		q = q[:40]
	}
	if utf8.ValidString(e.s) {
		return fmt.Sprintf("string %q contains a NUL character", q)
	}
	return fmt.Sprintf("string %q is not valid UTF-8", q)
}

// validString reports whether PostgreSQL can store s in a text column.
func validString(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == 0 {
			return false
		}
		if c >= utf8.RuneSelf {
			return utf8.ValidString(s[i:])
		}
	}
	return true
}

func checkString(s string) error {
	if !validString(s) {
		return invalidStringError{s}
	}
	return nil
}

const hex = "0123456789abcdef"

func appendString(b []byte, s string) ([]byte, error) {
	if !validString(s) {
		return b, invalidStringError{s}
	}
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"'), nil
}

// appendMap writes m as a JSON object. Duplicate keys (possible on the wire) keep the last.
func appendMap(b []byte, m pcommon.Map, depth int) ([]byte, error) {
	if depth > maxDepth {
		return b, errDepth
	}
	b = append(b, '{')
	var err error
	first := true
	m.Range(func(k string, v pcommon.Value) bool {
		if !first {
			b = append(b, ',')
		}
		first = false
		if b, err = appendString(b, k); err != nil {
			return false
		}
		b = append(b, ':')
		b, err = appendValue(b, v, depth)
		return err == nil
	})
	if err != nil {
		return b, err
	}
	return append(b, '}'), nil
}

func appendValue(b []byte, v pcommon.Value, depth int) ([]byte, error) {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return appendString(b, v.Str())
	case pcommon.ValueTypeInt:
		return strconv.AppendInt(b, v.Int(), 10), nil
	case pcommon.ValueTypeDouble:
		f := v.Double()
		if math.IsNaN(f) || math.IsInf(f, 0) { // not representable in JSON
			return appendString(b, strconv.FormatFloat(f, 'g', -1, 64))
		}
		return strconv.AppendFloat(b, f, 'g', -1, 64), nil
	case pcommon.ValueTypeBool:
		return strconv.AppendBool(b, v.Bool()), nil
	case pcommon.ValueTypeBytes:
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, v.Bytes().AsRaw())
		return append(b, '"'), nil
	case pcommon.ValueTypeMap:
		return appendMap(b, v.Map(), depth+1)
	case pcommon.ValueTypeSlice:
		if depth+1 > maxDepth {
			return b, errDepth
		}
		s := v.Slice()
		b = append(b, '[')
		var err error
		for i := 0; i < s.Len(); i++ {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = appendValue(b, s.At(i), depth+1); err != nil {
				return b, err
			}
		}
		return append(b, ']'), nil
	default:
		return append(b, "null"...), nil
	}
}

// countAttrs counts attributes including nested ones, stopping past limit.
func countAttrs(m pcommon.Map, limit int) int {
	n := 0
	m.Range(func(_ string, v pcommon.Value) bool {
		n++
		n += countNested(v, limit-n)
		return n <= limit
	})
	return n
}

func countNested(v pcommon.Value, limit int) int {
	switch v.Type() {
	case pcommon.ValueTypeMap:
		return countAttrs(v.Map(), limit)
	case pcommon.ValueTypeSlice:
		s := v.Slice()
		n := s.Len()
		for i := 0; i < s.Len() && n <= limit; i++ {
			n += countNested(s.At(i), limit-n)
		}
		return n
	}
	return 0
}
