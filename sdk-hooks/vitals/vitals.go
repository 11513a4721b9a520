// Package vitals owns the classification of app responsiveness measurements: frame
// durations into slow/frozen frames and ANRs, main-thread stalls into iOS hangs, and app
// start durations into excessive starts (SPEC §4). Pure and dependency-free; the collector
// uses the same rules for data from other SDKs.
package vitals

import "time"

// Frame thresholds (SPEC §4, Android vitals "Slow rendering" and "Frozen frames": a slow
// frame takes more than 16 ms, a frozen frame 700 ms or more; an input-dispatch stall of
// more than 5 s is an ANR).
const (
	SlowFrame   = 16 * time.Millisecond
	FrozenFrame = 700 * time.Millisecond
	ANR         = 5 * time.Second
)

// IOSHang is the main-run-loop stall that iOS reports as an app hang (SPEC §4, Apple
// "Understanding hangs in your app"/MetricKit: 250 ms is a micro-hang, 2 s and more a hang).
const IOSHang = 2 * time.Second

// FrameClass is the class of one rendered frame.
type FrameClass string

const (
	FrameOK     FrameClass = "ok"
	FrameSlow   FrameClass = "slow"
	FrameFrozen FrameClass = "frozen"
	FrameANR    FrameClass = "anr"
)

// ClassifyFrame classifies the wall time one frame (or one main-thread stall) took.
func ClassifyFrame(d time.Duration) FrameClass {
	switch {
	case d > ANR:
		return FrameANR
	case d >= FrozenFrame:
		return FrameFrozen
	case d > SlowFrame:
		return FrameSlow
	default:
		return FrameOK
	}
}

// IsHang reports whether a main-thread stall counts as an app hang on platform ("ios"
// uses the 2 s hang rule; everything else the 5 s ANR rule).
func IsHang(platform string, stall time.Duration) bool {
	if platform == "ios" {
		return stall >= IOSHang
	}
	return stall > ANR
}

// FrameCounts accumulates frame classes for a session or a screen.
type FrameCounts struct {
	Total, Slow, Frozen, ANR int64
}

// Add classifies d and counts it; it returns the class.
func (c *FrameCounts) Add(d time.Duration) FrameClass {
	fc := ClassifyFrame(d)
	c.Total++
	switch fc {
	case FrameSlow:
		c.Slow++
	case FrameFrozen:
		c.Frozen++
	case FrameANR:
		c.ANR++
	}
	return fc
}

// StartType is how the app process came to the foreground.
type StartType string

const (
	StartCold StartType = "cold"
	StartWarm StartType = "warm"
	StartHot  StartType = "hot"
)

// Excessive-start thresholds (SPEC §4, Android vitals "App startup time": cold >= 5 s,
// warm >= 2 s, hot >= 1.5 s).
const (
	ExcessiveCold = 5 * time.Second
	ExcessiveWarm = 2 * time.Second
	ExcessiveHot  = 1500 * time.Millisecond
)

// ParseStartType accepts "cold", "warm", "hot"; ok is false for anything else.
func ParseStartType(s string) (StartType, bool) {
	switch StartType(s) {
	case StartCold, StartWarm, StartHot:
		return StartType(s), true
	}
	return "", false
}

// IsExcessiveStart reports whether an app start of type t taking d is excessive.
// An unknown type is judged by the most lenient (cold) threshold.
func IsExcessiveStart(t StartType, d time.Duration) bool {
	switch t {
	case StartWarm:
		return d >= ExcessiveWarm
	case StartHot:
		return d >= ExcessiveHot
	default:
		return d >= ExcessiveCold
	}
}
