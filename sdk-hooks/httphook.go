package sdkhooks

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	sc "github.com/fleetlens/fleetlens/sdk-hooks/semconv"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// WrapTransport returns an http.RoundTripper that records every request through base
// (http.DefaultTransport when nil) as a client span with its phases, and feeds the
// network quality estimator.
func (s *SDK) WrapTransport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &Transport{sdk: s, base: base}
}

// Transport is the instrumented RoundTripper.
type Transport struct {
	sdk  *SDK
	base http.RoundTripper
}

// monotonic clock origin: phase stamps are nanoseconds since base, immune to wall-clock jumps.
var clockBase = time.Now()

func mono() int64 { return int64(time.Since(clockBase)) }

// reqState holds one request's phase stamps. States are pooled with their ClientTrace
// (whose hooks are closures over the state) so an instrumented request allocates little.
// Hooks can fire from the transport's dial goroutines, hence atomics; a state whose dial
// may still be running is never pooled, so a late hook cannot touch another request.
type reqState struct {
	t                   *Transport
	trace               httptrace.ClientTrace
	t0                  int64
	dnsStart, dnsDone   atomic.Int64
	connStart, connDone atomic.Int64
	tlsStart, tlsDone   atomic.Int64
	wrote, firstByte    atomic.Int64
	dials               atomic.Int32 // started minus finished connects
	reused              atomic.Bool
	span                trace.Span
	status              int
	bytes               int64
	finished            atomic.Bool
	// bgCtx is context.Background() carrying this state's ClientTrace, built once per
	// pooled state: requests without their own context (the common client.Get) reuse it
	// instead of paying httptrace's five allocations each time.
	bgCtx context.Context
	kv    []attribute.KeyValue // attribute scratch; the SDK span copies what it keeps
}

var (
	clientSpanOpts = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient)}
	noEndOpts      []trace.SpanEndOption
)

var statePool = sync.Pool{New: func() any { return newReqState() }}

func newReqState() *reqState {
	rs := &reqState{}
	rs.trace = httptrace.ClientTrace{
		GetConn:  func(string) {},
		GotConn:  func(i httptrace.GotConnInfo) { rs.reused.Store(i.Reused) },
		DNSStart: func(httptrace.DNSStartInfo) { rs.dnsStart.Store(mono()) },
		DNSDone:  func(httptrace.DNSDoneInfo) { rs.dnsDone.Store(mono()) },
		ConnectStart: func(string, string) {
			rs.dials.Add(1)
			rs.connStart.CompareAndSwap(0, mono())
		},
		ConnectDone: func(_, _ string, err error) {
			rs.dials.Add(-1)
			if err == nil {
				rs.connDone.Store(mono())
			}
		},
		TLSHandshakeStart:    func() { rs.tlsStart.Store(mono()) },
		TLSHandshakeDone:     func(tls.ConnectionState, error) { rs.tlsDone.Store(mono()) },
		WroteRequest:         func(httptrace.WroteRequestInfo) { rs.wrote.Store(mono()) },
		GotFirstResponseByte: func() { rs.firstByte.Store(mono()) },
	}
	rs.bgCtx = httptrace.WithClientTrace(context.Background(), &rs.trace)
	rs.kv = make([]attribute.KeyValue, 0, 32)
	return rs
}

func (rs *reqState) reset(t *Transport) {
	rs.t = t

	rs.t0 = mono()
	for _, a := range []*atomic.Int64{&rs.dnsStart, &rs.dnsDone, &rs.connStart, &rs.connDone, &rs.tlsStart, &rs.tlsDone, &rs.wrote, &rs.firstByte} {
		a.Store(0)
	}
	rs.dials.Store(0)
	rs.reused.Store(false)
	rs.finished.Store(false)
	rs.span, rs.status, rs.bytes, rs.kv = nil, 0, 0, rs.kv[:0]
}

