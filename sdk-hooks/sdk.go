// Package sdkhooks is the in-app instrumentation that app teams ship: it records network
// requests, app start, frames, hangs, crashes and sessions as OpenTelemetry spans and OTLP
// log events, tags them with the device, network and session, and exports them through an
// offline-first disk queue to any OTLP/HTTP backend (fleetlens collector by default).
//
// A typical app calls Start once, wraps its HTTP transport, and reports lifecycle events:
//
//	sdk, err := sdkhooks.Start(ctx, sdkhooks.Config{ServiceName: "com.example.shop",
//		Release: "2.3.0", Endpoint: "https://collector.example.com:4318", QueueDir: dir})
//	client := &http.Client{Transport: sdk.WrapTransport(http.DefaultTransport)}
//	defer sdk.Shutdown(ctx)
//
// Nothing here may slow or break the app: every entry point recovers its own panics, hot
// paths avoid locks and allocations, and export happens on background goroutines.
package sdkhooks

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fleetlens/fleetlens/sdk-hooks/device"
	"github.com/fleetlens/fleetlens/sdk-hooks/export"
	"github.com/fleetlens/fleetlens/sdk-hooks/nqe"
	"github.com/fleetlens/fleetlens/sdk-hooks/queue"
	sc "github.com/fleetlens/fleetlens/sdk-hooks/semconv"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Config configures the SDK. ServiceName, Release, Endpoint and QueueDir are required.
type Config struct {
	ServiceName string // the app id, e.g. "com.example.shop"
	Release     string // the app version; fleetlens compares releases
	Build       string // optional build number

	// Endpoint is the OTLP/HTTP base URL ("/v1/traces" and "/v1/logs" are appended).
	Endpoint string
	// Headers go with every upload, e.g. {"Authorization": "Bearer <ingest token>"}.
	Headers map[string]string

	// QueueDir is where the offline queue lives (the app's private files or caches dir).
	QueueDir      string
	QueueMaxBytes int64         // default 10 MiB (SPEC §4)
	QueueMaxAge   time.Duration // default 18 h (SPEC §4)

	// SessionSampleRatio is the fraction of sessions whose spans and events are kept,
	// decided once per session. 0 means 1 (keep all). Crashes and ANRs are always kept.
	SessionSampleRatio float64

	// Device is what the platform knows about the hardware; empty fields are filled from
	// the OS where possible (/proc, /sys on Android).
	Device   device.Profile
	DeviceID string // install-scoped id; random per queue dir when empty

	// KeepURLQuery disables scrubbing of URL query values (scrubbed by default).
	KeepURLQuery bool
	// CaptureHeaders are request/response headers recorded as span attributes;
	// RedactHeaders among them are recorded as "REDACTED" (Authorization, Cookie,
	// Set-Cookie and Proxy-Authorization always are).
	CaptureHeaders []string
	RedactHeaders  []string

	// HangThreshold is the main-loop stall reported as a hang/ANR; default 2 s on iOS
	// and 5 s elsewhere (SPEC §4).
	HangThreshold time.Duration

	// ExportInterval is how often buffered spans and logs go to the disk queue; default 5 s.
	ExportInterval time.Duration
	// Upload tuning; zero values use the export package defaults.
	UploadInitialBackoff time.Duration
	UploadMaxBackoff     time.Duration
	UploadClient         *http.Client

	Logger *slog.Logger

	// spanBatch overrides the span batch and queue size (benchmarks isolate the request
	// path by keeping the exporter idle).
	spanBatch int
	// spanExporter replaces the OTLP exporter (benchmarks measure the request path with a
	// discarding exporter so encoding cost is reported separately).
	spanExporter sdktrace.SpanExporter
}

// Validate reports the first configuration error.
func (c *Config) Validate() error {
	switch {
	case strings.TrimSpace(c.ServiceName) == "":
		return errors.New("sdkhooks: ServiceName is required")
	case strings.TrimSpace(c.Release) == "":
		return errors.New("sdkhooks: Release is required")
	case c.QueueDir == "":
		return errors.New("sdkhooks: QueueDir is required (the queue is on by default)")
	case c.SessionSampleRatio < 0 || c.SessionSampleRatio > 1:
		return fmt.Errorf("sdkhooks: SessionSampleRatio %v is outside [0,1]", c.SessionSampleRatio)
	case c.QueueMaxBytes < 0 || c.QueueMaxAge < 0 || c.HangThreshold < 0 || c.ExportInterval < 0:
		return errors.New("sdkhooks: negative size or duration in Config")
	}
	up := export.UploaderConfig{Endpoint: c.Endpoint}
	if err := up.Validate(); err != nil {
		return fmt.Errorf("sdkhooks: %w", err)
	}
	return nil
}

