package gate

import (
	"slices"
	"time"
)

// Kind is how a metric is measured and therefore which judge applies.
type Kind string

const (
	// Distribution metrics (latencies, start times) are judged by Mann-Whitney U with a
	// Hodges-Lehmann effect, and report bootstrap intervals of p50/p90/p99.
	Distribution Kind = "distribution"
	// Proportion metrics (events out of trials, at most one per trial) use the two-proportion test.
	Proportion Kind = "proportion"
	// Rate metrics (events per session, possibly several) use the Poisson rate-ratio test.
	Rate Kind = "rate"
)

// MetricDef describes one judged metric; the policy supplies its weight and tolerance.
type MetricDef struct {
	ID, Title, Unit string
	Kind            Kind
	Of              string // what a trial/exposure is, for reports: "requests", "sessions", ...
}

var metricList = []MetricDef{
	{ID: "request_ttfb", Title: "Request TTFB", Unit: "ms", Kind: Distribution, Of: "requests"},
	{ID: "request_duration", Title: "Request total time", Unit: "ms", Kind: Distribution, Of: "requests"},
	{ID: "request_error_rate", Title: "Request error rate", Kind: Proportion, Of: "requests"},
	{ID: "cold_start", Title: "Cold start", Unit: "ms", Kind: Distribution, Of: "cold starts"},
	{ID: "warm_start", Title: "Warm start", Unit: "ms", Kind: Distribution, Of: "warm starts"},
	{ID: "slow_frame_rate", Title: "Slow frames per session", Kind: Rate, Of: "sessions"},
	{ID: "frozen_frame_rate", Title: "Frozen frames per session", Kind: Rate, Of: "sessions"},
	{ID: "anr_rate", Title: "ANR rate", Kind: Proportion, Of: "sessions"},
	{ID: "crash_rate", Title: "Crash rate", Kind: Proportion, Of: "sessions"},
	{ID: "crash_free_sessions", Title: "Crash-free sessions", Kind: Proportion, Of: "sessions"},
}

var metricDefs = func() map[string]MetricDef {
	m := map[string]MetricDef{}
	for _, d := range metricList {
		m[d.ID] = d
	}
	return m
}()

// MetricIDs lists the metrics the gate knows, in report order.
func MetricIDs() []string {
	ids := make([]string, len(metricList))
	for i, d := range metricList {
		ids[i] = d.ID
	}
	return ids
}

// Key names a stratum: a dimension and its value ("net_tier" / "3g × low").
type Key struct{ Dim, Value string }

// Overall is the stratum of the whole release.
var Overall = Key{DimOverall, "all"}

func (k Key) String() string {
	if k.Dim == DimOverall {
		return "overall"
	}
	return k.Value
}

// Count is a numerator over an exposure (crashes over sessions, errors over requests).
type Count struct{ Events, Exposure int64 }

// StratumData is what one release measured in one stratum.
type StratumData struct {
	Counts  map[string]Count     // proportion and rate metrics
	Samples map[string][]float64 // distribution metrics: a uniform sample of the values
	N       map[string]int64     // distribution metrics: how many values exist (>= len(sample))
}

func newStratum() *StratumData {
	return &StratumData{Counts: map[string]Count{}, Samples: map[string][]float64{}, N: map[string]int64{}}
}

// ReleaseData is one release's field data as the gate judges it.
type ReleaseData struct {
	Release   string
	Sessions  int64     // sessions started in the judged window
	FirstSeen time.Time // earliest event time in the judged window
	LastSeen  time.Time // latest event time of any data (also past the window)
	FirstAny  time.Time // earliest event time of any data
	Strata    map[Key]*StratumData
	// Arrival delays (received - event time) of a sample of the release's data, in seconds:
	// the release's arrival curve.
	Delays []float64
	// Late counts rows whose event time is past the judged window (still arriving).
	Late int64
}

// Stratum returns the data of k, creating it.
func (r *ReleaseData) Stratum(k Key) *StratumData {
	if r.Strata == nil {
		r.Strata = map[Key]*StratumData{}
	}
	s := r.Strata[k]
	if s == nil {
		s = newStratum()
		r.Strata[k] = s
	}
	return s
}

func (r *ReleaseData) keys() []Key {
	ks := make([]Key, 0, len(r.Strata))
	for k := range r.Strata {
		ks = append(ks, k)
	}
	return ks
}

// CompatCell is the farm's results for one (model, OS version) and release.
type CompatCell struct {
	Model, OSVersion string
	Passed, Failed   int64
	Flaky            int64    // tests that passed only on retry
	Crashes, ANRs    int64    // crashes / ANRs seen on the device during the tests
	FailedTests      []string // names of failing tests
}

// Input is everything one gate run judges.
type Input struct {
	App                 string
	Baseline, Candidate ReleaseData
	// Compat holds farm results per release (nil when the farm has none).
	CompatBaseline, CompatCandidate []CompatCell
	Now                             time.Time
	Horizon                         time.Time     // data with event time after this was not judged
	ArrivalDelay                    time.Duration // completeness-quantile arrival delay (max of both releases)
}

// Verdicts.
const (
	Pass         = "pass"
	Marginal     = "marginal"
	Fail         = "fail"
	Inconclusive = "inconclusive"
)

// Statuses of a single check.
const (
	StatusFail         = "fail"
	StatusMarginal     = "marginal"
	StatusPass         = "pass"
	StatusInsufficient = "insufficient"
)

