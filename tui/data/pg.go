package data

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PG reads the fleet, the farm's runs and results from PostgreSQL (schema 001 + 003) and
// listens for their NOTIFY channels.
type PG struct {
	pool     *pgxpool.Pool
	dsn      string
	listener *listener
}

// Config configures the PostgreSQL source.
type Config struct {
	DSN string
	// Coalesce is how long notifications are gathered into one Event (default 100 ms).
	Coalesce time.Duration
	// MaxBackoff caps the reconnect delay (default 5 s).
	MaxBackoff time.Duration
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if c.DSN == "" {
		return fmt.Errorf("tui data: empty DSN")
	}
	if _, err := pgx.ParseConfig(c.DSN); err != nil {
		return fmt.Errorf("tui data: DSN: %w", err)
	}
	return nil
}

// NewPG builds the source. It does not connect: Start begins listening (and reconnecting),
// and queries connect lazily, so an unreachable database is a state the screen shows, not a
// failure to start.
func NewPG(cfg Config) (*PG, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	pcfg, err := pgxpool.ParseConfig(cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("tui data: DSN: %w", err)
	}
	pcfg.MaxConns = 4
	// A short connect timeout keeps the "unreachable" screen responsive.
	if pcfg.ConnConfig.ConnectTimeout == 0 || pcfg.ConnConfig.ConnectTimeout > 3*time.Second {
		pcfg.ConnConfig.ConnectTimeout = 3 * time.Second
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), pcfg)
	if err != nil {
		return nil, fmt.Errorf("tui data: pool: %w", err)
	}
	if cfg.Coalesce <= 0 {
		cfg.Coalesce = 100 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Second
	}
	p := &PG{pool: pool, dsn: cfg.DSN, listener: newListener(pcfg.ConnConfig, cfg.Coalesce, cfg.MaxBackoff)}
	// Connections from before a server restart are dead; drop them rather than fail one
	// query per stale connection.
	p.listener.onReconnect = pool.Reset
	return p, nil
}

// Pool exposes the pool so the farm and gate adapters share it.
func (p *PG) Pool() *pgxpool.Pool { return p.pool }

// Start begins listening for notifications in the background.
func (p *PG) Start(ctx context.Context) error {
	p.listener.start(ctx)
	return nil
}

// Shutdown stops listening and closes the pool.
func (p *PG) Shutdown(ctx context.Context) error {
	p.listener.stop()
	p.pool.Close()
	return nil
}

// Events implements Source.
func (p *PG) Events() <-chan Event { return p.listener.out }

// Ping implements Source.
func (p *PG) Ping(ctx context.Context) error {
	if err := p.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	return nil
}

// The current test of a device is the running test of the work item it has leased.
const deviceSelect = `
WITH cur AS (
    SELECT DISTINCT ON (w.lease_serial) w.lease_serial AS serial, t.class || '#' || t.method AS test
    FROM farm_work_items w JOIN farm_run_tests t ON t.id = ANY (w.tests)
    WHERE w.state = 'leased' AND t.status = 'running'
    ORDER BY w.lease_serial, w.id DESC
)
SELECT d.serial, d.platform, coalesce(d.host_id, ''), coalesce(h.hostname, ''), d.state,
       d.manufacturer, d.model, d.os_version, d.api_level, d.tier, d.ram_mb, d.cpu_cores,
       d.cpu_max_mhz, d.screen, d.battery_level, d.temperature_c::float8, d.charging,
       d.thermal_status, d.free_storage_mb, d.health_ok, d.health_reason, d.quarantine_reason,
       d.current_run, coalesce(cur.test, ''), d.last_seen
FROM devices d
LEFT JOIN hosts h ON h.id = d.host_id
LEFT JOIN cur ON cur.serial = d.serial`

