// Package stats holds the release gate's statistical judges: Mann-Whitney U with a
// Hodges-Lehmann shift and its distribution-free (Moses) confidence interval, IQR outlier
// removal, percentile bootstrap confidence intervals, the two-proportion z-test with Wilson /
// Newcombe intervals, a Poisson rate-ratio test, and Benjamini-Hochberg control of the false
// discovery rate across strata.
//
// Distributions and quantiles come from gonum (stat, stat/distuv). The tests themselves are
// not in gonum, so they are written here by hand from their textbook definitions; each
// function's comment names the definition it follows, and the tests pin values computed
// with scipy/R on the same inputs.
//
// Defaults follow Kayenta's Mann-Whitney classifier (spec §4): confidence 0.98, outliers
// removed at IQR factor 3.0.
package stats

const (
	// DefaultConfidence is Kayenta's default confidence level for the Mann-Whitney judge.
	DefaultConfidence = 0.98
	// DefaultIQRFactor is Kayenta's default outlier factor (Tukey's "far out" fences).
	DefaultIQRFactor = 3.0
)
