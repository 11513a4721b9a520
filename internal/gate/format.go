package gate

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// pct formats a proportion as a percentage with sensible precision: 1.09%, 0.47%, 38%.
func pct(x float64) string {
	v := x * 100
	switch a := math.Abs(v); {
	case a == 0:
		return "0%"
	case a < 10:
		return strconv.FormatFloat(v, 'f', 2, 64) + "%"
	default:
		return strconv.FormatFloat(v, 'f', 0, 64) + "%"
	}
}

// spct is pct with a sign: +38%, -2.10%.
func spct(x float64) string {
	if x > 0 {
		return "+" + pct(x)
	}
	return pct(x)
}

func val(x float64, k Kind) string {
	if k == Rate {
		return strconv.FormatFloat(x, 'f', 3, 64) + "/session"
	}
	return pct(x)
}

func sval(x float64, unit string) string {
	s := strconv.FormatFloat(x, 'f', 1, 64)
	if x > 0 {
		s = "+" + s
	}
	return s + " " + unit
}

func ms(x float64) string { return strconv.FormatFloat(x, 'f', 0, 64) + " ms" }

// num formats an integer with thousands separators: 4,210.
func num(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func fmtP(p float64) string {
	if p < 0.0001 {
		return "<0.0001"
	}
	return strconv.FormatFloat(p, 'g', 2, 64)
}

// pEq is "p=0.012" or "p<0.0001".
func pEq(p float64) string {
	if p < 0.0001 {
		return "p<0.0001"
	}
	return "p=" + fmtP(p)
}

func fmtDur(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	return d.Round(time.Second).String()
}

func fmtValue(c *Check, x float64) string {
	if c.Kind == Distribution {
		return ms(x)
	}
	return val(x, c.Kind)
}

var _ = fmt.Sprint
