package stats

import (
	"math"
	"slices"
)

// BenjaminiHochberg returns the Benjamini-Hochberg adjusted p-values (q-values) of p, in the
// same order: q_(i) = min over j >= i of p_(j)·m/j, capped at 1 (R's p.adjust(method="BH")).
// Rejecting q < alpha controls the false discovery rate across the family at alpha. NaN
// p-values (tests that did not run) are left NaN and do not count towards m.
func BenjaminiHochberg(p []float64) []float64 {
	q, idx := ranked(p)
	m := float64(len(idx))
	run := 1.0
	for r := len(idx) - 1; r >= 0; r-- {
		v := p[idx[r]] * m / float64(r+1)
		run = math.Min(run, v)
		q[idx[r]] = run
	}
	return q
}

// Holm returns Holm-Bonferroni adjusted p-values in the order of p: q_(i) = max over j <= i of
// min(1, (m-j+1)·p_(j)) (R's p.adjust(method="holm")). NaN entries are skipped as in
// BenjaminiHochberg.
func Holm(p []float64) []float64 {
	q, idx := ranked(p)
	m := len(idx)
	run := 0.0
	for r, i := range idx {
		run = math.Max(run, math.Min(1, float64(m-r)*p[i]))
		q[i] = run
	}
	return q
}

// ranked returns q, all NaN, to fill with adjusted values, and the indexes of p's non-NaN
// entries ordered by ascending p (stable, so ties keep their input order).
func ranked(p []float64) (q []float64, idx []int) {
	q = make([]float64, len(p))
	idx = make([]int, 0, len(p))
	for i, v := range p {
		q[i] = math.NaN()
		if !math.IsNaN(v) {
			idx = append(idx, i)
		}
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case p[a] < p[b]:
			return -1
		case p[a] > p[b]:
			return 1
		}
		return 0
	})
	return q, idx
}
