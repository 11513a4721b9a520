// Package nqe owns on-device network quality estimation: the effective connection type
// derived from measured HTTP round-trip times (Chromium's Network Quality Estimator) and the
// throughput class (Facebook network-connection-class), plus an Estimator that smooths
// request samples and changes class only with hysteresis so that one slow request does not
// flip a session between classes. It is pure and has no dependencies, so the collector can
// reuse the same classification on the server side.
package nqe

import (
	"math"
	"sync"
	"time"
)

// EffectiveType is Chromium's effective connection type.
type EffectiveType string

const (
	ECTUnknown EffectiveType = "unknown"
	ECTSlow2G  EffectiveType = "slow-2g"
	ECT2G      EffectiveType = "2g"
	ECT3G      EffectiveType = "3g"
	ECT4G      EffectiveType = "4g"
)

// HTTP RTT thresholds of the effective connection types (SPEC §4, Chromium
// net/nqe/network_quality_estimator_params.cc: kTypicalHttpRttEffectiveConnectionType
// thresholds slow-2g 2010 ms, 2g 1420 ms, 3g 272 ms).
const (
	RTTSlow2G = 2010 * time.Millisecond
	RTT2G     = 1420 * time.Millisecond
	RTT3G     = 272 * time.Millisecond
)

// ClassifyRTT maps an HTTP round-trip time (request sent to response headers) to an
// effective connection type. Non-positive RTTs are not measurements and give ECTUnknown.
func ClassifyRTT(rtt time.Duration) EffectiveType {
	switch {
	case rtt <= 0:
		return ECTUnknown
	case rtt >= RTTSlow2G:
		return ECTSlow2G
	case rtt >= RTT2G:
		return ECT2G
	case rtt >= RTT3G:
		return ECT3G
	default:
		return ECT4G
	}
}

// ThroughputClass is Facebook network-connection-class's ConnectionQuality.
type ThroughputClass string

const (
	TPUnknown   ThroughputClass = "unknown"
	TPPoor      ThroughputClass = "poor"
	TPModerate  ThroughputClass = "moderate"
	TPGood      ThroughputClass = "good"
	TPExcellent ThroughputClass = "excellent"
)

// Throughput class boundaries in kbps (SPEC §4, Facebook network-connection-class
// ConnectionClassManager: DEFAULT_POOR_BANDWIDTH 150, DEFAULT_MODERATE_BANDWIDTH 550,
// DEFAULT_GOOD_BANDWIDTH 2000).
const (
	KbpsPoor     = 150.0
	KbpsModerate = 550.0
	KbpsGood     = 2000.0
)

// ClassifyKbps maps a throughput in kilobits per second to its class. Boundaries belong
// to the upper class (150 kbps is moderate), as in ConnectionClassManager.mapToConnectionClass.
func ClassifyKbps(kbps float64) ThroughputClass {
	switch {
	case !(kbps > 0) || math.IsInf(kbps, 0):
		return TPUnknown
	case kbps < KbpsPoor:
		return TPPoor
	case kbps < KbpsModerate:
		return TPModerate
	case kbps < KbpsGood:
		return TPGood
	default:
		return TPExcellent
	}
}

// Estimator defaults (SPEC §4, Facebook network-connection-class ConnectionClassManager:
// DEFAULT_SAMPLES_TO_QUALITY_CHANGE 5, DEFAULT_HYSTERESIS_PERCENT 20; ExponentialGeometricAverage
// with DEFAULT_DECAY_CONSTANT 0.05; BANDWIDTH_LOWER_BOUND 10 kbps discards idle transfers).
const (
	DefaultSamplesToChange = 5
	DefaultHysteresis      = 0.20
	DefaultDecay           = 0.05
	MinKbpsSample          = 10.0
)

// MinTransferBytes is the smallest body worth a throughput sample: smaller transfers are
// dominated by RTT and read as absurd bandwidth (Chromium net/nqe/throughput_analyzer.cc
// ignores requests under ~32 kB for the same reason). Callers feeding AddTransfer apply it.
const MinTransferBytes = 32_000

// Estimate is the estimator's current view.
type Estimate struct {
	Type       EffectiveType
	Throughput ThroughputClass
	RTT        time.Duration // smoothed HTTP RTT; 0 when no sample yet
	Kbps       float64       // smoothed throughput; 0 when no sample yet
}

// Estimator smooths request samples and reports classes. Safe for concurrent use.
//
// Leaving "unknown" happens on the first sample: there is no earlier estimate to protect,
// and waiting five requests would leave the first requests of every session unclassified.
// After that a class changes only when the smoothed value sits more than the hysteresis
// fraction outside the current class's band for SamplesToChange consecutive samples, all
// pointing at the same new class (the rule of ConnectionClassManager.addBandwidth).
type Estimator struct {
	mu         sync.Mutex
	samples    int
	hysteresis float64
	rtt        metric[EffectiveType]
	tp         metric[ThroughputClass]
}

