package collector_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fleetlens/fleetlens/internal/pg/pgtest"
	"github.com/klauspost/compress/zstd"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"
)

// spanBatch builds n valid spans of release; mutate may spoil some of them.
func spanBatch(release string, n int, mutate func(i int, sp ptrace.Span)) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.version", release)
	ss := rs.ScopeSpans().AppendEmpty()
	now := time.Now()
	for i := range n {
		sp := ss.Spans().AppendEmpty()
		var tid [16]byte
		var sid [8]byte
		copy(tid[:], fmt.Sprintf("%-16s", release)[:16])
		tid[15] = byte(i)
		sid[0], sid[1], sid[7] = byte(i), byte(i>>8), 1
		sp.SetTraceID(tid)
		sp.SetSpanID(sid)
		sp.SetName("GET")
		sp.SetKind(ptrace.SpanKindClient)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(now.Add(-time.Second)))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(now))
		sp.Attributes().PutStr("http.request.method", "GET")
		if mutate != nil {
			mutate(i, sp)
		}
	}
	return td
}

func protoBody(t testing.TB, td ptrace.Traces) []byte {
	b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func post(t testing.TB, url, token, ct, enc string, body []byte) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if enc != "" {
		req.Header.Set("Content-Encoding", enc)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	msg := string(raw)
	if resp.StatusCode != http.StatusOK && strings.Contains(resp.Header.Get("Content-Type"), "protobuf") {
		var st spb.Status
		if err := proto.Unmarshal(raw, &st); err != nil {
			t.Fatalf("error body is not a google.rpc.Status: %v", err)
		}
		msg = st.GetMessage()
	}
	return resp.StatusCode, msg, resp.Header
}

func metricSum(t testing.TB, admin, name string, labels map[string]string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	f := fams[name]
	if f == nil {
		return 0
	}
next:
	for _, m := range f.GetMetric() {
		for k, v := range labels {
			if !hasLabel(m, k, v) {
				continue next
			}
		}
		sum += m.GetCounter().GetValue()
	}
	return sum
}

func hasLabel(m *dto.Metric, k, v string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == k && l.GetValue() == v {
			return true
		}
	}
	return false
}