// Report is the gate's result: the verdict, why, and every check behind it. It is what the
// renderers print and what is stored for the TUI and dashboards.
type Report struct {
	App         string           `json:"app"`
	Candidate   string           `json:"candidate"`
	Baseline    string           `json:"baseline"`
	Verdict     string           `json:"verdict"`
	ExitCode    int              `json:"exit_code"`
	Score       float64          `json:"score"`
	Summary     string           `json:"summary"`
	GeneratedAt time.Time        `json:"generated_at"`
	Method      Method           `json:"method"`
	Data        DataSummary      `json:"data"`
	Guardrails  []GuardrailCheck `json:"guardrails"`
	Checks      []Check          `json:"checks"`
	Compat      []CompatCheck    `json:"compat"`
	Metrics     []MetricScore    `json:"metrics"`
}

// Method records how the verdict was reached, so a report explains itself.
type Method struct {
	Confidence          float64 `json:"confidence"`
	IQRFactor           float64 `json:"iqr_factor"`
	MultipleComparisons string  `json:"multiple_comparisons"`
	Tests               int     `json:"tests"` // size of the corrected family
	BootstrapResamples  int     `json:"bootstrap_resamples"`
	ScorePass           float64 `json:"score_pass"`
	ScoreMarginal       float64 `json:"score_marginal"`
}

// DataSummary says how much data was judged and whether more is on its way.
type DataSummary struct {
	BaselineSessions  int64      `json:"baseline_sessions"`
	CandidateSessions int64      `json:"candidate_sessions"`
	Horizon           time.Time  `json:"horizon"`
	ArrivalDelay      string     `json:"arrival_delay"`
	ArrivalQuantile   float64    `json:"arrival_quantile"`
	CandidateLate     int64      `json:"candidate_late"`
	WaitUntil         *time.Time `json:"wait_until,omitempty"`
	Note              string     `json:"note,omitempty"`
}

// Check is one metric judged in one stratum.
type Check struct {
	Metric    string  `json:"metric"`
	Title     string  `json:"title"`
	Kind      Kind    `json:"kind"`
	Unit      string  `json:"unit,omitempty"`
	Dim       string  `json:"dim"`
	Stratum   string  `json:"stratum"`
	Status    string  `json:"status"`
	Baseline  float64 `json:"baseline"`  // median for distributions, the rate otherwise
	Candidate float64 `json:"candidate"` // same
	Change    float64 `json:"change"`    // relative change candidate vs baseline (HL shift / baseline median)
	ChangeLo  float64 `json:"change_lo"` // its confidence interval
	ChangeHi  float64 `json:"change_hi"`
	Shift     float64 `json:"shift"` // absolute change (HL shift, rate difference)
	// Rates only: each release's own confidence interval (Wilson; Poisson normal approx).
	BaselineLo  float64 `json:"baseline_lo,omitempty"`
	BaselineHi  float64 `json:"baseline_hi,omitempty"`
	CandidateLo float64 `json:"candidate_lo,omitempty"`
	CandidateHi float64 `json:"candidate_hi,omitempty"`
	P           float64 `json:"p"`
	Q           float64 `json:"q"` // p after multiple-comparison control
	NBaseline   int64   `json:"n_baseline"`
	NCandidate  int64   `json:"n_candidate"`
	// Percentiles of distributions with bootstrap intervals of their relative change.
	Percentiles []Percentile `json:"percentiles,omitempty"`
	Reason      string       `json:"reason"`

	// raw samples for charts (not serialised)
	base, cand []float64
}

// Percentile is one quantile of a distribution metric, baseline vs candidate.
type Percentile struct {
	P         float64 `json:"p"`
	Baseline  float64 `json:"baseline"`
	Candidate float64 `json:"candidate"`
	Change    float64 `json:"change"`
	Lo        float64 `json:"lo"`
	Hi        float64 `json:"hi"`
}

// GuardrailCheck is an absolute Android-vitals threshold applied to the candidate.
type GuardrailCheck struct {
	Metric    string  `json:"metric"`
	Stratum   string  `json:"stratum"`
	Threshold float64 `json:"threshold"`
	Rate      float64 `json:"rate"`
	Lo        float64 `json:"lo"`
	Hi        float64 `json:"hi"`
	Events    int64   `json:"events"`
	Sessions  int64   `json:"sessions"`
	Status    string  `json:"status"`
}

// CompatCheck is the farm's verdict on one (model, OS version).
type CompatCheck struct {
	Model       string   `json:"model"`
	OSVersion   string   `json:"os_version"`
	Status      string   `json:"status"`
	BasePass    float64  `json:"baseline_pass_rate"`
	CandPass    float64  `json:"candidate_pass_rate"`
	NewFailures []string `json:"new_failures,omitempty"`
	NewCrashes  int64    `json:"new_crashes"`
	FlakyRate   float64  `json:"flaky_rate"`
	Reason      string   `json:"reason"`
}

// MetricScore is a metric's contribution to the weighted score.
type MetricScore struct {
	Metric   string  `json:"metric"`
	Weight   float64 `json:"weight"`
	Critical bool    `json:"critical"`
	Status   string  `json:"status"`
}

func sortChecks(cs []Check) {
	rank := map[string]int{StatusFail: 0, StatusMarginal: 1, StatusPass: 2, StatusInsufficient: 3}
	order := map[string]int{}
	for i, d := range metricList {
		order[d.ID] = i
	}
	dimOrder := map[string]int{DimOverall: 0, DimNetTier: 1, DimModel: 2, DimOS: 3}
	slices.SortStableFunc(cs, func(a, b Check) int {
		if d := rank[a.Status] - rank[b.Status]; d != 0 {
			return d
		}
		if d := order[a.Metric] - order[b.Metric]; d != 0 {
			return d
		}
		if d := dimOrder[a.Dim] - dimOrder[b.Dim]; d != 0 {
			return d
		}
		if a.Stratum < b.Stratum {
			return -1
		}
		if a.Stratum > b.Stratum {
			return 1
		}
		return 0
	})
}
