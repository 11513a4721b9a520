package enrich

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/fleetlens/fleetlens/collector/store"
	"github.com/fleetlens/fleetlens/sdk-hooks/nqe"
	"github.com/fleetlens/fleetlens/sdk-hooks/semconv"
	"github.com/fleetlens/fleetlens/sdk-hooks/vitals"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// Logs converts ld (scrubbing it in place) into event rows for app.
func (e *Enricher) Logs(app string, ld plog.Logs, now time.Time) ([]store.EventRow, Rejects) {
	var rej Rejects
	rows := make([]store.EventRow, 0, ld.LogRecordCount())
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		ri := e.resource(rl.Resource().Attributes())
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			sl := sls.At(j)
			scope := sl.Scope().Name()
			lrs := sl.LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				rows = appendRow(rows, &rej, &ri, func(r *store.EventRow) (string, error) {
					return e.record(r, app, &ri, scope, lrs.At(k), now)
				}, func(err error) string {
					return fmt.Sprintf("log record %d of scope %q: %v", k, scope, err)
				})
			}
		}
	}
	return rows, rej
}

func (e *Enricher) record(r *store.EventRow, app string, ri *resourceInfo, scope string, lr plog.LogRecord, now time.Time) (string, error) {
	t := lr.Timestamp()
	if t == 0 {
		t = lr.ObservedTimestamp()
	}
	if t == 0 {
		return ReasonTimestamp, fmt.Errorf("neither time_unix_nano nor observed_time_unix_nano is set")
	}
	if err := e.checkTime(t.AsTime(), now); err != nil {
		return ReasonTimestamp, err
	}
	attrs := lr.Attributes()
	if n := countAttrs(attrs, e.cfg.MaxAttributes); n > e.cfg.MaxAttributes {
		return ReasonAttributes, fmt.Errorf("more than %d attributes", e.cfg.MaxAttributes)
	}
	e.scrub.Map(attrs)
	var err error
	if r.Attributes, err = appendMap(make([]byte, 0, 256), attrs, 0); err != nil {
		return ReasonUTF8, fmt.Errorf("attribute: %w", err)
	}
	body := lr.Body()
	if body.Type() == pcommon.ValueTypeStr {
		r.Body = e.scrub.String(body.Str())
		if err := checkString(r.Body); err != nil {
			return ReasonUTF8, fmt.Errorf("body: %w", err)
		}
	} else if body.Type() != pcommon.ValueTypeEmpty {
		e.scrub.Value(body)
		b, err := appendValue(nil, body, 0)
		if err != nil {
			return ReasonUTF8, fmt.Errorf("body: %w", err)
		}
		r.Body = string(b)
	}
	r.Name = lr.EventName()
	if r.Name == "" {
		r.Name = str(attrs, semconv.EventName)
	}
	if len(r.Name) > MaxDimension {
		return ReasonTooLong, fmt.Errorf("event name longer than %d bytes", MaxDimension)
	}
	r.SeverityText = lr.SeverityText()
	for _, s := range []string{r.Name, r.SeverityText, scope} {
		if err := checkString(s); err != nil {
			return ReasonUTF8, err
		}
	}

	r.Time = t.AsTime()
	r.AppID = app
	r.Severity = int16(lr.SeverityNumber())
	r.TraceID, r.SpanID = lr.TraceID(), lr.SpanID()
	r.Release, r.Model, r.Manufacturer = ri.release, ri.model, ri.manufacturer
	r.OSName, r.OSVersion = ri.osName, ri.osVersion
	r.Tier, r.YearClass = ri.tier, ri.yearClass
	r.Resource, r.ResourceHash, r.Scope, r.ReceivedAt = ri.json, ri.hash, scope, now
	r.SessionID, r.NetType = ri.sessionAndNet(attrs)
	var cur nqe.Estimate
	if est := e.sessions.get(sessionKey(app, r.SessionID, ri.deviceID)); est != nil {
		cur = est.Current()
	}
	r.NetClass = orUnknown(firstNonEmpty(validECT(str(attrs, semconv.NetworkClass)), ri.netClass, string(cur.Type)))
	r.DurationMS = -1
	if d, ok := num(attrs, semconv.HangDurationMs); ok && d >= 0 {
		r.DurationMS = d
	} else if d, ok := num(attrs, semconv.SessionDuration); ok && d >= 0 {
		r.DurationMS = d
	}
	r.Class = classify(r.Name, ri.platform, attrs, r.DurationMS)
	r.RecordHash = recordHash(ri.json, scope, lr, r)
	return "", nil
}

// classify gives app.jank/app.anr/app.hang events their class (SPEC §4, Android vitals:
// slow 16-700 ms, frozen 700 ms-5 s, ANR > 5 s; iOS app hang 2 s).
func classify(name, platform string, attrs pcommon.Map, durMS float64) string {
	d := time.Duration(durMS * float64(time.Millisecond))
	switch name {
	case semconv.EventANR:
		return string(vitals.FrameANR)
	case semconv.EventHang:
		return "hang"
	case semconv.EventJank:
		if durMS >= 0 {
			if platform == "ios" && vitals.IsHang(platform, d) {
				return "hang"
			}
			if c := vitals.ClassifyFrame(d); c != vitals.FrameOK {
				return string(c)
			}
		}
		if n, _ := num(attrs, semconv.FramesFrozen); n > 0 {
			return string(vitals.FrameFrozen)
		}
		if n, _ := num(attrs, semconv.FramesSlow); n > 0 {
			return string(vitals.FrameSlow)
		}
	}
	return ""
}

// recordHash identifies a log record for retry dedupe: a retry resends identical bytes, so
// the hash covers everything the client sent (after scrubbing, which is deterministic).
func recordHash(resource []byte, scope string, lr plog.LogRecord, r *store.EventRow) [16]byte {
	h := sha256.New()
	var buf [8]byte
	w := func(b []byte) {
		binary.LittleEndian.PutUint64(buf[:], uint64(len(b)))
		h.Write(buf[:])
		h.Write(b)
	}
	w(resource)
	w([]byte(scope))
	binary.LittleEndian.PutUint64(buf[:], uint64(lr.Timestamp()))
	h.Write(buf[:])
	binary.LittleEndian.PutUint64(buf[:], uint64(lr.ObservedTimestamp()))
	h.Write(buf[:])
	w([]byte(r.Name))
	w([]byte(r.SeverityText))
	binary.LittleEndian.PutUint64(buf[:], uint64(r.Severity))
	h.Write(buf[:])
	w([]byte(r.Body))
	w(r.Attributes)
	h.Write(r.TraceID[:])
	h.Write(r.SpanID[:])
	var out [16]byte
	copy(out[:], h.Sum(nil))
	return out
}
