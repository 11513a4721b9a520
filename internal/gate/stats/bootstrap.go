package stats

import (
	"math"
	"math/rand/v2"
	"slices"
)

// BootstrapQuantileChange estimates percentile-bootstrap confidence intervals (level conf,
// b resamples) of the relative change Q_p(y)/Q_p(x) - 1 for each p in ps, resampling baseline
// xs and candidate ys independently. Both must be sorted ascending. The seed makes reports
// reproducible (golden files, re-runs in CI).
//
// A resample's quantile is found without sorting it: resampling n values of a sorted array is
// drawing n indices, so the p-quantile of the resample is the index where the cumulative
// draw count reaches ceil(p·n) — O(n) per resample instead of O(n log n).
func BootstrapQuantileChange(xs, ys []float64, ps []float64, b int, conf float64, seed uint64) (lo, hi []float64) {
	lo, hi = make([]float64, len(ps)), make([]float64, len(ps))
	if len(xs) == 0 || len(ys) == 0 || b <= 0 {
		for i := range ps {
			lo[i], hi[i] = nan(), nan()
		}
		return lo, hi
	}
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	changes := make([][]float64, len(ps))
	for i := range changes {
		changes[i] = make([]float64, 0, b)
	}
	qx, qy := make([]float64, len(ps)), make([]float64, len(ps))
	cx, cy := make([]int32, len(xs)), make([]int32, len(ys))
	for range b {
		resampleQuantiles(rng, xs, cx, ps, qx)
		resampleQuantiles(rng, ys, cy, ps, qy)
		for i := range ps {
			if qx[i] != 0 {
				changes[i] = append(changes[i], qy[i]/qx[i]-1)
			}
		}
	}
	alpha := (1 - conf) / 2
	for i := range ps {
		c := changes[i]
		if len(c) == 0 {
			lo[i], hi[i] = nan(), nan()
			continue
		}
		slices.Sort(c)
		lo[i], hi[i] = Quantile(alpha, c), Quantile(1-alpha, c)
	}
	return lo, hi
}

func resampleQuantiles(rng *rand.Rand, s []float64, counts []int32, ps, out []float64) {
	clear(counts)
	n := len(s)
	for range n {
		counts[rng.IntN(n)]++
	}
	// ps are visited in ascending order of their rank; callers pass them ascending.
	k, cum := 0, int64(0)
	for i, c := range counts {
		cum += int64(c)
		for k < len(ps) && cum >= int64(math.Ceil(ps[k]*float64(n))) {
			out[k] = s[i]
			k++
		}
	}
	for ; k < len(ps); k++ {
		out[k] = s[n-1]
	}
}
