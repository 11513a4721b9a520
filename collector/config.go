package collector

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime/debug"
	"time"

	"github.com/fleetlens/fleetlens/collector/scrub"
)

// Config is the collector's configuration: defaults from DefaultConfig, then YAML (the
// field names below), then FLEETLENS_* environment variables (env tags), then Validate.
type Config struct {
	HTTP  HTTPConfig  `yaml:"http"`
	GRPC  GRPCConfig  `yaml:"grpc"`
	Admin AdminConfig `yaml:"admin"` // /metrics, /healthz, /readyz
	TLS   TLS         `yaml:"tls"`

	Limits Limits       `yaml:"limits"`
	Store  StoreConfig  `yaml:"store"`
	Scrub  scrub.Config `yaml:"scrub"`
}

// HTTPConfig, GRPCConfig and AdminConfig are listen addresses (host:port); "" disables one.
type HTTPConfig struct {
	Endpoint string `yaml:"endpoint" env:"FLEETLENS_COLLECTOR_HTTP_ENDPOINT"`
}

type GRPCConfig struct {
	Endpoint string `yaml:"endpoint" env:"FLEETLENS_COLLECTOR_GRPC_ENDPOINT"`
}

type AdminConfig struct {
	Endpoint string `yaml:"endpoint" env:"FLEETLENS_COLLECTOR_ADMIN_ENDPOINT"`
}

// TLS for the OTLP listeners (optional; both files or neither).
type TLS struct {
	CertFile string `yaml:"cert_file" env:"FLEETLENS_COLLECTOR_TLS_CERT"`
	KeyFile  string `yaml:"key_file" env:"FLEETLENS_COLLECTOR_TLS_KEY"`
}

// Limits protect the collector and the database from bad or abusive clients.
type Limits struct {
	MaxBodyBytes     int64 `yaml:"max_body_bytes" env:"FLEETLENS_COLLECTOR_MAX_BODY_BYTES"`
	MaxDecodedBytes  int64 `yaml:"max_decoded_bytes" env:"FLEETLENS_COLLECTOR_MAX_DECODED_BYTES"`
	MaxInflightBytes int64 `yaml:"max_inflight_bytes" env:"FLEETLENS_COLLECTOR_MAX_INFLIGHT_BYTES"`
	MaxQueueBytes    int64 `yaml:"max_queue_bytes" env:"FLEETLENS_COLLECTOR_MAX_QUEUE_BYTES"`
	MaxAttributes    int   `yaml:"max_attributes" env:"FLEETLENS_COLLECTOR_MAX_ATTRIBUTES"`
	// MemoryLimitBytes is the Go runtime's soft memory limit; 0 derives it from the
	// budgets above (in-flight + queue + 96 MiB for everything else).
	MemoryLimitBytes int64         `yaml:"memory_limit_bytes" env:"FLEETLENS_COLLECTOR_MEMORY_LIMIT_BYTES"`
	RequestTimeout   time.Duration `yaml:"request_timeout" env:"FLEETLENS_COLLECTOR_REQUEST_TIMEOUT"`
	RetryAfter       time.Duration `yaml:"retry_after" env:"FLEETLENS_COLLECTOR_RETRY_AFTER"`
}

// StoreConfig sizes the database side.
type StoreConfig struct {
	Workers         int           `yaml:"workers" env:"FLEETLENS_COLLECTOR_WORKERS"`
	MaxBatchRows    int           `yaml:"max_batch_rows" env:"FLEETLENS_COLLECTOR_MAX_BATCH_ROWS"`
	Retention       time.Duration `yaml:"retention" env:"FLEETLENS_COLLECTOR_RETENTION"`
	PartitionsAhead int           `yaml:"partitions_ahead" env:"FLEETLENS_COLLECTOR_PARTITIONS_AHEAD"`
	Sessions        int           `yaml:"sessions"` // per-session network estimators kept in memory
}

