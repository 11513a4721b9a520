package gate

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/fleetlens/fleetlens/internal/gate/stats"
)

var percentiles = []float64{0.50, 0.90, 0.99}

// Judge turns one Input into a Report under the policy. It is pure: the same input and
// policy give the same report (bootstrap resampling is seeded by the policy).
func Judge(in *Input, pol *Policy) *Report {
	r := &Report{
		App: in.App, Candidate: in.Candidate.Release, Baseline: in.Baseline.Release,
		GeneratedAt: in.Now.UTC(),
		Method: Method{
			Confidence: pol.Confidence, IQRFactor: pol.IQRFactor,
			MultipleComparisons: pol.MultipleComparisons, BootstrapResamples: pol.Bootstrap.Resamples,
			ScorePass: pol.Score.Pass, ScoreMarginal: pol.Score.Marginal,
		},
		Data: DataSummary{
			BaselineSessions: in.Baseline.Sessions, CandidateSessions: in.Candidate.Sessions,
			Horizon: in.Horizon.UTC(), ArrivalDelay: fmtDur(in.ArrivalDelay),
			ArrivalQuantile: pol.Completeness.Quantile,
			CandidateLate:   in.Candidate.Late,
		},
	}
	r.Guardrails = guardrails(in, pol)
	r.Checks = checks(in, pol)
	r.Method.Tests = adjust(r.Checks, pol)
	alpha := 1 - pol.Confidence
	for i := range r.Checks {
		classify(&r.Checks[i], pol, alpha)
	}
	sortChecks(r.Checks)
	r.Compat = compat(in, pol)
	r.Metrics, r.Score = score(r, pol)
	verdict(r, in, pol)
	return r
}

func guardrails(in *Input, pol *Policy) []GuardrailCheck {
	z := distuv.UnitNormal.Quantile(1 - (1-pol.Confidence)/2)
	var out []GuardrailCheck
	add := func(metric string, k Key, thr float64) {
		s := in.Candidate.Strata[k]
		if s == nil {
			return
		}
		c := s.Counts[metric]
		if k.Dim == DimModel && c.Exposure < pol.Guardrails.MinModelSessions {
			return
		}
		if c.Exposure == 0 {
			return
		}
		lo, hi := stats.Wilson(c.Events, c.Exposure, z)
		g := GuardrailCheck{Metric: metric, Stratum: k.String(), Threshold: thr,
			Rate: float64(c.Events) / float64(c.Exposure), Lo: lo, Hi: hi,
			Events: c.Events, Sessions: c.Exposure, Status: StatusPass}
		switch {
		case lo > thr:
			g.Status = StatusFail
		case g.Rate > thr:
			g.Status = StatusMarginal
		}
		out = append(out, g)
	}
	for _, gr := range []struct {
		metric string
		g      Guardrail
	}{{"crash_rate", pol.Guardrails.CrashRate}, {"anr_rate", pol.Guardrails.ANRRate}} {
		add(gr.metric, Overall, gr.g.Overall)
		keys := in.Candidate.keys()
		slices.SortFunc(keys, func(a, b Key) int { return strings.Compare(a.Value, b.Value) })
		for _, k := range keys {
			if k.Dim == DimModel {
				add(gr.metric, k, gr.g.PerModel)
			}
		}
	}
	rank := map[string]int{StatusFail: 0, StatusMarginal: 1, StatusPass: 2}
	slices.SortStableFunc(out, func(a, b GuardrailCheck) int { return rank[a.Status] - rank[b.Status] })
	return out
}

// checks computes every metric in every stratum both releases have; classification comes
// after the p-values of the whole family are adjusted.
func checks(in *Input, pol *Policy) []Check {
	keys := map[Key]bool{}
	for _, rd := range []*ReleaseData{&in.Baseline, &in.Candidate} {
		for k := range rd.Strata {
			if k.Dim == DimOverall || pol.has(k.Dim) {
				keys[k] = true
			}
		}
	}
	type job struct {
		def MetricDef
		mp  *MetricPolicy
		k   Key
	}
	var jobs []job
	for _, def := range metricList {
		if mp := pol.Metrics[def.ID]; mp != nil {
			for k := range keys {
				if def.Kind == Distribution && k.Dim != DimOverall && !slices.Contains(pol.DistStrata, k.Dim) {
					continue
				}
				jobs = append(jobs, job{def, mp, k})
			}
		}
	}
	// Checks are independent (each seeds its own bootstrap), so they run on every core;
	// results keep the job order, and sortChecks orders them for the report.
	out := make([]Check, len(jobs))
	var wg sync.WaitGroup
	next := make(chan int)
	for range max(1, runtime.GOMAXPROCS(0)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				j := jobs[i]
				b, c := in.Baseline.Strata[j.k], in.Candidate.Strata[j.k]
				if b == nil {
					b = newStratum()
				}
				if c == nil {
					c = newStratum()
				}
				ch := Check{Metric: j.def.ID, Title: j.def.Title, Kind: j.def.Kind, Unit: j.def.Unit, Dim: j.k.Dim,
					Stratum: j.k.String(), P: math.NaN(), Q: math.NaN()}
				switch j.def.Kind {
				case Distribution:
					judgeDistribution(&ch, b, c, j.mp, pol, j.k)
				case Proportion:
					judgeProportion(&ch, b.Counts[j.def.ID], c.Counts[j.def.ID], j.mp, pol)
				case Rate:
					judgeRate(&ch, b.Counts[j.def.ID], c.Counts[j.def.ID], j.mp, pol)
				}
				out[i] = ch
			}
		}()
	}
	for i := range jobs {
		next <- i
	}
	close(next)
	wg.Wait()
	// A metric neither release measured in a stratum is no finding (e.g. warm starts on a
	// model that only cold-starts); overall checks stay so missing data is inconclusive.
	out = slices.DeleteFunc(out, func(c Check) bool {
		return c.Dim != DimOverall && c.Status == StatusInsufficient && c.NBaseline == 0 && c.NCandidate == 0
	})
	return out
}

