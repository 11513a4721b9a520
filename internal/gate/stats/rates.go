package stats

import (
	"math"

	"gonum.org/v1/gonum/stat/distuv"
)

// PropResult compares a candidate proportion with a baseline one.
type PropResult struct {
	P1, P2     float64 // baseline and candidate proportions
	Z, P       float64 // pooled two-proportion z statistic (candidate - baseline) and two-sided p
	Lo, Hi     float64 // confidence interval of P2 - P1 (Newcombe's hybrid score interval)
	C2Lo, C2Hi float64 // Wilson score interval of the candidate proportion alone
}

// TwoProportion is the pooled two-proportion z-test of x2/n2 (candidate) against x1/n1
// (baseline), equal to a 2x2 chi-square test without continuity correction
// (statsmodels proportions_ztest), with Newcombe's hybrid score interval of the difference
// (Newcombe 1998, method 10) built from Wilson score intervals at level conf. Written by hand:
// gonum has the normal distribution but not these tests.
func TwoProportion(x1, n1, x2, n2 int64, conf float64) PropResult {
	r := PropResult{Z: nan(), P: nan(), Lo: nan(), Hi: nan(), P1: nan(), P2: nan(), C2Lo: nan(), C2Hi: nan()}
	if n1 <= 0 || n2 <= 0 {
		return r
	}
	f1, f2 := float64(n1), float64(n2)
	r.P1, r.P2 = float64(x1)/f1, float64(x2)/f2
	p := float64(x1+x2) / (f1 + f2)
	se := math.Sqrt(p * (1 - p) * (1/f1 + 1/f2))
	if se == 0 {
		r.Z, r.P = 0, 1
	} else {
		r.Z = (r.P2 - r.P1) / se
		r.P = math.Min(1, 2*distuv.UnitNormal.Survival(math.Abs(r.Z)))
	}
	z := distuv.UnitNormal.Quantile(1 - (1-conf)/2)
	l1, u1 := Wilson(x1, n1, z)
	l2, u2 := Wilson(x2, n2, z)
	d := r.P2 - r.P1
	r.Lo = d - math.Sqrt((r.P2-l2)*(r.P2-l2)+(u1-r.P1)*(u1-r.P1))
	r.Hi = d + math.Sqrt((u2-r.P2)*(u2-r.P2)+(r.P1-l1)*(r.P1-l1))
	r.C2Lo, r.C2Hi = l2, u2
	return r
}

// Wilson is the Wilson score interval of x/n for the normal deviate z.
func Wilson(x, n int64, z float64) (lo, hi float64) {
	if n <= 0 {
		return nan(), nan()
	}
	fn := float64(n)
	p := float64(x) / fn
	z2 := z * z
	den := 1 + z2/fn
	c := (p + z2/(2*fn)) / den
	h := z * math.Sqrt(p*(1-p)/fn+z2/(4*fn*fn)) / den
	return math.Max(0, c-h), math.Min(1, c+h)
}

// RateResult compares a candidate event rate (events per unit of exposure) with a baseline.
type RateResult struct {
	R1, R2 float64 // baseline and candidate rates
	Ratio  float64 // R2 / R1
	Z, P   float64 // Wald z of log(ratio) and two-sided p
	Lo, Hi float64 // confidence interval of the ratio
}

// PoissonRateRatio compares Poisson counts c2 over exposure e2 (candidate) with c1 over e1
// (baseline) by the Wald test on the log rate ratio, se = sqrt(1/c1 + 1/c2), adding 0.5 to
// zero counts (Haldane) so the ratio stays finite. It judges events that can happen several
// times per session (slow and frozen frames), where a proportion test does not apply.
func PoissonRateRatio(c1 int64, e1 float64, c2 int64, e2 float64, conf float64) RateResult {
	r := RateResult{R1: nan(), R2: nan(), Ratio: nan(), Z: nan(), P: nan(), Lo: nan(), Hi: nan()}
	if e1 <= 0 || e2 <= 0 {
		return r
	}
	r.R1, r.R2 = float64(c1)/e1, float64(c2)/e2
	if c1 == 0 && c2 == 0 {
		r.Ratio, r.Z, r.P, r.Lo, r.Hi = 1, 0, 1, 0, math.Inf(1)
		return r
	}
	a, b := float64(c1), float64(c2)
	if c1 == 0 || c2 == 0 {
		a, b = a+0.5, b+0.5
	}
	lr := math.Log((b / e2) / (a / e1))
	se := math.Sqrt(1/a + 1/b)
	r.Ratio = math.Exp(lr)
	r.Z = lr / se
	r.P = math.Min(1, 2*distuv.UnitNormal.Survival(math.Abs(r.Z)))
	z := distuv.UnitNormal.Quantile(1 - (1-conf)/2)
	r.Lo, r.Hi = math.Exp(lr-z*se), math.Exp(lr+z*se)
	return r
}
