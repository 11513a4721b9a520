// Package results owns reading the farm's outcomes back from PostgreSQL (runs, verdicts,
// attempts, progress, the device list) and rendering them: JUnit XML for CI, a
// compatibility summary per (model, OS version) with new failures against a baseline
// release, and the text summary `farm run --wait` ends with.
package results

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Querier is the part of pgx reads need.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Run is one farm run with its tests.
type Run struct {
	ID                      int64
	Name, AppID, Release    string
	Baseline, State, Reason string
	TotalTests              int
	CreatedAt               time.Time
	StartedAt, FinishedAt   *time.Time
	Tests                   []Test
}

// Test is one farm_run_tests row and its attempts.
type Test struct {
	ID                            int64
	Class, Method, Profile, Group string
	Status, Message               string
	Attempts                      []Attempt
}

// Attempt is one execution.
type Attempt struct {
	ID                                      int64
	Serial, Host, Model, OSVersion, Profile string
	Status, InfraReason, Message, Stack     string
	LogExcerpt, CrashKind, Crash            string
	Screenshot, ArtifactDir                 string
	Duration                                time.Duration
	StartedAt                               time.Time
}

// Name is the JUnit-style test name (with profile and group when they split the test).
func (t Test) Name() string {
	n := t.Method
	if t.Profile != "" {
		n += " [" + t.Profile + "]"
	}
	if t.Group != "" {
		n += " {" + t.Group + "}"
	}
	return n
}

