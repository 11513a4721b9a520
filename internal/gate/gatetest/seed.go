// Package gatetest seeds releases through the real collector path for the gate's tests
// (internal/gate and cmd/fleetlens): simulated devices export sessions with the OTel Go SDK's
// OTLP/HTTP trace and log exporters to a collector started in-process, which enriches and
// stores them exactly as in production.
package gatetest

import (
	"context"
	"fmt"
	"math/rand/v2"
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
	"github.com/fleetlens/fleetlens/collector/collectortest"
	"github.com/fleetlens/fleetlens/sdk-hooks/semconv"
)

// App is the app every seeded release belongs to.
const App = "com.example.shop"

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

// Spec describes one release's traffic.
type Spec struct {
	Release         string
	SessionsPerCell int     // per device model × network class
	SlowStratum     string  // "3g × low": TTFB multiplied by slowdown there only
	Slowdown        float64 //
	LateShare       float64 // share of sessions whose data arrives lateBy after it happened
	LateBy          time.Duration
	Seed            uint64
}

// Seed sends a release's sessions through the real collector path: the OTel Go SDK's OTLP/HTTP
// trace and log exporters, to a collector started in-process, which enriches and stores them.
//
// TODO(traffic simulator): when devicefarm/sim/traffic lands, drive it here instead (same
// releases, same per-stratum regression) so the test also covers weak-network shaping.
func Seed(t testing.TB, endpoint, token string, s Spec) {
	t.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(s.Seed, 1))
	hdr := map[string]string{"Authorization": "Bearer " + token}
	now := time.Now()
	for _, d := range devices {
		res := resource.NewSchemaless(
			attribute.String(semconv.ServiceName, App),
			attribute.String(semconv.ServiceVersion, s.Release),
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
			for i := range s.SessionsPerCell {
				sid := fmt.Sprintf("%s-%s-%s-%d", s.Release, d.model, net, i)
				at := now.Add(-time.Duration(rng.IntN(50)) * time.Second)
				if rng.Float64() < s.LateShare {
					at = at.Add(-s.LateBy) // an offline buffer delivering hours later
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
					if stratum == s.SlowStratum {
						ttfb *= s.Slowdown
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
			t.Fatalf("export spans of %s: %v", s.Release, err)
		}
		if err := lp.Shutdown(ctx); err != nil {
			t.Fatalf("export logs of %s: %v", s.Release, err)
		}
	}
}

// StartCollector starts a collector on a free loopback port, stopped when the test ends.
func StartCollector(t testing.TB, pool *pgxpool.Pool) *collector.Collector {
	t.Helper()
	cfg := collector.DefaultConfig()
	cfg.HTTP.Endpoint, cfg.GRPC.Endpoint, cfg.Admin.Endpoint = "127.0.0.1:0", "", ""
	cfg.Store.Retention = 48 * time.Hour
	cfg.Store.PartitionsAhead = 1
	return collectortest.Start(t, cfg, pool)
}

// NewApp registers App and returns an ingest token for it.
func NewApp(t testing.TB, pool *pgxpool.Pool) string {
	t.Helper()
	return collectortest.NewApp(t, pool, App)
}

// Standard is the releases the tests judge: 2.2.0 the baseline; 2.3.0 with TTFB x1.6 on
// 3g x low-tier devices only; 2.3.1 a neutral change; 2.4.0 too little data; 2.1.0 a baseline
// whose data arrived 3 h late for 30% of sessions (offline buffers).
var Standard = []Spec{
	{Release: "2.2.0", SessionsPerCell: 90, Seed: 1},
	{Release: "2.3.0", SessionsPerCell: 90, SlowStratum: "3g × low", Slowdown: 1.6, Seed: 2},
	{Release: "2.3.1", SessionsPerCell: 90, Seed: 3},
	{Release: "2.4.0", SessionsPerCell: 6, Seed: 4},
	{Release: "2.1.0", SessionsPerCell: 40, LateShare: 0.3, LateBy: 3 * time.Hour, Seed: 5},
}

// SeedStandard starts a collector on pool, registers App and seeds the Standard releases.
func SeedStandard(t testing.TB, pool *pgxpool.Pool) {
	t.Helper()
	c := StartCollector(t, pool)
	tok := NewApp(t, pool)
	for _, s := range Standard {
		Seed(t, c.HTTPAddr(), tok, s)
	}
}
