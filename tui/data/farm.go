package data

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetlens/fleetlens/devicefarm/schedule"
	"github.com/fleetlens/fleetlens/devicefarm/suite"
)

// FarmAdapter starts runs through the device farm's own packages: devicefarm/suite parses
// and validates the file and selects devices and tests, devicefarm/schedule.Enqueue stores
// the run and its queue in one transaction.
type FarmAdapter struct {
	Pool *pgxpool.Pool
}

// NewFarm returns the farm adapter on pool.
func NewFarm(pool *pgxpool.Pool) *FarmAdapter { return &FarmAdapter{Pool: pool} }

// CheckSuite implements Farm: the farm's suite parser, its field errors made inline-friendly.
func (f *FarmAdapter) CheckSuite(ctx context.Context, path string) error {
	_, _, err := suite.Load(path)
	return suiteErr(path, err)
}

func suiteErr(path string, err error) error {
	var es suite.Errors
	if errors.As(err, &es) {
		out := &SuiteErrors{Path: path}
		for _, e := range es {
			out.Errors = append(out.Errors, SuiteError{Line: e.Line, Field: e.Field, Message: e.Msg})
		}
		return out
	}
	return err
}

func (f *FarmAdapter) devices(ctx context.Context) ([]suite.Device, error) {
	rows, err := f.Pool.Query(ctx, `SELECT serial, platform, manufacturer, model, os_version, tier, state,
		api_level, labels FROM devices ORDER BY serial`)
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (suite.Device, error) {
		var d suite.Device
		var labels []byte
		if err := r.Scan(&d.Serial, &d.Platform, &d.Manufacturer, &d.Model, &d.OSVersion, &d.Tier,
			&d.State, &d.APILevel, &labels); err != nil {
			return d, err
		}
		if len(labels) > 0 {
			_ = json.Unmarshal(labels, &d.Labels) // labels are free-form; a bad one selects nothing
		}
		return d, nil
	})
}

func readBlob(path string) (*schedule.Blob, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return &schedule.Blob{Name: filepath.Base(path), Data: b}, nil
}

