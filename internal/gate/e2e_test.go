package gate_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/fleetlens/fleetlens/collector"
	"github.com/fleetlens/fleetlens/collector/auth"
	"github.com/fleetlens/fleetlens/internal/gate"
	"github.com/fleetlens/fleetlens/internal/pg/pgtest"
	"github.com/fleetlens/fleetlens/sdk-hooks/semconv"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const app = "com.example.shop"

// device is one simulated phone model; its tier follows from RAM/cores/MHz (Sentry classes).
type device struct {
	model, tier     string
	ram, cores, mhz int
}

var devices = []device{
	{"SM-A125F", "low", 3072, 8, 2300},
	{"Redmi 9A", "low", 2048, 8, 2000},
	{"Pixel 8", "high", 8192, 9, 2910},
	{"SM-S911B", "high", 8192, 8, 3360},
}

var nets = []string{"4g", "3g"}

// seedSpec describes one release's traffic.
type seedSpec struct {
	release         string
	sessionsPerCell int     // per device model × network class
	slowStratum     string  // "3g × low": TTFB multiplied by slowdown there only
	slowdown        float64 //
	lateShare       float64 // share of sessions whose data arrives lateBy after it happened
	lateBy          time.Duration
	seed            uint64
}

// seed sends a release's sessions through the real collector path: the OTel Go SDK's OTLP/HTTP
// trace and log exporters, to a collector started in-process, which enriches and stores them.
//
// TODO(traffic simulator): when devicefarm/sim/traffic lands, drive it here instead (same
// releases, same per-stratum regression) so the test also covers weak-network shaping.
func seed(t *testing.T, endpoint, token string, s seedSpec) {
	t.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(s.seed, 1))
	hdr := map[string]string{"Authorization": "Bearer " + token}
	now := time.Now()
	for _, d := range devices {
		res := resource.NewSchemaless(
			attribute.String(semconv.ServiceName, app),
			attribute.String(semconv.ServiceVersion, s.release),
			attribute.String(semconv.DeviceModelIdentifier, d.model),
			attribute.String(semconv.DeviceManufacturer, "acme"),
			attribute.String(semconv.OSName, "Android"),
			attribute.String(semconv.OSVersion, "14"),
			attribute.Int(semconv.DeviceRAMMB, d.ram),
			attribute.Int(semconv.DeviceCPUCores, d.cores),
			attribute.Int(semconv.DeviceCPUMaxMHz, d.mhz),
		)
		texp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(endpoint), otlptracehttp.WithInsecure(), otlptracehttp.WithHeaders(hdr))
		if err != nil {
			t.Fatal(err)
		}
		lexp, err := otlploghttp.New(ctx, otlploghttp.WithEndpoint(endpoint), otlploghttp.WithInsecure(), otlploghttp.WithHeaders(hdr))
		if err != nil {
			t.Fatal(err)
		}
		tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithBatcher(texp, sdktrace.WithMaxExportBatchSize(512)))
		lp := sdklog.NewLoggerProvider(sdklog.WithResource(res), sdklog.WithProcessor(sdklog.NewBatchProcessor(lexp, sdklog.WithExportMaxBatchSize(512))))
		tr, lg := tp.Tracer("e2e"), lp.Logger("e2e")
		for _, net := range nets {
			stratum := net + " × " + d.tier
			base := map[string]float64{"4g": 120, "3g": 400}[net]
			if d.tier == "low" {
				base *= 1.3
			}
			for i := range s.sessionsPerCell {
				sid := fmt.Sprintf("%s-%s-%s-%d", s.release, d.model, net, i)
				at := now.Add(-time.Duration(rng.IntN(50)) * time.Second)
				if rng.Float64() < s.lateShare {
					at = at.Add(-s.lateBy) // an offline buffer delivering hours later
				}
				emit := func(name string, attrs ...attribute.KeyValue) {
					var r otellog.Record
					r.SetEventName(name)
					r.SetTimestamp(at)
					r.AddAttributes(append(attrs, attribute.String(semconv.SessionID, sid), attribute.String(semconv.NetworkClass, net))...)
					lg.Emit(ctx, r)
				}
				emit(semconv.EventSessionStart)
				start := 700 + rng.ExpFloat64()*300
				_, sp := tr.Start(ctx, semconv.SpanAppStart, trace.WithTimestamp(at), trace.WithAttributes(
					attribute.String(semconv.AppStartType, "cold"), attribute.String(semconv.SessionID, sid),
					attribute.String(semconv.NetworkClass, net)))
				sp.End(trace.WithTimestamp(at.Add(time.Duration(start * float64(time.Millisecond)))))
				for j := range 3 {
					ttfb := base * (0.7 + rng.ExpFloat64()*0.6)
					if stratum == s.slowStratum {
						ttfb *= s.slowdown
					}
					t0 := at.Add(time.Duration(j+1) * time.Second)
					status := 200
					if rng.Float64() < 0.01 {
						status = 503
					}
					_, sp := tr.Start(ctx, "GET", trace.WithTimestamp(t0), trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
						attribute.String(semconv.HTTPRequestMethod, "GET"),
						attribute.Int(semconv.HTTPResponseStatusCode, status),
						attribute.Float64(semconv.HTTPTTFBMs, ttfb),
						attribute.String(semconv.SessionID, sid),
						attribute.String(semconv.NetworkClass, net)))
					sp.End(trace.WithTimestamp(t0.Add(time.Duration((ttfb + 40) * float64(time.Millisecond)))))
				}
				if rng.Float64() < 0.3 {
					emit(semconv.EventJank, attribute.Float64("duration_ms", 120))
				}
				if rng.Float64() < 0.003 {
					emit(semconv.EventCrash)
				}
			}
		}
		if err := tp.Shutdown(ctx); err != nil {
			t.Fatalf("export spans of %s: %v", s.release, err)
		}
		if err := lp.Shutdown(ctx); err != nil {
			t.Fatalf("export logs of %s: %v", s.release, err)
		}
	}
}