// Every kind of bad input gets a clear OTLP-style 4xx, a counter, and loses nothing valid
// that came with it; the collector keeps serving afterwards.
func TestBadInputIsRejectedClearlyAndLosesNothingValid(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	cfg := testConfig()
	cfg.Limits.MaxBodyBytes = 1 << 20
	cfg.Limits.MaxDecodedBytes = 4 << 20
	c := startCollector(t, cfg, pool)
	tok := newApp(t, pool, "app.bad")
	traces := "http://" + c.HTTPAddr() + "/v1/traces"
	logs := "http://" + c.HTTPAddr() + "/v1/logs"
	now := time.Now()

	bomb := gz(bytes.Repeat([]byte{0}, 8<<20))
	zenc, _ := zstd.NewWriter(nil)
	zbomb := zenc.EncodeAll(bytes.Repeat([]byte{0}, 8<<20), nil)
	zvalid := zenc.EncodeAll(protoBody(t, spanBatch("zstd", 5, nil)), nil)
	truncated := gz(protoBody(t, spanBatch("trunc", 50, nil)))
	truncated = truncated[:len(truncated)/2]

	noTimeLogs := plog.NewLogs()
	lr := noTimeLogs.ResourceLogs().AppendEmpty()
	lr.Resource().Attributes().PutStr("service.version", "logs-bad")
	sl := lr.ScopeLogs().AppendEmpty()
	sl.LogRecords().AppendEmpty().Body().SetStr("no timestamps at all")
	ok := sl.LogRecords().AppendEmpty()
	ok.SetTimestamp(pcommon.NewTimestampFromTime(now))
	ok.Body().SetStr("fine")
	noTimeBody, _ := plogotlp.NewExportRequestFromLogs(noTimeLogs).MarshalProto()

	cases := []struct {
		name        string
		url, token  string
		ct, enc     string
		body        []byte
		wantCode    int
		wantMsg     string
		reason      string // rejected_requests_total reason label
		release     string // when set, wantStored spans of it must be stored
		wantStored  int64
		itemsReason string // rejected_items_total reason label
	}{
		{name: "malformed protobuf", url: traces, token: tok, ct: "application/x-protobuf", body: []byte{0x0a, 0xff, 0xff, 0x01},
			wantCode: 400, wantMsg: "cannot decode OTLP traces request", reason: "malformed"},
		{name: "malformed JSON", url: traces, token: tok, ct: "application/json", body: []byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz`),
			wantCode: 400, wantMsg: "cannot decode", reason: "malformed"},
		{name: "JSON with bad hex id", url: traces, token: tok, ct: "application/json",
			body:     []byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"not-hex","spanId":"0102030405060708"}]}]}]}`),
			wantCode: 400, wantMsg: "cannot decode", reason: "malformed"},
		{name: "wrong content type", url: traces, token: tok, ct: "text/plain", body: []byte("hello"),
			wantCode: 415, wantMsg: "unsupported Content-Type", reason: "content_type"},
		{name: "unsupported encoding", url: traces, token: tok, ct: "application/x-protobuf", enc: "br", body: []byte("x"),
			wantCode: 415, wantMsg: "unsupported Content-Encoding", reason: "content_encoding"},
		{name: "truncated gzip", url: traces, token: tok, ct: "application/x-protobuf", enc: "gzip", body: truncated,
			wantCode: 400, wantMsg: "gzip body", reason: "bad_compression"},
		{name: "gzip bomb", url: traces, token: tok, ct: "application/x-protobuf", enc: "gzip", body: bomb,
			wantCode: 413, wantMsg: "decompressed body exceeds", reason: "too_large"},
		{name: "zstd bomb", url: traces, token: tok, ct: "application/x-protobuf", enc: "zstd", body: zbomb,
			wantCode: 413, wantMsg: "decompressed body exceeds", reason: "too_large"},
		{name: "body over limit", url: traces, token: tok, ct: "application/x-protobuf", body: make([]byte, 1<<20+1),
			wantCode: 413, wantMsg: "exceeds the 1048576 byte limit", reason: "too_large"},
		{name: "missing token", url: traces, ct: "application/x-protobuf", body: protoBody(t, spanBatch("nope", 1, nil)),
			wantCode: 401, wantMsg: "missing Authorization", reason: "unauthenticated"},
		{name: "wrong token", url: traces, token: "flt_wrong", ct: "application/x-protobuf", body: protoBody(t, spanBatch("nope", 1, nil)),
			wantCode: 401, wantMsg: "ingest token not valid", reason: "unauthenticated"},
		{name: "absurd timestamps", url: traces, token: tok, ct: "application/x-protobuf",
			body: protoBody(t, spanBatch("ts", 10, func(i int, sp ptrace.Span) {
				switch i {
				case 2:
					sp.SetStartTimestamp(0) // 1970
				case 5:
					sp.SetStartTimestamp(pcommon.NewTimestampFromTime(time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)))
					sp.SetEndTimestamp(pcommon.NewTimestampFromTime(time.Date(2200, 1, 1, 0, 0, 1, 0, time.UTC)))
				case 7:
					sp.SetEndTimestamp(pcommon.NewTimestampFromTime(now.Add(-time.Hour))) // ends before it starts
				}
			})),
			wantCode: 400, wantMsg: "3 of 10 spans rejected (the others were stored)", reason: "rejected",
			release: "ts", wantStored: 7, itemsReason: "timestamp"},
		{name: "10000 attributes", url: traces, token: tok, ct: "application/x-protobuf",
			body: protoBody(t, spanBatch("attrs", 4, func(i int, sp ptrace.Span) {
				if i == 1 {
					for k := range 10000 {
						sp.Attributes().PutInt(fmt.Sprintf("k%d", k), int64(k))
					}
				}
			})),
			wantCode: 400, wantMsg: "more than 1024 attributes", reason: "rejected",
			release: "attrs", wantStored: 3, itemsReason: "too_many_attributes"},
		{name: "invalid UTF-8", url: traces, token: tok, ct: "application/x-protobuf",
			body: protoBody(t, spanBatch("utf8", 5, func(i int, sp ptrace.Span) {
				switch i {
				case 0:
					sp.Attributes().PutStr("bad", "caf\xe9")
				case 3:
					sp.SetName("GET \xff\xfe")
				case 4:
					sp.Attributes().PutStr("nul", "a\x00b")
				}
			})),
			wantCode: 400, wantMsg: "not valid UTF-8", reason: "rejected",
			release: "utf8", wantStored: 2, itemsReason: "invalid_utf8"},
		{name: "invalid UTF-8 inside JSON", url: traces, token: tok, ct: "application/json",
			body: []byte(fmt.Sprintf(`{"resourceSpans":[{"resource":{"attributes":[{"key":"service.version","value":{"stringValue":"jsonutf8"}}]},"scopeSpans":[{"spans":[`+
				`{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"GET `+"\xff"+`","startTimeUnixNano":"%d","endTimeUnixNano":"%d"},`+
				`{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b175","name":"GET","startTimeUnixNano":"%d","endTimeUnixNano":"%d"}]}]}]}`,
				now.UnixNano()-1e9, now.UnixNano(), now.UnixNano()-1e9, now.UnixNano())),
			wantCode: 400, wantMsg: "1 of 2 spans rejected", reason: "rejected", release: "jsonutf8", wantStored: 1, itemsReason: "invalid_utf8"},
		{name: "release too long for an index", url: traces, token: tok, ct: "application/x-protobuf",
			body: protoBody(t, func() ptrace.Traces {
				td := spanBatch("long", 2, nil)
				td.ResourceSpans().At(0).Resource().Attributes().PutStr("service.version", strings.Repeat("9", 5000))
				spanBatch("long", 3, nil).ResourceSpans().At(0).CopyTo(td.ResourceSpans().AppendEmpty())
				return td
			}()),
			wantCode: 400, wantMsg: "2 of 5 spans rejected", reason: "rejected", release: "long", wantStored: 3, itemsReason: "too_long"},
		{name: "log record without timestamps", url: logs, token: tok, ct: "application/x-protobuf", body: noTimeBody,
			wantCode: 400, wantMsg: "neither time_unix_nano nor observed_time_unix_nano", reason: "rejected"},
		{name: "zstd valid", url: traces, token: tok, ct: "application/x-protobuf", enc: "zstd", body: zvalid,
			wantCode: 200, release: "zstd", wantStored: 5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			signal := "traces"
			if tc.url == logs {
				signal = "logs"
			}
			before := metricSum(t, c.AdminAddr(), "fleetlens_collector_rejected_requests_total", map[string]string{"reason": tc.reason, "signal": signal})
			itemsBefore := metricSum(t, c.AdminAddr(), "fleetlens_collector_rejected_items_total", map[string]string{"reason": tc.itemsReason})
			code, msg, hdr := post(t, tc.url, tc.token, tc.ct, tc.enc, tc.body)
			if code != tc.wantCode || !strings.Contains(msg, tc.wantMsg) {
				t.Fatalf("got %d %q, want %d containing %q", code, msg, tc.wantCode, tc.wantMsg)
			}
			if code == 429 || code == 503 {
				if hdr.Get("Retry-After") == "" {
					t.Fatal("no Retry-After")
				}
			}
			if tc.wantCode != 200 {
				after := metricSum(t, c.AdminAddr(), "fleetlens_collector_rejected_requests_total", map[string]string{"reason": tc.reason, "signal": signal})
				if after != before+1 {
					t.Fatalf("rejected_requests_total{reason=%q} %v -> %v", tc.reason, before, after)
				}
			}
			if tc.itemsReason != "" {
				if after := metricSum(t, c.AdminAddr(), "fleetlens_collector_rejected_items_total", map[string]string{"reason": tc.itemsReason}); after <= itemsBefore {
					t.Fatalf("rejected_items_total{reason=%q} did not grow", tc.itemsReason)
				}
			}
			if tc.release != "" {
				if got := count(t, pool, `SELECT count(*) FROM spans WHERE release = $1`, tc.release); got != tc.wantStored {
					t.Fatalf("stored %d spans of the batch, want %d", got, tc.wantStored)
				}
			}
		})
	}
	if got := count(t, pool, `SELECT count(*) FROM events WHERE body = 'fine'`); got != 1 {
		t.Fatalf("the valid log record next to the bad one: stored %d", got)
	}
	// The process is unharmed: a normal request still succeeds.
	if code, msg, _ := post(t, traces, tok, "application/x-protobuf", "gzip", gz(protoBody(t, spanBatch("after", 3, nil)))); code != 200 {
		t.Fatalf("valid request after bad ones: %d %s", code, msg)
	}
	// Method check.
	resp, err := http.Get(traces)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %d", resp.StatusCode)
	}
	_ = context.Background
}