// LoadRun reads a run, its tests and every attempt.
func LoadRun(ctx context.Context, q Querier, id int64) (*Run, error) {
	r := &Run{ID: id}
	err := q.QueryRow(ctx, `SELECT name, app_id, release, baseline_release, state, state_reason, total_tests,
		created_at, started_at, finished_at FROM farm_runs WHERE id = $1`, id).
		Scan(&r.Name, &r.AppID, &r.Release, &r.Baseline, &r.State, &r.Reason, &r.TotalTests, &r.CreatedAt, &r.StartedAt, &r.FinishedAt)
	if err == pgx.ErrNoRows {
		return nil, fmt.Errorf("run %d: no such run", id)
	}
	if err != nil {
		return nil, fmt.Errorf("load run %d: %w", id, err)
	}
	rows, err := q.Query(ctx, `SELECT id, class, method, profile, group_key, status, message
		FROM farm_run_tests WHERE run_id = $1 ORDER BY class, method, profile, group_key`, id)
	if err != nil {
		return nil, fmt.Errorf("load tests of run %d: %w", id, err)
	}
	idx := map[int64]int{}
	for rows.Next() {
		var t Test
		if err := rows.Scan(&t.ID, &t.Class, &t.Method, &t.Profile, &t.Group, &t.Status, &t.Message); err != nil {
			rows.Close()
			return nil, fmt.Errorf("load tests of run %d: %w", id, err)
		}
		idx[t.ID] = len(r.Tests)
		r.Tests = append(r.Tests, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load tests of run %d: %w", id, err)
	}
	rows, err = q.Query(ctx, `SELECT id, run_test_id, serial, host_id, model, os_version, profile, status, infra_reason,
		message, stack, log_excerpt, crash_kind, crash, screenshot_path, artifact_dir, duration_ms, started_at
		FROM farm_attempts WHERE run_id = $1 ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("load attempts of run %d: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		var a Attempt
		var tid int64
		var ms int
		if err := rows.Scan(&a.ID, &tid, &a.Serial, &a.Host, &a.Model, &a.OSVersion, &a.Profile, &a.Status, &a.InfraReason,
			&a.Message, &a.Stack, &a.LogExcerpt, &a.CrashKind, &a.Crash, &a.Screenshot, &a.ArtifactDir, &ms, &a.StartedAt); err != nil {
			return nil, fmt.Errorf("load attempts of run %d: %w", id, err)
		}
		a.Duration = time.Duration(ms) * time.Millisecond
		if i, ok := idx[tid]; ok {
			r.Tests[i].Attempts = append(r.Tests[i].Attempts, a)
		}
	}
	return r, rows.Err()
}

// Progress is the live state of a run.
type Progress struct {
	State                                       string
	Total, Done, Passed, Failed, Flaky, Errored int
	Skipped, DevicesBusy                        int
	Remaining                                   time.Duration // expected work left (sum)
}

// LoadProgress reads farm_run_progress for one run.
func LoadProgress(ctx context.Context, q Querier, id int64) (Progress, error) {
	var p Progress
	var rem int64
	err := q.QueryRow(ctx, `SELECT state, total_tests, done, passed, failed, flaky, errored, skipped, devices_busy,
		remaining_expected_ms FROM farm_run_progress WHERE run_id = $1`, id).
		Scan(&p.State, &p.Total, &p.Done, &p.Passed, &p.Failed, &p.Flaky, &p.Errored, &p.Skipped, &p.DevicesBusy, &rem)
	if err != nil {
		return p, fmt.Errorf("progress of run %d: %w", id, err)
	}
	p.Remaining = time.Duration(rem) * time.Millisecond
	return p, nil
}

// Finished reports whether the run reached a final state.
func (p Progress) Finished() bool {
	switch p.State {
	case "passed", "failed", "error", "cancelled":
		return true
	}
	return false
}

// RunRow is one line of `farm runs`.
type RunRow struct {
	ID                    int64
	Name, AppID, Release  string
	State                 string
	Total, Passed, Failed int
	Flaky                 int
	CreatedAt             time.Time
	FinishedAt            *time.Time
}

// ListRuns returns the newest runs first.
func ListRuns(ctx context.Context, q Querier, limit int) ([]RunRow, error) {
	rows, err := q.Query(ctx, `SELECT r.id, r.name, r.app_id, r.release, r.state, p.total_tests, p.passed, p.failed + p.errored,
		p.flaky, r.created_at, r.finished_at FROM farm_runs r JOIN farm_run_progress p ON p.run_id = r.id
		ORDER BY r.id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	defer rows.Close()
	var out []RunRow
	for rows.Next() {
		var r RunRow
		if err := rows.Scan(&r.ID, &r.Name, &r.AppID, &r.Release, &r.State, &r.Total, &r.Passed, &r.Failed, &r.Flaky,
			&r.CreatedAt, &r.FinishedAt); err != nil {
			return nil, fmt.Errorf("list runs: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// DeviceRow is one device of the fleet as stored.
type DeviceRow struct {
	Serial, Platform, Host, State                string
	Manufacturer, Model, OSVersion, Tier, Health string
	APILevel                                     int
	Battery                                      *int
	TemperatureC                                 *float32
	Labels                                       map[string]string
	LastSeen                                     time.Time
	Quarantine                                   string
}

// ListDevices returns the fleet, by host and serial.
func ListDevices(ctx context.Context, q Querier) ([]DeviceRow, error) {
	rows, err := q.Query(ctx, `SELECT serial, platform, coalesce(host_id, ''), state, manufacturer, model, os_version, tier,
		CASE WHEN health_ok THEN 'ok' ELSE health_reason END, api_level, battery_level, temperature_c, labels, last_seen,
		CASE WHEN quarantined_until > now() THEN quarantine_reason ELSE '' END
		FROM devices ORDER BY host_id, serial`)
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	defer rows.Close()
	var out []DeviceRow
	for rows.Next() {
		var d DeviceRow
		if err := rows.Scan(&d.Serial, &d.Platform, &d.Host, &d.State, &d.Manufacturer, &d.Model, &d.OSVersion, &d.Tier,
			&d.Health, &d.APILevel, &d.Battery, &d.TemperatureC, &d.Labels, &d.LastSeen, &d.Quarantine); err != nil {
			return nil, fmt.Errorf("list devices: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}