func scanDevice(row pgx.Row) (Device, error) {
	var d Device
	err := row.Scan(&d.Serial, &d.Platform, &d.HostID, &d.Hostname, &d.State, &d.Manufacturer,
		&d.Model, &d.OSVersion, &d.APILevel, &d.Tier, &d.RAMMB, &d.Cores, &d.MaxMHz, &d.Screen,
		&d.Battery, &d.TempC, &d.Charging, &d.Thermal, &d.FreeMB, &d.HealthOK, &d.HealthReason,
		&d.Quarantine, &d.CurrentRun, &d.CurrentTest, &d.LastSeen)
	return d, err
}

// Devices implements Source.
func (p *PG) Devices(ctx context.Context) ([]Device, error) {
	rows, err := p.pool.Query(ctx, deviceSelect+` ORDER BY d.serial`)
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Device, error) { return scanDevice(r) })
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	return out, nil
}

// DevicesBySerial implements Source: the rows a NOTIFY batch named (missing ones were deleted).
func (p *PG) DevicesBySerial(ctx context.Context, serials []string) ([]Device, error) {
	rows, err := p.pool.Query(ctx, deviceSelect+` WHERE d.serial = ANY ($1) ORDER BY d.serial`, serials)
	if err != nil {
		return nil, fmt.Errorf("read devices %s: %w", strings.Join(serials, ","), err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Device, error) { return scanDevice(r) })
	if err != nil {
		return nil, fmt.Errorf("read devices: %w", err)
	}
	return out, nil
}

const attemptSelect = `
SELECT a.id, a.run_id, coalesce(t.class || '#' || t.method, ''), a.profile, a.serial, a.model,
       a.os_version, a.status, a.infra_reason, a.duration_ms, a.message, a.log_excerpt,
       a.crash_kind, a.screenshot_path, a.artifact_dir, a.started_at
FROM farm_attempts a LEFT JOIN farm_run_tests t ON t.id = a.run_test_id`

func collectAttempts(rows pgx.Rows) ([]Attempt, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Attempt, error) {
		var a Attempt
		err := r.Scan(&a.ID, &a.RunID, &a.Test, &a.Profile, &a.Serial, &a.Model, &a.OSVersion,
			&a.Status, &a.InfraReason, &a.DurationMS, &a.Message, &a.LogExcerpt, &a.CrashKind,
			&a.Screenshot, &a.ArtifactDir, &a.StartedAt)
		return a, err
	})
}

// Device implements Source.
func (p *PG) Device(ctx context.Context, serial string) (DeviceDetail, error) {
	var dd DeviceDetail
	d, err := scanDevice(p.pool.QueryRow(ctx, deviceSelect+` WHERE d.serial = $1`, serial))
	if err != nil {
		if err == pgx.ErrNoRows {
			return dd, fmt.Errorf("device %s: not in the fleet", serial)
		}
		return dd, fmt.Errorf("device %s: %w", serial, err)
	}
	dd.Device = d
	rows, err := p.pool.Query(ctx, `
		SELECT at, battery_level, temperature_c::float8, thermal_status, free_storage_mb, ok, reason
		FROM farm_device_health WHERE serial = $1 ORDER BY at DESC LIMIT 60`, serial)
	if err != nil {
		return dd, fmt.Errorf("device %s health: %w", serial, err)
	}
	dd.Health, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (HealthReading, error) {
		var h HealthReading
		err := r.Scan(&h.At, &h.Battery, &h.TempC, &h.Thermal, &h.FreeMB, &h.OK, &h.Reason)
		return h, err
	})
	if err != nil {
		return dd, fmt.Errorf("device %s health: %w", serial, err)
	}
	rows, err = p.pool.Query(ctx, attemptSelect+` WHERE a.serial = $1 ORDER BY a.id DESC LIMIT 20`, serial)
	if err != nil {
		return dd, fmt.Errorf("device %s attempts: %w", serial, err)
	}
	if dd.Attempts, err = collectAttempts(rows); err != nil {
		return dd, fmt.Errorf("device %s attempts: %w", serial, err)
	}
	for _, a := range dd.Attempts {
		if a.LogExcerpt != "" {
			lines := strings.Split(strings.TrimRight(a.LogExcerpt, "\n"), "\n")
			dd.LogTail = lines[max(0, len(lines)-40):]
			break
		}
	}
	return dd, nil
}

