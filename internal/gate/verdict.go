package gate

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// verdict decides pass / marginal / fail / inconclusive: a confident guardrail breach fails
// whatever else; too little judged data is inconclusive; a failed critical metric or a score
// below the marginal threshold fails; below the pass threshold (or a guardrail at risk) is
// marginal. It also writes the one-paragraph summary.
func verdict(r *Report, in *Input, pol *Policy) {
	var failing []string
	for _, g := range r.Guardrails {
		if g.Status == StatusFail {
			failing = append(failing, fmt.Sprintf("%s %s in %s is above the Android-vitals guardrail %s (CI %s–%s, %s/%s sessions)",
				titleOf(g.Metric), pct(g.Rate), g.Stratum, pct(g.Threshold), pct(g.Lo), pct(g.Hi), num(g.Events), num(g.Sessions)))
		}
	}
	critFail := false
	for _, m := range r.Metrics {
		if m.Status == StatusFail && m.Critical {
			critFail = true
		}
	}
	for _, c := range r.Checks {
		if c.Status == StatusFail {
			failing = append(failing, c.Headline())
		}
	}
	for _, c := range r.Compat {
		if c.Status == StatusFail {
			failing = append(failing, fmt.Sprintf("compatibility on %s (%s): %s", c.Model, c.OSVersion, c.Reason))
		}
	}
	why := insufficient(r, in, pol)
	guardFail := slices.ContainsFunc(r.Guardrails, func(g GuardrailCheck) bool { return g.Status == StatusFail })
	guardMarginal := slices.ContainsFunc(r.Guardrails, func(g GuardrailCheck) bool { return g.Status == StatusMarginal })
	switch {
	case guardFail:
		r.Verdict = Fail
	case why != "":
		r.Verdict = Inconclusive
	case critFail || r.Score < pol.Score.Marginal:
		r.Verdict = Fail
	case r.Score < pol.Score.Pass || guardMarginal:
		r.Verdict = Marginal
	default:
		r.Verdict = Pass
	}
	switch r.Verdict {
	case Pass:
		r.ExitCode = 0
	case Fail:
		r.ExitCode = 1
	case Inconclusive:
		r.ExitCode = 3
	case Marginal:
		r.ExitCode = 1
		if pol.MarginalIs == "pass" {
			r.ExitCode = 0
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s %s vs baseline %s", strings.ToUpper(r.Verdict), r.App, r.Candidate, r.Baseline)
	switch r.Verdict {
	case Inconclusive:
		fmt.Fprintf(&b, " — not enough data to judge: %s.", why)
	case Fail, Marginal:
		if len(failing) > 0 {
			fmt.Fprintf(&b, " — %s", failing[0])
			switch n := len(failing) - 1; {
			case n == 1:
				b.WriteString(" (and 1 more failing check)")
			case n > 1:
				fmt.Fprintf(&b, " (and %d more failing checks)", n)
			}
			b.WriteString(".")
		} else {
			b.WriteString(" — no single check failed, but the weighted score is below the pass threshold.")
		}
	default:
		b.WriteString(" — no significant regression in any stratum, every guardrail holds.")
	}
	if guardMarginal && r.Verdict == Marginal {
		b.WriteString(" A guardrail is at risk: its point estimate is above the threshold, though not confidently.")
	}
	fmt.Fprintf(&b, " Score %g/100 (pass ≥ %g, marginal ≥ %g) over %d tests, %s across strata at confidence %g.",
		r.Score, pol.Score.Pass, pol.Score.Marginal, r.Method.Tests, methodName(pol.MultipleComparisons), pol.Confidence)
	fmt.Fprintf(&b, " Judged %s baseline and %s candidate sessions", num(in.Baseline.Sessions), num(in.Candidate.Sessions))
	if in.Candidate.Late > 0 {
		fmt.Fprintf(&b, "; %s newer candidate records after %s are still arriving and were not judged",
			num(in.Candidate.Late), in.Horizon.UTC().Format("2006-01-02 15:04 MST"))
	}
	b.WriteString(".")
	r.Summary = b.String()
}

// insufficient says why the candidate cannot be judged yet ("" when it can) and sets the
// report's wait-until estimate.
func insufficient(r *Report, in *Input, pol *Policy) string {
	var why []string
	need := 1.0 // how many times the current candidate volume is needed
	if in.Candidate.Sessions < pol.MinSessions {
		why = append(why, fmt.Sprintf("the candidate has %s sessions old enough to judge, the policy needs %s",
			num(in.Candidate.Sessions), num(pol.MinSessions)))
		need = math.Max(need, float64(pol.MinSessions)/math.Max(1, float64(in.Candidate.Sessions)))
	}
	for _, c := range r.Checks {
		mp := pol.Metrics[c.Metric]
		if c.Dim != DimOverall || c.Status != StatusInsufficient || !mp.Critical {
			continue
		}
		if c.NBaseline < mp.MinSamples && c.NCandidate >= mp.MinSamples {
			why = append(why, fmt.Sprintf("%s: the baseline has only %s %s", c.Title, num(c.NBaseline), metricDefs[c.Metric].Of))
			continue
		}
		if c.NCandidate < mp.MinSamples {
			why = append(why, fmt.Sprintf("%s: %s %s, needs %s", c.Title, num(c.NCandidate), metricDefs[c.Metric].Of, num(mp.MinSamples)))
			need = math.Max(need, float64(mp.MinSamples)/math.Max(1, float64(c.NCandidate)))
		}
	}
	if len(why) == 0 {
		return ""
	}
	// Extrapolate the candidate's arrival rate in the judged window, then add the arrival
	// delay so the extra data has also finished arriving.
	span := in.Horizon.Sub(in.Candidate.FirstSeen)
	if in.Candidate.Sessions > 0 && span > 0 {
		w := in.Now.Add(time.Duration(float64(span)*(need-1)) + in.ArrivalDelay).UTC().Truncate(time.Minute).Add(time.Minute)
		r.Data.WaitUntil = &w
		r.Data.Note = "wait until " + w.Format("2006-01-02 15:04 MST") + " (at the current arrival rate) and run the gate again"
	} else if in.Candidate.Late > 0 {
		w := in.Now
		if t := in.Candidate.FirstAny.Add(in.ArrivalDelay); t.After(w) {
			w = t
		}
		w = w.UTC().Truncate(time.Minute).Add(time.Minute)
		r.Data.WaitUntil = &w
		r.Data.Note = fmt.Sprintf("the candidate's data is still arriving (%s of the releases' data arrived within %s); wait until %s and run the gate again",
			pct(pol.Completeness.Quantile), fmtDur(in.ArrivalDelay), w.Format("2006-01-02 15:04 MST"))
	} else {
		r.Data.Note = "no candidate data has arrived yet; run the gate again once the rollout has started"
	}
	return strings.Join(why, "; ") + "; " + r.Data.Note
}

// Headline is the one-line description of a check, e.g.
// "3g × low: Request TTFB p90 +38% [CI 31–45%], n=4,210/3,980".
func (c *Check) Headline() string {
	where := c.Stratum
	if c.Dim == DimModel {
		where = "model " + c.Stratum
	} else if c.Dim == DimOS {
		where = "OS " + c.Stratum
	}
	if c.Kind == Distribution && len(c.Percentiles) > 1 {
		// The decision statistic (Hodges-Lehmann shift relative to the baseline median) first,
		// then p90, the figure release managers read.
		p := c.Percentiles[1]
		return fmt.Sprintf("%s: %s %s [CI %s–%s] (median shift %s), p90 %s [CI %s–%s], %s, n=%s/%s", where, c.Title,
			spct(c.Change), spct(c.ChangeLo), spct(c.ChangeHi), sval(c.Shift, c.Unit), spct(p.Change), spct(p.Lo), spct(p.Hi),
			pEq(c.Q), num(c.NBaseline), num(c.NCandidate))
	}
	return fmt.Sprintf("%s: %s %s → %s (%s [CI %s–%s], %s), n=%s/%s", where, c.Title,
		val(c.Baseline, c.Kind), val(c.Candidate, c.Kind), spct(c.Change), spct(c.ChangeLo), spct(c.ChangeHi),
		pEq(c.Q), num(c.NBaseline), num(c.NCandidate))
}
