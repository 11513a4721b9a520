// Package device owns the classification of a phone's hardware into a performance tier and
// a year class (SPEC §4). It is pure and dependency-free so the collector can derive the
// same values for data that arrives from other OpenTelemetry SDKs.
package device

import "strings"

// Platform of a device.
type Platform string

const (
	Android Platform = "android"
	IOS     Platform = "ios"
)

// Profile is the hardware a device reports at SDK start. Zero fields mean "not known".
type Profile struct {
	Platform     Platform
	Manufacturer string
	Model        string // model identifier: ro.product.model or hw.machine ("iPhone14,5")
	ModelName    string // marketing name
	OSVersion    string
	RAMMB        int // total physical memory in MiB
	CPUCores     int
	CPUMaxMHz    int // the fastest core's maximum clock
}

// Tier is a device performance class.
type Tier string

const (
	TierUnknown Tier = "unknown"
	TierLow     Tier = "low"
	TierMid     Tier = "mid"
	TierHigh    Tier = "high"
)

// Tier thresholds (SPEC §4, Sentry's device classes, sentry-java/sentry-cocoa
// DeviceClass: Android low below 4 GiB RAM or 8 cores, mid below a 2500 MHz fastest core;
// iOS low below a 2000 MHz CPU, mid below 6 cores).
const (
	AndroidLowRAMMB  = 4096
	AndroidLowCores  = 8
	AndroidMidMaxMHz = 2500
	IOSLowMaxMHz     = 2000
	IOSMidCores      = 6
)

// Tier classifies p. Missing figures needed by a rule give TierUnknown rather than a guess.
func (p Profile) Tier() Tier {
	switch Platform(strings.ToLower(string(p.Platform))) {
	case Android:
		if p.RAMMB <= 0 || p.CPUCores <= 0 {
			return TierUnknown
		}
		if p.RAMMB < AndroidLowRAMMB || p.CPUCores < AndroidLowCores {
			return TierLow
		}
		if p.CPUMaxMHz <= 0 {
			return TierUnknown
		}
		if p.CPUMaxMHz < AndroidMidMaxMHz {
			return TierMid
		}
		return TierHigh
	case IOS:
		if p.CPUMaxMHz <= 0 {
			return TierUnknown
		}
		if p.CPUMaxMHz < IOSLowMaxMHz {
			return TierLow
		}
		if p.CPUCores <= 0 {
			return TierUnknown
		}
		if p.CPUCores < IOSMidCores {
			return TierMid
		}
		return TierHigh
	}
	return TierUnknown
}

// YearClass is the year in which a device with these specs would have been high end,
// by RAM (SPEC §4, Facebook device-year-class YearClass.categorizeByYear2016Method: <= 768 MB
// 2010, <= 1 GB 2011 or 2012 split at a 1300 MHz CPU, <= 1.5 GB 2012 or 2013 split at
// 1800 MHz, <= 2 GB 2013, <= 3 GB 2014, <= 5 GB 2015, else 2016). 0 when RAM is unknown.
// (The upstream method returns 2009 for single-core phones under 768 MB; the spec table
// says 2010 and no such phone runs a supported OS, so 2010 it is.)
func (p Profile) YearClass() int {
	ram := p.RAMMB
	switch {
	case ram <= 0:
		return 0
	case ram <= 768:
		return 2010
	case ram <= 1024:
		if p.CPUMaxMHz > 0 && p.CPUMaxMHz < 1300 {
			return 2011
		}
		return 2012
	case ram <= 1536:
		if p.CPUMaxMHz > 0 && p.CPUMaxMHz < 1800 {
			return 2012
		}
		return 2013
	case ram <= 2048:
		return 2013
	case ram <= 3*1024:
		return 2014
	case ram <= 5*1024:
		return 2015
	default:
		return 2016
	}
}
