package sdkhooks

import (
	"context"
	"net/url"
	"strconv"
	"time"

	sc "github.com/fleetlens/fleetlens/sdk-hooks/semconv"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Request is a request made by another HTTP stack (OkHttp EventListener, URLSession
// URLSessionTaskMetrics) reported after the fact. Phase durations are optional; zero
// means "not measured".
type Request struct {
	Method     string
	URL        string
	Start      time.Time
	End        time.Time
	StatusCode int    // 0 when the request failed before a response
	ErrorType  string // e.g. "dns", "timeout"; empty on success
	Source     string // "okhttp", "urlsession", ...

	DNS, Connect, TLS, TTFB, Download time.Duration
	RequestBytes, ResponseBytes       int64
	ConnectionReused                  bool
}

// RecordRequest records r as a client span and feeds the network quality estimator.
// Out-of-range values are clamped rather than refused: a report from the platform is
// better kept with a flaw than lost.
func (s *SDK) RecordRequest(r Request) {
	defer s.guard("RecordRequest")
	if s.closed.Load() {
		return
	}
	if r.End.Before(r.Start) {
		r.Start, r.End = r.End, r.Start
	}
	if r.Start.IsZero() {
		r.Start = time.Now()
		r.End = r.Start
	}
	for _, d := range []*time.Duration{&r.DNS, &r.Connect, &r.TLS, &r.TTFB, &r.Download} {
		if *d < 0 {
			*d = 0
		}
	}
	if r.Source == "" {
		r.Source = "platform"
	}
	s.observe(r.TTFB, r.ResponseBytes, r.Download)
	ss := s.sess.Load()
	if !ss.sampled {
		return
	}
	u, err := url.Parse(r.URL)
	full, host := Redacted, ""
	var port int
	if err == nil {
		full, host = scrubURL(u, s.cfg.KeepURLQuery), u.Hostname()
		port, _ = strconv.Atoi(u.Port())
	}
	kv := []attribute.KeyValue{
		attribute.String(sc.HTTPRequestMethod, methodName(r.Method)),
		attribute.String(sc.URLFull, full),
		attribute.String(sc.ServerAddress, host),
		attribute.String(sc.SessionID, ss.id),
		attribute.String(sc.HTTPSource, r.Source),
		attribute.Int64(sc.HTTPResponseBodySize, r.ResponseBytes),
		attribute.Float64(sc.HTTPTTFBMs, msf(r.TTFB)),
		attribute.Float64(sc.HTTPDownloadMs, msf(r.Download)),
		attribute.Bool(sc.HTTPReusedConn, r.ConnectionReused),
	}
	if port > 0 {
		kv = append(kv, attribute.Int(sc.ServerPort, port))
	}
	if r.StatusCode > 0 {
		kv = append(kv, attribute.Int(sc.HTTPResponseStatusCode, r.StatusCode))
	}
	if r.RequestBytes > 0 {
		kv = append(kv, attribute.Int64(sc.HTTPRequestBodySize, r.RequestBytes))
	}
	for _, p := range [...]struct {
		k string
		d time.Duration
	}{{sc.HTTPDNSMs, r.DNS}, {sc.HTTPConnectMs, r.Connect}, {sc.HTTPTLSMs, r.TLS}} {
		if p.d > 0 {
			kv = append(kv, attribute.Float64(p.k, msf(p.d)))
		}
	}
	errType := r.ErrorType
	if errType == "" && r.StatusCode >= 400 {
		errType = statusString(r.StatusCode)
	}
	if errType != "" {
		kv = append(kv, attribute.String(sc.ErrorType, errType))
	}
	kv = append(kv, s.net.Load().attrs()...)
	_, span := s.tracer.Start(context.Background(), methodName(r.Method),
		trace.WithSpanKind(trace.SpanKindClient), trace.WithTimestamp(r.Start), trace.WithAttributes(kv...))
	if r.ErrorType != "" || r.StatusCode >= 500 {
		span.SetStatus(codes.Error, errType)
	}
	span.End(trace.WithTimestamp(r.End))
}

func msf(d time.Duration) float64 { return float64(d) / 1e6 }
