package schedule

import "math"

// PreventiveCopies returns how many copies n of a test to run up front so that at least one
// passes with probability >= target, when each copy fails independently with probability f:
// P(all n fail) = f^n, so we need 1 - f^n >= target, i.e. n >= ln(1-target)/ln(f).
// The result is clamped to [1, max]; f <= 0 needs one copy, f >= 1 cannot be helped (max).
func PreventiveCopies(f, target float64, max int) int {
	if max < 1 {
		max = 1
	}
	switch {
	case f <= 0 || target <= 0:
		return 1
	case f >= 1 || target >= 1:
		return max
	}
	n := int(math.Ceil(math.Log(1-target)/math.Log(f) - 1e-9))
	if n < 1 {
		n = 1
	}
	if n > max {
		n = max
	}
	return n
}

// PassProbability is 1 - f^n: the chance that at least one of n independent copies passes.
func PassProbability(f float64, n int) float64 {
	return 1 - math.Pow(f, float64(n))
}

// Verdict is a test's outcome over all its attempts.
type Verdict string

const (
	VerdictPassed  Verdict = "passed"
	VerdictFailed  Verdict = "failed"
	VerdictFlaky   Verdict = "flaky"
	VerdictError   Verdict = "error"
	VerdictSkipped Verdict = "skipped"
)

// Decide mirrors farm_finish_test: passes and test failures together are flaky; infrastructure
// failures never decide a test unless nothing else ran.
func Decide(passes, testFailures, skipped, infra int) Verdict {
	switch {
	case passes > 0 && testFailures > 0:
		return VerdictFlaky
	case passes > 0:
		return VerdictPassed
	case testFailures > 0:
		return VerdictFailed
	case skipped > 0:
		return VerdictSkipped
	default:
		return VerdictError
	}
}
