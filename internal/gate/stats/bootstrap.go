package stats

import (
	"math"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/stat/distuv"
)

// BootstrapQuantileChange estimates percentile-bootstrap confidence intervals (level conf,
// b resamples) of the relative change Q_p(y)/Q_p(x) - 1 for each p in ps, resampling baseline
// xs and candidate ys independently. Both must be sorted ascending. The seed makes reports
// reproducible (golden files, re-runs in CI).
//
// No resample is materialised. Resampling n values of a sorted array means drawing n indices
// floor(n·U_i); the resample's p-quantile (its k-th smallest, k = ceil(p·n)) is therefore
// s[floor(n·U_(k))], and the k-th order statistic of n uniforms is Beta(k, n-k+1). Drawing
// that one Beta variate (gonum distuv.Beta) gives exactly the bootstrap distribution of each
// quantile in O(1) instead of O(n) per resample. Each interval is marginal, so the quantiles
// need not be drawn jointly.
func BootstrapQuantileChange(xs, ys []float64, ps []float64, b int, conf float64, seed uint64) (lo, hi []float64) {
	lo, hi = make([]float64, len(ps)), make([]float64, len(ps))
	if len(xs) == 0 || len(ys) == 0 || b <= 0 {
		for i := range ps {
			lo[i], hi[i] = nan(), nan()
		}
		return lo, hi
	}
	src := rand.NewPCG(seed, 0x9e3779b97f4a7c15)
	alpha := (1 - conf) / 2
	changes := make([]float64, 0, b)
	for i, p := range ps {
		bx, by := orderStat(xs, p, src), orderStat(ys, p, src)
		changes = changes[:0]
		for range b {
			if qx := bx.draw(); qx != 0 {
				changes = append(changes, by.draw()/qx-1)
			}
		}
		if len(changes) == 0 {
			lo[i], hi[i] = nan(), nan()
			continue
		}
		slices.Sort(changes)
		lo[i], hi[i] = Quantile(alpha, changes), Quantile(1-alpha, changes)
	}
	return lo, hi
}

// orderStat draws the bootstrap p-quantile of sorted s.
type orderStatDist struct {
	s    []float64
	beta distuv.Beta
}

func orderStat(s []float64, p float64, src rand.Source) orderStatDist {
	n := float64(len(s))
	k := math.Max(1, math.Ceil(p*n))
	return orderStatDist{s: s, beta: distuv.Beta{Alpha: k, Beta: n - k + 1, Src: src}}
}

func (o orderStatDist) draw() float64 {
	i := int(float64(len(o.s)) * o.beta.Rand())
	return o.s[min(max(i, 0), len(o.s)-1)]
}
