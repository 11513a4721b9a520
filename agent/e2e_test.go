package agent

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetlens/fleetlens/devicefarm/driver/android"
	"github.com/fleetlens/fleetlens/devicefarm/results"
	"github.com/fleetlens/fleetlens/devicefarm/schedule"
	"github.com/fleetlens/fleetlens/devicefarm/sim/adbd"
	"github.com/fleetlens/fleetlens/internal/adbserver"
	"github.com/fleetlens/fleetlens/internal/pg/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// host is one simulated device host: its own adb server, devices and agent.
type host struct {
	fleet *adbd.Fleet
	drv   *android.Driver
	agent *Agent
	pool  *pgxpool.Pool
}

func startHost(t *testing.T, dsn, id, seed string, n int) *host {
	return startHostScaled(t, dsn, id, seed, n, 0.05)
}

func startHostScaled(t *testing.T, dsn, id, seed string, n int, scale float64) *host {
	t.Helper()
	ctx := context.Background()
	srv := adbserver.ForTest(t)
	fleet, err := adbd.NewFleet(adbd.Config{Count: n, Seed: seed, TimeScale: scale})
	if err != nil {
		t.Fatal(err)
	}
	if err := fleet.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fleet.Shutdown(context.Background()) })
	drv, err := android.New(ctx, android.Config{ServerAddr: srv.Addr, NoStartServer: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range fleet.Devices() {
		if err := drv.Connect(ctx, d.Addr()); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		devs, _ := drv.List(ctx)
		ready := 0
		for _, d := range devs {
			if d.State == "ready" {
				ready++
			}
		}
		if ready == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d of %d devices ready", id, ready, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	a, err := New(Config{HostID: id, ArtifactsDir: t.TempDir(), LeaseTTL: 2 * time.Second, HeartbeatInterval: 500 * time.Millisecond,
		PollInterval: 200 * time.Millisecond, HealthInterval: time.Second, MetricsAddr: "127.0.0.1:0"}, pool, drv,
		slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return &host{fleet: fleet, drv: drv, agent: a, pool: pool}
}

func buildAPKs(t *testing.T, dir string) (app, test string, specs []adbd.TestSpec) {
	return buildAPKsWith(t, dir, 0, nil)
}

func buildAPKsWith(t *testing.T, dir string, minSDK int, only []adbd.TestSpec) (app, test string, specs []adbd.TestSpec) {
	t.Helper()
	if only != nil {
		specs = only
	}
	for i := 0; i < 24 && only == nil; i++ {
		specs = append(specs, adbd.TestSpec{Class: "com.example.shop.CartTest", Method: fmt.Sprintf("case%02d", i), DurationMS: 1500 + 300*(i%5)})
	}
	if only == nil {
		specs = append(specs,
			adbd.TestSpec{Class: "com.example.shop.PayTest", Method: "alwaysFails", DurationMS: 500,
				Behaviours: []adbd.Behaviour{{Outcome: adbd.OutcomeFail, Message: "expected 200 but was 500"}}},
			adbd.TestSpec{Class: "com.example.shop.PayTest", Method: "coinFlip1", DurationMS: 500,
				Behaviours: []adbd.Behaviour{{Outcome: adbd.OutcomeFlaky, Probability: 0.5, Message: "timing"}}},
			adbd.TestSpec{Class: "com.example.shop.PayTest", Method: "coinFlip2", DurationMS: 500,
				Behaviours: []adbd.Behaviour{{Outcome: adbd.OutcomeFlaky, Probability: 0.5, Message: "timing"}}},
			adbd.TestSpec{Class: "com.example.shop.PayTest", Method: "ignored", Behaviours: []adbd.Behaviour{{Outcome: adbd.OutcomeIgnored}}},
		)
	}
	app = filepath.Join(dir, "shop.apk")
	test = filepath.Join(dir, "shop-test.apk")
	var b bytes.Buffer
	if err := adbd.BuildAPK(&b, adbd.Manifest{Package: "com.example.shop", VersionName: "2.3.0", VersionCode: 23, MinSDK: minSDK}, 64<<10); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(app, b.Bytes(), 0o644)
	b.Reset()
	if err := adbd.BuildAPK(&b, adbd.Manifest{Package: "com.example.shop.test", Instrumentation: &adbd.Instrumentation{
		TargetPackage: "com.example.shop", Tests: specs}}, 32<<10); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(test, b.Bytes(), 0o644)
	return app, test, specs
}

// TestFarmEndToEnd: two agents (each with its own real adb server and simulated Android
// devices) share one database; agent B is killed mid-run (no release, no heartbeat), a
// device of agent A is unplugged mid-test; every test still ends accounted for exactly
// once, verdicts agree with attempts, and the JUnit XML is valid.
func TestFarmEndToEnd(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDSN(t)
	a := startHost(t, dsn, "hostA", "e2e-a", 3)
	b := startHost(t, dsn, "hostB", "e2e-b", 3)
	t.Cleanup(func() { a.agent.Shutdown(context.Background()) })

	dir := t.TempDir()
	appPath, testPath, specs := buildAPKs(t, dir)
	appData, _ := os.ReadFile(appPath)
	testData, _ := os.ReadFile(testPath)
	devs, err := results.ListDevices(ctx, a.pool)
	if err != nil || len(devs) != 6 {
		t.Fatalf("devices registered: %d %v", len(devs), err)
	}
	spec := schedule.RunSpec{SuiteName: "e2e", SuiteSource: "name: e2e", AppID: "com.example.shop", Release: "2.3.0",
		App: &schedule.Blob{Name: "shop.apk", Data: appData}, TestApp: &schedule.Blob{Name: "shop-test.apk", Data: testData},
		TestAppID: "com.example.shop.test", MaxRetries: 3, InfraMax: 5,
		Plan: schedule.PlanConfig{Devices: 6, BatchesPerDevice: 2}}
	for _, d := range devs {
		spec.Devices = append(spec.Devices, schedule.DeviceRef{Serial: d.Serial, Group: d.Model + "|" + d.OSVersion})
	}
	for _, s := range specs {
		spec.Tests = append(spec.Tests, schedule.TestKey{Class: s.Class, Method: s.Method})
	}
	// One of A's devices falls off the bus after its first test of its first item.
	unplugged := a.fleet.Devices()[0]
	unplugged.DropAfterTests(1)
	enq, err := schedule.Enqueue(ctx, a.pool, spec)
	if err != nil {
		t.Fatal(err)
	}

	// Wait until both hosts hold work, then kill B and unplug one of A's devices.
	waitFor(t, 30*time.Second, func() bool {
		var n int
		a.pool.QueryRow(ctx, `SELECT count(DISTINCT lease_owner) FROM farm_work_items WHERE state = 'leased'`).Scan(&n)
		return n == 2
	})
	time.Sleep(300 * time.Millisecond)
	b.agent.kill() // the process dies: no release, no heartbeat

	if !waitUntil(90*time.Second, func() bool {
		p, err := results.LoadProgress(ctx, a.pool, enq.RunID)
		return err == nil && p.Finished()
	}) {
		dump(t, a.pool)
		t.Fatal("run did not finish")
	}
	run, err := results.LoadRun(ctx, a.pool, enq.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if len(run.Tests) != len(specs) {
		t.Fatalf("%d tests accounted for, want %d", len(run.Tests), len(specs))
	}
	var lost, gone int
	for _, tc := range run.Tests {
		var pass, fail, skip int
		for _, at := range tc.Attempts {
			switch at.Status {
			case "passed":
				pass++
			case "failed", "error":
				fail++
			case "skipped":
				skip++
			case "infra":
				if at.InfraReason == "lease_expired" {
					lost++
				}
				if at.InfraReason == "device_lost" {
					gone++
				}
			}
		}
		want := map[bool]map[bool]string{true: {true: "flaky", false: "passed"}, false: {true: "failed", false: "skipped"}}[pass > 0][fail > 0]
		if tc.Status != want {
			t.Errorf("%s#%s: verdict %s, attempts say %s (%d pass, %d fail)", tc.Class, tc.Method, tc.Status, want, pass, fail)
		}
		if pass+fail+skip == 0 {
			t.Errorf("%s#%s: no completed attempt", tc.Class, tc.Method)
		}
		switch tc.Method {
		case "alwaysFails":
			if tc.Status != "failed" || fail != 4 {
				t.Errorf("alwaysFails: %s after %d failures, want failed after 1+3 retries", tc.Status, fail)
			}
			// Retries go to another device while an untried live one exists (two are left).
			if len(tc.Attempts) >= 2 && tc.Attempts[0].Serial == tc.Attempts[1].Serial {
				t.Errorf("alwaysFails: first retry on the same device %s", tc.Attempts[0].Serial)
			}
		case "ignored":
			if tc.Status != "skipped" {
				t.Errorf("ignored: %s", tc.Status)
			}
		}
		if pass > 1 {
			t.Errorf("%s#%s passed %d times: a result was counted twice", tc.Class, tc.Method, pass)
		}
	}
	if lost == 0 {
		t.Error("no lease_expired attempt: the killed agent's work was not reaped")
	}
	var infra int
	a.pool.QueryRow(ctx, `SELECT count(*) FROM farm_attempts WHERE run_id = $1 AND serial = $2 AND status = 'infra'`,
		enq.RunID, unplugged.Addr()).Scan(&infra)
	for _, tc := range run.Tests {
		for _, at := range tc.Attempts {
			if at.Serial == unplugged.Addr() {
				t.Logf("unplugged device attempt: %s %s %s %q", tc.Method, at.Status, at.InfraReason, at.Message)
			}
		}
	}
	t.Logf("run %s: lease_expired %d, device_lost %d, infra on unplugged %d", run.State, lost, gone, infra)
	if gone == 0 || infra == 0 {
		t.Error("no device_lost attempt on the unplugged device")
	}
	var buf bytes.Buffer
	if err := results.WriteJUnit(&buf, run); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Tests  int `xml:"tests,attr"`
		Suites []struct {
			Cases []struct {
				Name  string `xml:"name,attr"`
				Flaky string `xml:"flaky,attr"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("JUnit XML does not parse: %v", err)
	}
	if doc.Tests != len(specs) {
		t.Errorf("JUnit tests=%d, want %d", doc.Tests, len(specs))
	}
	if !strings.Contains(buf.String(), "<failure") {
		t.Error("JUnit has no <failure> for alwaysFails")
	}
}

func waitUntil(d time.Duration, f func() bool) bool {
	deadline := time.Now().Add(d)
	for !f() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
	return true
}

func dump(t *testing.T, pool *pgxpool.Pool) {
	for _, q := range []string{
		`SELECT id, kind, state, tests::text, exclude_serials::text, coalesce(lease_owner,''), coalesce(lease_serial,''), infra_retries FROM farm_work_items WHERE state <> 'done'`,
		`SELECT serial, coalesce(host_id,''), state, health_ok::text, health_reason FROM devices`,
		`SELECT id, method, status, outstanding::text, attempts::text FROM farm_run_tests WHERE status IN ('pending','running')`,
	} {
		rows, err := pool.Query(context.Background(), q)
		if err != nil {
			t.Log(err)
			continue
		}
		for rows.Next() {
			v, _ := rows.Values()
			t.Log(v...)
		}
		rows.Close()
	}
}

func waitFor(t *testing.T, d time.Duration, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", d)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