// StartRun implements Farm.
func (f *FarmAdapter) StartRun(ctx context.Context, req StartRequest) (int64, error) {
	s, src, err := suite.Load(req.SuitePath)
	if err != nil {
		return 0, suiteErr(req.SuitePath, err)
	}
	app, err := readBlob(req.AppFile)
	if err != nil {
		return 0, fmt.Errorf("app file: %w", err)
	}
	testApp, err := readBlob(req.TestAppFile)
	if err != nil {
		return 0, fmt.Errorf("test app file: %w", err)
	}
	appID, testID, runner := s.App.ID, s.App.TestID, s.App.Runner
	var offered []suite.TestCase
	if req.AppFile != "" && strings.HasSuffix(req.AppFile, ".apk") {
		if info, err := suite.ReadAPK(req.AppFile); err != nil {
			return 0, fmt.Errorf("app file: %w", err)
		} else if info.Package != "" {
			appID = info.Package
		}
	}
	if req.TestAppFile != "" && strings.HasSuffix(req.TestAppFile, ".apk") {
		info, err := suite.ReadAPK(req.TestAppFile)
		if err != nil {
			return 0, fmt.Errorf("test app file: %w", err)
		}
		testID, runner = cmp.Or(info.Package, testID), cmp.Or(info.Runner, runner)
		offered = info.Tests
	}
	if appID == "" {
		return 0, fmt.Errorf("%s: app.id: the app id is required when no app file names it", req.SuitePath)
	}
	tests := s.SelectTests(offered)
	if len(tests) == 0 {
		return 0, fmt.Errorf("%s: tests: the suite selects no test (add tests.list or pick a test app)", req.SuitePath)
	}
	all, err := f.devices(ctx)
	if err != nil {
		return 0, err
	}
	sel := s.Select(all)
	if len(sel) == 0 {
		return 0, fmt.Errorf("%s: devices: the selection matches none of the %d devices in the fleet", req.SuitePath, len(all))
	}
	spec := schedule.RunSpec{
		SuiteName: s.Name, SuitePath: req.SuitePath, SuiteSource: string(src), SuiteSpec: s,
		AppID: appID, Release: req.Release, Baseline: s.Baseline, Platform: s.Platform,
		App: app, TestApp: testApp, TestAppID: testID, Runner: runner, Matrix: s.Matrix,
		TestTimeout: time.Duration(s.Timeouts.Test), RunTimeout: time.Duration(s.Timeouts.Run),
		MaxRetries: s.Retry.PerTestRetries(), RetryBudget: s.Retry.PerRun, InfraMax: s.Retry.Infra,
		Preventive: schedule.Preventive{Target: s.Retry.Preventive.Target, MaxCopies: s.Retry.Preventive.MaxCopies},
		Priority:   s.Sharing.Priority, Weight: s.Sharing.Weight, Reserve: s.Sharing.Reserve,
		Config: map[string]any{"started_from": "tui"},
	}
	profiles := s.Network.Profiles
	if req.Profile != "" {
		profiles = []string{req.Profile}
	}
	if len(profiles) > 0 {
		spec.Profiles = profiles
		if s.Network.UnshapedToo() && req.Profile == "" {
			spec.Profiles = append([]string{""}, profiles...)
		}
		spec.Profiled = map[schedule.TestKey]bool{}
	}
	for _, t := range tests {
		k := schedule.TestKey{Class: t.Class, Method: t.Method}
		spec.Tests = append(spec.Tests, k)
		if spec.Profiled != nil && s.Profiled(t) {
			spec.Profiled[k] = true
		}
	}
	for _, d := range sel {
		spec.Devices = append(spec.Devices, schedule.DeviceRef{Serial: d.Serial, Group: d.GroupKey()})
	}
	e, err := schedule.Enqueue(ctx, f.Pool, spec)
	if err != nil {
		return 0, fmt.Errorf("enqueue %s: %w", filepath.Base(req.SuitePath), err)
	}
	return e.RunID, nil
}

// CancelRun implements Farm.
//
// The farm exposes no cancel call yet (devicefarm/schedule has Enqueue and the agent-side
// Queue only), so this mirrors what 003_farm.sql's farm_reap does to a run past its
// deadline, in one transaction: queued and leased work is cancelled (agents see their lease
// lost on the next record), unfinished tests are skipped, devices the run held go idle, and
// the run ends 'cancelled' — whose trigger notifies fleetlens_runs. Replace with the farm's
// API when it has one.
func (f *FarmAdapter) CancelRun(ctx context.Context, id int64, reason string) error {
	return pgx.BeginFunc(ctx, f.Pool, func(tx pgx.Tx) error {
		var state string
		if err := tx.QueryRow(ctx, `SELECT state FROM farm_runs WHERE id = $1 FOR UPDATE`, id).Scan(&state); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("run %d: no such run", id)
			}
			return fmt.Errorf("run %d: %w", id, err)
		}
		if state != "queued" && state != "running" {
			return fmt.Errorf("run %d is already %s", id, state)
		}
		steps := []struct {
			sql  string
			args []any
		}{
			{`UPDATE farm_work_items SET state = 'cancelled', finished_at = now() WHERE run_id = $1 AND state IN ('queued', 'leased')`, []any{id}},
			{`UPDATE farm_run_tests SET status = 'skipped', outstanding = 0, message = $2, updated_at = now() WHERE run_id = $1 AND status IN ('pending', 'running')`, []any{id, reason}},
			{`UPDATE farm_runs SET state = 'cancelled', state_reason = $2, finished_at = now() WHERE id = $1`, []any{id, reason}},
			{`UPDATE devices SET state = 'idle', current_run = NULL WHERE current_run = $1 AND state = 'busy'`, []any{id}},
		}
		for _, st := range steps {
			if _, err := tx.Exec(ctx, st.sql, st.args...); err != nil {
				return fmt.Errorf("cancel run %d: %w", id, err)
			}
		}
		return nil
	})
}