// SDK is a started instance. All methods are safe for concurrent use and never panic.
type SDK struct {
	cfg    Config
	log    *slog.Logger
	q      *queue.Queue
	up     *export.Uploader
	tp     *sdktrace.TracerProvider
	lp     *sdklog.LoggerProvider
	tracer trace.Tracer
	logger otellog.Logger

	profile  device.Profile
	platform string
	est      *nqe.Estimator
	net      atomic.Pointer[netState]
	sess     atomic.Pointer[session]
	sessMu   sync.Mutex // serialises session start/end
	redact   map[string]bool
	capture  []string
	wd       watchdog
	shutOnce sync.Once
	closed   atomic.Bool
}

// Start builds the SDK: opens the queue, computes the device profile, starts the
// exporters, the uploader and a first session.
func Start(ctx context.Context, cfg Config) (*SDK, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.SessionSampleRatio == 0 {
		cfg.SessionSampleRatio = 1
	}
	if cfg.ExportInterval == 0 {
		cfg.ExportInterval = 5 * time.Second
	}
	lg := cfg.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	q, err := queue.Open(queue.Config{Dir: filepath.Join(cfg.QueueDir, "otlp"), MaxBytes: cfg.QueueMaxBytes, MaxAge: cfg.QueueMaxAge})
	if err != nil {
		return nil, fmt.Errorf("sdkhooks: open queue: %w", err)
	}
	s := &SDK{cfg: cfg, log: lg, q: q, est: nqe.NewEstimator(), redact: map[string]bool{}}
	for _, h := range []string{"Authorization", "Cookie", "Set-Cookie", "Proxy-Authorization"} {
		s.redact[http.CanonicalHeaderKey(h)] = true
	}
	for _, h := range cfg.RedactHeaders {
		s.redact[http.CanonicalHeaderKey(h)] = true
	}
	for _, h := range cfg.CaptureHeaders {
		s.capture = append(s.capture, http.CanonicalHeaderKey(h))
	}
	s.profile = detectProfile(cfg.Device)
	s.platform = strings.ToLower(string(s.profile.Platform))
	if cfg.DeviceID == "" {
		cfg.DeviceID = installID(cfg.QueueDir)
		s.cfg.DeviceID = cfg.DeviceID
	}
	s.net.Store(newNetState(NetworkInfo{Type: sc.ConnUnknown}, s.est.Current()))

	res, err := resource.New(ctx, resource.WithTelemetrySDK(), resource.WithAttributes(s.resourceAttrs()...))
	if err != nil {
		return nil, fmt.Errorf("sdkhooks: build resource: %w", err)
	}
	spool := &http.Client{Transport: &export.Spool{Queue: q}}
	// The exporters only ever talk to the spool; the URL is a placeholder for its paths.
	texp, err := otlptracehttp.New(ctx,
		otlptracehttp.WithEndpointURL("http://spool.invalid/v1/traces"),
		otlptracehttp.WithHTTPClient(spool),
		otlptracehttp.WithCompression(otlptracehttp.GzipCompression),
		otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false}))
	if err != nil {
		return nil, fmt.Errorf("sdkhooks: trace exporter: %w", err)
	}
	lexp, err := otlploghttp.New(ctx,
		otlploghttp.WithEndpointURL("http://spool.invalid/v1/logs"),
		otlploghttp.WithHTTPClient(spool),
		otlploghttp.WithCompression(otlploghttp.GzipCompression),
		otlploghttp.WithRetry(otlploghttp.RetryConfig{Enabled: false}))
	if err != nil {
		return nil, fmt.Errorf("sdkhooks: log exporter: %w", err)
	}
	s.tp = sdktrace.NewTracerProvider(
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sessionSampler{s}),
		sdktrace.WithRawSpanLimits(sdktrace.SpanLimits{
			AttributeValueLengthLimit: 4096, AttributeCountLimit: 64,
			EventCountLimit: 32, LinkCountLimit: 8, AttributePerEventCountLimit: 16, AttributePerLinkCountLimit: 16,
		}),
		sdktrace.WithBatcher(spanExporterOr(cfg.spanExporter, texp), batchOpts(cfg)...))
	s.lp = sdklog.NewLoggerProvider(
		sdklog.WithResource(res),
		sdklog.WithAttributeValueLengthLimit(16384),
		sdklog.WithProcessor(sdklog.NewBatchProcessor(lexp, sdklog.WithExportInterval(cfg.ExportInterval))))
	s.tracer = s.tp.Tracer(sc.ScopeName)
	s.logger = s.lp.Logger(sc.ScopeName)

	s.up, err = export.NewUploader(export.UploaderConfig{
		Endpoint: cfg.Endpoint, Headers: cfg.Headers, Client: cfg.UploadClient,
		InitialBackoff: cfg.UploadInitialBackoff, MaxBackoff: cfg.UploadMaxBackoff,
		BatchIDPrefix: cfg.DeviceID, Logger: lg,
	}, q)
	if err != nil {
		return nil, fmt.Errorf("sdkhooks: %w", err)
	}
	if err := s.up.Start(ctx); err != nil {
		return nil, err
	}
	s.wd.init(s)
	s.StartSession()
	return s, nil
}

