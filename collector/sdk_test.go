package collector_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/fleetlens/fleetlens/internal/pg/pgtest"
	"github.com/fleetlens/fleetlens/sdk-hooks/semconv"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

func deviceResource(release string) *resource.Resource {
	return resource.NewSchemaless(
		attribute.String(semconv.ServiceName, "com.example.shop"),
		attribute.String(semconv.ServiceVersion, release),
		attribute.String(semconv.DeviceModelIdentifier, "SM-A125F"),
		attribute.String(semconv.DeviceManufacturer, "samsung"),
		attribute.String(semconv.OSName, "Android"),
		attribute.String(semconv.OSVersion, "11"),
		attribute.Int(semconv.DeviceRAMMB, 3072),
		attribute.Int(semconv.DeviceCPUCores, 8),
		attribute.Int(semconv.DeviceCPUMaxMHz, 2300),
	)
}

// The OTel Go SDK's own OTLP trace exporters (HTTP protobuf, HTTP JSON, gRPC; gzip and
// none) deliver every span exactly once, enriched.
func TestOTelSDKTraceExportersStoreEverySpanOnce(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	c := startCollector(t, testConfig(), pool)
	tok := newApp(t, pool, "com.example.shop")
	ctx := context.Background()
	cases := []struct {
		name string
		exp  func() (sdktrace.SpanExporter, error)
	}{
		{"http-proto-gzip", func() (sdktrace.SpanExporter, error) {
			return otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(c.HTTPAddr()), otlptracehttp.WithInsecure(),
				otlptracehttp.WithHeaders(bearer(tok)), otlptracehttp.WithCompression(otlptracehttp.GzipCompression))
		}},
		{"http-json", func() (sdktrace.SpanExporter, error) {
			return otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(c.HTTPAddr()), otlptracehttp.WithInsecure(),
				otlptracehttp.WithHeaders(bearer(tok)), otlptracehttp.WithEncoding(otlptracehttp.EncodingJSON))
		}},
		{"grpc-gzip", func() (sdktrace.SpanExporter, error) {
			return otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(c.GRPCAddr()), otlptracegrpc.WithInsecure(),
				otlptracegrpc.WithHeaders(bearer(tok)), otlptracegrpc.WithCompressor("gzip"))
		}},
	}
	const perCase = 700
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			exp, err := tc.exp()
			if err != nil {
				t.Fatal(err)
			}
			release := "2.0-" + tc.name
			tp := sdktrace.NewTracerProvider(sdktrace.WithResource(deviceResource(release)),
				sdktrace.WithBatcher(exp, sdktrace.WithMaxExportBatchSize(256)))
			tr := tp.Tracer("test")
			want := map[trace.SpanID]bool{}
			for i := range perCase {
				_, sp := tr.Start(ctx, "GET", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
					attribute.String(semconv.HTTPRequestMethod, "GET"),
					attribute.Int(semconv.HTTPResponseStatusCode, 200),
					attribute.Float64(semconv.HTTPTTFBMs, 300+float64(i%10)),
					attribute.String(semconv.SessionID, fmt.Sprintf("s-%d", i%7)),
					attribute.String(semconv.URLFull, "https://api.example.com/items?user=alice@example.com"),
				))
				want[sp.SpanContext().SpanID()] = true
				sp.End()
			}
			if err := tp.ForceFlush(ctx); err != nil {
				t.Fatalf("export: %v", err)
			}
			if err := tp.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			rows, err := pool.Query(ctx, `SELECT span_id, net_class, tier, attributes->>'url.full', model FROM spans WHERE release = $1`, release)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			seen := 0
			for rows.Next() {
				var id []byte
				var nc, tier, url, model string
				if err := rows.Scan(&id, &nc, &tier, &url, &model); err != nil {
					t.Fatal(err)
				}
				seen++
				var sid trace.SpanID
				copy(sid[:], id)
				if !want[sid] {
					t.Fatalf("stored span %x was not sent, or stored twice", id)
				}
				delete(want, sid)
				// 300 ms TTFB is 3g by NQE (>= 272 ms); 3 GiB RAM is a low-tier Android.
				if nc != "3g" || tier != "low" || model != "SM-A125F" {
					t.Fatalf("enrichment: net_class=%q tier=%q model=%q", nc, tier, model)
				}
				if url != "https://api.example.com/items" {
					t.Fatalf("url.full not scrubbed: %q", url)
				}
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			if seen != perCase || len(want) != 0 {
				t.Fatalf("stored %d spans, %d sent spans missing", seen, len(want))
			}
			if got := count(t, pool, `SELECT coalesce(sum(span_count),0) FROM span_rollups WHERE release = $1`, release); got != perCase {
				t.Fatalf("rollup count %d, want %d", got, perCase)
			}
		})
	}
	// Each distinct resource is stored once and joins back to its spans.
	var model string
	if err := pool.QueryRow(ctx, `SELECT r.attributes->>'device.model.identifier' FROM spans s
JOIN resources r ON r.app_id = s.app_id AND r.hash = s.resource_hash LIMIT 1`).Scan(&model); err != nil || model != "SM-A125F" {
		t.Fatalf("resource join: %q, %v", model, err)
	}
	if got := count(t, pool, `SELECT count(*) FROM resources`); got != int64(len(cases)) {
		t.Fatalf("%d resources stored, want one per release (%d)", got, len(cases))
	}
	if got := count(t, pool, `SELECT count(*) FROM releases WHERE app_id = 'com.example.shop'`); got != int64(len(cases)) {
		t.Fatalf("releases recorded: %d, want %d", got, len(cases))
	}
}

