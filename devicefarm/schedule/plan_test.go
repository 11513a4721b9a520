package schedule

import (
	"math"
	"testing"
	"time"
)

func TestPreventiveCopies(t *testing.T) {
	for _, tc := range []struct {
		f, target float64
		max, want int
	}{
		{0.5, 0.99, 10, 7},  // 1-0.5^7 = 0.992 >= 0.99 > 1-0.5^6 = 0.984
		{0.5, 0.75, 10, 2},  // exactly 0.75
		{0.1, 0.99, 10, 2},  // 0.99 exactly
		{0.2, 0.999, 10, 5}, // 1-0.2^5 = 0.99968; 0.2^4 = 0.0016 > 0.001
		{0.5, 0.99, 3, 3},   // capped
		{0, 0.99, 5, 1},     // never fails: one copy
		{1, 0.99, 4, 4},     // always fails: copies cannot help, cap
		{0.3, 0, 5, 1},      // preventive off
	} {
		got := PreventiveCopies(tc.f, tc.target, tc.max)
		if got != tc.want {
			t.Errorf("PreventiveCopies(%v, %v, %d) = %d, want %d", tc.f, tc.target, tc.max, got, tc.want)
		}
		if got < tc.max && tc.f > 0 && tc.f < 1 && tc.target > 0 && PassProbability(tc.f, got) < tc.target-1e-12 {
			t.Errorf("f=%v n=%d: 1-f^n = %v < target %v", tc.f, got, PassProbability(tc.f, got), tc.target)
		}
	}
}

func TestDecide(t *testing.T) {
	for _, tc := range []struct {
		p, f, s, i int
		want       Verdict
	}{
		{1, 0, 0, 0, VerdictPassed}, {1, 1, 0, 0, VerdictFlaky}, {0, 3, 0, 2, VerdictFailed},
		{0, 0, 1, 0, VerdictSkipped}, {0, 0, 0, 3, VerdictError}, {2, 0, 0, 5, VerdictPassed},
	} {
		if got := Decide(tc.p, tc.f, tc.s, tc.i); got != tc.want {
			t.Errorf("Decide(%d,%d,%d,%d) = %s, want %s", tc.p, tc.f, tc.s, tc.i, got, tc.want)
		}
	}
}

func TestPlan(t *testing.T) {
	var tests []PlanTest
	var durs []time.Duration
	for i := 0; i < 400; i++ {
		d := time.Duration(1+math.Pow(float64(i%40), 2)) * time.Second // heavy-ish tail
		tests = append(tests, PlanTest{Ref: i, Expected: d})
		durs = append(durs, d)
	}
	tests = append(tests, PlanTest{Ref: 400, Expected: 5 * time.Second, Profile: "3g-good"})
	items := Plan(tests, PlanConfig{Devices: 10})
	seen := map[int]int{}
	var prevBatch time.Duration
	batches := 0
	singles := 0
	for _, it := range items {
		var sum time.Duration
		for _, r := range it.Refs {
			seen[r]++
			sum += tests[r].Expected
			if tests[r].Profile != it.Profile {
				t.Errorf("test %d (profile %q) in an item of profile %q", r, tests[r].Profile, it.Profile)
			}
		}
		if sum != it.Expected {
			t.Errorf("item expected %v, tests sum to %v", it.Expected, sum)
		}
		if it.Kind == "batch" {
			batches++
			if prevBatch > 0 && it.Expected > 2*prevBatch {
				t.Errorf("batch sizes should shrink: %v after %v", it.Expected, prevBatch)
			}
			prevBatch = it.Expected
		}
		if len(it.Refs) == 1 {
			singles++
		}
	}
	for i := range tests {
		if seen[i] != 1 {
			t.Errorf("test %d placed %d times", i, seen[i])
		}
	}
	// The shortest tests are the last mile: single items at the end of the plan.
	last := items[len(items)-2] // the final item is the lone 3g-good test
	if len(last.Refs) != 1 || tests[last.Refs[0]].Expected != time.Second {
		t.Errorf("last item %+v: want a single 1 s test (last mile)", last)
	}
	if singles < 20 || batches < 10 || len(items) >= len(tests) {
		t.Errorf("%d items, %d batches, %d singles: want batches plus a last mile", len(items), batches, singles)
	}
	if lb := LowerBound(durs, 10); lb != max(sumD(durs)/10, 1522*time.Second) {
		t.Errorf("lower bound %v", lb)
	}
}

func sumD(ds []time.Duration) (s time.Duration) {
	for _, d := range ds {
		s += d
	}
	return s
}