// RoundTrip implements http.RoundTripper. A panic in the wrapped transport becomes an
// error for this request (error.type transport_panic); the app keeps running.
func (t *Transport) RoundTrip(req *http.Request) (resp *http.Response, err error) {
	s := t.sdk
	if s.closed.Load() {
		return t.base.RoundTrip(req)
	}
	rs := statePool.Get().(*reqState)
	rs.reset(t)
	ctx := req.Context()
	if ctx == context.Background() {
		ctx = rs.bgCtx
	} else {
		ctx = httptrace.WithClientTrace(ctx, &rs.trace)
	}
	ss := s.sess.Load()
	var span trace.Span
	if ss.sampled {
		// The span is not put into the request's context: the SDK does not inject trace
		// headers, and that saves a context allocation per request.
		// Attributes are collected in rs.kv and set once at the end: one copy into the span.
		_, span = s.tracer.Start(ctx, methodName(req.Method), clientSpanOpts...)
		rs.kv = s.requestAttrs(rs.kv[:0], req, ss)
	}
	rs.span = span
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("sdk-hooks: wrapped RoundTripper panicked: %v", r)
			resp = nil
			rs.fail(sc.ErrorTypeTransport, err)
		}
	}()
	resp, err = t.base.RoundTrip(req.WithContext(ctx))
	if err != nil {
		rs.fail(classifyError(err), err)
		return nil, err
	}
	rs.status = resp.StatusCode
	if resp.Body == nil || resp.Body == http.NoBody || req.Method == http.MethodHead {
		rs.finish(nil)
		return resp, nil
	}
	resp.Body = &bodyReader{rc: resp.Body, rs: rs}
	return resp, nil
}

func methodName(m string) string {
	switch m {
	case "", http.MethodGet:
		return http.MethodGet
	case http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodHead, http.MethodPatch, http.MethodOptions:
		return m
	}
	return "HTTP" // semconv: unknown methods are not used as span names
}

// bodyReader is the response body: it counts bytes and ends the span at EOF or Close.
// It is separate from the pooled state because the app may call Close after EOF, when
// the state already serves another request.
type bodyReader struct {
	rc io.ReadCloser
	rs *reqState // nil once the request is finished
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if rs := b.rs; rs != nil {
		rs.bytes += int64(n)
		if err == io.EOF {
			b.rs = nil
			rs.finish(nil)
		} else if err != nil {
			b.rs = nil
			rs.finishErr(sc.ErrorTypeBody, err)
		}
	}
	return n, err
}

func (b *bodyReader) Close() error {
	err := b.rc.Close()
	if rs := b.rs; rs != nil {
		b.rs = nil
		rs.finish(nil)
	}
	return err
}

func (rs *reqState) fail(errType string, err error) {
	rs.finishErr(errType, err)
}

func (rs *reqState) finishErr(errType string, err error) {
	if !rs.finished.CompareAndSwap(false, true) {
		return
	}
	if rs.span != nil {
		rs.span.SetAttributes(append(rs.phaseAttrs(errType), rs.t.sdk.net.Load().attrs()...)...)
		rs.span.SetStatus(codes.Error, errType)
		rs.span.End()
	}
	// Never pooled: the transport may still call hooks for an abandoned dial.
}

func (rs *reqState) finish(_ error) {
	if !rs.finished.CompareAndSwap(false, true) {
		return
	}
	s := rs.t.sdk
	defer s.guard("http finish")
	ttfb, download := rs.ttfbDownload(mono())
	// The request is a measurement: feed it first, so its span carries the class that
	// includes it (the first request of a session is then classified, not "unknown").
	s.observe(ttfb, rs.bytes, download)
	errType := ""
	if rs.status >= 400 {
		errType = statusString(rs.status)
	}
	if rs.span != nil {
		rs.span.SetAttributes(append(rs.phaseAttrs(errType), s.net.Load().attrs()...)...)
		if rs.status >= 500 {
			rs.span.SetStatus(codes.Error, errType)
		}
		rs.span.End(noEndOpts...)
	}
	if rs.dials.Load() == 0 {
		rs.span, rs.t = nil, nil
		statePool.Put(rs)
	}
}

func (rs *reqState) ttfbDownload(now int64) (ttfb, download time.Duration) {
	fb, wrote := rs.firstByte.Load(), rs.wrote.Load()
	if fb > 0 && wrote > 0 && fb >= wrote {
		ttfb = time.Duration(fb - wrote)
	}
	if fb > 0 && now >= fb {
		download = time.Duration(now - fb)
	}
	return
}

