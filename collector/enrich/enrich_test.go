package enrich

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

func traces(res map[string]any, spans func(ptrace.SpanSlice)) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().FromRaw(res)
	spans(rs.ScopeSpans().AppendEmpty().Spans())
	return td
}

func httpSpan(sl ptrace.SpanSlice, i int, start time.Time, attrs map[string]any) {
	sp := sl.AppendEmpty()
	sp.SetTraceID(pcommon.TraceID{1, byte(i), byte(i >> 8)})
	sp.SetSpanID(pcommon.SpanID{1, byte(i), byte(i >> 8)})
	sp.SetName("GET")
	sp.SetKind(ptrace.SpanKindClient)
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
	sp.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(400 * time.Millisecond)))
	sp.Attributes().FromRaw(attrs)
	sp.Attributes().PutStr("http.request.method", "GET")
}

func TestDeviceTierAndYearClass(t *testing.T) {
	tests := []struct {
		res  map[string]any
		tier string
		year int16
	}{
		{map[string]any{"os.name": "Android", "fleetlens.device.ram_mb": 3072, "fleetlens.device.cpu_cores": 8, "fleetlens.device.cpu_max_mhz": 2300}, "low", 2014},
		{map[string]any{"os.name": "Android", "fleetlens.device.ram_mb": 8192, "fleetlens.device.cpu_cores": 8, "fleetlens.device.cpu_max_mhz": 2400}, "mid", 2016},
		{map[string]any{"os.name": "Android", "fleetlens.device.ram_mb": 8192, "fleetlens.device.cpu_cores": 8, "fleetlens.device.cpu_max_mhz": 2850}, "high", 2016},
		{map[string]any{"os.name": "iOS", "fleetlens.device.ram_mb": 4096, "fleetlens.device.cpu_cores": 6, "fleetlens.device.cpu_max_mhz": 3230}, "high", 2015},
		{map[string]any{"os.name": "iOS", "fleetlens.device.cpu_cores": 2, "fleetlens.device.cpu_max_mhz": 1850}, "low", 0},
		// other SDKs: nothing to derive from, the device's own label is kept
		{map[string]any{"fleetlens.device.tier": "mid", "fleetlens.device.year_class": 2014}, "mid", 2014},
		{map[string]any{}, "unknown", 0},
	}
	e := New(DefaultConfig())
	now := time.Now()
	for i, tt := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			rows, rej := e.Traces("app", traces(tt.res, func(sl ptrace.SpanSlice) { httpSpan(sl, 1, now.Add(-time.Second), nil) }), now)
			if rej.Count != 0 || len(rows) != 1 {
				t.Fatalf("rejects %+v", rej)
			}
			if rows[0].Tier != tt.tier || rows[0].YearClass != tt.year {
				t.Fatalf("tier %q year %d, want %q %d", rows[0].Tier, rows[0].YearClass, tt.tier, tt.year)
			}
		})
	}
}

// A session's throughput class follows its requests with the hysteresis of SPEC §4: one
// fast request does not lift a slow session out of its class.
func TestNetworkClassPerSessionHysteresis(t *testing.T) {
	e := New(DefaultConfig())
	now := time.Now()
	var classes []string
	send := func(i int, kbps float64) {
		// 400 ms download of kbps -> bytes
		size := kbps * 1000 / 8 * 0.4
		rows, _ := e.Traces("app", traces(map[string]any{"session.id": "s1"}, func(sl ptrace.SpanSlice) {
			httpSpan(sl, i, now.Add(-time.Minute), map[string]any{"http.response.body.size": size,
				"fleetlens.http.download_ms": 400.0, "fleetlens.http.ttfb_ms": 1500.0})
		}), now)
		classes = append(classes, rows[0].ThroughputClass+"/"+rows[0].NetClass)
	}
	for i := range 6 {
		send(i, 100) // poor
	}
	send(6, 5000) // one excellent sample
	if got := classes[6]; got != "poor/2g" {
		t.Fatalf("after one fast request the class is %q, want poor/2g (hysteresis)", got)
	}
	if classes[0] != "poor/2g" {
		t.Fatalf("first sample: %q", classes[0])
	}
	// A different session is independent.
	rows, _ := e.Traces("app", traces(map[string]any{"session.id": "s2"}, func(sl ptrace.SpanSlice) {
		httpSpan(sl, 99, now.Add(-time.Minute), map[string]any{"fleetlens.http.ttfb_ms": 100.0})
	}), now)
	if rows[0].NetClass != "4g" {
		t.Fatalf("new session net class %q, want 4g", rows[0].NetClass)
	}
	// Without a session or device id a request is classified on its own sample.
	rows, _ = e.Traces("app", traces(map[string]any{}, func(sl ptrace.SpanSlice) {
		httpSpan(sl, 98, now.Add(-time.Minute), map[string]any{"fleetlens.http.ttfb_ms": 2100.0,
			"http.response.body.size": 50_000.0, "fleetlens.http.download_ms": 1000.0}) // 400 kbps
	}), now)
	if rows[0].NetClass != "slow-2g" || rows[0].ThroughputClass != "moderate" {
		t.Fatalf("sessionless request: %s/%s, want slow-2g/moderate", rows[0].NetClass, rows[0].ThroughputClass)
	}
	// The device's own classification wins when sent.
	rows, _ = e.Traces("app", traces(map[string]any{"session.id": "s1"}, func(sl ptrace.SpanSlice) {
		httpSpan(sl, 100, now.Add(-time.Minute), map[string]any{"fleetlens.network.class": "slow-2g"})
	}), now)
	if rows[0].NetClass != "slow-2g" {
		t.Fatalf("device class not kept: %q", rows[0].NetClass)
	}
}

