// Package semconv owns the attribute keys, span names and event names that sdk-hooks emits
// and that the fleetlens collector reads. It is plain string constants (no dependencies) so
// the server side can import it without pulling anything of the SDK.
//
// OpenTelemetry semantic-convention keys are used where they exist (semconv 1.26+: network.*,
// device.*, os.*, http.*, url.*, session.id, event.name); keys under "fleetlens." are ours and
// carry values the SDK measures or derives on the device (SPEC §4).
package semconv

// Resource attributes: set once per SDK start, identical for every span and log of a process.
const (
	ServiceName    = "service.name"    // the app identifier, e.g. "com.example.shop"
	ServiceVersion = "service.version" // the app release, e.g. "2.3.0"; fleetlens's release key
	AppBuild       = "app.build_id"    // optional build number next to the release

	DeviceManufacturer    = "device.manufacturer"
	DeviceModelIdentifier = "device.model.identifier" // e.g. "SM-A125F", "iPhone14,5"
	DeviceModelName       = "device.model.name"       // marketing name, e.g. "Galaxy A12"
	DeviceID              = "device.id"               // an install-scoped random id, never a hardware id

	OSType    = "os.type" // "linux" for Android, "darwin" for iOS (semconv os.type values)
	OSName    = "os.name" // "Android", "iOS"
	OSVersion = "os.version"

	// Device profile measured at start (SPEC §4 weak device tier and year class).
	DeviceRAMMB     = "fleetlens.device.ram_mb"
	DeviceCPUCores  = "fleetlens.device.cpu_cores"
	DeviceCPUMaxMHz = "fleetlens.device.cpu_max_mhz"
	DeviceTier      = "fleetlens.device.tier"       // "low", "mid", "high", "unknown"
	DeviceYearClass = "fleetlens.device.year_class" // e.g. 2014

	Platform = "fleetlens.platform" // "android", "ios"
)

// Per-signal attributes.
const (
	SessionID = "session.id"
	// SessionSampled records the session's head-sampling decision on its logs and spans; a
	// crash or ANR of an unsampled session is still sent, marked false, so that the
	// collector can weight counts by the sampling ratio.
	SessionSampled     = "fleetlens.session.sampled"
	SessionSampleRatio = "fleetlens.session.sample_ratio"

	NetworkConnectionType    = "network.connection.type"    // wifi, wired, cell, unavailable, unknown
	NetworkConnectionSubtype = "network.connection.subtype" // gprs, edge, umts, hspa, lte, nr, ...
	NetworkCarrierName       = "network.carrier.name"
	NetworkCarrierMCC        = "network.carrier.mcc"
	NetworkCarrierMNC        = "network.carrier.mnc"
	NetworkCarrierICC        = "network.carrier.icc"

	// Network quality measured on the device (SPEC §4 Chromium NQE / Facebook
	// network-connection-class), as estimated when the span started.
	NetworkClass           = "fleetlens.network.class"            // effective type: slow-2g, 2g, 3g, 4g
	NetworkThroughputClass = "fleetlens.network.throughput_class" // poor, moderate, good, excellent
	NetworkRTTMs           = "fleetlens.network.rtt_ms"           // estimator's smoothed HTTP RTT
	NetworkKbps            = "fleetlens.network.kbps"             // estimator's smoothed throughput

	// HTTP (semconv).
	HTTPRequestMethod      = "http.request.method"
	HTTPResponseStatusCode = "http.response.status_code"
	HTTPRequestBodySize    = "http.request.body.size"
	HTTPResponseBodySize   = "http.response.body.size"
	URLFull                = "url.full" // query scrubbed on the device by default
	URLScheme              = "url.scheme"
	URLPath                = "url.path"
	ServerAddress          = "server.address"
	ServerPort             = "server.port"
	ErrorType              = "error.type" // see ErrorType* values
	NetworkProtocolVersion = "network.protocol.version"

	// Request phases measured with net/http/httptrace (or reported by OkHttp/URLSession
	// callers through the facade), in milliseconds as float64.
	HTTPDNSMs      = "fleetlens.http.dns_ms"
	HTTPConnectMs  = "fleetlens.http.connect_ms"
	HTTPTLSMs      = "fleetlens.http.tls_ms"
	HTTPTTFBMs     = "fleetlens.http.ttfb_ms" // request written -> first response byte
	HTTPDownloadMs = "fleetlens.http.download_ms"
	HTTPReusedConn = "fleetlens.http.connection_reused"
	// HTTPSource says who measured the phases: "go" (the RoundTripper) or the stack name
	// a platform caller passed ("okhttp", "urlsession", ...).
	HTTPSource = "fleetlens.http.source"

	// App start.
	AppStartType      = "app.start.type" // cold, warm, hot
	AppStartExcessive = "fleetlens.app.start.excessive"

	// Frames and hangs (on app.jank / app.anr / app.hang events and on the session.end summary).
	FramesTotal     = "fleetlens.frames.total"
	FramesSlow      = "fleetlens.frames.slow"
	FramesFrozen    = "fleetlens.frames.frozen"
	HangDurationMs  = "fleetlens.hang.duration_ms"
	SessionDuration = "fleetlens.session.duration_ms"

	// Crashes (app.crash event), semconv exception.* keys.
	ExceptionType       = "exception.type"
	ExceptionMessage    = "exception.message"
	ExceptionStacktrace = "exception.stacktrace"
	CrashSource         = "fleetlens.crash.source" // "go" (panic hook) or the platform ("jvm", "signal", "mach", ...)

	// Network change event attributes (previous values; the new values are the regular keys).
	NetworkPrevClass          = "fleetlens.network.previous_class"
	NetworkPrevThroughput     = "fleetlens.network.previous_throughput_class"
	NetworkPrevConnectionType = "fleetlens.network.previous_connection_type"

	// EventName is the semconv log attribute that names an event; the SDK also sets the
	// OTLP LogRecord.event_name field to the same value.
	EventName = "event.name"
)

// Event names: these arrive as OTLP log records (SPEC §4).
const (
	EventCrash         = "app.crash"
	EventJank          = "app.jank"
	EventANR           = "app.anr"
	EventHang          = "app.hang"
	EventSessionStart  = "session.start"
	EventSessionEnd    = "session.end"
	EventNetworkChange = "network.change"
)

// Span names.
const (
	SpanAppStart = "app.start"
	// HTTP client spans are named by the HTTP method alone ("GET"), per semconv.
)

// Instrumentation scope of everything the SDK emits.
const (
	ScopeName = "github.com/fleetlens/fleetlens/sdk-hooks"
)

// error.type values for HTTP requests; status codes >= 400 use the code itself ("503").
const (
	ErrorTypeDNS       = "dns"
	ErrorTypeConnect   = "connect"
	ErrorTypeTLS       = "tls"
	ErrorTypeTimeout   = "timeout"
	ErrorTypeCanceled  = "canceled"
	ErrorTypeReset     = "connection_reset"
	ErrorTypeBody      = "body_read"
	ErrorTypeTransport = "transport_panic"
	ErrorTypeOther     = "_OTHER" // semconv fallback value
)

// Values of network.connection.type (semconv).
const (
	ConnWifi        = "wifi"
	ConnWired       = "wired"
	ConnCell        = "cell"
	ConnUnavailable = "unavailable"
	ConnUnknown     = "unknown"
)
