package agent

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/fleetlens/fleetlens/devicefarm/results"
	"github.com/fleetlens/fleetlens/devicefarm/schedule"
	"github.com/fleetlens/fleetlens/devicefarm/sim/adbd"
	"github.com/fleetlens/fleetlens/internal/pg/pgtest"
)

func plainTests(n, ms int) []adbd.TestSpec {
	var specs []adbd.TestSpec
	for i := 0; i < n; i++ {
		specs = append(specs, adbd.TestSpec{Class: "com.example.shop.HomeTest", Method: fmt.Sprintf("t%02d", i), DurationMS: ms})
	}
	return specs
}

func enqueueAll(t *testing.T, h *host, app, test string, specs []adbd.TestSpec) int64 {
	t.Helper()
	ctx := context.Background()
	appData, _ := os.ReadFile(app)
	testData, _ := os.ReadFile(test)
	devs, err := results.ListDevices(ctx, h.pool)
	if err != nil {
		t.Fatal(err)
	}
	spec := schedule.RunSpec{SuiteName: "faults", SuiteSource: "x", AppID: "com.example.shop", Release: "2.3.0",
		App: &schedule.Blob{Name: "shop.apk", Data: appData}, TestApp: &schedule.Blob{Name: "shop-test.apk", Data: testData},
		TestAppID: "com.example.shop.test", InfraMax: 5}
	for _, d := range devs {
		spec.Devices = append(spec.Devices, schedule.DeviceRef{Serial: d.Serial, Group: d.Model + "|" + d.OSVersion})
	}
	for _, s := range specs {
		spec.Tests = append(spec.Tests, schedule.TestKey{Class: s.Class, Method: s.Method})
	}
	e, err := schedule.Enqueue(ctx, h.pool, spec)
	if err != nil {
		t.Fatal(err)
	}
	return e.RunID
}

// An APK that needs a newer SDK than some models have: those devices report
// install_failed once and leave the run; a low-battery device is drained by the health gate
// and never gets work; the run still finishes with every test passed.
func TestInstallFailureAndHealthGate(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDSN(t)
	h := startHost(t, dsn, "hostF", "faults-1", 5)
	t.Cleanup(func() { h.agent.Shutdown(context.Background()) })
	devs, _ := results.ListDevices(ctx, h.pool)
	var levels []int
	for _, d := range devs {
		levels = append(levels, d.APILevel)
	}
	sort.Sort(sort.Reverse(sort.IntSlice(levels)))
	// minSDK: at least two devices can install (one is drained), at least one cannot.
	maxAPI := levels[1]
	if levels[len(levels)-1] >= maxAPI {
		t.Fatalf("fleet seed gives API levels %v; the test needs older devices", levels)
	}
	var lowBattery string
	for _, d := range h.fleet.Devices() {
		for _, row := range devs {
			if row.Serial == d.Addr() && row.APILevel >= maxAPI && lowBattery == "" {
				d.SetCharging(false)
				d.SetBattery(4, 30)
				lowBattery = row.Serial
			}
		}
	}
	app, test, specs := buildAPKsWith(t, t.TempDir(), maxAPI, plainTests(12, 1000))
	time.Sleep(1500 * time.Millisecond) // one health interval: the low-battery device is drained
	run := enqueueAll(t, h, app, test, specs)
	if !waitUntil(60*time.Second, func() bool {
		p, err := results.LoadProgress(ctx, h.pool, run)
		return err == nil && p.Finished()
	}) {
		dump(t, h.pool)
		t.Fatal("run did not finish")
	}
	r, _ := results.LoadRun(ctx, h.pool, run)
	if c := r.Count(); c.Passed != len(specs) {
		t.Errorf("counts %+v, want all %d passed", c, len(specs))
	}
	for _, d := range devs {
		var installFails, attempts, inRun int
		h.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE infra_reason = 'install_failed'), count(*),
			(SELECT count(*) FROM farm_run_devices WHERE run_id = $1 AND serial = $2)
			FROM farm_attempts WHERE run_id = $1 AND serial = $2`, run, d.Serial).Scan(&installFails, &attempts, &inRun)
		switch {
		case d.Serial == lowBattery:
			var reason, state string
			h.pool.QueryRow(ctx, `SELECT health_reason, state FROM devices WHERE serial = $1`, d.Serial).Scan(&reason, &state)
			if attempts != 0 || !strings.Contains(reason, "battery") || state != "draining" {
				t.Errorf("low-battery %s: %d attempts, state %s, reason %q", d.Serial, attempts, state, reason)
			}
		case d.APILevel < maxAPI:
			if installFails > 1 || inRun != 0 || attempts != installFails {
				t.Errorf("API %d device %s: %d install failures, %d attempts, still in run: %d", d.APILevel, d.Serial, installFails, attempts, inRun)
			}
		}
	}
	var msg string
	h.pool.QueryRow(ctx, `SELECT message FROM farm_attempts WHERE infra_reason = 'install_failed' LIMIT 1`).Scan(&msg)
	if msg != "" && !strings.Contains(msg, "INSTALL_FAILED_OLDER_SDK") {
		t.Errorf("install failure message %q does not carry the platform's reason", msg)
	}
}

// The database restarts mid-run: agents retry through it, leases reaped meanwhile re-run
// their tests, and every test still passes exactly once.
func TestDatabaseRestartMidRun(t *testing.T) {
	ctx := context.Background()
	c := pgtest.NewCluster(t)
	h := startHostScaled(t, c.DSN(), "hostR", "restart-1", 3, 0.05)
	t.Cleanup(func() { h.agent.Shutdown(context.Background()) })
	app, test, specs := buildAPKsWith(t, t.TempDir(), 0, plainTests(18, 20000)) // 1 s each at scale 0.05
	run := enqueueAll(t, h, app, test, specs)
	if !waitUntil(30*time.Second, func() bool {
		p, err := results.LoadProgress(ctx, h.pool, run)
		return err == nil && p.Done >= 3
	}) {
		t.Fatal("no progress before the restart")
	}
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if !waitUntil(90*time.Second, func() bool {
		p, err := results.LoadProgress(ctx, h.pool, run)
		return err == nil && p.Finished()
	}) {
		dump(t, h.pool)
		t.Fatal("run did not finish after the restart")
	}
	r, _ := results.LoadRun(ctx, h.pool, run)
	for _, tc := range r.Tests {
		passes := 0
		for _, a := range tc.Attempts {
			if a.Status == "passed" {
				passes++
			}
		}
		if tc.Status != "passed" || passes != 1 {
			t.Errorf("%s: %s with %d passing attempts", tc.Method, tc.Status, passes)
		}
	}
	if len(r.Tests) != len(specs) {
		t.Errorf("%d tests, want %d", len(r.Tests), len(specs))
	}
}
