package export

import (
	"fmt"
	"testing"
	"time"

	"crypto/rand"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":                              0,
		"5":                             5 * time.Second,
		" 120 ":                         2 * time.Minute,
		"-3":                            0,
		"soon":                          0,
		"Tue, 01 Dec 2026 12:00:30 GMT": 30 * time.Second,
		"Tue, 01 Dec 2026 11:00:00 GMT": 0, // in the past
	} {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestBackoffBounds(t *testing.T) {
	u, err := NewUploader(UploaderConfig{Endpoint: "http://127.0.0.1:1", InitialBackoff: time.Second, MaxBackoff: 10 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for f := 1; f < 70; f++ {
		for range 20 {
			d := u.backoff(f)
			if d < 500*time.Millisecond || d > 10500*time.Millisecond {
				t.Fatalf("backoff(%d) = %v outside [0.5s, 10.5s]", f, d)
			}
		}
	}
}

func TestSplitOversized(t *testing.T) {
	var spans []*tracepb.Span
	for i := range 400 {
		junk := make([]byte, 2000) // incompressible attribute values
		rand.Read(junk)
		spans = append(spans, &tracepb.Span{Name: fmt.Sprint("s", i), TraceId: make([]byte, 16), SpanId: make([]byte, 8),
			Attributes: []*commonpb.KeyValue{{Key: "blob", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_BytesValue{BytesValue: junk}}}}})
	}
	req := &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{ScopeSpans: []*tracepb.ScopeSpans{{Spans: spans}}}}}
	raw, _ := proto.Marshal(req)
	body, _ := gz(raw)
	parts, err := split(KindTraces, body, 200_000)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, p := range parts {
		if len(p) > 200_000 {
			t.Fatalf("part of %d bytes over the limit", len(p))
		}
		raw, err := gunzip(p)
		if err != nil {
			t.Fatal(err)
		}
		var m coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		total += len(m.ResourceSpans[0].ScopeSpans[0].Spans)
	}
	if total != 400 || len(parts) < 4 {
		t.Fatalf("%d parts carrying %d spans, want all 400", len(parts), total)
	}
	if _, err := split(KindTraces, body[:100], 50); err == nil {
		t.Fatal("garbage oversized body split without error")
	}
}

func TestValidate(t *testing.T) {
	for _, ep := range []string{"", "localhost:4318", "ftp://x", "http://"} {
		c := UploaderConfig{Endpoint: ep}
		if c.Validate() == nil {
			t.Errorf("endpoint %q accepted", ep)
		}
	}
}
