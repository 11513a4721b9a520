// Package receiver owns the OTLP wire: OTLP/HTTP (protobuf and JSON, gzip and zstd) on
// /v1/traces and /v1/logs, and OTLP/gRPC, with bearer-token authentication, body and
// decompression limits, an in-flight memory budget, and the mapping of outcomes to the
// status codes OTLP clients act on (retry on 429/503 and Unavailable/ResourceExhausted,
// drop on other 4xx). Decoding is pdata's; what happens to decoded data is the Sink's.
package receiver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"golang.org/x/sync/semaphore"
	"google.golang.org/grpc/codes"
)

// Outcome is what a Sink did with a request: Rejected items were invalid (Message says
// why); every other item is committed.
type Outcome struct {
	Rejected int
	Message  string
}

// Sink consumes authenticated, decoded requests. It returns nil only once the accepted
// items are durable. Errors are classified with the sentinel errors below.
type Sink interface {
	Traces(ctx context.Context, app string, td ptrace.Traces) (Outcome, error)
	Logs(ctx context.Context, app string, ld plog.Logs) (Outcome, error)
}

// Authenticator resolves a bearer token to an app id. It returns ErrUnauthenticated for a
// bad token; any other error means it could not decide (answered as unavailable).
type Authenticator interface {
	App(ctx context.Context, token string) (string, error)
}

// Errors a Sink or Authenticator returns to choose the answer.
var (
	ErrUnauthenticated = errors.New("unauthenticated")
	ErrOverloaded      = errors.New("overloaded")  // 429 / ResourceExhausted, retry later
	ErrUnavailable     = errors.New("unavailable") // 503 / Unavailable, retry later
	ErrInvalid         = errors.New("invalid")     // 400 / InvalidArgument, do not retry
)

// Observer counts what the receiver sees (collector metrics implement it).
type Observer interface {
	Received(signal, transport string, items int)
	RequestRejected(signal, transport, reason string)
	Request(signal, transport string, code int, took time.Duration)
}

// Config of the receiver.
type Config struct {
	HTTPAddr         string // "" disables OTLP/HTTP
	GRPCAddr         string // "" disables OTLP/gRPC
	TLSCertFile      string
	TLSKeyFile       string
	MaxBodyBytes     int64 // compressed request body; 413 above
	MaxDecodedBytes  int64 // decompressed body; 413 above (decompression-bomb guard)
	MaxInflightBytes int64 // memory budget of requests being read and decoded; 429 above
	RequestTimeout   time.Duration
	RetryAfter       time.Duration // advertised on 429/503
}

// Validate checks c.
func (c Config) Validate() error {
	if c.HTTPAddr == "" && c.GRPCAddr == "" {
		return errors.New("receiver: neither http nor grpc endpoint is set")
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return errors.New("receiver: tls needs both cert_file and key_file")
	}
	if c.MaxBodyBytes <= 0 || c.MaxDecodedBytes < c.MaxBodyBytes {
		return fmt.Errorf("receiver: max_body_bytes (%d) must be > 0 and <= max_decoded_bytes (%d)", c.MaxBodyBytes, c.MaxDecodedBytes)
	}
	if c.MaxInflightBytes < c.MaxDecodedBytes {
		return fmt.Errorf("receiver: max_inflight_bytes (%d) must be >= max_decoded_bytes (%d)", c.MaxInflightBytes, c.MaxDecodedBytes)
	}
	if c.RequestTimeout <= 0 || c.RetryAfter <= 0 {
		return errors.New("receiver: request_timeout and retry_after must be positive")
	}
	return nil
}

// budget bounds the bytes of requests being read, decompressed and decoded at once.
type budget struct{ sem *semaphore.Weighted }

func (b budget) try(n int64) bool { return b.sem.TryAcquire(n) }
func (b budget) release(n int64)  { b.sem.Release(n) }

// classify maps an error to HTTP and gRPC codes and a reason label.
func classify(err error) (int, codes.Code, string) {
	switch {
	case errors.Is(err, ErrUnauthenticated):
		return http.StatusUnauthorized, codes.Unauthenticated, "unauthenticated"
	case errors.Is(err, ErrOverloaded):
		return http.StatusTooManyRequests, codes.ResourceExhausted, "overloaded"
	case errors.Is(err, ErrInvalid):
		return http.StatusBadRequest, codes.InvalidArgument, "invalid"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled), errors.Is(err, ErrUnavailable):
		return http.StatusServiceUnavailable, codes.Unavailable, "unavailable"
	default:
		return http.StatusServiceUnavailable, codes.Unavailable, "unavailable"
	}
}

func retryAfterSeconds(d time.Duration) string {
	return strconv.Itoa(max(1, int((d+time.Second-1)/time.Second)))
}
