package stats

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func near(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.IsNaN(got) || math.Abs(got-want) > tol {
		t.Errorf("%s = %.10g, want %.10g (±%g)", what, got, want, tol)
	}
}

func TestMannWhitney(t *testing.T) {
	for _, tc := range []struct {
		name     string
		x, y     []float64
		u1, z, p float64
	}{
		// scipy.stats.mannwhitneyu documentation example (males vs females, method="asymptotic"):
		// statistic=17.0, pvalue=0.11134688653314041.
		{"scipy docs", []float64{19, 22, 16, 29, 24}, []float64{20, 11, 17, 12}, 17, 1.5921683328, 0.1113468865},
		// Complete separation, n=m=5: U1=0, mu=12.5, sd=sqrt(25/12·11)=4.7871,
		// z=(25-12.5-0.5)/4.787136=2.506718, p=erfc(z/√2)=0.01218578.
		{"separated", []float64{1, 2, 3, 4, 5}, []float64{6, 7, 8, 9, 10}, 0, 2.5067182, 0.01218578},
		// Ties, pooled sorted 1,2,2,2,3,3,3,4,5 (x=1,2,2,3; y=2,3,3,4,5): ranks 1, 3,3,3, 6,6,6, 8, 9;
		// R_x = 1+3+3+6 = 13, U1 = 13-10 = 3, U2 = 17, ties t=3,3: sum(t³-t)=48,
		// sd = sqrt(20/12·(10 - 48/72)) = 3.944053, z = 6.5/sd = 1.648051, p = 0.0993422.
		{"ties", []float64{1, 2, 2, 3}, []float64{2, 3, 3, 4, 5}, 3, 1.6480508, 0.0993422},
		{"identical", []float64{3, 3, 3}, []float64{3, 3}, 3, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := MannWhitney(tc.x, tc.y)
			near(t, "U1", r.U1, tc.u1, 1e-9)
			near(t, "Z", r.Z, tc.z, 1e-6)
			near(t, "P", r.P, tc.p, 1e-6)
		})
	}
}

func TestHodgesLehmann(t *testing.T) {
	// Differences y_j - x_i of {1,2,3} and {2,4,7}: -1,0,1,1,2,3,4,5,6 → median 2.
	if r := HodgesLehmann([]float64{3, 1, 2}, []float64{7, 2, 4}, 0.98); r.Shift != 2 {
		t.Errorf("shift = %v, want 2", r.Shift)
	}
	// y = x + 10, n=m=5: differences 10+(j-i) span 6..14. C = floor(12.5 - 2.3263·4.7871) = 1,
	// so the 98% interval is [D(1), D(25)] = [6, 14].
	x := []float64{1, 2, 3, 4, 5}
	r := HodgesLehmann(x, []float64{11, 12, 13, 14, 15}, 0.98)
	near(t, "shift", r.Shift, 10, 1e-9)
	near(t, "lo", r.Lo, 6, 1e-9)
	near(t, "hi", r.Hi, 14, 1e-9)

	// Order statistics by bisection equal a brute-force sort of all differences.
	rng := rand.New(rand.NewPCG(1, 2))
	a, b := make([]float64, 57), make([]float64, 43)
	for i := range a {
		a[i] = math.Round(rng.NormFloat64()*100) / 10 // ties on purpose
	}
	for i := range b {
		b[i] = math.Round(rng.NormFloat64()*100+30) / 10
	}
	var all []float64
	for _, yv := range b {
		for _, xv := range a {
			all = append(all, yv-xv)
		}
	}
	slices.Sort(all)
	slices.Sort(a)
	slices.Sort(b)
	for _, k := range []int64{1, 2, 100, 1225, 1226, int64(len(all)) - 1, int64(len(all))} {
		near(t, "select", pairDiffSelect(a, b, k), all[k-1], 1e-9)
	}
}

func TestRemoveOutliersIQR(t *testing.T) {
	x := []float64{10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 100, -80}
	got := RemoveOutliersIQR(x, 3)
	// Quartiles of the 12 values (gonum LinInterp) are 2.5 and 8.5: fences -15.5 and 26.5.
	if want := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}; !slices.Equal(got, want) {
		t.Errorf("RemoveOutliersIQR = %v, want %v", got, want)
	}
	if len(x) != 12 || x[0] != 10 {
		t.Error("input modified")
	}
}

