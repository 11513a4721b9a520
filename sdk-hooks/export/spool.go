// Package export owns getting telemetry off the device: the spool transport that lands the
// OpenTelemetry OTLP/HTTP exporters' requests in the disk queue, and the Uploader that is
// the only component sending queued batches to the backend.
//
// Design: the official otlptracehttp/otlploghttp exporters do the span/log to protobuf
// transform and gzip, with their own retries disabled. Their HTTP client's transport is the
// Spool, which answers 200 only after the request body is fsynced in the queue. The
// Uploader replays those bodies byte for byte, one at a time, deleting a record only after a
// 2xx. So there is exactly one retry layer (no duplicates from stacked retries), nothing is
// acknowledged before it is durable, and no hand-written OTLP transform is needed.
package export

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/fleetlens/fleetlens/sdk-hooks/queue"
	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// Record kinds, which are also the OTLP/HTTP path suffixes.
const (
	KindTraces = "traces"
	KindLogs   = "logs"
)

// MaxBatchBytes is the largest gzip body queued as one upload (SPEC §4: batches <= 4 MB).
const MaxBatchBytes = 4_000_000

// Spool is an http.RoundTripper that stores OTLP/HTTP export requests in a queue.
type Spool struct {
	Queue    *queue.Queue
	MaxBatch int // default MaxBatchBytes
}

// RoundTrip stores the request body and answers 200 once it is durable.
func (s *Spool) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		defer req.Body.Close()
	}
	kind := KindTraces
	switch {
	case strings.HasSuffix(req.URL.Path, "/v1/logs"):
		kind = KindLogs
	case strings.HasSuffix(req.URL.Path, "/v1/traces"):
	default:
		return nil, fmt.Errorf("spool: unexpected export path %q", req.URL.Path)
	}
	if req.Body == nil {
		return okResponse(req), nil
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, fmt.Errorf("spool: read export body: %w", err)
	}
	if req.Header.Get("Content-Encoding") != "gzip" {
		if body, err = gz(body); err != nil {
			return nil, err
		}
	}
	max := s.MaxBatch
	if max <= 0 {
		max = MaxBatchBytes
	}
	parts, err := split(kind, body, max)
	if err != nil {
		s.Queue.CountDrop(queue.DropTooLarge, 1)
		return nil, err
	}
	for _, p := range parts {
		if _, err := s.Queue.Append(kind, p); err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
	}
	return okResponse(req), nil
}

func okResponse(req *http.Request) *http.Response {
	return &http.Response{
		StatusCode: http.StatusOK, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:  http.Header{"Content-Type": {"application/x-protobuf"}},
		Body:    http.NoBody,
		Request: req,
	}
}

func gz(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func gunzip(b []byte) ([]byte, error) {
	r, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

// split halves an oversized export request until every part's gzip body fits in max.
// Splitting is by resource, then by scope, then by the spans/records of one scope.
func split(kind string, body []byte, max int) ([][]byte, error) {
	if len(body) <= max {
		return [][]byte{body}, nil
	}
	raw, err := gunzip(body)
	if err != nil {
		return nil, fmt.Errorf("spool: decompress oversized %s batch: %w", kind, err)
	}
	var msg proto.Message
	switch kind {
	case KindTraces:
		msg = &coltracepb.ExportTraceServiceRequest{}
	default:
		msg = &collogspb.ExportLogsServiceRequest{}
	}
	if err := proto.Unmarshal(raw, msg); err != nil {
		return nil, fmt.Errorf("spool: decode oversized %s batch: %w", kind, err)
	}
	a, b, ok := halve(msg)
	if !ok {
		return nil, fmt.Errorf("spool: one %s item is %d bytes gzipped, over the %d-byte batch limit", kind, len(body), max)
	}
	var out [][]byte
	for _, m := range []proto.Message{a, b} {
		enc, err := proto.Marshal(m)
		if err != nil {
			return nil, err
		}
		zb, err := gz(enc)
		if err != nil {
			return nil, err
		}
		parts, err := split(kind, zb, max)
		if err != nil {
			return nil, err
		}
		out = append(out, parts...)
	}
	return out, nil
}

// halve splits a request in two along its widest level; ok is false for a single item.
func halve(m proto.Message) (a, b proto.Message, ok bool) {
	switch r := m.(type) {
	case *coltracepb.ExportTraceServiceRequest:
		rs := r.ResourceSpans
		switch {
		case len(rs) > 1:
			return &coltracepb.ExportTraceServiceRequest{ResourceSpans: rs[:len(rs)/2]},
				&coltracepb.ExportTraceServiceRequest{ResourceSpans: rs[len(rs)/2:]}, true
		case len(rs) == 1 && len(rs[0].ScopeSpans) > 1:
			ss := rs[0].ScopeSpans
			return &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{Resource: rs[0].Resource, SchemaUrl: rs[0].SchemaUrl, ScopeSpans: ss[:len(ss)/2]}}},
				&coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{Resource: rs[0].Resource, SchemaUrl: rs[0].SchemaUrl, ScopeSpans: ss[len(ss)/2:]}}}, true
		case len(rs) == 1 && len(rs[0].ScopeSpans) == 1 && len(rs[0].ScopeSpans[0].Spans) > 1:
			sc := rs[0].ScopeSpans[0]
			mk := func(sp []*tracepb.Span) *coltracepb.ExportTraceServiceRequest {
				return &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
					Resource: rs[0].Resource, SchemaUrl: rs[0].SchemaUrl,
					ScopeSpans: []*tracepb.ScopeSpans{{Scope: sc.Scope, SchemaUrl: sc.SchemaUrl, Spans: sp}},
				}}}
			}
			return mk(sc.Spans[:len(sc.Spans)/2]), mk(sc.Spans[len(sc.Spans)/2:]), true
		}
	case *collogspb.ExportLogsServiceRequest:
		rl := r.ResourceLogs
		switch {
		case len(rl) > 1:
			return &collogspb.ExportLogsServiceRequest{ResourceLogs: rl[:len(rl)/2]},
				&collogspb.ExportLogsServiceRequest{ResourceLogs: rl[len(rl)/2:]}, true
		case len(rl) == 1 && len(rl[0].ScopeLogs) > 1:
			sl := rl[0].ScopeLogs
			return &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{Resource: rl[0].Resource, SchemaUrl: rl[0].SchemaUrl, ScopeLogs: sl[:len(sl)/2]}}},
				&collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{Resource: rl[0].Resource, SchemaUrl: rl[0].SchemaUrl, ScopeLogs: sl[len(sl)/2:]}}}, true
		case len(rl) == 1 && len(rl[0].ScopeLogs) == 1 && len(rl[0].ScopeLogs[0].LogRecords) > 1:
			sc := rl[0].ScopeLogs[0]
			mk := func(lr []*logspb.LogRecord) *collogspb.ExportLogsServiceRequest {
				return &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{
					Resource: rl[0].Resource, SchemaUrl: rl[0].SchemaUrl,
					ScopeLogs: []*logspb.ScopeLogs{{Scope: sc.Scope, SchemaUrl: sc.SchemaUrl, LogRecords: lr}},
				}}}
			}
			return mk(sc.LogRecords[:len(sc.LogRecords)/2]), mk(sc.LogRecords[len(sc.LogRecords)/2:]), true
		}
	}
	return nil, nil, false
}