// DefaultConfig listens on localhost like the OTel Collector (4318 HTTP, 4317 gRPC, 8888
// admin) and keeps 30 days of raw data.
func DefaultConfig() Config {
	return Config{
		HTTP:  HTTPConfig{"localhost:4318"},
		GRPC:  GRPCConfig{"localhost:4317"},
		Admin: AdminConfig{"localhost:8888"},
		Limits: Limits{
			MaxBodyBytes:     20 << 20,
			MaxDecodedBytes:  80 << 20,
			MaxInflightBytes: 256 << 20,
			// About two seconds of PostgreSQL work on a small machine: a longer queue only
			// turns fast 429s into slow 503s after the request timeout.
			MaxQueueBytes:  32 << 20,
			MaxAttributes:  1024,
			RequestTimeout: 10 * time.Second,
			RetryAfter:     2 * time.Second,
		},
		Store: StoreConfig{Workers: 2, MaxBatchRows: 8192, Retention: 30 * 24 * time.Hour, PartitionsAhead: 2, Sessions: 100_000},
		Scrub: scrub.Defaults(),
	}
}

// Validate checks c.
func (c *Config) Validate() error {
	var errs []error
	if c.HTTP.Endpoint == "" && c.GRPC.Endpoint == "" {
		errs = append(errs, errors.New("http.endpoint and grpc.endpoint are both empty: nothing to receive on"))
	}
	for name, e := range map[string]string{"http.endpoint": c.HTTP.Endpoint, "grpc.endpoint": c.GRPC.Endpoint, "admin.endpoint": c.Admin.Endpoint} {
		if e == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(e); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: want host:port: %w", name, e, err))
		}
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		errs = append(errs, errors.New("tls: set both cert_file and key_file, or neither"))
	}
	l := c.Limits
	if l.MaxBodyBytes <= 0 {
		errs = append(errs, fmt.Errorf("limits.max_body_bytes %d: must be positive", l.MaxBodyBytes))
	}
	if l.MaxDecodedBytes < l.MaxBodyBytes {
		errs = append(errs, fmt.Errorf("limits.max_decoded_bytes %d: must be at least max_body_bytes %d", l.MaxDecodedBytes, l.MaxBodyBytes))
	}
	if l.MaxInflightBytes < l.MaxDecodedBytes {
		errs = append(errs, fmt.Errorf("limits.max_inflight_bytes %d: must be at least max_decoded_bytes %d", l.MaxInflightBytes, l.MaxDecodedBytes))
	}
	if l.MaxQueueBytes <= 0 {
		errs = append(errs, fmt.Errorf("limits.max_queue_bytes %d: must be positive", l.MaxQueueBytes))
	}
	if l.MaxAttributes < 1 {
		errs = append(errs, fmt.Errorf("limits.max_attributes %d: must be at least 1", l.MaxAttributes))
	}
	if l.RequestTimeout <= 0 || l.RetryAfter <= 0 {
		errs = append(errs, errors.New("limits.request_timeout and limits.retry_after must be positive"))
	}
	s := c.Store
	if s.Workers < 1 || s.Workers > 64 {
		errs = append(errs, fmt.Errorf("store.workers %d: want 1..64", s.Workers))
	}
	if s.MaxBatchRows < 1 {
		errs = append(errs, fmt.Errorf("store.max_batch_rows %d: must be positive", s.MaxBatchRows))
	}
	if s.Retention < 24*time.Hour {
		errs = append(errs, fmt.Errorf("store.retention %s: must be at least 24h (partitions are daily)", s.Retention))
	}
	if s.PartitionsAhead < 1 || s.PartitionsAhead > 30 {
		errs = append(errs, fmt.Errorf("store.partitions_ahead %d: want 1..30", s.PartitionsAhead))
	}
	return errors.Join(errs...)
}

// ApplyRuntime tunes the Go runtime of a process that runs one collector: decoding OTLP
// allocates heavily, and a GC target of 200% cut the collector's CPU per span by about a
// third in BenchmarkIngestHTTP; the soft memory limit keeps the heap inside the configured
// budgets regardless. GOGC and GOMEMLIMIT in the environment win.
func (c *Config) ApplyRuntime() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(200)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		lim := c.Limits.MemoryLimitBytes
		if lim <= 0 {
			lim = c.Limits.MaxInflightBytes + c.Limits.MaxQueueBytes + 96<<20
		}
		debug.SetMemoryLimit(lim)
	}
}
