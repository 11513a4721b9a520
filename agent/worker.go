package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fleetlens/fleetlens/devicefarm/driver"
	"github.com/fleetlens/fleetlens/devicefarm/schedule"
)

// worker runs the claim loop of one device.
type worker struct {
	a      *Agent
	dev    driver.Device
	log    *slog.Logger
	cancel context.CancelFunc
	wake   chan struct{}
	once   sync.Once
	done   atomic.Bool
	gone   atomic.Bool

	itemID    atomic.Int64
	itemSince atomic.Int64 // unix nanos
	mu        sync.Mutex
	itemStop  context.CancelFunc
	installed map[int64]bool // runs whose apps are on the device
}

func (w *worker) wakeCh() chan struct{} {
	w.once.Do(func() { w.wake = make(chan struct{}, 1) })
	return w.wake
}

func (w *worker) stopped() bool { return w.done.Load() }

func (w *worker) heldSince() time.Duration {
	s := w.itemSince.Load()
	if s == 0 {
		return 0
	}
	return time.Since(time.Unix(0, s))
}

func (w *worker) cancelItem() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.itemStop != nil {
		w.itemStop()
	}
}

func (w *worker) sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	case <-w.wakeCh():
	}
}

func (w *worker) loop(ctx context.Context) {
	defer w.done.Store(true)
	w.installed = map[int64]bool{}
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		if w.gone.Load() {
			return
		}
		if !w.healthy(ctx) {
			w.sleep(ctx, w.a.cfg.HealthInterval)
			continue
		}
		start := time.Now()
		l, err := w.a.q.Claim(ctx, w.dev.Serial)
		w.a.m.claimSeconds.Observe(time.Since(start).Seconds())
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			w.a.m.claims.WithLabelValues("error").Inc()
			w.a.m.dbErrors.Inc()
			w.log.Warn("claim", "err", err)
			w.sleep(ctx, backoff)
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		if l == nil {
			w.a.m.claims.WithLabelValues("empty").Inc()
			w.sleep(ctx, w.a.cfg.PollInterval)
			continue
		}
		w.a.m.claims.WithLabelValues("work").Inc()
		w.run(ctx, l)
	}
}

// healthy reads and stores the device's health and reports whether it may take work.
func (w *worker) healthy(ctx context.Context) bool {
	h, err := w.a.drv.Health(ctx, w.dev.Serial)
	reason := ""
	if err != nil {
		if errors.Is(err, driver.ErrDeviceGone) {
			w.gone.Store(true)
		}
		reason = "health check failed: " + err.Error()
	} else {
		reason = w.a.cfg.Health.gate(h)
	}
	ok := reason == ""
	if !ok {
		w.a.m.healthFails.Inc()
	}
	_, dbErr := w.a.pool.Exec(ctx, `WITH h AS (
			INSERT INTO farm_device_health (serial, host_id, battery_level, charging, temperature_c, thermal_status,
				free_storage_mb, booted, responsive, ok, reason)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11))
		UPDATE devices SET battery_level = $3, charging = $4, temperature_c = $5, thermal_status = $6,
			free_storage_mb = $7, health_ok = $10, health_reason = $11, last_health = now(), last_seen = now(),
			state = CASE WHEN state = 'quarantined' AND quarantined_until <= now() THEN 'idle'
			             WHEN $10 AND state IN ('draining', 'offline') THEN 'idle'
			             WHEN NOT $10 AND state IN ('idle', 'busy') THEN 'draining' ELSE state END,
			quarantined_until = CASE WHEN quarantined_until <= now() THEN NULL ELSE quarantined_until END
		WHERE serial = $1`,
		w.dev.Serial, w.a.cfg.HostID, h.BatteryLevel, h.Charging, h.TemperatureC, h.ThermalStatus, h.FreeStorageMB,
		h.Booted, h.Responsive, ok, reason)
	if dbErr != nil {
		w.a.m.dbErrors.Inc()
		return false
	}
	if !ok {
		w.log.Info("device drained by health gate", "reason", reason)
	}
	return ok
}

