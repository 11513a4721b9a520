// Package agent owns the per-host farm daemon: it discovers the host's devices through a
// driver.Driver, keeps their rows and health in PostgreSQL, gates them on health (battery,
// temperature, storage, booted, responsive), and runs one claim loop per healthy device:
// claim a work item (FOR UPDATE SKIP LOCKED), hold its lease with heartbeats, install the
// run's apps, apply the run's network profile, run the tests, record every attempt with its
// artifacts, and release work it cannot finish. Many agents share one database; none is
// special. It serves Prometheus metrics on /metrics.
package agent

import (
	"errors"
	"fmt"
	"os"
	"time"
)

// HealthConfig are the gates a device must pass before and between work items.
type HealthConfig struct {
	MinBattery       int     `yaml:"min_battery"`         // percent, unless charging; default 20
	MaxTemperatureC  float64 `yaml:"max_temperature_c"`   // battery temperature; default 45
	MinFreeStorageMB int64   `yaml:"min_free_storage_mb"` // default 500
}

// Config configures one agent.
type Config struct {
	HostID       string            `yaml:"host_id"`       // default: hostname
	ArtifactsDir string            `yaml:"artifacts_dir"` // attempts' logs/screenshots, app cache
	Labels       map[string]string `yaml:"labels"`        // copied to every device (e.g. pool)
	MetricsAddr  string            `yaml:"metrics_addr"`  // "" disables; e.g. 127.0.0.1:9464

	LeaseTTL          time.Duration `yaml:"lease_ttl"`          // default 30s
	HeartbeatInterval time.Duration `yaml:"heartbeat_interval"` // default TTL/3
	PollInterval      time.Duration `yaml:"poll_interval"`      // idle re-claim; default 10s (NOTIFY fleetlens_work wakes sooner)
	HealthInterval    time.Duration `yaml:"health_interval"`    // re-check of unhealthy devices; default 10s
	Health            HealthConfig  `yaml:"health"`
}

// WithDefaults fills unset fields.
func (c Config) WithDefaults() Config {
	if c.HostID == "" {
		c.HostID, _ = os.Hostname()
	}
	if c.ArtifactsDir == "" {
		c.ArtifactsDir = "fleetlens-artifacts"
	}
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = 30 * time.Second
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = c.LeaseTTL / 3
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 10 * time.Second
	}
	if c.HealthInterval <= 0 {
		c.HealthInterval = 10 * time.Second
	}
	if c.Health.MinBattery == 0 {
		c.Health.MinBattery = 20
	}
	if c.Health.MaxTemperatureC == 0 {
		c.Health.MaxTemperatureC = 45
	}
	if c.Health.MinFreeStorageMB == 0 {
		c.Health.MinFreeStorageMB = 500
	}
	return c
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	if c.HostID == "" {
		return errors.New("agent: host_id is empty and the hostname is unknown")
	}
	if c.HeartbeatInterval >= c.LeaseTTL {
		return fmt.Errorf("agent: heartbeat_interval %v must be shorter than lease_ttl %v", c.HeartbeatInterval, c.LeaseTTL)
	}
	if c.Health.MinBattery < 0 || c.Health.MinBattery > 100 {
		return fmt.Errorf("agent: health.min_battery %d: want 0..100", c.Health.MinBattery)
	}
	return nil
}