func ms(a, b int64) float64 {
	if a == 0 || b == 0 || b < a {
		return 0
	}
	return float64(b-a) / 1e6
}

// phaseAttrs appends the end-of-request attributes to the request attributes.
func (rs *reqState) phaseAttrs(errType string) []attribute.KeyValue {
	ttfb, download := rs.ttfbDownload(mono())
	kv := rs.kv
	if rs.status > 0 {
		kv = append(kv, attribute.Int(sc.HTTPResponseStatusCode, rs.status))
	}
	kv = append(kv,
		attribute.Int64(sc.HTTPResponseBodySize, rs.bytes),
		attribute.Float64(sc.HTTPTTFBMs, float64(ttfb)/1e6),
		attribute.Float64(sc.HTTPDownloadMs, float64(download)/1e6),
		attribute.Bool(sc.HTTPReusedConn, rs.reused.Load()),
	)
	if d := ms(rs.dnsStart.Load(), rs.dnsDone.Load()); d > 0 {
		kv = append(kv, attribute.Float64(sc.HTTPDNSMs, d))
	}
	if d := ms(rs.connStart.Load(), rs.connDone.Load()); d > 0 {
		kv = append(kv, attribute.Float64(sc.HTTPConnectMs, d))
	}
	if d := ms(rs.tlsStart.Load(), rs.tlsDone.Load()); d > 0 {
		kv = append(kv, attribute.Float64(sc.HTTPTLSMs, d))
	}
	if errType != "" {
		kv = append(kv, attribute.String(sc.ErrorType, errType))
	}
	return kv
}

func (s *SDK) requestAttrs(kv []attribute.KeyValue, req *http.Request, ss *session) []attribute.KeyValue {
	u := req.URL
	kv = append(kv,
		attribute.String(sc.HTTPRequestMethod, methodName(req.Method)),
		attribute.String(sc.URLFull, scrubURL(u, s.cfg.KeepURLQuery)),
		attribute.String(sc.ServerAddress, u.Hostname()),
		attribute.String(sc.SessionID, ss.id),
		attribute.String(sc.HTTPSource, "go"),
	)
	if p := u.Port(); p != "" {
		if port, err := strconv.Atoi(p); err == nil {
			kv = append(kv, attribute.Int(sc.ServerPort, port))
		}
	}
	if req.ContentLength > 0 {
		kv = append(kv, attribute.Int64(sc.HTTPRequestBodySize, req.ContentLength))
	}
	for _, h := range s.capture {
		if v := req.Header.Get(h); v != "" {
			kv = append(kv, attribute.String("http.request.header."+lowerHeader(h), s.redactHeader(h, v)))
		}
	}
	return kv
}

var statusStrings = func() (t [600]string) {
	for i := 100; i < len(t); i++ {
		t[i] = strconv.Itoa(i)
	}
	return
}()

func statusString(code int) string {
	if code >= 0 && code < len(statusStrings) && statusStrings[code] != "" {
		return statusStrings[code]
	}
	return strconv.Itoa(code)
}

// classifyError maps a transport error to error.type.
func classifyError(err error) string {
	var dnsErr *net.DNSError
	var opErr *net.OpError
	var netErr net.Error
	var recErr tls.RecordHeaderError
	var certErr *tls.CertificateVerificationError
	var alert tls.AlertError
	var unknownAuth x509.UnknownAuthorityError
	switch {
	case errors.Is(err, context.Canceled):
		return sc.ErrorTypeCanceled
	case errors.Is(err, context.DeadlineExceeded):
		return sc.ErrorTypeTimeout
	case errors.As(err, &dnsErr):
		return sc.ErrorTypeDNS
	case errors.As(err, &certErr), errors.As(err, &recErr), errors.As(err, &alert), errors.As(err, &unknownAuth):
		return sc.ErrorTypeTLS
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return sc.ErrorTypeReset
	case errors.As(err, &netErr) && netErr.Timeout():
		return sc.ErrorTypeTimeout
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return sc.ErrorTypeConnect
	}
	return sc.ErrorTypeOther
}
