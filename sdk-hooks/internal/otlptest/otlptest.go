// Package otlptest is a real OTLP/HTTP receiver for the SDK's tests: it decodes protobuf
// export requests with go.opentelemetry.io/proto/otlp and can go down, come back on the
// same port, or answer with a chosen status and Retry-After.
package otlptest

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// Span is a received span with its resource attributes flattened.
type Span struct {
	*tracepb.Span
	Resource map[string]string
}

// Log is a received log record with its resource attributes flattened.
type Log struct {
	*logspb.LogRecord
	Resource map[string]string
}

// Receiver is the test server.
type Receiver struct {
	t    testing.TB
	addr string

	mu       sync.Mutex
	srv      *http.Server
	spans    []Span
	logs     []Log
	batches  map[string]int // X-Fleetlens-Batch -> times accepted
	requests int
	status   int
	retry    string
	hits     []time.Time
}

// Start listens on a free loopback port; Cleanup stops it.
func Start(t testing.TB) *Receiver {
	r := &Receiver{t: t, batches: map[string]int{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = ln.Addr().String()
	r.serve(ln)
	t.Cleanup(r.Down)
	return r
}

// URL is the OTLP/HTTP base URL.
func (r *Receiver) URL() string { return "http://" + r.addr }

func (r *Receiver) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(r.handle), ReadHeaderTimeout: 5 * time.Second}
	r.mu.Lock()
	r.srv = srv
	r.mu.Unlock()
	go srv.Serve(ln)
}

// Down closes the listener and every connection: the collector is unreachable.
func (r *Receiver) Down() {
	r.mu.Lock()
	srv := r.srv
	r.srv = nil
	r.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

// Up listens again on the same address.
func (r *Receiver) Up() {
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ {
		if ln, err = net.Listen("tcp", r.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		r.t.Fatalf("otlptest: relisten on %s: %v", r.addr, err)
	}
	r.serve(ln)
}

// Fail makes the receiver answer status (e.g. 503) with Retry-After retry ("" for none);
// status 0 restores normal operation.
func (r *Receiver) Fail(status int, retry string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status, r.retry = status, retry
}

func (r *Receiver) handle(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.requests++
	r.hits = append(r.hits, time.Now())
	status, retry := r.status, r.retry
	r.mu.Unlock()
	if status != 0 {
		if retry != "" {
			w.Header().Set("Retry-After", retry)
		}
		w.WriteHeader(status)
		return
	}
	var body io.Reader = req.Body
	if req.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	switch req.URL.Path {
	case "/v1/traces":
		var m coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(raw, &m); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		for _, rs := range m.ResourceSpans {
			res := flatten(rs.GetResource().GetAttributes())
			for _, ss := range rs.ScopeSpans {
				for _, sp := range ss.Spans {
					r.spans = append(r.spans, Span{Span: sp, Resource: res})
				}
			}
		}
		r.mu.Unlock()
		writeProto(w, &coltracepb.ExportTraceServiceResponse{})
	case "/v1/logs":
		var m collogspb.ExportLogsServiceRequest
		if err := proto.Unmarshal(raw, &m); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		for _, rl := range m.ResourceLogs {
			res := flatten(rl.GetResource().GetAttributes())
			for _, sl := range rl.ScopeLogs {
				for _, lr := range sl.LogRecords {
					r.logs = append(r.logs, Log{LogRecord: lr, Resource: res})
				}
			}
		}
		r.mu.Unlock()
		writeProto(w, &collogspb.ExportLogsServiceResponse{})
	default:
		http.NotFound(w, req)
		return
	}
	r.mu.Lock()
	r.batches[req.Header.Get("X-Fleetlens-Batch")]++
	r.mu.Unlock()
}

// Spans returns what arrived so far.
func (r *Receiver) Spans() []Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Span(nil), r.spans...)
}

// Logs returns what arrived so far.
func (r *Receiver) Logs() []Log {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Log(nil), r.logs...)
}

// Requests counts every request, accepted or not.
func (r *Receiver) Requests() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests
}

// Hits are the arrival times of every request.
func (r *Receiver) Hits() []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Time(nil), r.hits...)
}

// DuplicateBatches returns batch ids accepted more than once.
func (r *Receiver) DuplicateBatches() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var d []string
	for id, n := range r.batches {
		if n > 1 {
			d = append(d, id+"x"+strconv.Itoa(n))
		}
	}
	return d
}

// Wait polls cond until it holds or timeout passes.
func Wait(timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return errors.New("otlptest: condition not met in time")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// Attr reads an attribute as a string ("" when absent).
func Attr(kvs []*commonpb.KeyValue, key string) string {
	for _, kv := range kvs {
		if kv.Key == key {
			return valueString(kv.Value)
		}
	}
	return ""
}

func flatten(kvs []*commonpb.KeyValue) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		m[kv.Key] = valueString(kv.Value)
	}
	return m
}

func valueString(v *commonpb.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_IntValue:
		return strconv.FormatInt(x.IntValue, 10)
	case *commonpb.AnyValue_DoubleValue:
		return strconv.FormatFloat(x.DoubleValue, 'f', -1, 64)
	case *commonpb.AnyValue_BoolValue:
		return strconv.FormatBool(x.BoolValue)
	case *commonpb.AnyValue_BytesValue:
		return string(bytes.Clone(x.BytesValue))
	}
	return ""
}

// writeProto answers with m as an OTLP/HTTP protobuf response body.
func writeProto(w http.ResponseWriter, m proto.Message) {
	out, _ := proto.Marshal(m)
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(out)
}