func TestOTelSDKLogExportersStoreEveryEventOnce(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	c := startCollector(t, testConfig(), pool)
	tok := newApp(t, pool, "com.example.shop")
	ctx := context.Background()
	cases := []struct {
		name string
		exp  func() (sdklog.Exporter, error)
	}{
		{"http", func() (sdklog.Exporter, error) {
			return otlploghttp.New(ctx, otlploghttp.WithEndpoint(c.HTTPAddr()), otlploghttp.WithInsecure(),
				otlploghttp.WithHeaders(bearer(tok)), otlploghttp.WithCompression(otlploghttp.GzipCompression))
		}},
		{"grpc", func() (sdklog.Exporter, error) {
			return otlploggrpc.New(ctx, otlploggrpc.WithEndpoint(c.GRPCAddr()), otlploggrpc.WithInsecure(),
				otlploggrpc.WithHeaders(bearer(tok)))
		}},
	}
	const perCase = 300
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			exp, err := tc.exp()
			if err != nil {
				t.Fatal(err)
			}
			release := "3.0-" + tc.name
			lp := sdklog.NewLoggerProvider(sdklog.WithResource(deviceResource(release)),
				sdklog.WithProcessor(sdklog.NewBatchProcessor(exp)))
			lg := lp.Logger("test")
			for i := range perCase {
				var r otellog.Record
				r.SetTimestamp(time.Now())
				switch i % 3 {
				case 0:
					r.SetEventName(semconv.EventCrash)
					r.SetBody(attribute.StringValue(fmt.Sprintf("crash %d for bob@example.com", i)))
				case 1:
					r.SetEventName(semconv.EventJank)
					r.AddAttributes(attribute.Float64(semconv.HangDurationMs, 900))
				default:
					r.SetEventName(semconv.EventSessionStart)
				}
				r.AddAttributes(attribute.Int("i", i))
				lg.Emit(ctx, r)
			}
			if err := lp.ForceFlush(ctx); err != nil {
				t.Fatal(err)
			}
			if err := lp.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			if got := count(t, pool, `SELECT count(DISTINCT (attributes->>'i')::int) FROM events WHERE release = $1`, release); got != perCase {
				t.Fatalf("distinct events %d, want %d", got, perCase)
			}
			if got := count(t, pool, `SELECT count(*) FROM events WHERE release = $1`, release); got != perCase {
				t.Fatalf("events %d, want %d", got, perCase)
			}
			if got := count(t, pool, `SELECT count(*) FROM events WHERE release = $1 AND name = 'app.jank' AND class = 'frozen'`, release); got != perCase/3 {
				t.Fatalf("frozen jank events %d, want %d", got, perCase/3)
			}
			if got := count(t, pool, `SELECT count(*) FROM events WHERE release = $1 AND body LIKE '%example.com%'`, release); got != 0 {
				t.Fatalf("%d bodies still hold an e-mail address", got)
			}
			if got := count(t, pool, `SELECT coalesce(sum(event_count),0) FROM event_rollups WHERE release = $1 AND name = 'app.crash'`, release); got != perCase/3 {
				t.Fatalf("crash rollup %d, want %d", got, perCase/3)
			}
		})
	}
}
