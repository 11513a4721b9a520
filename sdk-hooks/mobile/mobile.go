// Package mobile is the gomobile-bindable facade of sdk-hooks for Android (AAR) and iOS
// (XCFramework) apps. It exposes only types gomobile can bind (strings, bools, signed
// integers, floats, byte slices, errors, pointers to this package's structs), so Kotlin
// and Swift code calls it directly:
//
//	val cfg = Mobile.newConfig().apply { serviceName = "com.example.shop"; release = "2.3.0"
//	    endpoint = "https://collector.example.com:4318"; queueDir = filesDir.path }
//	val fl = Mobile.start(cfg)
//	fl.heartbeat()                      // from a main-thread Handler every 500 ms
//	fl.recordRequest(req)               // from an OkHttp EventListener
//
// Times cross the boundary as Unix milliseconds and durations as milliseconds, since
// gomobile has no time types. Every method is safe from any thread and never throws for
// bad input; it is clamped or discarded.
package mobile

import (
	"context"
	"errors"
	"strings"
	"time"

	sdkhooks "github.com/fleetlens/fleetlens/sdk-hooks"
	"github.com/fleetlens/fleetlens/sdk-hooks/device"
	"github.com/fleetlens/fleetlens/sdk-hooks/vitals"
)

// Config mirrors sdkhooks.Config with bindable fields.
type Config struct {
	ServiceName string
	Release     string
	Build       string
	Endpoint    string
	AuthToken   string // sent as "Authorization: Bearer <token>"
	QueueDir    string
	QueueMaxMB  int64
	SampleRatio float64 // per session; 0 keeps all

	Platform     string // "android" or "ios"
	Manufacturer string
	Model        string // ro.product.model / hw.machine
	ModelName    string
	OSVersion    string
	RAMMB        int64
	CPUCores     int64
	CPUMaxMHz    int64

	HangThresholdMs int64
	CaptureHeaders  string // comma-separated header names
	RedactHeaders   string // comma-separated header names
	KeepURLQuery    bool
}

// NewConfig returns an empty Config (gomobile cannot construct Go structs by literal).
func NewConfig() *Config { return &Config{} }

// Client is a started SDK.
type Client struct{ sdk *sdkhooks.SDK }

// Start starts the SDK; the error names the bad field.
func Start(c *Config) (*Client, error) {
	if c == nil {
		return nil, errors.New("fleetlens: nil config")
	}
	cfg := sdkhooks.Config{
		ServiceName: c.ServiceName, Release: c.Release, Build: c.Build, Endpoint: c.Endpoint,
		QueueDir: c.QueueDir, QueueMaxBytes: c.QueueMaxMB << 20, SessionSampleRatio: c.SampleRatio,
		Device: device.Profile{Platform: device.Platform(strings.ToLower(c.Platform)), Manufacturer: c.Manufacturer,
			Model: c.Model, ModelName: c.ModelName, OSVersion: c.OSVersion,
			RAMMB: int(c.RAMMB), CPUCores: int(c.CPUCores), CPUMaxMHz: int(c.CPUMaxMHz)},
		HangThreshold:  time.Duration(c.HangThresholdMs) * time.Millisecond,
		CaptureHeaders: splitList(c.CaptureHeaders),
		RedactHeaders:  splitList(c.RedactHeaders),
		KeepURLQuery:   c.KeepURLQuery,
	}
	if c.AuthToken != "" {
		cfg.Headers = map[string]string{"Authorization": "Bearer " + c.AuthToken}
	}
	s, err := sdkhooks.Start(context.Background(), cfg)
	if err != nil {
		return nil, err
	}
	return &Client{sdk: s}, nil
}

