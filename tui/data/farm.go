package data

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetlens/fleetlens/devicefarm/netprofile"
	"github.com/fleetlens/fleetlens/devicefarm/results"
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

// devices lists the fleet through the farm's own reader (devicefarm/results).
func (f *FarmAdapter) devices(ctx context.Context) ([]suite.Device, error) {
	devs, err := results.ListDevices(ctx, f.Pool)
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	out := make([]suite.Device, 0, len(devs))
	for _, d := range devs {
		out = append(out, suite.Device{Serial: d.Serial, Platform: d.Platform, Manufacturer: d.Manufacturer, Model: d.Model,
			OSVersion: d.OSVersion, Tier: d.Tier, State: d.State, APILevel: d.APILevel, Labels: d.Labels})
	}
	return out, nil
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
	// Same precedence as `fleetlens farm run`: the suite names win, then the APKs' manifests.
	var appInfo, testInfo suite.APKInfo
	if strings.HasSuffix(req.AppFile, ".apk") {
		if appInfo, err = suite.ReadAPK(req.AppFile); err != nil {
			return 0, fmt.Errorf("app file: %w", err)
		}
	}
	if strings.HasSuffix(req.TestAppFile, ".apk") {
		if testInfo, err = suite.ReadAPK(req.TestAppFile); err != nil {
			return 0, fmt.Errorf("test app file: %w", err)
		}
	}
	appID := cmp.Or(s.App.ID, appInfo.Package, testInfo.TargetPackage)
	testID := cmp.Or(s.App.TestID, testInfo.Package)
	runner := cmp.Or(s.App.Runner, testInfo.Runner)
	offered := testInfo.Tests
	if req.TestAppFile != "" && testID == "" {
		return 0, fmt.Errorf("%s: app.test_id: the test package name is needed (the test APK does not say)", req.SuitePath)
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
		Preventive: schedule.Preventive{Target: s.Retry.Preventive.Target, MaxCopies: max(s.Retry.Preventive.MaxCopies, 3)},
		Priority:   s.Sharing.Priority, Weight: s.Sharing.Weight, Reserve: s.Sharing.Reserve,
		// The agents read these, as for runs started by `fleetlens farm run`.
		Config: map[string]any{"upstream": s.Network.Upstream, "screenshots": s.Artifacts.Screenshots,
			"logs": s.Artifacts.Logs, "crashes": s.Artifacts.Crashes, "started_from": "tui"},
	}
	only := map[schedule.TestKey]bool{}
	for _, t := range tests {
		k := schedule.TestKey{Class: t.Class, Method: t.Method}
		spec.Tests = append(spec.Tests, k)
		if s.Profiled(t) {
			only[k] = true
		}
	}
	if req.Profile != "" {
		if _, ok := netprofile.Lookup(req.Profile); !ok {
			return 0, fmt.Errorf("profile %q: unknown network profile (known: %s)", req.Profile, strings.Join(netprofile.Names(), ", "))
		}
		if s.Network.Upstream == "" {
			return 0, fmt.Errorf("profile %q: %s has no network.upstream to shape", req.Profile, req.SuitePath)
		}
		// The form's profile replaces the suite's: every selected test runs under it.
		spec.Profiles = []string{req.Profile}
	} else {
		if s.Network.UnshapedToo() {
			spec.Profiles = append(spec.Profiles, "")
		}
		spec.Profiles = append(spec.Profiles, s.Network.Profiles...)
		spec.Profiled = only
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