func TestTwoProportion(t *testing.T) {
	// statsmodels proportions_ztest([50, 30], [1000, 1000]): z = 2.282177, p = 0.0224789.
	r := TwoProportion(30, 1000, 50, 1000, 0.95)
	near(t, "Z", r.Z, 2.282177323, 1e-8)
	near(t, "P", r.P, 0.02247887337, 1e-9)
	// Newcombe (1998), Statistics in Medicine 17:873, example (a): 56/70 - 48/80 = 0.1833,
	// method 10 (hybrid score) 95% interval 0.0524 to 0.3339.
	r = TwoProportion(48, 80, 56, 70, 0.95)
	near(t, "lo", r.Lo, 0.0524, 5e-5)
	near(t, "hi", r.Hi, 0.3339, 5e-5)
	if r := TwoProportion(0, 10, 0, 10, 0.95); r.P != 1 {
		t.Errorf("0/10 vs 0/10: p = %v, want 1", r.P)
	}
}

func TestPoissonRateRatio(t *testing.T) {
	// 150 vs 100 events over equal exposure: log(1.5)/sqrt(1/100+1/150) = 3.140719, p = 0.00168534;
	// 98% interval exp(log 1.5 ± 2.326348·0.129099) → lower 1.110860.
	r := PoissonRateRatio(100, 1000, 150, 1000, 0.98)
	near(t, "ratio", r.Ratio, 1.5, 1e-12)
	near(t, "Z", r.Z, 3.140719222, 1e-8)
	near(t, "P", r.P, 0.001685335223, 1e-10)
	near(t, "lo", r.Lo, 1.110860443, 1e-8)
}

func TestBenjaminiHochberg(t *testing.T) {
	// R: p.adjust(c(0.01, 0.04, 0.03, 0.005), "BH") = 0.02 0.04 0.04 0.02
	got := BenjaminiHochberg([]float64{0.01, 0.04, 0.03, 0.005, math.NaN()})
	for i, w := range []float64{0.02, 0.04, 0.04, 0.02} {
		near(t, "q", got[i], w, 1e-12)
	}
	if !math.IsNaN(got[4]) {
		t.Errorf("NaN p-value adjusted to %v", got[4])
	}
}

func TestBootstrapQuantileChange(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	x, y := make([]float64, 4000), make([]float64, 4000)
	for i := range x {
		x[i] = rng.ExpFloat64() * 100
		y[i] = rng.ExpFloat64() * 140 // every quantile +40%
	}
	slices.Sort(x)
	slices.Sort(y)
	ps := []float64{0.5, 0.9, 0.99}
	lo, hi := BootstrapQuantileChange(x, y, ps, 400, 0.98, 42)
	for i := range ps {
		if !(lo[i] < 0.4 && 0.4 < hi[i]) || lo[i] < 0.1 {
			t.Errorf("p%v: CI [%.3f, %.3f] should cover +40%% and exclude 0", ps[i]*100, lo[i], hi[i])
		}
	}
	lo2, hi2 := BootstrapQuantileChange(x, y, ps, 400, 0.98, 42)
	if !slices.Equal(lo, lo2) || !slices.Equal(hi, hi2) {
		t.Error("same seed gave different intervals")
	}
	// Null: same distribution → interval covers 0.
	lo, hi = BootstrapQuantileChange(x, x, ps[:1], 400, 0.98, 1)
	if !(lo[0] < 0 && hi[0] > 0) {
		t.Errorf("null CI [%.3f, %.3f] excludes 0", lo[0], hi[0])
	}
}

// The Beta shortcut gives the same bootstrap distribution as resampling for real: compare
// the intervals with a brute-force bootstrap (sort every resample) on the same data.
func TestBootstrapMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	x, y := make([]float64, 800), make([]float64, 800)
	for i := range x {
		x[i] = rng.ExpFloat64() * 100
		y[i] = rng.ExpFloat64() * 120
	}
	slices.Sort(x)
	slices.Sort(y)
	ps := []float64{0.5, 0.9}
	lo, hi := BootstrapQuantileChange(x, y, ps, 4000, 0.9, 5)
	brute := func(p float64) (float64, float64) {
		var ch []float64
		rx, ry := make([]float64, len(x)), make([]float64, len(y))
		for range 4000 {
			for i := range rx {
				rx[i] = x[rng.IntN(len(x))]
				ry[i] = y[rng.IntN(len(y))]
			}
			slices.Sort(rx)
			slices.Sort(ry)
			ch = append(ch, Quantile(p, ry)/Quantile(p, rx)-1)
		}
		slices.Sort(ch)
		return Quantile(0.05, ch), Quantile(0.95, ch)
	}
	for i, p := range ps {
		bl, bh := brute(p)
		near(t, "lo", lo[i], bl, 0.03)
		near(t, "hi", hi[i], bh, 0.03)
	}
}