func startCollector(t *testing.T, pool *pgxpool.Pool) *collector.Collector {
	t.Helper()
	cfg := collector.DefaultConfig()
	cfg.HTTP.Endpoint, cfg.GRPC.Endpoint, cfg.Admin.Endpoint = "127.0.0.1:0", "", ""
	cfg.Store.Retention = 48 * time.Hour
	cfg.Store.PartitionsAhead = 1
	c, err := collector.NewCollector(cfg, pool)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c.Shutdown(ctx)
	})
	return c
}

// The done-when: two releases seeded through the collector, one with a regression
// confined to one stratum and one neutral; the gate fails the first naming the stratum,
// passes the second, is inconclusive for a candidate with too little data or whose data is
// still arriving, and rejects bad input with clear messages.
func TestGateThroughCollector(t *testing.T) {
	pool := pgtest.New(t)
	ctx := context.Background()
	c := startCollector(t, pool)
	if _, err := pool.Exec(ctx, `INSERT INTO apps (id) VALUES ($1)`, app); err != nil {
		t.Fatal(err)
	}
	tok, err := auth.Mint(ctx, pool, app)
	if err != nil {
		t.Fatal(err)
	}
	specs := []seedSpec{
		{release: "2.2.0", sessionsPerCell: 90, seed: 1},
		{release: "2.3.0", sessionsPerCell: 90, slowStratum: "3g × low", slowdown: 1.6, seed: 2},
		{release: "2.3.1", sessionsPerCell: 90, seed: 3},
		{release: "2.4.0", sessionsPerCell: 6, seed: 4},
		{release: "2.1.0", sessionsPerCell: 40, lateShare: 0.3, lateBy: 3 * time.Hour, seed: 5},
	}
	for _, s := range specs {
		seed(t, c.HTTPAddr(), tok, s)
	}
	// Judge a couple of minutes after the traffic, as CI would: the newest minute has landed.
	judgeAt := time.Now().Add(2 * time.Minute)
	pol := gate.DefaultPolicy()
	run := func(cand, base string) (*gate.Report, error) {
		in, err := gate.Load(ctx, pool, gate.Request{App: app, Candidate: cand, Baseline: base, Now: judgeAt}, pol)
		if err != nil {
			return nil, err
		}
		r := gate.Judge(in, pol)
		t.Logf("%s vs %s: %s", cand, base, r.Summary)
		return r, nil
	}

	t.Run("regression in one stratum fails naming it", func(t *testing.T) {
		r, err := run("2.3.0", "2.2.0")
		if err != nil {
			t.Fatal(err)
		}
		if r.Verdict != gate.Fail || r.ExitCode != 1 {
			t.Fatalf("verdict %s exit %d: %s", r.Verdict, r.ExitCode, r.Summary)
		}
		if !strings.Contains(r.Summary, "3g × low") || !strings.Contains(r.Summary, "Request TTFB") {
			t.Errorf("summary does not name the stratum and metric: %s", r.Summary)
		}
		for _, ch := range r.Checks {
			if ch.Status == gate.StatusFail && ch.Dim == gate.DimNetTier && ch.Stratum != "3g × low" {
				t.Errorf("unaffected stratum failed: %s", ch.Headline())
			}
		}
		id, err := gate.Save(ctx, pool, r)
		if err != nil {
			t.Fatal(err)
		}
		var v, stratum string
		if err := pool.QueryRow(ctx, `SELECT l.verdict, f.stratum FROM gate_latest l JOIN gate_findings f ON f.verdict_id = l.id
			WHERE l.app_id = $1 AND l.candidate = '2.3.0' AND f.kind = 'check' AND f.status = 'fail' AND f.metric = 'request_ttfb'
			ORDER BY f.ord LIMIT 1`, app).Scan(&v, &stratum); err != nil || v != "fail" || id == 0 {
			t.Errorf("stored verdict: %v %q %q", err, v, stratum)
		}
	})
	t.Run("neutral change passes", func(t *testing.T) {
		r, err := run("2.3.1", "2.2.0")
		if err != nil {
			t.Fatal(err)
		}
		if r.Verdict != gate.Pass || r.ExitCode != 0 {
			var b bytes.Buffer
			gate.Render(&b, r, "text")
			t.Fatalf("verdict %s:\n%s", r.Verdict, b.String())
		}
	})
	t.Run("too little data is inconclusive", func(t *testing.T) {
		r, err := run("2.4.0", "2.2.0")
		if err != nil {
			t.Fatal(err)
		}
		if r.Verdict != gate.Inconclusive || r.ExitCode != 3 || r.Data.WaitUntil == nil {
			t.Fatalf("verdict %s exit %d wait %v: %s", r.Verdict, r.ExitCode, r.Data.WaitUntil, r.Summary)
		}
		if !strings.Contains(r.Summary, "wait until") {
			t.Errorf("summary lacks the wait-until advice: %s", r.Summary)
		}
	})
	t.Run("data still arriving is inconclusive", func(t *testing.T) {
		// 2.1.0's arrival curve: 30% of its data came 3 h late, so its p95 delay is ~3 h and
		// the candidate's minutes-old data is not complete yet.
		r, err := run("2.3.1", "2.1.0")
		if err != nil {
			t.Fatal(err)
		}
		if r.Verdict != gate.Inconclusive || r.Data.CandidateLate == 0 || r.Data.WaitUntil == nil ||
			r.Data.WaitUntil.Before(judgeAt.Add(2*time.Hour)) {
			t.Fatalf("verdict %s late %d wait %v: %s", r.Verdict, r.Data.CandidateLate, r.Data.WaitUntil, r.Summary)
		}
	})
	t.Run("bad input", func(t *testing.T) {
		if _, err := pool.Exec(ctx, `INSERT INTO releases (app_id, version) VALUES ($1, '0.9.0')`, app); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct{ app, cand, base, want string }{
			{"com.nope", "2.3.0", "2.2.0", `unknown app "com.nope" (known apps: com.example.shop)`},
			{app, "9.9.9", "2.2.0", `--candidate 9.9.9: app com.example.shop has no release "9.9.9"`},
			{app, "2.3.0", "1.0.0", `--baseline 1.0.0: app com.example.shop has no release "1.0.0"`},
			{app, "2.3.0", "2.3.0", "candidate and baseline are the same release"},
			{app, "2.3.0", "0.9.0", "baseline 0.9.0 of com.example.shop has no field data"},
		} {
			_, err := gate.Load(ctx, pool, gate.Request{App: tc.app, Candidate: tc.cand, Baseline: tc.base, Now: judgeAt}, pol)
			if err == nil || !gate.IsUsage(err) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s %s vs %s: error %v, want usage error containing %q", tc.app, tc.cand, tc.base, err, tc.want)
			}
		}
	})
}