// run executes one leased item.
func (w *worker) run(ctx context.Context, l *schedule.Lease) {
	ictx, stop := context.WithCancel(ctx)
	defer stop()
	w.mu.Lock()
	w.itemStop = stop
	w.mu.Unlock()
	w.itemID.Store(l.ItemID)
	w.itemSince.Store(time.Now().UnixNano())
	defer func() {
		w.itemID.Store(0)
		w.itemSince.Store(0)
		w.mu.Lock()
		w.itemStop = nil
		w.mu.Unlock()
	}()
	log := w.log.With("run", l.RunID, "item", l.ItemID, "tests", len(l.Tests))
	release := func(reason, msg string) {
		if err := w.retryDB(ctx, func(c context.Context) error { return w.a.q.Release(c, l, reason, msg) }); err != nil &&
			!errors.Is(err, schedule.ErrLeaseLost) {
			log.Warn("release", "err", err)
		}
	}
	info, err := w.a.runs.get(ictx, l.RunID)
	if err != nil {
		log.Warn("run info", "err", err)
		release("agent_error", err.Error())
		return
	}
	if !w.installed[l.RunID] {
		if err := w.install(ictx, info); err != nil {
			log.Warn("install", "err", err)
			if errors.Is(err, driver.ErrDeviceGone) {
				w.gone.Store(true)
				release("device_lost", err.Error())
				return
			}
			// The app does not install here: report it on this device and take the device out
			// of the run so the run continues elsewhere.
			_, _ = w.a.pool.Exec(ctx, `DELETE FROM farm_run_devices WHERE run_id = $1 AND serial = $2`, l.RunID, w.dev.Serial)
			w.record(ctx, l, schedule.Attempt{TestID: l.Tests[0].ID, Status: "infra", InfraReason: "install_failed",
				Message: err.Error(), StartedAt: time.Now()})
			release("install_failed", err.Error())
			return
		}
		w.installed[l.RunID] = true
	}
	if l.Profile != "" {
		if info.Upstream == "" {
			release("agent_error", "network profile "+l.Profile+" but the run has no upstream")
			return
		}
		addr, err := w.a.net.Ensure(ictx, fmt.Sprintf("run%d-%s", l.RunID, l.Profile), l.Profile, info.Upstream)
		if err != nil {
			release("network_profile", err.Error())
			return
		}
		restore, err := w.a.drv.ApplyNetworkProfile(ictx, w.dev.Serial, addr)
		if err != nil {
			release("network_profile", err.Error())
			return
		}
		defer func() {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if err := restore(rctx); err != nil {
				log.Warn("restore network setting", "err", err)
			}
		}()
	}
	byName := map[string]schedule.ClaimedTest{}
	var cases []driver.TestCase
	for _, t := range l.Tests {
		byName[t.Class+"#"+t.Method] = t
		cases = append(cases, driver.TestCase{Class: t.Class, Method: t.Method})
	}
	// An item that runs far past its expected time with no output is an infrastructure
	// failure (a hung device), not a test failure.
	budget := 3*l.Expected + time.Minute
	if info.TestTimeout > 0 {
		budget = max(budget, time.Duration(len(l.Tests))*info.TestTimeout+time.Minute)
	}
	rctx, cancel := context.WithTimeout(ictx, budget)
	defer cancel()
	lost := false
	testStart := time.Now()
	// An 'error' result is held back until we know why the run ended: the driver reports
	// the test in flight as an error when the device drops off, and that is an
	// infrastructure failure, not the test's.
	var held *schedule.Attempt
	flush := func(a schedule.Attempt) {
		if lost {
			return
		}
		if err := w.record(ctx, l, a); errors.Is(err, schedule.ErrLeaseLost) {
			lost = true
			stop()
		}
	}
	err = w.a.drv.RunTests(rctx, w.dev.Serial, driver.RunRequest{AppID: info.AppID, TestAppID: info.TestAppID,
		Runner: info.Runner, Tests: cases, TestTimeout: info.TestTimeout}, func(res driver.TestResult) {
		t, ok := byName[res.Class+"#"+res.Method]
		if !ok || lost {
			return
		}
		if held != nil {
			flush(*held)
			held = nil
		}
		a := w.attempt(ctx, info, l, t, res, testStart)
		testStart = time.Now()
		if a.Status == "error" {
			held = &a
			return
		}
		flush(a)
	})
	if held != nil {
		infra := w.gone.Load() || errors.Is(err, driver.ErrDeviceGone) || (rctx.Err() != nil && ictx.Err() == nil)
		if infra {
			held.Status, held.InfraReason = "infra", "device_lost"
			if !w.gone.Load() && !errors.Is(err, driver.ErrDeviceGone) {
				held.InfraReason = "timeout_no_output"
			}
			held.Message = fmt.Sprintf("%s (device %s)", held.Message, w.dev.Serial)
		}
		if ctx.Err() == nil {
			flush(*held)
		}
	}
	switch {
	case lost || (ictx.Err() != nil && ctx.Err() == nil && !w.gone.Load()):
		w.a.m.leasesLost.Inc()
		log.Warn("work item abandoned: lease lost")
	case ctx.Err() != nil:
		// Agent shutting down: give the work back now rather than after the TTL.
		release("agent_stopped", "the agent on "+w.a.cfg.HostID+" stopped")
	case w.gone.Load() || errors.Is(err, driver.ErrDeviceGone):
		w.gone.Store(true)
		log.Warn("device lost mid-item", "err", err)
		release("device_lost", fmt.Sprintf("device %s disconnected during the test: %v", w.dev.Serial, err))
	case rctx.Err() != nil:
		release("timeout_no_output", fmt.Sprintf("no result within %v", budget))
	case err != nil:
		release("runner_error", err.Error())
	default:
		if err := w.retryDB(ctx, func(c context.Context) error { return w.a.q.Complete(c, l) }); err != nil {
			log.Warn("complete", "err", err)
		}
	}
}