func TestAppStartAndJankClassification(t *testing.T) {
	e := New(DefaultConfig())
	now := time.Now()
	rows, _ := e.Traces("app", traces(map[string]any{}, func(sl ptrace.SpanSlice) {
		for i, c := range []struct {
			typ string
			d   time.Duration
		}{{"cold", 5 * time.Second}, {"cold", 4 * time.Second}, {"warm", 2 * time.Second}, {"hot", 1400 * time.Millisecond}} {
			sp := sl.AppendEmpty()
			sp.SetTraceID(pcommon.TraceID{2, byte(i)})
			sp.SetSpanID(pcommon.SpanID{2, byte(i)})
			sp.SetName("app.start")
			sp.Attributes().PutStr("app.start.type", c.typ)
			sp.SetStartTimestamp(pcommon.NewTimestampFromTime(now.Add(-time.Minute)))
			sp.SetEndTimestamp(pcommon.NewTimestampFromTime(now.Add(-time.Minute + c.d)))
		}
	}), now)
	want := []bool{true, false, true, false}
	for i, r := range rows {
		if r.Category != CategoryAppStart || r.Slow != want[i] {
			t.Fatalf("start %d: category %q slow %v, want slow %v", i, r.Category, r.Slow, want[i])
		}
	}
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("os.name", "iOS")
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	for _, c := range []struct {
		name string
		ms   float64
	}{{"app.jank", 100}, {"app.jank", 900}, {"app.jank", 2500}, {"app.anr", -1}, {"app.crash", -1}} {
		lr := lrs.AppendEmpty()
		lr.SetEventName(c.name)
		lr.SetTimestamp(pcommon.NewTimestampFromTime(now))
		if c.ms >= 0 {
			lr.Attributes().PutDouble("fleetlens.hang.duration_ms", c.ms)
		}
	}
	evs, rej := e.Logs("app", ld, now)
	if rej.Count != 0 {
		t.Fatal(rej.Messages)
	}
	got := []string{}
	for _, ev := range evs {
		got = append(got, ev.Class)
	}
	if fmt.Sprint(got) != "[slow frozen hang anr ]" {
		t.Fatalf("classes %v", got)
	}
	// Identical records hash identically (retry dedupe), different ones differently.
	if evs[0].RecordHash == evs[1].RecordHash {
		t.Fatal("different records share a hash")
	}
	evs2, _ := e.Logs("app", ld, now.Add(time.Second))
	if evs2[0].RecordHash != evs[0].RecordHash {
		t.Fatal("a resent record hashes differently")
	}
}

func TestAttributesJSONIsValidAndKeepsEverything(t *testing.T) {
	e := New(DefaultConfig())
	now := time.Now()
	rows, _ := e.Traces("app", traces(map[string]any{}, func(sl ptrace.SpanSlice) {
		httpSpan(sl, 1, now.Add(-time.Second), map[string]any{"s": "quote\" back\\ nl\n tab\t ctl\x01 é 日本", "i": -5, "f": 1.5,
			"b": true, "arr": []any{1, "x", map[string]any{"k": nil}}, "m": map[string]any{"n": map[string]any{}}})
		sl.At(0).Attributes().PutDouble("nan", 0)
		sl.At(0).Attributes().PutEmptyBytes("bytes").FromRaw([]byte{0, 1, 2})
	}), now)
	var m map[string]any
	if err := json.Unmarshal(rows[0].Attributes, &m); err != nil {
		t.Fatalf("%s: %v", rows[0].Attributes, err)
	}
	if m["s"] != "quote\" back\\ nl\n tab\t ctl\x01 é 日本" || m["i"] != -5.0 || m["bytes"] != "AAEC" {
		t.Fatalf("round trip: %v", m)
	}
}
