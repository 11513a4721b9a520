package stats

import (
	"math"
	"slices"

	"gonum.org/v1/gonum/stat/distuv"
)

func nan() float64 { return math.NaN() }

// MWResult is a two-sided Mann-Whitney U test of baseline x against candidate y.
type MWResult struct {
	U1 float64 // U of x: R_x - n_x(n_x+1)/2, as scipy.stats.mannwhitneyu(x, y) reports it
	Z  float64 // normal deviate of max(U1, U2), tie- and continuity-corrected
	P  float64 // two-sided p-value
	// CLES is the common-language effect size P(Y > X) + P(Y = X)/2: 0.5 means no shift,
	// above 0.5 means the candidate tends to be larger.
	CLES float64
}

// MannWhitney runs the two-sided Mann-Whitney U test with the normal approximation, the tie
// correction of the variance and a continuity correction of 0.5, which is
// scipy.stats.mannwhitneyu(x, y, method="asymptotic") (written by hand: gonum has no rank
// tests). The gate only calls it on strata above the policy's minimum sample, where the
// normal approximation is accurate. x and y are not modified.
func MannWhitney(x, y []float64) MWResult {
	n1, n2 := len(x), len(y)
	if n1 == 0 || n2 == 0 {
		return MWResult{U1: nan(), Z: nan(), P: nan(), CLES: nan()}
	}
	xs, ys := slices.Clone(x), slices.Clone(y)
	slices.Sort(xs)
	slices.Sort(ys)
	// Merge the two sorted samples, giving each run of ties its average rank, summing the
	// ranks of x and the tie term sum(t^3 - t).
	var rx, tie float64
	i, j, rank := 0, 0, 0
	for i < n1 || j < n2 {
		var v float64
		switch {
		case j >= n2 || (i < n1 && xs[i] <= ys[j]):
			v = xs[i]
		default:
			v = ys[j]
		}
		cx, cy := 0, 0
		for i < n1 && xs[i] == v {
			i++
			cx++
		}
		for j < n2 && ys[j] == v {
			j++
			cy++
		}
		t := cx + cy
		avg := float64(rank) + float64(t+1)/2
		rx += avg * float64(cx)
		if t > 1 {
			tie += float64(t)*float64(t)*float64(t) - float64(t)
		}
		rank += t
	}
	fn1, fn2 := float64(n1), float64(n2)
	u1 := rx - fn1*(fn1+1)/2
	u2 := fn1*fn2 - u1
	n := fn1 + fn2
	mu := fn1 * fn2 / 2
	sd := math.Sqrt(fn1 * fn2 / 12 * ((n + 1) - tie/(n*(n-1))))
	res := MWResult{U1: u1, CLES: u2 / (fn1 * fn2)}
	if sd == 0 {
		res.Z, res.P = 0, 1
		return res
	}
	res.Z = (math.Max(u1, u2) - mu - 0.5) / sd
	res.P = math.Min(1, 2*distuv.UnitNormal.Survival(res.Z))
	return res
}

// HLResult is the Hodges-Lehmann estimate of the shift from baseline x to candidate y with its
// distribution-free confidence interval.
type HLResult struct {
	Shift  float64 // median of all pairwise differences y_j - x_i
	Lo, Hi float64 // confidence interval of the shift
}

// HodgesLehmann estimates the location shift y - x as the median of the n·m pairwise
// differences, and its confidence interval at level conf as Moses' order statistics
// [D(C), D(nm+1-C)] with C = floor(nm/2 - z·sqrt(nm(n+m+1)/12)) (Hollander & Wolfe,
// Nonparametric Statistical Methods, §4.3; R's wilcox.test(conf.int=TRUE) gives the same
// interval up to its tie handling). Order statistics of the differences are found without
// materialising them (see pairDiffSelect), so it runs in O((n+m)·log) memory-free.
func HodgesLehmann(x, y []float64, conf float64) HLResult {
	n, m := len(x), len(y)
	if n == 0 || m == 0 {
		return HLResult{nan(), nan(), nan()}
	}
	xs, ys := slices.Clone(x), slices.Clone(y)
	slices.Sort(xs)
	slices.Sort(ys)
	nm := int64(n) * int64(m)
	var shift float64
	if nm%2 == 1 {
		shift = pairDiffSelect(xs, ys, nm/2+1)
	} else {
		shift = (pairDiffSelect(xs, ys, nm/2) + pairDiffSelect(xs, ys, nm/2+1)) / 2
	}
	z := distuv.UnitNormal.Quantile(1 - (1-conf)/2)
	c := int64(math.Floor(float64(nm)/2 - z*math.Sqrt(float64(nm)*float64(n+m+1)/12)))
	if c < 1 {
		c = 1
	}
	return HLResult{Shift: shift, Lo: pairDiffSelect(xs, ys, c), Hi: pairDiffSelect(xs, ys, nm+1-c)}
}

// pairDiffSelect returns the k-th smallest (1-based) of the differences y_j - x_i of sorted
// xs and ys by bisection on the value: countLE(d) is monotone and computed in O(n+m) with two
// pointers; the loop stops when the bracket cannot shrink further in float64.
func pairDiffSelect(xs, ys []float64, k int64) float64 {
	lo := ys[0] - xs[len(xs)-1]
	hi := ys[len(ys)-1] - xs[0]
	if countLE(xs, ys, lo) >= k {
		return lo
	}
	// Invariant: countLE(lo) < k <= countLE(hi).
	for iter := 0; iter < 200; iter++ {
		mid := lo + (hi-lo)/2
		if mid <= lo || mid >= hi {
			break
		}
		if countLE(xs, ys, mid) >= k {
			hi = mid
		} else {
			lo = mid
		}
	}
	// Snap to the exact difference: the smallest y_j - x_i above lo is the k-th one.
	best := hi
	for _, y := range ys {
		// largest x_i with y - x_i > lo, i.e. x_i < y - lo
		i, _ := slices.BinarySearch(xs, y-lo)
		for i < len(xs) && y-xs[i] > lo {
			i++
		}
		for i > 0 && !(y-xs[i-1] > lo) {
			i--
		}
		if i > 0 {
			best = math.Min(best, y-xs[i-1])
		}
	}
	return best
}

// countLE counts pairs with y_j - x_i <= d. The difference itself is compared (not
// x_i >= y_j - d) so the count agrees with the snapped value in floating point.
func countLE(xs, ys []float64, d float64) int64 {
	var cnt int64
	i := 0 // first index with ys[j]-xs[i] <= d; non-decreasing as j grows
	for _, y := range ys {
		for i < len(xs) && y-xs[i] > d {
			i++
		}
		cnt += int64(len(xs) - i)
	}
	return cnt
}