const runSelect = `
SELECT r.id, r.name, coalesce(s.name, ''), r.app_id, r.release, r.baseline_release, r.platform,
       r.state, r.state_reason, greatest(r.total_tests, p.done::int), p.done, p.passed, p.failed,
       p.flaky, p.errored, p.skipped, p.devices_busy, p.remaining_expected_ms, r.created_at,
       r.started_at, r.finished_at
FROM farm_runs r
JOIN farm_run_progress p ON p.run_id = r.id
LEFT JOIN farm_suites s ON s.id = r.suite_id`

func scanRun(row pgx.Row) (Run, error) {
	var r Run
	err := row.Scan(&r.ID, &r.Name, &r.Suite, &r.AppID, &r.Release, &r.Baseline, &r.Platform,
		&r.State, &r.Reason, &r.Total, &r.Done, &r.Passed, &r.Failed, &r.Flaky, &r.Errored,
		&r.Skipped, &r.DevicesBusy, &r.RemainingMS, &r.CreatedAt, &r.StartedAt, &r.FinishedAt)
	return r, err
}

// Runs implements Source: the newest 200 runs.
func (p *PG) Runs(ctx context.Context) ([]Run, error) {
	rows, err := p.pool.Query(ctx, runSelect+` ORDER BY r.id DESC LIMIT 200`)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Run, error) { return scanRun(r) })
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	return out, nil
}

// Run implements Source.
func (p *PG) Run(ctx context.Context, id int64) (RunDetail, error) {
	var rd RunDetail
	r, err := scanRun(p.pool.QueryRow(ctx, runSelect+` WHERE r.id = $1`, id))
	if err != nil {
		if err == pgx.ErrNoRows {
			return rd, fmt.Errorf("run %d: no such run", id)
		}
		return rd, fmt.Errorf("run %d: %w", id, err)
	}
	rd.Run = r
	rows, err := p.pool.Query(ctx, `
		SELECT model, os_version, tests, passed, failed, flaky, other FROM farm_compat
		WHERE run_id = $1 ORDER BY failed DESC, flaky DESC, model, os_version`, id)
	if err != nil {
		return rd, fmt.Errorf("run %d groups: %w", id, err)
	}
	rd.Groups, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Group, error) {
		var g Group
		err := r.Scan(&g.Model, &g.OSVersion, &g.Tests, &g.Passed, &g.Failed, &g.Flaky, &g.Other)
		return g, err
	})
	if err != nil {
		return rd, fmt.Errorf("run %d groups: %w", id, err)
	}
	rows, err = p.pool.Query(ctx, `
		SELECT id, class || '#' || method, profile, status, attempts, passes, test_failures,
		       infra_failures, duration_ms, message
		FROM farm_run_tests WHERE run_id = $1
		ORDER BY CASE status WHEN 'failed' THEN 0 WHEN 'error' THEN 1 WHEN 'flaky' THEN 2
		         WHEN 'running' THEN 3 WHEN 'pending' THEN 4 ELSE 5 END, class, method, profile`, id)
	if err != nil {
		return rd, fmt.Errorf("run %d tests: %w", id, err)
	}
	rd.Tests, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (TestResult, error) {
		var t TestResult
		err := r.Scan(&t.ID, &t.Test, &t.Profile, &t.Status, &t.Attempts, &t.Passes, &t.Failures,
			&t.Infra, &t.DurationMS, &t.Message)
		return t, err
	})
	if err != nil {
		return rd, fmt.Errorf("run %d tests: %w", id, err)
	}
	rows, err = p.pool.Query(ctx, attemptSelect+`
		WHERE a.run_id = $1 AND a.status IN ('failed', 'error', 'infra') ORDER BY a.id DESC LIMIT 500`, id)
	if err != nil {
		return rd, fmt.Errorf("run %d attempts: %w", id, err)
	}
	if rd.Failures, err = collectAttempts(rows); err != nil {
		return rd, fmt.Errorf("run %d attempts: %w", id, err)
	}
	return rd, nil
}
