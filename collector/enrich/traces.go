package enrich

import (
	"fmt"
	"time"

	"github.com/fleetlens/fleetlens/collector/store"
	"github.com/fleetlens/fleetlens/sdk-hooks/nqe"
	"github.com/fleetlens/fleetlens/sdk-hooks/semconv"
	"github.com/fleetlens/fleetlens/sdk-hooks/vitals"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Span categories (spans.category).
const (
	CategoryHTTP     = "http"
	CategoryAppStart = "app_start"
	CategoryOther    = "other"
)

// Traces converts td (scrubbing it in place) into rows for app. Invalid spans are left out
// and counted in the returned Rejects; every other span becomes a row.
func (e *Enricher) Traces(app string, td ptrace.Traces, now time.Time) ([]store.SpanRow, Rejects) {
	var rej Rejects
	rows := make([]store.SpanRow, 0, td.SpanCount())
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		ri := e.resource(rs.Resource().Attributes())
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			ss := sss.At(j)
			scope := ss.Scope().Name()
			spans := ss.Spans()
			for k := 0; k < spans.Len(); k++ {
				sp := spans.At(k)
				rows = appendRow(rows, &rej, &ri, func(r *store.SpanRow) (string, error) {
					return e.span(r, app, &ri, scope, sp, now)
				}, func(err error) string {
					return fmt.Sprintf("span %s/%s: %v", sp.TraceID(), sp.SpanID(), err)
				})
			}
		}
	}
	return rows, rej
}

func (e *Enricher) span(r *store.SpanRow, app string, ri *resourceInfo, scope string, sp ptrace.Span, now time.Time) (string, error) {
	if sp.TraceID().IsEmpty() || sp.SpanID().IsEmpty() {
		return ReasonID, fmt.Errorf("trace_id and span_id must be non-zero")
	}
	start, end := sp.StartTimestamp().AsTime(), sp.EndTimestamp().AsTime()
	if err := e.checkTime(start, now); err != nil {
		return ReasonTimestamp, fmt.Errorf("start time: %w", err)
	}
	if end.Before(start) || end.Sub(start) > e.cfg.MaxSpanDuration {
		return ReasonTimestamp, fmt.Errorf("end time %s is before the start or more than %s after it",
			end.UTC().Format(time.RFC3339Nano), e.cfg.MaxSpanDuration)
	}
	attrs := sp.Attributes()
	if n := countAttrs(attrs, e.cfg.MaxAttributes); n > e.cfg.MaxAttributes {
		return ReasonAttributes, fmt.Errorf("more than %d attributes", e.cfg.MaxAttributes)
	}
	e.scrub.Map(attrs)
	name := e.scrub.SpanName(sp.Name())
	msg := e.scrub.String(sp.Status().Message())
	for _, s := range []string{name, msg, scope} {
		if err := checkString(s); err != nil {
			return ReasonUTF8, err
		}
	}
	var err error
	if r.Attributes, err = appendMap(make([]byte, 0, 256), attrs, 0); err != nil {
		return ReasonUTF8, fmt.Errorf("attribute: %w", err)
	}
	if evs := sp.Events(); evs.Len() > 0 {
		var reason string
		if r.SpanEvents, reason, err = e.spanEvents(evs); err != nil {
			return reason, err
		}
	}

	r.StartTime, r.EndTime = start, end
	dur := end.Sub(start)
	r.DurationMS = float64(dur) / float64(time.Millisecond)
	r.AppID = app
	r.TraceID, r.SpanID, r.ParentSpanID = sp.TraceID(), sp.SpanID(), sp.ParentSpanID()
	r.Name, r.Kind, r.StatusCode, r.StatusMessage = name, int16(sp.Kind()), int16(sp.Status().Code()), msg
	r.Release, r.Model, r.Manufacturer = ri.release, ri.model, ri.manufacturer
	r.OSName, r.OSVersion = ri.osName, ri.osVersion
	r.Tier, r.YearClass = ri.tier, ri.yearClass
	r.Resource, r.ResourceHash, r.Scope, r.ReceivedAt = ri.json, ri.hash, scope, now
	r.SessionID, r.NetType = ri.sessionAndNet(attrs)
	r.NetSubtype = firstStr(attrs, semconv.NetworkConnectionSubtype)
	if r.NetSubtype == "" {
		r.NetSubtype = ri.netSubtype
	}
	if st, ok := num(attrs, semconv.HTTPResponseStatusCode); ok {
		r.HTTPStatus = int32(st)
	} else if st, ok := num(attrs, "http.status_code"); ok { // pre-1.21 semconv
		r.HTTPStatus = int32(st)
	}

	_, hasMethod := attrs.Get(semconv.HTTPRequestMethod)
	if _, old := attrs.Get("http.method"); old {
		hasMethod = true
	}
	startType := str(attrs, semconv.AppStartType)
	switch {
	case sp.Name() == semconv.SpanAppStart || startType != "":
		r.Category = CategoryAppStart
	case hasMethod && sp.Kind() == ptrace.SpanKindClient:
		r.Category = CategoryHTTP
	default:
		r.Category = CategoryOther
	}
	if r.Category == CategoryAppStart {
		t, ok := vitals.ParseStartType(startType)
		if ok {
			r.StartType = string(t)
		}
		r.Slow = vitals.IsExcessiveStart(t, dur)
		if v, ok := attrs.Get(semconv.AppStartExcessive); ok && v.Type() == pcommon.ValueTypeBool {
			r.Slow = r.Slow || v.Bool()
		}
	}
	e.network(r, app, ri, attrs, dur)
	return "", nil
}

