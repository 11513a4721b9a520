package enrich

import (
	"encoding/json"
	"testing"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

func seedTraces(f *testing.F) {
	now := time.Now()
	td := traces(map[string]any{"service.version": "1.0", "os.name": "Android", "fleetlens.device.ram_mb": 2048}, func(sl ptrace.SpanSlice) {
		httpSpan(sl, 1, now.Add(-time.Second), map[string]any{"url.full": "https://x/y?q=a@b.co", "nested": map[string]any{"a": []any{1, "b"}}})
	})
	pb, _ := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	js, _ := ptraceotlp.NewExportRequestFromTraces(td).MarshalJSON()
	f.Add(pb, false)
	f.Add(js, true)
	f.Add([]byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"\u0000"}]}]}]}`), true)
	f.Add([]byte{0x0a, 0x02, 0x0a, 0x00}, false)
}

// checkRows asserts the invariants storage relies on: text PostgreSQL accepts, JSON that
// parses, timestamps inside the window.
func checkRows(t *testing.T, e *Enricher, now time.Time, texts []string, jsons [][]byte, times []time.Time) {
	for _, s := range texts {
		if !utf8.ValidString(s) || !validString(s) {
			t.Fatalf("row text %q would be refused by PostgreSQL", s)
		}
	}
	for _, j := range jsons {
		if j != nil && !json.Valid(j) {
			t.Fatalf("row JSON invalid: %s", j)
		}
	}
	oldest, newest := e.cfg.Window(now)
	for _, ts := range times {
		if ts.Before(oldest) || !ts.Before(newest) {
			t.Fatalf("row time %v outside window", ts)
		}
	}
}

// FuzzDecodeEnrichTraces: whatever bytes arrive, decoding plus enrichment never panics and
// only ever yields rows PostgreSQL will accept.
func FuzzDecodeEnrichTraces(f *testing.F) {
	seedTraces(f)
	e := New(DefaultConfig())
	f.Fuzz(func(t *testing.T, body []byte, isJSON bool) {
		req := ptraceotlp.NewExportRequest()
		if unmarshal(req, body, isJSON) != nil {
			return
		}
		now := time.Now()
		td := req.Traces()
		total := td.SpanCount()
		rows, rej := e.Traces("app", td, now)
		if len(rows)+rej.Count != total {
			t.Fatalf("%d rows + %d rejects != %d spans", len(rows), rej.Count, total)
		}
		for _, r := range rows {
			checkRows(t, e, now, []string{r.Name, r.StatusMessage, r.Release, r.Model, r.OSVersion, r.SessionID, r.Scope, r.NetType},
				[][]byte{r.Attributes, r.Resource, r.SpanEvents}, []time.Time{r.StartTime})
		}
	})
}

// FuzzDecodeEnrichLogs is the same for log records.
func FuzzDecodeEnrichLogs(f *testing.F) {
	ld := plog.NewLogs()
	lr := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.SetEventName("app.jank")
	lr.SetTimestamp(pcommon.NewTimestampFromTime(time.Now()))
	lr.Body().SetEmptyMap().PutStr("msg", "hi a@b.io")
	lr.Attributes().PutDouble("fleetlens.hang.duration_ms", 800)
	pb, _ := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	js, _ := plogotlp.NewExportRequestFromLogs(ld).MarshalJSON()
	f.Add(pb, false)
	f.Add(js, true)
	e := New(DefaultConfig())
	f.Fuzz(func(t *testing.T, body []byte, isJSON bool) {
		req := plogotlp.NewExportRequest()
		if unmarshal(req, body, isJSON) != nil {
			return
		}
		now := time.Now()
		ld := req.Logs()
		total := ld.LogRecordCount()
		rows, rej := e.Logs("app", ld, now)
		if len(rows)+rej.Count != total {
			t.Fatalf("%d rows + %d rejects != %d records", len(rows), rej.Count, total)
		}
		for _, r := range rows {
			checkRows(t, e, now, []string{r.Name, r.Body, r.SeverityText, r.Release, r.Model, r.SessionID, r.Scope},
				[][]byte{r.Attributes, r.Resource}, []time.Time{r.Time})
		}
	})
}

// unmarshal decodes body into an OTLP export request as JSON or protobuf.
func unmarshal(req interface {
	UnmarshalJSON([]byte) error
	UnmarshalProto([]byte) error
}, body []byte, isJSON bool) error {
	if isJSON {
		return req.UnmarshalJSON(body)
	}
	return req.UnmarshalProto(body)
}
