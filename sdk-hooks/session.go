package sdkhooks

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"sync/atomic"
	"time"

	sc "github.com/fleetlens/fleetlens/sdk-hooks/semconv"
	"github.com/fleetlens/fleetlens/sdk-hooks/vitals"
	"go.opentelemetry.io/otel/attribute"
	otellog "go.opentelemetry.io/otel/log"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

type session struct {
	id      string
	sampled bool
	start   time.Time
	ended   atomic.Bool

	frames, slow, frozen, anr atomic.Int64
}

// sampledFor decides a session's fate from its id alone, so any component seeing the id
// (the SDK after a restart, the collector) reaches the same decision.
func sampledFor(id string, ratio float64) bool {
	if ratio >= 1 {
		return true
	}
	b, err := hex.DecodeString(id)
	if err != nil || len(b) < 8 {
		return true
	}
	v := binary.BigEndian.Uint64(b[:8]) >> 11 // 53 bits, exact in a float64
	return float64(v)/float64(uint64(1)<<53) < ratio
}

// SessionID returns the current session's id.
func (s *SDK) SessionID() string {
	if ss := s.sess.Load(); ss != nil {
		return ss.id
	}
	return ""
}

// SessionSampled reports whether the current session's spans and events are kept.
func (s *SDK) SessionSampled() bool {
	ss := s.sess.Load()
	return ss != nil && ss.sampled
}

// StartSession ends the current session (if any) and starts a new one, returning its id.
func (s *SDK) StartSession() string {
	defer s.guard("StartSession")
	s.sessMu.Lock()
	defer s.sessMu.Unlock()
	s.endSessionLocked()
	ss := &session{id: randomHex(16), start: time.Now()}
	ss.sampled = sampledFor(ss.id, s.cfg.SessionSampleRatio)
	s.sess.Store(ss)
	attrs := []attribute.KeyValue{attribute.Float64(sc.SessionSampleRatio, s.cfg.SessionSampleRatio)}
	attrs = append(attrs, s.dropAttrs(ss)...)
	s.emit(ss, sc.EventSessionStart, otellog.SeverityInfo, time.Time{}, attrs...)
	return ss.id
}

// EndSession ends the current session with its frame summary. A new session begins only
// with StartSession (the platform calls it when the app returns from a long background).
func (s *SDK) EndSession() {
	defer s.guard("EndSession")
	s.sessMu.Lock()
	defer s.sessMu.Unlock()
	s.endSessionLocked()
}

func (s *SDK) endSessionLocked() {
	ss := s.sess.Load()
	if ss == nil || !ss.ended.CompareAndSwap(false, true) {
		return
	}
	attrs := []attribute.KeyValue{
		attribute.Int64(sc.SessionDuration, time.Since(ss.start).Milliseconds()),
		attribute.Int64(sc.FramesTotal, ss.frames.Load()),
		attribute.Int64(sc.FramesSlow, ss.slow.Load()),
		attribute.Int64(sc.FramesFrozen, ss.frozen.Load()),
	}
	attrs = append(attrs, s.dropAttrs(ss)...)
	s.emit(ss, sc.EventSessionEnd, otellog.SeverityInfo, time.Time{}, attrs...)
}

// dropAttrs reports, once, how much telemetry the queue discarded and why.
func (s *SDK) dropAttrs(ss *session) []attribute.KeyValue {
	if !ss.sampled {
		return nil // keep the counts for a session whose events are sent
	}
	var out []attribute.KeyValue
	for reason, n := range s.q.TakeUnreported() {
		out = append(out, attribute.Int64("fleetlens.sdk.dropped."+reason, n))
	}
	return out
}

// alwaysKept are events sent even for sessions not sampled (SPEC/issue: crashes and ANRs
// always kept; an iOS hang is the iOS ANR).
func alwaysKept(event string) bool {
	return event == sc.EventCrash || event == sc.EventANR || event == sc.EventHang
}

// emit sends one OTLP log event tagged with the session and network.
func (s *SDK) emit(ss *session, event string, sev otellog.Severity, ts time.Time, attrs ...attribute.KeyValue) {
	if s.closed.Load() || ss == nil || (!ss.sampled && !alwaysKept(event)) {
		return
	}
	var r otellog.Record
	if ts.IsZero() {
		ts = time.Now()
	}
	r.SetEventName(event)
	r.SetTimestamp(ts)
	r.SetObservedTimestamp(time.Now())
	r.SetSeverity(sev)
	r.SetSeverityText(strings.ToUpper(sev.String()))
	r.AddAttributes(
		attribute.String(sc.EventName, event),
		attribute.String(sc.SessionID, ss.id),
		attribute.Bool(sc.SessionSampled, ss.sampled),
	)
	r.AddAttributes(s.net.Load().attrs()...)
	r.AddAttributes(attrs...)
	s.logger.Emit(context.Background(), r)
}

// sessionSampler keeps or drops every span of a session together.
type sessionSampler struct{ s *SDK }

func (p sessionSampler) ShouldSample(params sdktrace.SamplingParameters) sdktrace.SamplingResult {
	psc := trace.SpanContextFromContext(params.ParentContext)
	ss := p.s.sess.Load()
	if ss != nil && ss.sampled {
		return sdktrace.SamplingResult{Decision: sdktrace.RecordAndSample, Tracestate: psc.TraceState()}
	}
	return sdktrace.SamplingResult{Decision: sdktrace.Drop, Tracestate: psc.TraceState()}
}

func (sessionSampler) Description() string { return "fleetlens/session" }

// frame bookkeeping shared by lifecycle.go.
func (ss *session) countFrame(c vitals.FrameClass) {
	ss.frames.Add(1)
	switch c {
	case vitals.FrameSlow:
		ss.slow.Add(1)
	case vitals.FrameFrozen:
		ss.frozen.Add(1)
	case vitals.FrameANR:
		ss.anr.Add(1)
	}
}