func (w *worker) install(ctx context.Context, info *runInfo) error {
	for _, p := range []string{info.AppPath, info.TestAppPath} {
		if p == "" {
			continue
		}
		if _, err := w.a.drv.Install(ctx, w.dev.Serial, p); err != nil {
			return fmt.Errorf("install %s on %s (%s): %w", filepath.Base(p), w.dev.Serial, w.dev.Model, err)
		}
	}
	return nil
}

var statusOf = map[driver.TestStatus]string{
	driver.TestPassed: "passed", driver.TestFailed: "failed", driver.TestError: "error",
	driver.TestIgnored: "skipped", driver.TestAssumptionFailure: "skipped",
}

// attempt turns a driver result into an attempt with its artifacts (log excerpt, crash,
// screenshot on failure) stored under the artifacts root.
func (w *worker) attempt(ctx context.Context, info *runInfo, l *schedule.Lease, t schedule.ClaimedTest, res driver.TestResult, since time.Time) schedule.Attempt {
	st := statusOf[res.Status]
	if st == "" {
		st = "error"
	}
	a := schedule.Attempt{TestID: t.ID, Status: st, Duration: res.Duration, Message: res.Message, Stack: res.Stack,
		StartedAt: time.Now().Add(-res.Duration)}
	failed := st == "failed" || st == "error"
	if !failed && info.Screenshots != "always" {
		return a
	}
	dir := filepath.Join(w.a.cfg.ArtifactsDir, fmt.Sprintf("run%d", l.RunID), fmt.Sprintf("test%d", t.ID),
		fmt.Sprintf("item%d-lease%d-%s", l.ItemID, l.LeaseNo, sanitize(w.dev.Serial)))
	if err := os.MkdirAll(dir, 0o755); err == nil {
		a.ArtifactDir = dir
	}
	dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if info.Logs {
		logs := res.Logcat
		if logs == "" {
			logs, _ = w.a.drv.Logs(dctx, w.dev.Serial, since)
		}
		a.LogExcerpt = tail(logs, 8000)
		if a.ArtifactDir != "" && logs != "" {
			_ = os.WriteFile(filepath.Join(dir, "device.log"), []byte(logs), 0o644)
		}
	}
	if info.Crashes && failed {
		if crashes, err := w.a.drv.Crashes(dctx, w.dev.Serial, info.AppID, since); err == nil && len(crashes) > 0 {
			c := crashes[len(crashes)-1]
			a.CrashKind, a.Crash = c.Kind, tail(c.Text, 8000)
		}
	}
	if info.Screenshots == "always" || (failed && info.Screenshots != "never") {
		if png, err := w.a.drv.Screenshot(dctx, w.dev.Serial); err == nil && a.ArtifactDir != "" {
			p := filepath.Join(dir, "screenshot.png")
			if os.WriteFile(p, png, 0o644) == nil {
				a.Screenshot = p
			}
		}
	}
	return a
}

func (w *worker) record(ctx context.Context, l *schedule.Lease, a schedule.Attempt) error {
	err := w.retryDB(ctx, func(c context.Context) error {
		_, err := w.a.q.Record(c, l, a)
		return err
	})
	if err == nil {
		w.a.m.tests.WithLabelValues(a.Status).Inc()
	}
	return err
}

// retryDB retries a database call through a restart of the server (connection errors),
// never past a lost lease; results are only acknowledged once stored.
func (w *worker) retryDB(ctx context.Context, f func(context.Context) error) error {
	if w.a.killed.Load() {
		return errors.New("agent killed")
	}
	backoff := 100 * time.Millisecond
	deadline := time.Now().Add(2 * w.a.cfg.LeaseTTL)
	for {
		c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		err := f(c)
		cancel()
		if err == nil || errors.Is(err, schedule.ErrLeaseLost) || time.Now().After(deadline) || !transient(err) {
			return err
		}
		w.a.m.dbErrors.Inc()
		time.Sleep(backoff)
		backoff = min(backoff*2, 2*time.Second)
	}
}

func transient(err error) bool {
	s := err.Error()
	for _, m := range []string{"connect", "connection", "EOF", "broken pipe", "timeout", "shutting down", "57P01", "57P03", "terminating"} {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ':' || r == '/' || r == ' ' {
			return '_'
		}
		return r
	}, s)
}