// NewEstimator returns an estimator with the SPEC §4 defaults.
func NewEstimator() *Estimator {
	return NewEstimatorWith(DefaultSamplesToChange, DefaultHysteresis)
}

// NewEstimatorWith returns an estimator with explicit parameters; out-of-range values fall
// back to the defaults.
func NewEstimatorWith(samplesToChange int, hysteresis float64) *Estimator {
	if samplesToChange < 1 {
		samplesToChange = DefaultSamplesToChange
	}
	if !(hysteresis >= 0 && hysteresis < 1) {
		hysteresis = DefaultHysteresis
	}
	return &Estimator{
		samples:    samplesToChange,
		hysteresis: hysteresis,
		rtt:        metric[EffectiveType]{class: ECTUnknown, unknown: ECTUnknown, bands: rttBands},
		tp:         metric[ThroughputClass]{class: TPUnknown, unknown: TPUnknown, bands: kbpsBands},
	}
}

// AddRTT records one HTTP RTT sample. Non-positive or absurd (> 10 min) values are ignored.
func (e *Estimator) AddRTT(rtt time.Duration) {
	if rtt <= 0 || rtt > 10*time.Minute {
		return
	}
	e.mu.Lock()
	e.rtt.add(float64(rtt)/float64(time.Millisecond), e.samples, e.hysteresis)
	e.mu.Unlock()
}

// AddTransfer records a body download of bytes over d. Transfers slower than 10 kbps are
// treated as idle connections rather than bandwidth (ConnectionClassManager does the same).
func (e *Estimator) AddTransfer(bytes int64, d time.Duration) {
	if bytes <= 0 || d <= 0 {
		return
	}
	kbps := float64(bytes) * 8 / 1000 / d.Seconds()
	if kbps < MinKbpsSample || math.IsInf(kbps, 0) || math.IsNaN(kbps) {
		return
	}
	e.mu.Lock()
	e.tp.add(kbps, e.samples, e.hysteresis)
	e.mu.Unlock()
}

// Current returns the current estimate.
func (e *Estimator) Current() Estimate {
	e.mu.Lock()
	defer e.mu.Unlock()
	return Estimate{
		Type:       e.rtt.class,
		Throughput: e.tp.class,
		RTT:        time.Duration(e.rtt.avg.value() * float64(time.Millisecond)),
		Kbps:       e.tp.avg.value(),
	}
}

// band is the half-open interval [lo, hi) of a class's smoothed values.
type band[C comparable] struct {
	class  C
	lo, hi float64
}

var rttBands = []band[EffectiveType]{
	{ECT4G, 0, ms(RTT3G)},
	{ECT3G, ms(RTT3G), ms(RTT2G)},
	{ECT2G, ms(RTT2G), ms(RTTSlow2G)},
	{ECTSlow2G, ms(RTTSlow2G), math.Inf(1)},
}

var kbpsBands = []band[ThroughputClass]{
	{TPPoor, 0, KbpsPoor},
	{TPModerate, KbpsPoor, KbpsModerate},
	{TPGood, KbpsModerate, KbpsGood},
	{TPExcellent, KbpsGood, math.Inf(1)},
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

type metric[C comparable] struct {
	avg     geoAverage
	class   C
	unknown C
	bands   []band[C]
	next    C
	streak  int
}

func (m *metric[C]) classify(v float64) C {
	for _, b := range m.bands {
		if v >= b.lo && v < b.hi {
			return b.class
		}
	}
	return m.unknown
}

func (m *metric[C]) add(v float64, samplesToChange int, hysteresis float64) {
	m.avg.add(v)
	cur := m.avg.value()
	if m.class == m.unknown {
		m.class = m.classify(cur)
		return
	}
	cand := m.classify(cur)
	if cand == m.class || !m.outside(cur, hysteresis) {
		m.streak = 0
		return
	}
	if cand != m.next {
		m.next, m.streak = cand, 0
	}
	m.streak++
	if m.streak >= samplesToChange {
		m.class, m.streak = cand, 0
	}
}

// outside reports whether v lies beyond the current band widened by the hysteresis fraction.
func (m *metric[C]) outside(v, h float64) bool {
	for _, b := range m.bands {
		if b.class == m.class {
			return v < b.lo*(1-h) || v > b.hi*(1+h)
		}
	}
	return true
}

// geoAverage is ConnectionClassManager's ExponentialGeometricAverage: a plain geometric
// mean for the first 1/decay samples, then an exponentially weighted geometric mean, so a
// single stalled request moves the estimate multiplicatively rather than dominating it.
type geoAverage struct {
	n   int
	avg float64 // in log space
}

func (g *geoAverage) add(v float64) {
	lv := math.Log(v)
	cutover := int(math.Ceil(1 / DefaultDecay))
	if g.n < cutover {
		g.avg = (g.avg*float64(g.n) + lv) / float64(g.n+1)
	} else {
		g.avg = (1-DefaultDecay)*g.avg + DefaultDecay*lv
	}
	g.n++
}

func (g *geoAverage) value() float64 {
	if g.n == 0 {
		return 0
	}
	return math.Exp(g.avg)
}
