// Package enrich owns the step between a decoded OTLP request and stored rows: it validates
// each span and log record (rejecting only the bad ones, with a reason), applies the PII
// scrubber, keeps the raw attributes as JSON, and derives the dimensions release managers
// query — release, device model, OS version, effective network class (Chromium NQE RTT
// thresholds), throughput class with per-session hysteresis (Facebook
// network-connection-class), device tier and year class (Sentry device classes, Facebook
// device-year-class), app-start and jank/ANR classification (Android vitals) — using the
// shared classifiers of sdk-hooks so device and server agree.
package enrich

import (
	"crypto/sha256"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/fleetlens/fleetlens/collector/scrub"
	"github.com/fleetlens/fleetlens/sdk-hooks/device"
	"github.com/fleetlens/fleetlens/sdk-hooks/nqe"
	"github.com/fleetlens/fleetlens/sdk-hooks/semconv"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// Config bounds what a single span or record may carry.
type Config struct {
	// MaxAttributes per span, span event, log record or resource, nested values included.
	// OTel SDKs default to 128; 10,000 is an accident or an attack.
	MaxAttributes int
	// MaxSpanDuration rejects spans longer than this (clock jumps, never-ended spans).
	MaxSpanDuration time.Duration
	// Window returns the range of timestamps that can be stored now (the partitions).
	Window func(now time.Time) (oldest, newest time.Time)
	// Sessions bounds the per-session estimators kept in memory.
	Sessions int
	Scrub    scrub.Config
}

// DefaultConfig is a config that accepts a day back and a day ahead.
func DefaultConfig() Config {
	return Config{
		MaxAttributes:   1024,
		MaxSpanDuration: 24 * time.Hour,
		Sessions:        100_000,
		Scrub:           scrub.Defaults(),
		Window: func(now time.Time) (time.Time, time.Time) {
			return now.Add(-24 * time.Hour), now.Add(24 * time.Hour)
		},
	}
}

// Enricher turns decoded OTLP into rows. Safe for concurrent use.
type Enricher struct {
	cfg      Config
	scrub    *scrub.Scrubber
	sessions *sessions
}

// New returns an Enricher.
func New(cfg Config) *Enricher {
	if cfg.MaxAttributes <= 0 {
		cfg.MaxAttributes = 1024
	}
	if cfg.MaxSpanDuration <= 0 {
		cfg.MaxSpanDuration = 24 * time.Hour
	}
	if cfg.Window == nil {
		cfg.Window = DefaultConfig().Window
	}
	return &Enricher{cfg: cfg, scrub: scrub.New(cfg.Scrub), sessions: newSessions(cfg.Sessions)}
}

// Rejects counts rejected items by reason and keeps the first messages for the client.
type Rejects struct {
	Count    int
	ByReason map[string]int
	Messages []string // at most a few, for the OTLP error message
}

// Reject reasons (the "reason" label of the rejected-items counter).
const (
	ReasonTimestamp  = "timestamp"
	ReasonAttributes = "too_many_attributes"
	ReasonUTF8       = "invalid_utf8"
	ReasonID         = "invalid_id"
	ReasonTooLong    = "too_long"
)

// MaxDimension bounds the strings that become rollup keys and index entries (release,
// model, OS, event name): PostgreSQL refuses B-tree entries over ~2.7 kB, and one such row
// would fail a whole batch.
const MaxDimension = 200

func (r *Rejects) add(reason, msg string) {
	if r.ByReason == nil {
		r.ByReason = map[string]int{}
	}
	r.Count++
	r.ByReason[reason]++
	if len(r.Messages) < 3 {
		r.Messages = append(r.Messages, msg)
	}
}

// Message summarises the rejects for an OTLP error message.
func (r *Rejects) Message(total int, what string) string {
	return fmt.Sprintf("%d of %d %s rejected (the others were stored): %s", r.Count, total, what, strings.Join(r.Messages, "; "))
}

// resourceInfo is what every item of one resource shares.
type resourceInfo struct {
	json                               []byte
	hash                               [16]byte
	release, model, manufacturer       string
	osName, osVersion                  string
	session, deviceID                  string
	netType, netSubtype, netClass, tpc string
	tier                               string
	yearClass                          int16
	platform                           string
	err                                error
	reason                             string
}

// sessionAndNet gives a record's session id and connection type: its own attributes win
// over its resource's.
func (ri *resourceInfo) sessionAndNet(attrs pcommon.Map) (session, netType string) {
	if session = firstStr(attrs, semconv.SessionID); session == "" {
		session = ri.session
	}
	if netType = firstStr(attrs, semconv.NetworkConnectionType); netType == "" {
		netType = ri.netType
	}
	return session, netType
}

// appendRow appends the row fill builds in place, or counts why the record was rejected:
// its resource's error first, else fill's, with describe naming the record.
func appendRow[R any](rows []R, rej *Rejects, ri *resourceInfo, fill func(*R) (string, error), describe func(error) string) []R {
	if ri.err != nil {
		rej.add(ri.reason, ri.err.Error())
		return rows
	}
	var zero R
	rows = append(rows, zero)
	if reason, err := fill(&rows[len(rows)-1]); err != nil {
		rej.add(reason, describe(err))
		return rows[:len(rows)-1]
	}
	return rows
}

func str(m pcommon.Map, key string) string {
	if v, ok := m.Get(key); ok {
		if v.Type() == pcommon.ValueTypeStr {
			return v.Str()
		}
		return v.AsString()
	}
	return ""
}

func num(m pcommon.Map, key string) (float64, bool) {
	v, ok := m.Get(key)
	if !ok {
		return 0, false
	}
	switch v.Type() {
	case pcommon.ValueTypeInt:
		return float64(v.Int()), true
	case pcommon.ValueTypeDouble:
		return v.Double(), true
	case pcommon.ValueTypeStr:
		f, err := strconv.ParseFloat(v.Str(), 64)
		return f, err == nil
	}
	return 0, false
}

func firstStr(m pcommon.Map, keys ...string) string {
	for _, k := range keys {
		if s := str(m, k); s != "" {
			return s
		}
	}
	return ""
}

func (e *Enricher) resource(attrs pcommon.Map) resourceInfo {
	var ri resourceInfo
	if n := countAttrs(attrs, e.cfg.MaxAttributes); n > e.cfg.MaxAttributes {
		ri.err = fmt.Errorf("resource has more than %d attributes", e.cfg.MaxAttributes)
		ri.reason = ReasonAttributes
		return ri
	}
	e.scrub.Map(attrs)
	var err error
	if ri.json, err = appendMap(nil, attrs, 0); err != nil {
		ri.err = fmt.Errorf("resource attribute: %w", err)
		ri.reason = ReasonUTF8
		return ri
	}
	sum := sha256.Sum256(ri.json)
	copy(ri.hash[:], sum[:])
	ri.release = str(attrs, semconv.ServiceVersion)
	ri.model = firstStr(attrs, semconv.DeviceModelIdentifier, semconv.DeviceModelName)
	ri.manufacturer = str(attrs, semconv.DeviceManufacturer)
	ri.osName = str(attrs, semconv.OSName)
	ri.osVersion = str(attrs, semconv.OSVersion)
	for _, d := range []string{ri.release, ri.model, ri.manufacturer, ri.osName, ri.osVersion} {
		if len(d) > MaxDimension {
			ri.err = fmt.Errorf("resource attribute value %.40q... longer than %d bytes (service.version, device.*, os.*)", d, MaxDimension)
			ri.reason = ReasonTooLong
			return ri
		}
	}
	ri.session = str(attrs, semconv.SessionID)
	ri.deviceID = str(attrs, semconv.DeviceID)
	ri.netType = str(attrs, semconv.NetworkConnectionType)
	ri.netSubtype = str(attrs, semconv.NetworkConnectionSubtype)
	ri.netClass = validECT(str(attrs, semconv.NetworkClass))
	ri.tpc = validTPC(str(attrs, semconv.NetworkThroughputClass))
	ri.platform = strings.ToLower(str(attrs, semconv.Platform))
	if ri.platform == "" {
		switch strings.ToLower(ri.osName) {
		case "android":
			ri.platform = "android"
		case "ios", "ipados":
			ri.platform = "ios"
		}
	}
	ram, _ := num(attrs, semconv.DeviceRAMMB)
	cores, _ := num(attrs, semconv.DeviceCPUCores)
	mhz, _ := num(attrs, semconv.DeviceCPUMaxMHz)
	p := device.Profile{Platform: device.Platform(ri.platform), Manufacturer: ri.manufacturer,
		Model: ri.model, OSVersion: ri.osVersion, RAMMB: int(ram), CPUCores: int(cores), CPUMaxMHz: int(mhz)}
	ri.tier = string(p.Tier())
	if ri.tier == string(device.TierUnknown) {
		// Derive when we can; otherwise trust what the device classified itself.
		switch t := str(attrs, semconv.DeviceTier); t {
		case "low", "mid", "high":
			ri.tier = t
		}
	}
	if ram > 0 {
		ri.yearClass = int16(p.YearClass())
	} else if yc, ok := num(attrs, semconv.DeviceYearClass); ok && yc > 2000 && yc < 3000 {
		ri.yearClass = int16(yc)
	}
	return ri
}

func validECT(s string) string {
	switch nqe.EffectiveType(s) {
	case nqe.ECTSlow2G, nqe.ECT2G, nqe.ECT3G, nqe.ECT4G:
		return s
	}
	return ""
}

func validTPC(s string) string {
	switch nqe.ThroughputClass(s) {
	case nqe.TPPoor, nqe.TPModerate, nqe.TPGood, nqe.TPExcellent:
		return s
	}
	return ""
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// checkTime says whether t can be stored now.
func (e *Enricher) checkTime(t time.Time, now time.Time) error {
	oldest, newest := e.cfg.Window(now)
	if t.Before(oldest) || !t.Before(newest) {
		return fmt.Errorf("timestamp %s outside the accepted window %s .. %s",
			t.UTC().Format(time.RFC3339Nano), oldest.UTC().Format(time.RFC3339), newest.UTC().Format(time.RFC3339))
	}
	return nil
}

func sessionKey(app, session, deviceID string) string {
	switch {
	case session != "":
		return app + "\x00s\x00" + session
	case deviceID != "":
		return app + "\x00d\x00" + deviceID
	}
	return ""
}
