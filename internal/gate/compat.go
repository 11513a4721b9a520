package gate

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// compat judges the device farm's results per (model, OS version): a pass-rate drop beyond
// the policy or crashes/ANRs the baseline did not have fail; new failing tests or a high
// flaky rate are marginal. Pass rates count attempts, not infra failures.
func compat(in *Input, pol *Policy) []CompatCheck {
	base := map[[2]string]CompatCell{}
	for _, c := range in.CompatBaseline {
		base[[2]string{c.Model, c.OSVersion}] = c
	}
	var out []CompatCheck
	for _, c := range in.CompatCandidate {
		b, hasBase := base[[2]string{c.Model, c.OSVersion}]
		cc := CompatCheck{Model: c.Model, OSVersion: c.OSVersion, Status: StatusPass, Reason: "no regression"}
		cc.CandPass = ratio(c.Passed, c.Passed+c.Failed)
		cc.FlakyRate = ratio(c.Flaky, c.Passed+c.Failed)
		if hasBase {
			cc.BasePass = ratio(b.Passed, b.Passed+b.Failed)
			for _, t := range c.FailedTests {
				if !slices.Contains(b.FailedTests, t) {
					cc.NewFailures = append(cc.NewFailures, t)
				}
			}
			if b.Crashes+b.ANRs == 0 {
				cc.NewCrashes = c.Crashes + c.ANRs
			}
		} else {
			cc.BasePass = math.NaN()
			cc.NewFailures = slices.Clone(c.FailedTests)
			cc.NewCrashes = c.Crashes + c.ANRs
		}
		var why []string
		if hasBase && cc.BasePass-cc.CandPass > pol.Compat.MaxPassRateDrop {
			why = append(why, fmt.Sprintf("pass rate %s → %s", pct(cc.BasePass), pct(cc.CandPass)))
			cc.Status = StatusFail
		}
		if cc.NewCrashes > 0 {
			why = append(why, fmt.Sprintf("%d new crashes/ANRs during tests", cc.NewCrashes))
			cc.Status = StatusFail
		}
		if len(cc.NewFailures) > 0 {
			why = append(why, "new failures: "+strings.Join(cc.NewFailures, ", "))
			if cc.Status == StatusPass {
				cc.Status = StatusMarginal
			}
		}
		if cc.FlakyRate > pol.Compat.MaxFlakyRate {
			why = append(why, "flaky rate "+pct(cc.FlakyRate))
			if cc.Status == StatusPass {
				cc.Status = StatusMarginal
			}
		}
		if len(why) > 0 {
			cc.Reason = strings.Join(why, "; ")
		}
		cc.BasePass = fin(cc.BasePass)
		out = append(out, cc)
	}
	rank := map[string]int{StatusFail: 0, StatusMarginal: 1, StatusPass: 2}
	slices.SortStableFunc(out, func(a, b CompatCheck) int {
		if d := rank[a.Status] - rank[b.Status]; d != 0 {
			return d
		}
		return strings.Compare(a.Model+a.OSVersion, b.Model+b.OSVersion)
	})
	return out
}