func judgeDistribution(ch *Check, b, c *StratumData, mp *MetricPolicy, pol *Policy, k Key) {
	ch.NBaseline, ch.NCandidate = b.N[ch.Metric], c.N[ch.Metric]
	bs, cs := b.Samples[ch.Metric], c.Samples[ch.Metric]
	if int64(len(bs)) < mp.MinSamples || int64(len(cs)) < mp.MinSamples {
		ch.Status = StatusInsufficient
		ch.Reason = fmt.Sprintf("needs %d samples per release, has %d/%d", mp.MinSamples, len(bs), len(cs))
		return
	}
	xs := stats.RemoveOutliersIQR(bs, pol.IQRFactor)
	ys := stats.RemoveOutliersIQR(cs, pol.IQRFactor)
	mw := stats.MannWhitney(xs, ys)
	hl := stats.HodgesLehmann(xs, ys, pol.Confidence)
	med := stats.Quantile(0.5, xs)
	ch.Baseline, ch.Candidate = med, stats.Quantile(0.5, ys)
	ch.P = mw.P
	ch.Shift = hl.Shift
	if med > 0 {
		ch.Change, ch.ChangeLo, ch.ChangeHi = hl.Shift/med, hl.Lo/med, hl.Hi/med
	}
	// Seed per stratum and metric so adding a stratum does not change another's interval.
	seed := pol.Bootstrap.Seed ^ hash(ch.Metric+"|"+k.Dim+"|"+k.Value)
	lo, hi := stats.BootstrapQuantileChange(xs, ys, percentiles, pol.Bootstrap.Resamples, pol.Confidence, seed)
	for i, p := range percentiles {
		qb, qc := stats.Quantile(p, xs), stats.Quantile(p, ys)
		pc := Percentile{P: p * 100, Baseline: qb, Candidate: qc, Lo: fin(lo[i]), Hi: fin(hi[i])}
		if qb > 0 {
			pc.Change = qc/qb - 1
		}
		ch.Percentiles = append(ch.Percentiles, pc)
	}
	ch.base, ch.cand = xs, ys
}

func judgeProportion(ch *Check, b, c Count, mp *MetricPolicy, pol *Policy) {
	if ch.Metric == "crash_free_sessions" {
		b.Events, c.Events = b.Exposure-b.Events, c.Exposure-c.Events
	}
	ch.NBaseline, ch.NCandidate = b.Exposure, c.Exposure
	if b.Exposure < mp.MinSamples || c.Exposure < mp.MinSamples {
		ch.Status = StatusInsufficient
		ch.Reason = fmt.Sprintf("needs %d per release, has %d/%d", mp.MinSamples, b.Exposure, c.Exposure)
		return
	}
	t := stats.TwoProportion(b.Events, b.Exposure, c.Events, c.Exposure, pol.Confidence)
	ch.Baseline, ch.Candidate, ch.P, ch.Shift = t.P1, t.P2, t.P, t.P2-t.P1
	z := distuv.UnitNormal.Quantile(1 - (1-pol.Confidence)/2)
	ch.BaselineLo, ch.BaselineHi = stats.Wilson(b.Events, b.Exposure, z)
	ch.CandidateLo, ch.CandidateHi = t.C2Lo, t.C2Hi
	if t.P1 > 0 {
		ch.Change, ch.ChangeLo, ch.ChangeHi = t.P2/t.P1-1, t.Lo/t.P1, t.Hi/t.P1
	} else if t.P2 > 0 {
		ch.Change, ch.ChangeLo, ch.ChangeHi = 1, 1, 1 // from nothing to something: treat as +100%
	}
}

