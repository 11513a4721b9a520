package agent

import (
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/fleetlens/fleetlens/devicefarm/results"
	"github.com/fleetlens/fleetlens/devicefarm/schedule"
	"github.com/fleetlens/fleetlens/internal/pg/pgtest"
)

// A run under a lab profile: the agent starts a toxiproxy proxy toward the run's upstream,
// points each device at it while the tests run (global http_proxy through adb reverse) and
// restores the setting afterwards.
func TestNetworkProfileRun(t *testing.T) {
	ctx := context.Background()
	up, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	h := startHostScaled(t, pgtest.NewDSN(t), "hostN", "net-1", 2, 0.05)
	t.Cleanup(func() { h.agent.Shutdown(context.Background()) })
	app, test, specs := buildAPKsWith(t, t.TempDir(), 0, plainTests(4, 10000))
	appData, _ := os.ReadFile(app)
	testData, _ := os.ReadFile(test)
	devs, _ := results.ListDevices(ctx, h.pool)
	spec := schedule.RunSpec{SuiteName: "net", SuiteSource: "x", AppID: "com.example.shop", Release: "1",
		App: &schedule.Blob{Name: "a.apk", Data: appData}, TestApp: &schedule.Blob{Name: "t.apk", Data: testData},
		TestAppID: "com.example.shop.test", Profiles: []string{"3g-good"},
		Config: map[string]any{"upstream": up.Addr().String()}}
	for _, d := range devs {
		spec.Devices = append(spec.Devices, schedule.DeviceRef{Serial: d.Serial, Group: d.Model})
	}
	for _, s := range specs {
		spec.Tests = append(spec.Tests, schedule.TestKey{Class: s.Class, Method: s.Method})
	}
	e, err := schedule.Enqueue(ctx, h.pool, spec)
	if err != nil {
		t.Fatal(err)
	}
	serial := devs[0].Serial
	proxied := ""
	finished := waitUntil(60*time.Second, func() bool {
		if r, err := h.drv.Shell(ctx, serial, "settings get global http_proxy"); err == nil {
			if v := strings.TrimSpace(string(r.Stdout)); strings.HasPrefix(v, "127.0.0.1:") {
				proxied = v
			}
		}
		p, err := results.LoadProgress(ctx, h.pool, e.RunID)
		return err == nil && p.Finished()
	})
	if !finished {
		dump(t, h.pool)
		t.Fatal("run did not finish")
	}
	if proxied == "" {
		t.Error("the device was never pointed at the profile's proxy")
	}
	r, _ := h.drv.Shell(ctx, serial, "settings get global http_proxy")
	if v := strings.TrimSpace(string(r.Stdout)); strings.HasPrefix(v, "127.0.0.1:") {
		t.Errorf("http_proxy still %q after the run", v)
	}
	var n int
	h.pool.QueryRow(ctx, `SELECT count(*) FROM farm_attempts WHERE run_id = $1 AND profile = '3g-good' AND status = 'passed'`, e.RunID).Scan(&n)
	if n != len(specs) {
		t.Errorf("%d passing attempts under 3g-good, want %d", n, len(specs))
	}
}