func splitList(s string) []string {
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		if p := strings.TrimSpace(part); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func unixMs(ms int64) time.Time {
	if ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

func durMs(ms float64) time.Duration {
	if !(ms > 0) {
		return 0
	}
	return time.Duration(ms * float64(time.Millisecond))
}

// Request is a request made by OkHttp/URLSession, reported with its phase timings.
type Request struct {
	Method        string
	URL           string
	StartUnixMs   int64
	EndUnixMs     int64
	StatusCode    int64
	ErrorType     string
	Source        string // "okhttp", "urlsession", ...
	DNSMs         float64
	ConnectMs     float64
	TLSMs         float64
	TTFBMs        float64
	DownloadMs    float64
	RequestBytes  int64
	ResponseBytes int64
	Reused        bool
}

// NewRequest returns an empty Request.
func NewRequest() *Request { return &Request{} }

// RecordRequest records r as a client span and feeds the network quality estimator.
func (c *Client) RecordRequest(r *Request) {
	if r == nil {
		return
	}
	c.sdk.RecordRequest(sdkhooks.Request{
		Method: r.Method, URL: r.URL, Start: unixMs(r.StartUnixMs), End: unixMs(r.EndUnixMs),
		StatusCode: int(r.StatusCode), ErrorType: r.ErrorType, Source: r.Source,
		DNS: durMs(r.DNSMs), Connect: durMs(r.ConnectMs), TLS: durMs(r.TLSMs), TTFB: durMs(r.TTFBMs), Download: durMs(r.DownloadMs),
		RequestBytes: max(r.RequestBytes, 0), ResponseBytes: max(r.ResponseBytes, 0), ConnectionReused: r.Reused,
	})
}

// SetNetwork reports the active network (type: wifi, wired, cell, unavailable, unknown).
func (c *Client) SetNetwork(typ, subtype, carrierName, mcc, mnc string) {
	c.sdk.SetNetwork(sdkhooks.NetworkInfo{Type: typ, Subtype: subtype, CarrierName: carrierName, CarrierMCC: mcc, CarrierMNC: mnc})
}

// NetworkAvailable tells the SDK connectivity returned, to retry uploads now.
func (c *Client) NetworkAvailable() { c.sdk.NetworkAvailable() }

// AppStarted records an app start ("cold", "warm", "hot") between two Unix ms instants.
func (c *Client) AppStarted(startType string, startUnixMs, endUnixMs int64) {
	st, _ := vitals.ParseStartType(strings.ToLower(startType))
	if startUnixMs <= 0 || endUnixMs <= 0 {
		return
	}
	c.sdk.AppStarted(st, time.UnixMilli(startUnixMs), time.UnixMilli(endUnixMs))
}

// FrameRendered counts one frame that took durationMs.
func (c *Client) FrameRendered(durationMs float64) { c.sdk.FrameRendered(durMs(durationMs)) }

// FrameStats adds aggregated frame counts since the last call.
func (c *Client) FrameStats(total, slow, frozen int64) { c.sdk.FrameStats(total, slow, frozen) }

// Heartbeat is called from the main thread every few hundred ms; it arms the hang watchdog.
func (c *Client) Heartbeat() { c.sdk.Heartbeat() }

// Crash records a platform crash and returns once it is on disk.
func (c *Client) Crash(exceptionType, message, stacktrace, source string) {
	c.sdk.Crash(exceptionType, message, stacktrace, source)
}

// StartSession starts a new session and returns its id.
func (c *Client) StartSession() string { return c.sdk.StartSession() }

// EndSession ends the current session.
func (c *Client) EndSession() { c.sdk.EndSession() }

// SessionID is the current session's id.
func (c *Client) SessionID() string { return c.sdk.SessionID() }

// NetworkClass is the measured effective connection type (slow-2g, 2g, 3g, 4g, unknown).
func (c *Client) NetworkClass() string {
	_, est := c.sdk.Network()
	return string(est.Type)
}

// DeviceTier is the device's tier (low, mid, high, unknown).
func (c *Client) DeviceTier() string { return string(c.sdk.Profile().Tier()) }

// DroppedCount is how many batches the offline queue discarded, all reasons together.
func (c *Client) DroppedCount() int64 {
	var n int64
	for _, v := range c.sdk.Stats().Dropped {
		n += v
	}
	return n
}

// QueuedBytes is the size of the offline queue on disk.
func (c *Client) QueuedBytes() int64 { return c.sdk.Stats().QueuedBytes }

// Flush writes buffered telemetry to the disk queue (call from onPause/willResignActive).
func (c *Client) Flush(timeoutMs int64) error {
	ctx, cancel := context.WithTimeout(context.Background(), msOr(timeoutMs, 2000))
	defer cancel()
	return c.sdk.Flush(ctx)
}

// Shutdown stops the SDK; unsent data stays queued for the next start.
func (c *Client) Shutdown(timeoutMs int64) error {
	ctx, cancel := context.WithTimeout(context.Background(), msOr(timeoutMs, 2000))
	defer cancel()
	return c.sdk.Shutdown(ctx)
}

func msOr(ms, def int64) time.Duration {
	if ms <= 0 {
		ms = def
	}
	return time.Duration(ms) * time.Millisecond
}
