package sdkhooks

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fleetlens/fleetlens/sdk-hooks/device"
	"github.com/fleetlens/fleetlens/sdk-hooks/internal/otlptest"
	sc "github.com/fleetlens/fleetlens/sdk-hooks/semconv"
	"github.com/fleetlens/fleetlens/sdk-hooks/vitals"
)

// backend is a local sample API: /api/small, /api/big?n=BYTES, /api/status/CODE.
func backend(t testing.TB) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/api/small":
			io.WriteString(w, `{"ok":true}`)
		case r.URL.Path == "/api/big":
			var n int
			fmt.Sscan(r.URL.Query().Get("n"), &n)
			w.Header().Set("Content-Length", fmt.Sprint(n))
			chunk := make([]byte, 64<<10)
			for n > 0 {
				k := min(n, len(chunk))
				w.Write(chunk[:k])
				n -= k
			}
		case strings.HasPrefix(r.URL.Path, "/api/status/"):
			var code int
			fmt.Sscan(strings.TrimPrefix(r.URL.Path, "/api/status/"), &code)
			w.WriteHeader(code)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

var lowEndAndroid = device.Profile{Platform: device.Android, Manufacturer: "samsung", Model: "SM-A125F",
	ModelName: "Galaxy A12", OSVersion: "11", RAMMB: 3072, CPUCores: 8, CPUMaxMHz: 2300}

func startSDK(t testing.TB, endpoint, dir string, mut func(*Config)) *SDK {
	t.Helper()
	cfg := Config{ServiceName: "com.example.shop", Release: "2.3.0", Endpoint: endpoint, QueueDir: dir,
		Device: lowEndAndroid, ExportInterval: 50 * time.Millisecond,
		UploadInitialBackoff: 20 * time.Millisecond, UploadMaxBackoff: 200 * time.Millisecond}
	if mut != nil {
		mut(&cfg)
	}
	s, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s
}

func drain(t testing.TB, s *SDK) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Drain(ctx); err != nil {
		t.Fatal(err)
	}
}