func judgeRate(ch *Check, b, c Count, mp *MetricPolicy, pol *Policy) {
	ch.NBaseline, ch.NCandidate = b.Exposure, c.Exposure
	if b.Exposure < mp.MinSamples || c.Exposure < mp.MinSamples {
		ch.Status = StatusInsufficient
		ch.Reason = fmt.Sprintf("needs %d per release, has %d/%d", mp.MinSamples, b.Exposure, c.Exposure)
		return
	}
	t := stats.PoissonRateRatio(b.Events, float64(b.Exposure), c.Events, float64(c.Exposure), pol.Confidence)
	ch.Baseline, ch.Candidate, ch.P, ch.Shift = t.R1, t.R2, t.P, t.R2-t.R1
	z := distuv.UnitNormal.Quantile(1 - (1-pol.Confidence)/2)
	poisson := func(c Count) (float64, float64) {
		r, se := float64(c.Events)/float64(c.Exposure), math.Sqrt(float64(c.Events))/float64(c.Exposure)
		return math.Max(0, r-z*se), r + z*se
	}
	ch.BaselineLo, ch.BaselineHi = poisson(b)
	ch.CandidateLo, ch.CandidateHi = poisson(c)
	ch.Change, ch.ChangeLo, ch.ChangeHi = t.Ratio-1, t.Lo-1, fin(t.Hi-1)
}

// adjust applies the policy's multiple-comparison control to the p-values of all judged
// checks (one family: every metric in every stratum) and returns the family size.
func adjust(cs []Check, pol *Policy) int {
	ps := make([]float64, len(cs))
	n := 0
	for i, c := range cs {
		ps[i] = c.P
		if !math.IsNaN(c.P) {
			n++
		}
	}
	var qs []float64
	switch pol.MultipleComparisons {
	case "holm":
		qs = stats.Holm(ps)
	case "none":
		qs = ps
	default:
		qs = stats.BenjaminiHochberg(ps)
	}
	for i := range cs {
		cs[i].Q = qs[i]
	}
	return n
}

func classify(ch *Check, pol *Policy, alpha float64) {
	if ch.Status == StatusInsufficient {
		ch.P, ch.Q = 0, 0
		return
	}
	mp := pol.Metrics[ch.Metric]
	sign := 1.0
	if mp.Direction == "decrease" {
		sign = -1
	}
	bad := sign*ch.Shift > 0
	beyond := bad && sign*ch.Change > mp.Tolerance && sign*ch.Shift > mp.MinDelta
	half := bad && sign*ch.Change > mp.Tolerance/2 && sign*ch.Shift > mp.MinDelta/2
	sig := ch.Q < alpha
	switch {
	case sig && beyond:
		ch.Status = StatusFail
		ch.Reason = fmt.Sprintf("significant %s beyond tolerance %s", mp.Direction, pct(mp.Tolerance))
	case sig && half:
		ch.Status = StatusMarginal
		ch.Reason = fmt.Sprintf("significant %s within tolerance %s", mp.Direction, pct(mp.Tolerance))
	case beyond && ch.P < alpha:
		ch.Status = StatusMarginal
		ch.Reason = fmt.Sprintf("%s beyond tolerance, not significant after %s", mp.Direction, pol.MultipleComparisons)
	default:
		ch.Status = StatusPass
		ch.Reason = "no significant regression"
	}
	ch.P, ch.Q = fin(ch.P), fin(ch.Q)
	ch.Change, ch.ChangeLo, ch.ChangeHi = fin(ch.Change), fin(ch.ChangeLo), fin(ch.ChangeHi)
}

// score is the weighted share (0-100) of judged metrics that did not fail (Kayenta's
// canary score): insufficient metrics count neither way.
func score(r *Report, pol *Policy) ([]MetricScore, float64) {
	status := map[string]string{}
	rank := map[string]int{StatusFail: 0, StatusMarginal: 1, StatusPass: 2, StatusInsufficient: 3}
	for _, c := range r.Checks {
		s, ok := status[c.Metric]
		if !ok || rank[c.Status] < rank[s] {
			status[c.Metric] = c.Status
		}
	}
	var ms []MetricScore
	var total, good float64
	for _, def := range metricList {
		mp := pol.Metrics[def.ID]
		s, ok := status[def.ID]
		if mp == nil || !ok {
			continue
		}
		ms = append(ms, MetricScore{Metric: def.ID, Weight: mp.Weight, Critical: mp.Critical, Status: s})
		if s == StatusInsufficient {
			continue
		}
		total += mp.Weight
		if s != StatusFail {
			good += mp.Weight
		}
	}
	if len(r.Compat) > 0 {
		s := StatusPass
		for _, c := range r.Compat {
			if rank[c.Status] < rank[s] {
				s = c.Status
			}
		}
		ms = append(ms, MetricScore{Metric: "compatibility", Weight: pol.Compat.Weight, Critical: pol.Compat.Critical, Status: s})
		total += pol.Compat.Weight
		if s != StatusFail {
			good += pol.Compat.Weight
		}
	}
	if total == 0 {
		return ms, 0
	}
	return ms, math.Round(1000*good/total) / 10
}

func titleOf(id string) string {
	if d, ok := metricDefs[id]; ok {
		return d.Title
	}
	return id
}

func methodName(m string) string {
	switch m {
	case "holm":
		return "Holm-Bonferroni"
	case "none":
		return "no multiple-comparison control"
	}
	return "Benjamini-Hochberg FDR control"
}

func ratio(a, b int64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return float64(a) / float64(b)
}

func fin(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	return x
}

func hash(s string) uint64 { // FNV-1a
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}