// network sets the network classes of a span. An HTTP span is itself a measurement: its
// RTT (time to first byte when the SDK measured phases, else the whole request as an upper
// bound) and its download throughput feed the session's estimator. The device's own
// classification, when sent, wins for the span's class (it saw every request, we may not).
func (e *Enricher) network(r *store.SpanRow, app string, ri *resourceInfo, attrs pcommon.Map, dur time.Duration) {
	r.RTTMS = -1
	est := e.sessions.get(sessionKey(app, r.SessionID, ri.deviceID))
	if r.Category == CategoryHTTP {
		rtt, ok := num(attrs, semconv.HTTPTTFBMs)
		if !ok {
			rtt = float64(dur) / float64(time.Millisecond)
		}
		if rtt > 0 {
			r.RTTMS = rtt
		}
		size, _ := num(attrs, semconv.HTTPResponseBodySize)
		dl, ok := num(attrs, semconv.HTTPDownloadMs)
		if !ok {
			dl = float64(dur) / float64(time.Millisecond)
		}
		if est != nil {
			est.AddRTT(time.Duration(rtt * float64(time.Millisecond)))
			est.AddTransfer(int64(size), time.Duration(dl*float64(time.Millisecond)))
		}
	}
	var cur nqe.Estimate
	if est != nil {
		cur = est.Current()
	} else if r.Category == CategoryHTTP {
		// No session to smooth over: classify this request's own sample.
		if r.RTTMS > 0 {
			cur.Type = nqe.ClassifyRTT(time.Duration(r.RTTMS * float64(time.Millisecond)))
		}
		size, _ := num(attrs, semconv.HTTPResponseBodySize)
		if dl, ok := num(attrs, semconv.HTTPDownloadMs); ok && dl > 0 && size > 0 {
			if kbps := size * 8 / dl; kbps >= nqe.MinKbpsSample { // bytes/ms*8 = kbit/s
				cur.Throughput = nqe.ClassifyKbps(kbps)
			}
		}
	}
	r.NetClass = firstNonEmpty(validECT(str(attrs, semconv.NetworkClass)), ri.netClass, string(cur.Type))
	r.ThroughputClass = firstNonEmpty(validTPC(str(attrs, semconv.NetworkThroughputClass)), ri.tpc, string(cur.Throughput))
	r.NetClass, r.ThroughputClass = orUnknown(r.NetClass), orUnknown(r.ThroughputClass)
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" && v != "unknown" {
			return v
		}
	}
	return ""
}

func (e *Enricher) spanEvents(evs ptrace.SpanEventSlice) ([]byte, string, error) {
	b := make([]byte, 0, 64*evs.Len())
	b = append(b, '[')
	var err error
	for i := 0; i < evs.Len(); i++ {
		ev := evs.At(i)
		if n := countAttrs(ev.Attributes(), e.cfg.MaxAttributes); n > e.cfg.MaxAttributes {
			return nil, ReasonAttributes, fmt.Errorf("span event %d has more than %d attributes", i, e.cfg.MaxAttributes)
		}
		e.scrub.Map(ev.Attributes())
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		if b, err = appendString(b, e.scrub.String(ev.Name())); err != nil {
			return nil, ReasonUTF8, fmt.Errorf("span event name: %w", err)
		}
		b = append(b, `,"time":"`...)
		b = ev.Timestamp().AsTime().UTC().AppendFormat(b, time.RFC3339Nano)
		b = append(b, `","attributes":`...)
		if b, err = appendMap(b, ev.Attributes(), 0); err != nil {
			return nil, ReasonUTF8, fmt.Errorf("span event attribute: %w", err)
		}
		b = append(b, '}')
	}
	return append(b, ']'), "", nil
}