func get(t testing.TB, c *http.Client, url string) int {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func TestConfigValidate(t *testing.T) {
	ok := Config{ServiceName: "a", Release: "1", Endpoint: "http://127.0.0.1:1", QueueDir: "/tmp/x"}
	for _, tc := range []struct {
		name string
		mut  func(*Config)
		want string
	}{
		{"no service", func(c *Config) { c.ServiceName = " " }, "ServiceName"},
		{"no release", func(c *Config) { c.Release = "" }, "Release"},
		{"no queue", func(c *Config) { c.QueueDir = "" }, "QueueDir"},
		{"bad ratio", func(c *Config) { c.SessionSampleRatio = 1.5 }, "SessionSampleRatio"},
		{"bad endpoint", func(c *Config) { c.Endpoint = "collector:4318" }, "endpoint"},
		{"ftp endpoint", func(c *Config) { c.Endpoint = "ftp://x" }, "endpoint"},
		{"negative", func(c *Config) { c.QueueMaxBytes = -1 }, "negative"},
	} {
		c := ok
		tc.mut(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want mention of %s", tc.name, err, tc.want)
		}
	}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestRequestSpans(t *testing.T) {
	rcv := otlptest.Start(t)
	api := backend(t)
	s := startSDK(t, rcv.URL(), t.TempDir(), func(c *Config) { c.CaptureHeaders = []string{"Authorization", "X-Request-Id"} })
	client := &http.Client{Transport: s.WrapTransport(nil)}

	get(t, client, api.URL+"/api/small?email=a@b.c&token=s3cret")
	if code := get(t, client, api.URL+"/api/status/503"); code != 503 {
		t.Fatalf("status %d", code)
	}
	get(t, client, api.URL+"/api/big?n=10485760") // a 10 MB body streams through
	req, _ := http.NewRequest(http.MethodHead, api.URL+"/api/small", nil)
	req.Header.Set("Authorization", "Bearer secret")
	req.Header.Set("X-Request-Id", "r-1")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// A body the app closes without reading still ends its span.
	resp, err = client.Get(api.URL + "/api/big?n=100000&early=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	_, err = client.Get("http://127.0.0.1:1/refused")
	if err == nil {
		t.Fatal("request to a closed port succeeded")
	}
	drain(t, s)
	if err := otlptest.Wait(5*time.Second, func() bool { return len(rcv.Spans()) == 6 }); err != nil {
		t.Fatalf("%v: got %d spans, want 6", err, len(rcv.Spans()))
	}
	byURL := map[string]otlptest.Span{}
	for _, sp := range rcv.Spans() {
		byURL[otlptest.Attr(sp.Attributes, sc.URLFull)] = sp
		if sp.Resource[sc.ServiceVersion] != "2.3.0" || sp.Resource[sc.DeviceTier] != "low" ||
			sp.Resource[sc.DeviceYearClass] != "2014" || sp.Resource[sc.DeviceModelIdentifier] != "SM-A125F" {
			t.Fatalf("resource %v", sp.Resource)
		}
		if got := otlptest.Attr(sp.Attributes, sc.SessionID); got != s.SessionID() {
			t.Fatalf("session.id %q, want %q", got, s.SessionID())
		}
	}
	for _, tc := range []struct {
		url, status, errType, size string
	}{
		{api.URL + "/api/small?email=REDACTED&token=REDACTED", "200", "", "11"},
		{api.URL + "/api/status/503", "503", "503", "0"},
		{api.URL + "/api/big?n=REDACTED", "200", "", "10485760"},
		{"http://127.0.0.1:1/refused", "", sc.ErrorTypeConnect, "0"},
	} {
		sp, ok := byURL[tc.url]
		if !ok {
			t.Fatalf("no span for %s; have %v", tc.url, keys(byURL))
		}
		for k, want := range map[string]string{sc.HTTPResponseStatusCode: tc.status, sc.ErrorType: tc.errType, sc.HTTPResponseBodySize: tc.size} {
			if got := otlptest.Attr(sp.Attributes, k); got != want {
				t.Errorf("%s: %s = %q, want %q", tc.url, k, got, want)
			}
		}
		if otlptest.Attr(sp.Attributes, sc.NetworkClass) == "" || sp.Kind != 3 /* CLIENT */ {
			t.Errorf("%s: missing network class or wrong kind %v", tc.url, sp.Kind)
		}
	}
	head := byURL[api.URL+"/api/small"]
	if got := otlptest.Attr(head.Attributes, "http.request.header.authorization"); got != Redacted {
		t.Errorf("authorization header recorded as %q", got)
	}
	if got := otlptest.Attr(head.Attributes, "http.request.header.x-request-id"); got != "r-1" {
		t.Errorf("x-request-id header recorded as %q", got)
	}
	if head.Name != "HEAD" {
		t.Errorf("span name %q", head.Name)
	}
	// The first request of a connection measured its dial.
	if otlptest.Attr(byURL[api.URL+"/api/small?email=REDACTED&token=REDACTED"].Attributes, sc.HTTPConnectMs) == "" {
		t.Error("no connect phase on the first request")
	}
}

func keys[V any](m map[string]V) []string {
	var k []string
	for key := range m {
		k = append(k, key)
	}
	return k
}

type panicky struct{}

func (panicky) RoundTrip(*http.Request) (*http.Response, error) { panic("app transport bug") }

func TestPanickingTransport(t *testing.T) {
	rcv := otlptest.Start(t)
	s := startSDK(t, rcv.URL(), t.TempDir(), nil)
	client := &http.Client{Transport: s.WrapTransport(panicky{})}
	_, err := client.Get("http://example.invalid/x")
	if err == nil || !strings.Contains(err.Error(), "panicked") {
		t.Fatalf("err %v", err)
	}
	drain(t, s)
	otlptest.Wait(5*time.Second, func() bool { return len(rcv.Spans()) == 1 })
	sp := rcv.Spans()
	if len(sp) != 1 || otlptest.Attr(sp[0].Attributes, sc.ErrorType) != sc.ErrorTypeTransport {
		t.Fatalf("spans %v", sp)
	}
}

func TestLifecycleEvents(t *testing.T) {
	rcv := otlptest.Start(t)
	s := startSDK(t, rcv.URL(), t.TempDir(), func(c *Config) { c.HangThreshold = 100 * time.Millisecond })
	now := time.Now()
	s.AppStarted(vitals.StartCold, now.Add(-6*time.Second), now)
	s.AppStarted(vitals.StartHot, now.Add(-100*time.Millisecond), now)
	for _, d := range []time.Duration{8, 30, 40, 900} {
		s.FrameRendered(d * time.Millisecond)
	}
	s.SetNetwork(NetworkInfo{Type: sc.ConnCell, Subtype: "lte", CarrierName: "Vodafone", CarrierMCC: "262", CarrierMNC: "02"})
	s.Heartbeat()
	time.Sleep(300 * time.Millisecond) // the main loop stalls
	s.Heartbeat()
	func() {
		defer func() { recover() }() // RecoverPanic re-panics, as an app would crash
		defer s.RecoverPanic()
		panic(fmt.Errorf("nil basket"))
	}()
	s.Crash("java.lang.IllegalStateException", "boom", "at Foo.bar(Foo.java:1)", "jvm")
	sid := s.SessionID()
	drain(t, s)

	count := map[string]int{}
	if err := otlptest.Wait(5*time.Second, func() bool {
		clear(count)
		for _, l := range rcv.Logs() {
			count[l.EventName]++
		}
		return count[sc.EventCrash] == 2 && count[sc.EventANR] == 1 && count[sc.EventSessionEnd] == 1
	}); err != nil {
		t.Fatalf("events %v", count)
	}
	want := map[string]int{sc.EventSessionStart: 1, sc.EventSessionEnd: 1, sc.EventJank: 1, sc.EventANR: 1, sc.EventNetworkChange: 1, sc.EventCrash: 2}
	if fmt.Sprint(count) != fmt.Sprint(want) {
		t.Fatalf("events %v, want %v", count, want)
	}
	for _, l := range rcv.Logs() {
		if otlptest.Attr(l.Attributes, sc.SessionID) != sid || otlptest.Attr(l.Attributes, sc.EventName) != l.EventName {
			t.Fatalf("%s: session/event attrs %v", l.EventName, l.Attributes)
		}
		switch l.EventName {
		case sc.EventSessionEnd:
			if otlptest.Attr(l.Attributes, sc.FramesTotal) != "4" || otlptest.Attr(l.Attributes, sc.FramesSlow) != "2" || otlptest.Attr(l.Attributes, sc.FramesFrozen) != "1" {
				t.Errorf("session.end frames %v", l.Attributes)
			}
		case sc.EventCrash:
			if otlptest.Attr(l.Attributes, sc.CrashSource) == "go" && !strings.Contains(otlptest.Attr(l.Attributes, sc.ExceptionStacktrace), "TestLifecycleEvents") {
				t.Errorf("go crash without stack: %v", l.Attributes)
			}
			if otlptest.Attr(l.Attributes, sc.NetworkCarrierName) != "Vodafone" {
				t.Errorf("crash without network attributes")
			}
		case sc.EventANR:
			if d := otlptest.Attr(l.Attributes, sc.HangDurationMs); d < "100" {
				t.Errorf("anr duration %s", d)
			}
		}
	}
	var starts []string
	for _, sp := range rcv.Spans() {
		if sp.Name == sc.SpanAppStart {
			starts = append(starts, otlptest.Attr(sp.Attributes, sc.AppStartType)+"/"+otlptest.Attr(sp.Attributes, sc.AppStartExcessive))
		}
	}
	if strings.Join(starts, ",") != "cold/true,hot/false" {
		t.Fatalf("app starts %v", starts)
	}
}

func TestRecordRequestFromPlatform(t *testing.T) {
	rcv := otlptest.Start(t)
	s := startSDK(t, rcv.URL(), t.TempDir(), nil)
	start := time.Now().Add(-time.Second)
	s.RecordRequest(Request{Method: "POST", URL: "https://api.example.com:8443/cart?id=7", Start: start, End: start.Add(600 * time.Millisecond),
		StatusCode: 201, Source: "okhttp", DNS: 20 * time.Millisecond, Connect: 90 * time.Millisecond, TLS: 120 * time.Millisecond,
		TTFB: 400 * time.Millisecond, Download: 50 * time.Millisecond, ResponseBytes: 900})
	s.RecordRequest(Request{Method: "GET", URL: "::bad url", ErrorType: "timeout", Source: "urlsession", TTFB: -5})
	if est := s.est.Current(); est.Type != "3g" {
		t.Fatalf("estimator after a 400 ms TTFB: %+v", est)
	}
	drain(t, s)
	otlptest.Wait(5*time.Second, func() bool { return len(rcv.Spans()) == 2 })
	sp := rcv.Spans()
	if len(sp) != 2 {
		t.Fatalf("%d spans", len(sp))
	}
	a := sp[0].Attributes
	for k, want := range map[string]string{sc.URLFull: "https://api.example.com:8443/cart?id=REDACTED", sc.HTTPSource: "okhttp",
		sc.HTTPTLSMs: "120", sc.ServerPort: "8443", sc.HTTPResponseStatusCode: "201", sc.NetworkClass: "3g"} {
		if got := otlptest.Attr(a, k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if d := sp[0].EndTimeUnixNano - sp[0].StartTimeUnixNano; d != uint64(600*time.Millisecond) {
		t.Errorf("duration %d", d)
	}
	if otlptest.Attr(sp[1].Attributes, sc.URLFull) != Redacted || otlptest.Attr(sp[1].Attributes, sc.ErrorType) != "timeout" {
		t.Errorf("bad-url span %v", sp[1].Attributes)
	}
}

func TestSessionSampling(t *testing.T) {
	rcv := otlptest.Start(t)
	api := backend(t)
	s := startSDK(t, rcv.URL(), t.TempDir(), func(c *Config) { c.SessionSampleRatio = 1e-12 })
	if s.SessionSampled() {
		t.Skip("a 1e-12 ratio sampled this session") // astronomically unlikely
	}
	client := &http.Client{Transport: s.WrapTransport(nil)}
	for range 5 {
		get(t, client, api.URL+"/api/small")
	}
	s.FrameRendered(time.Second)
	s.FrameRendered(6 * time.Second)
	s.Crash("SIGSEGV", "segfault", "", "signal")
	drain(t, s)
	otlptest.Wait(3*time.Second, func() bool { return len(rcv.Logs()) >= 2 })
	if n := len(rcv.Spans()); n != 0 {
		t.Fatalf("%d spans from an unsampled session", n)
	}
	var got []string
	for _, l := range rcv.Logs() {
		got = append(got, l.EventName+"/"+otlptest.Attr(l.Attributes, sc.SessionSampled))
	}
	if strings.Join(got, ",") != "app.anr/false,app.crash/false" {
		t.Fatalf("events of an unsampled session: %v", got)
	}
	// The estimator still learns from unsampled requests.
	if s.est.Current().Type == "unknown" {
		t.Fatal("estimator starved by sampling")
	}
	for _, tc := range []struct {
		id    string
		ratio float64
		want  bool
	}{
		{"00000000000000000000000000000000", 0.5, true},
		{"ffffffffffffffff0000000000000000", 0.5, false},
		{"7fffffffffffffff0000000000000000", 0.5, true},
		{"80000000000000000000000000000000", 0.5, false},
		{"ffffffffffffffff0000000000000000", 1, true},
		{"zz", 0.5, true},
	} {
		if got := sampledFor(tc.id, tc.ratio); got != tc.want {
			t.Errorf("sampledFor(%s, %v) = %v", tc.id, tc.ratio, got)
		}
	}
}

func TestScrubURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://u:p@api.x.com/a/b?q=1&empty&k=&=v#frag": "https://api.x.com/a/b?q=REDACTED&empty&k=REDACTED&=REDACTED",
		"http://h/p%20q":                  "http://h/p%20q",
		"http://h/?":                      "http://h/",
		"%zz":                             Redacted,
		"https://h/search?q=alice%40mail": "https://h/search?q=REDACTED",
	} {
		if got := ScrubURL(in, false); got != want {
			t.Errorf("ScrubURL(%q) = %q, want %q", in, got, want)
		}
	}
	if got := ScrubURL("http://h/?a=1", true); got != "http://h/?a=1" {
		t.Errorf("keep: %q", got)
	}
}
