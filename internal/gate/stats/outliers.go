package stats

import (
	"slices"

	"gonum.org/v1/gonum/stat"
)

// RemoveOutliersIQR returns the values of x inside [Q1 - k·IQR, Q3 + k·IQR] (Tukey's fences;
// k = 3.0 is Kayenta's default and keeps everything but "far out" points), sorted ascending.
// Quartiles use gonum's linear interpolation of the empirical CDF. x is not modified.
func RemoveOutliersIQR(x []float64, k float64) []float64 {
	s := slices.Clone(x)
	slices.Sort(s)
	if len(s) < 4 || k <= 0 {
		return s
	}
	q1 := stat.Quantile(0.25, stat.LinInterp, s, nil)
	q3 := stat.Quantile(0.75, stat.LinInterp, s, nil)
	lo, hi := q1-k*(q3-q1), q3+k*(q3-q1)
	i, _ := slices.BinarySearch(s, lo)
	j := len(s)
	for j > i && s[j-1] > hi {
		j--
	}
	return s[i:j]
}

// Quantile is the empirical p-quantile of sorted s (the smallest value whose empirical CDF
// reaches p), as gonum computes it; NaN when s is empty.
func Quantile(p float64, sorted []float64) float64 {
	if len(sorted) == 0 {
		return nan()
	}
	return stat.Quantile(p, stat.Empirical, sorted, nil)
}