func spanExporterOr(e, def sdktrace.SpanExporter) sdktrace.SpanExporter {
	if e != nil {
		return e
	}
	return def
}

func batchOpts(cfg Config) []sdktrace.BatchSpanProcessorOption {
	o := []sdktrace.BatchSpanProcessorOption{sdktrace.WithBatchTimeout(cfg.ExportInterval), sdktrace.WithMaxExportBatchSize(512)}
	if cfg.spanBatch > 0 {
		o = append(o, sdktrace.WithMaxExportBatchSize(cfg.spanBatch), sdktrace.WithMaxQueueSize(cfg.spanBatch))
	}
	return o
}

func (s *SDK) resourceAttrs() []attribute.KeyValue {
	p := s.profile
	a := []attribute.KeyValue{
		attribute.String(sc.ServiceName, s.cfg.ServiceName),
		attribute.String(sc.ServiceVersion, s.cfg.Release),
		attribute.String(sc.DeviceTier, string(p.Tier())),
		attribute.String(sc.DeviceID, s.cfg.DeviceID),
	}
	add := func(k, v string) {
		if v != "" {
			a = append(a, attribute.String(k, v))
		}
	}
	add(sc.AppBuild, s.cfg.Build)
	add(sc.DeviceManufacturer, p.Manufacturer)
	add(sc.DeviceModelIdentifier, p.Model)
	add(sc.DeviceModelName, p.ModelName)
	add(sc.OSVersion, p.OSVersion)
	add(sc.Platform, s.platform)
	switch s.platform {
	case "android":
		a = append(a, attribute.String(sc.OSName, "Android"), attribute.String(sc.OSType, "linux"))
	case "ios":
		a = append(a, attribute.String(sc.OSName, "iOS"), attribute.String(sc.OSType, "darwin"))
	}
	if p.RAMMB > 0 {
		a = append(a, attribute.Int(sc.DeviceRAMMB, p.RAMMB))
	}
	if p.CPUCores > 0 {
		a = append(a, attribute.Int(sc.DeviceCPUCores, p.CPUCores))
	}
	if p.CPUMaxMHz > 0 {
		a = append(a, attribute.Int(sc.DeviceCPUMaxMHz, p.CPUMaxMHz))
	}
	if yc := p.YearClass(); yc > 0 {
		a = append(a, attribute.Int(sc.DeviceYearClass, yc))
	}
	return a
}

// Profile returns the device profile computed at start.
func (s *SDK) Profile() device.Profile { return s.profile }

// Flush moves everything buffered in memory to the disk queue. It does not wait for the
// upload; use Drain for that.
func (s *SDK) Flush(ctx context.Context) error {
	err := s.tp.ForceFlush(ctx)
	return errors.Join(err, s.lp.ForceFlush(ctx))
}

// Drain flushes and then waits until the disk queue is empty or ctx ends.
func (s *SDK) Drain(ctx context.Context) error {
	if err := s.Flush(ctx); err != nil {
		return err
	}
	s.up.Kick()
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for s.q.Len() > 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("sdkhooks: drain: %d batches still queued: %w", s.q.Len(), ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

// NetworkAvailable tells the SDK the platform saw connectivity return, to retry now.
func (s *SDK) NetworkAvailable() { s.up.Kick() }

// Stats reports the export pipeline's state.
type Stats struct {
	QueuedBatches int
	QueuedBytes   int64
	Uploaded      int64
	UploadTries   int64
	Dropped       map[string]int64
}

// Stats returns a snapshot of the queue and uploader.
func (s *SDK) Stats() Stats {
	qs := s.q.Stats()
	return Stats{QueuedBatches: qs.Records, QueuedBytes: qs.Bytes, Uploaded: s.up.Sent(), UploadTries: s.up.Attempts(), Dropped: qs.Dropped}
}

// Shutdown ends the session, writes everything to the disk queue, tries to upload until
// ctx ends, and stops. Whatever is not uploaded stays queued for the next Start.
func (s *SDK) Shutdown(ctx context.Context) error {
	var err error
	s.shutOnce.Do(func() {
		s.EndSession()
		s.wd.stop()
		err = errors.Join(s.tp.Shutdown(ctx), s.lp.Shutdown(ctx))
		if _, ok := ctx.Deadline(); !ok {
			// Offline with no deadline would wait forever: bound the upload attempt.
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
		}
		s.up.Kick()
		t := time.NewTicker(20 * time.Millisecond)
		for s.q.Len() > 0 && ctx.Err() == nil {
			select {
			case <-ctx.Done():
			case <-t.C:
			}
		}
		t.Stop()
		s.closed.Store(true)
		err = errors.Join(err, s.up.Shutdown(context.WithoutCancel(ctx)))
	})
	return err
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// guard turns a panic inside the SDK into a log line: the SDK never panics into the app.
func (s *SDK) guard(where string) {
	if r := recover(); r != nil {
		s.log.Error("sdk-hooks: internal panic recovered", "where", where, "panic", fmt.Sprint(r))
	}
}
