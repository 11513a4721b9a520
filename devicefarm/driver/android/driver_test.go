package android

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleetlens/fleetlens/devicefarm/driver"
	"github.com/fleetlens/fleetlens/devicefarm/sim/adbd"
	"github.com/fleetlens/fleetlens/internal/adbserver"
)

type rig struct {
	fleet *adbd.Fleet
	srv   *adbserver.Server
	drv   *Driver
	dir   string
}

func newRig(t *testing.T, n int, cfg CaptureOpt) *rig {
	t.Helper()
	scale := 0.02
	if cfg {
		scale = 0.2 // tests long enough that each one's log window is its own
	}
	f, err := adbd.NewFleet(adbd.Config{Count: n, Seed: t.Name(), TimeScale: scale})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := f.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Shutdown(ctx) })
	srv := adbserver.ForTest(t)
	drv, err := New(ctx, Config{ServerAddr: srv.Addr, NoStartServer: true, CaptureLogcat: bool(cfg), PollInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range f.Devices() {
		if err := drv.Connect(ctx, d.Addr()); err != nil {
			t.Fatal(err)
		}
	}
	r := &rig{fleet: f, srv: srv, drv: drv, dir: t.TempDir()}
	for _, d := range f.Devices() {
		r.waitState(t, d.Addr(), driver.StateReady)
	}
	return r
}

type CaptureOpt bool

func (r *rig) waitState(t *testing.T, serial string, want driver.DeviceState) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		devs, err := r.drv.List(context.Background())
		state := driver.StateGone
		for _, d := range devs {
			if d.Serial == serial {
				state = d.State
			}
		}
		if err == nil && state == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is %q, want %q (err %v)", serial, state, want, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (r *rig) apk(t *testing.T, m adbd.Manifest) string {
	t.Helper()
	p := filepath.Join(r.dir, fmt.Sprintf("%s-%d.apk", m.Package, time.Now().UnixNano()))
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := adbd.BuildAPK(f, m, 64<<10); err != nil {
		t.Fatal(err)
	}
	return p
}

func suite() adbd.Manifest {
	return adbd.Manifest{Package: "com.example.shop.test", VersionName: "1.0",
		Instrumentation: &adbd.Instrumentation{TargetPackage: "com.example.shop", Tests: []adbd.TestSpec{
			{Class: "com.example.shop.LoginTest", Method: "logsIn", DurationMS: 300},
			{Class: "com.example.shop.LoginTest", Method: "rejectsBadPassword", DurationMS: 200,
				Behaviours: []adbd.Behaviour{{When: adbd.Match{OS: []string{"10"}}, Outcome: adbd.OutcomeFail, Message: "expected:<Wrong password> but was:<null>"}}},
			{Class: "com.example.shop.CartTest", Method: "addsItem", DurationMS: 200},
			{Class: "com.example.shop.CartTest", Method: "onTablets", Behaviours: []adbd.Behaviour{{Outcome: adbd.OutcomeIgnored}}},
			{Class: "com.example.shop.CartTest", Method: "needsNetwork", Behaviours: []adbd.Behaviour{{Outcome: adbd.OutcomeAssumption}}},
		}}}
}

func (r *rig) installSuite(t *testing.T, serial string, m adbd.Manifest) {
	t.Helper()
	ctx := context.Background()
	if _, err := r.drv.Install(ctx, serial, r.apk(t, adbd.Manifest{Package: "com.example.shop", VersionName: "3.1.0", VersionCode: 310})); err != nil {
		t.Fatal(err)
	}
	if _, err := r.drv.Install(ctx, serial, r.apk(t, m)); err != nil {
		t.Fatal(err)
	}
}

var req = driver.RunRequest{AppID: "com.example.shop", TestAppID: "com.example.shop.test"}

func TestDriver(t *testing.T) {
	r := newRig(t, 5, true)
	ctx := context.Background()
	devs := r.fleet.Devices()

	t.Run("info", func(t *testing.T) {
		for _, sd := range devs {
			got, err := r.drv.Info(ctx, sd.Addr())
			if err != nil {
				t.Fatal(err)
			}
			m := sd.Instance().Model
			if got.Model != m.ModelCode || got.Manufacturer != m.Manufacturer || got.ABI != m.ABI || got.RAMMB != m.RAMMB ||
				got.CPUCores != m.CPUCores || got.CPUMaxMHz != m.CPUMaxMHz || got.Screen != m.Screen || got.OSVersion != sd.Instance().OSVersion ||
				got.ProductType != m.Device || got.APILevel == 0 || got.Props["ro.serialno"] != sd.HardwareSerial() {
				t.Errorf("%s: Info = %+v; catalog %+v", sd.Addr(), got, m)
			}
		}
	})
	t.Run("health", func(t *testing.T) {
		devs[1].SetBattery(12, 46)
		devs[1].SetCharging(false)
		h, err := r.drv.Health(ctx, devs[1].Addr())
		if err != nil {
			t.Fatal(err)
		}
		if h.BatteryLevel != 12 || h.TemperatureC != 46 || h.ThermalStatus != "severe" || h.Charging || !h.Booted || h.FreeStorageMB <= 0 {
			t.Errorf("Health = %+v", h)
		}
	})
	t.Run("shell exit codes v2 and sentinel", func(t *testing.T) {
		s := devs[0].Addr()
		for _, c := range []struct {
			cmd  string
			code int
			out  string
		}{{"exit 7", 7, ""}, {"echo hi", 0, "hi\n"}, {"nosuch", 127, ""}, {"echo 'a b'; false", 1, "a b\n"}} {
			v2, err := r.drv.Shell(ctx, s, c.cmd)
			if err != nil || v2.ExitCode != c.code || string(v2.Stdout) != c.out {
				t.Errorf("v2 %q = %d %q %v", c.cmd, v2.ExitCode, v2.Stdout, err)
			}
			sen, err := r.drv.shellSentinel(ctx, s, c.cmd)
			if err != nil || sen.ExitCode != c.code || (c.code != 127 && string(sen.Stdout) != c.out) {
				t.Errorf("sentinel %q = %d %q %v", c.cmd, sen.ExitCode, sen.Stdout, err)
			}
		}
	})
	t.Run("context deadline", func(t *testing.T) {
		cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := r.drv.Shell(cctx, devs[0].Addr(), "sleep 600")
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
			t.Errorf("Shell(sleep 600) with 100ms deadline = %v after %v", err, time.Since(start))
		}
	})
	t.Run("install uninstall", func(t *testing.T) {
		s := devs[0].Addr()
		app, err := r.drv.Install(ctx, s, r.apk(t, adbd.Manifest{Package: "com.example.maps", VersionName: "9.9"}))
		if err != nil || app.ID != "com.example.maps" || app.Version != "9.9" {
			t.Fatalf("Install = %+v, %v", app, err)
		}
		if err := r.drv.Uninstall(ctx, s, "com.example.maps"); err != nil {
			t.Fatal(err)
		}
		if err := r.drv.Uninstall(ctx, s, "com.example.maps"); err == nil {
			t.Error("second uninstall succeeded")
		}
		_, err = r.drv.Install(ctx, s, r.apk(t, adbd.Manifest{Package: "com.example.future", MinSDK: 99}))
		if !errors.Is(err, driver.ErrInstallFailed) || !strings.Contains(err.Error(), "INSTALL_FAILED_OLDER_SDK") {
			t.Errorf("minSdk 99: %v", err)
		}
		junk := filepath.Join(r.dir, "junk.apk")
		os.WriteFile(junk, []byte("not a zip"), 0o644)
		if _, err := r.drv.Install(ctx, s, junk); err == nil {
			t.Error("installing junk succeeded")
		}
	})
	t.Run("run tests on all devices", func(t *testing.T) {
		var wg sync.WaitGroup
		for _, sd := range devs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.installSuite(t, sd.Addr(), suite())
				var got []driver.TestResult
				err := r.drv.RunTests(ctx, sd.Addr(), req, func(tr driver.TestResult) { got = append(got, tr) })
				if err != nil {
					t.Errorf("%s: %v", sd.Addr(), err)
					return
				}
				status := map[string]driver.TestStatus{}
				for _, tr := range got {
					status[tr.Method] = tr.Status
					if tr.Status == driver.TestPassed && (tr.Duration <= 0 || !strings.Contains(tr.Logcat, "TestRunner: started: "+tr.Method+"(") ||
						!strings.Contains(tr.Logcat, "TestRunner: finished: "+tr.Method+"(") || strings.Count(tr.Logcat, "TestRunner: started:") != 1) {
						t.Errorf("%s %s: duration %v logcat %q", sd.Addr(), tr.Method, tr.Duration, tr.Logcat)
					}
				}
				want := driver.TestPassed
				if sd.Instance().OSVersion == "10" {
					want = driver.TestFailed
				}
				if len(got) != 5 || status["rejectsBadPassword"] != want || status["onTablets"] != driver.TestIgnored ||
					status["needsNetwork"] != driver.TestAssumptionFailure || status["logsIn"] != driver.TestPassed {
					t.Errorf("%s (Android %s): %v", sd.Addr(), sd.Instance().OSVersion, status)
				}
			}()
		}
		wg.Wait()
		one := req
		one.Tests = []driver.TestCase{{Class: "com.example.shop.CartTest", Method: "addsItem"}}
		n := 0
		if err := r.drv.RunTests(ctx, devs[0].Addr(), one, func(driver.TestResult) { n++ }); err != nil || n != 1 {
			t.Errorf("filtered run: %d results, %v", n, err)
		}
		bad := req
		bad.TestAppID = "com.nope"
		if err := r.drv.RunTests(ctx, devs[0].Addr(), bad, nil); !errors.Is(err, ErrRunAborted) || !strings.Contains(err.Error(), "Unable to find instrumentation") {
			t.Errorf("unknown instrumentation: %v", err)
		}
	})
	t.Run("crash and anr", func(t *testing.T) {
		for _, kind := range []string{adbd.OutcomeCrash, adbd.OutcomeANR} {
			// DropBox stamps whole seconds: start each case in a fresh second.
			time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
			s := devs[2].Addr()
			m := suite()
			m.Instrumentation.Tests[2].Behaviours = []adbd.Behaviour{{Outcome: kind, Exception: "java.lang.IllegalStateException"}}
			r.installSuite(t, s, m)
			since := time.Now()
			var got []driver.TestResult
			err := r.drv.RunTests(ctx, s, req, func(tr driver.TestResult) { got = append(got, tr) })
			if !errors.Is(err, ErrRunAborted) || len(got) == 0 || got[len(got)-1].Status != driver.TestError || got[len(got)-1].Method != "addsItem" {
				t.Fatalf("%s: err %v results %+v", kind, err, got)
			}
			crashes, err := r.drv.Crashes(ctx, s, "com.example.shop", since)
			if err != nil || len(crashes) != 1 || crashes[0].Kind != kind || crashes[0].Process != "com.example.shop" {
				t.Fatalf("%s: Crashes = %+v, %v", kind, crashes, err)
			}
			if kind == adbd.OutcomeCrash && crashes[0].Exception != "java.lang.IllegalStateException" {
				t.Errorf("exception %q", crashes[0].Exception)
			}
			// After the log buffers are cleared the report still comes from DropBox.
			if _, err := r.drv.run(ctx, s, "logcat -c"); err != nil {
				t.Fatal(err)
			}
			again, err := r.drv.Crashes(ctx, s, "com.example.shop", since)
			if err != nil || len(again) != 1 || again[0].Kind != kind || !strings.Contains(again[0].Text, "Package: com.example.shop v310 (3.1.0)") {
				t.Fatalf("%s after logcat -c: %+v, %v", kind, again, err)
			}
			if kind == adbd.OutcomeCrash && again[0].Exception != "java.lang.IllegalStateException" {
				t.Errorf("dropbox exception %q", again[0].Exception)
			}
			if none, _ := r.drv.Crashes(ctx, s, "com.other", since); len(none) != 0 {
				t.Errorf("crashes of another app: %+v", none)
			}
		}
	})
	t.Run("screenshot", func(t *testing.T) {
		b, err := r.drv.Screenshot(ctx, devs[3].Addr())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := png.Decode(bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("network profile", func(t *testing.T) {
		s := devs[3].Addr()
		restore, err := r.drv.ApplyNetworkProfile(ctx, s, "127.0.0.1:18474")
		if err != nil {
			t.Fatal(err)
		}
		if out, _ := r.drv.run(ctx, s, "settings get global http_proxy"); out != "127.0.0.1:18474\n" {
			t.Errorf("proxy = %q", out)
		}
		if err := restore(ctx); err != nil {
			t.Fatal(err)
		}
		if out, _ := r.drv.run(ctx, s, "settings get global http_proxy"); out != "null\n" {
			t.Errorf("after restore proxy = %q", out)
		}
		if err := r.drv.reverse(ctx, s, "killforward:tcp:18474"); err == nil {
			t.Error("reverse still present after restore")
		}
		if _, err := r.drv.ApplyNetworkProfile(ctx, s, "nonsense"); err == nil {
			t.Error("bad proxy address accepted")
		}
	})
	t.Run("offline and unauthorized are listed", func(t *testing.T) {
		devs[3].SetUnauthorized(true)
		devs[4].SetOffline(true)
		r.waitState(t, devs[3].Addr(), driver.StateUnauthorized)
		r.waitState(t, devs[4].Addr(), driver.StateOffline)
		raw, _ := adbserver.Query(ctx, r.srv.Addr, "host:devices-l")
		t.Logf("host:devices-l:\n%s", raw)
		_, err := r.drv.Info(ctx, devs[3].Addr())
		if !errors.Is(err, driver.ErrDeviceNotReady) {
			t.Errorf("Info on unauthorized = %v", err)
		}
		devs[3].SetUnauthorized(false)
		devs[4].SetOffline(false)
		r.waitState(t, devs[3].Addr(), driver.StateReady)
		r.waitState(t, devs[4].Addr(), driver.StateReady)
	})
	t.Run("reboot", func(t *testing.T) {
		sd := devs[0]
		rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		start := time.Now()
		if err := r.drv.Reboot(rctx, sd.Addr()); err != nil {
			t.Fatal(err)
		}
		if time.Since(start) < 50*time.Millisecond {
			t.Errorf("reboot returned after %v", time.Since(start))
		}
		logs, err := r.drv.Logs(ctx, sd.Addr(), time.Time{})
		if err != nil || strings.Contains(logs, "TestRunner") || !strings.Contains(logs, "zygote") {
			t.Errorf("after reboot logcat = %q, %v", logs, err)
		}
	})
	t.Run("device drops off mid-run", func(t *testing.T) {
		sd := devs[1]
		r.installSuite(t, sd.Addr(), suite())
		sd.DropAfterTests(2)
		n := 0
		err := r.drv.RunTests(ctx, sd.Addr(), req, func(driver.TestResult) { n++ })
		if !errors.Is(err, driver.ErrDeviceGone) || n != 3 {
			t.Errorf("RunTests on a device that drops = %v after %d results (2 done + 1 cut short)", err, n)
		}
		if _, err := r.drv.Shell(ctx, sd.Addr(), "echo"); err == nil {
			t.Error("shell on a detached device succeeded")
		}
		if err := sd.Attach(); err != nil {
			t.Fatal(err)
		}
		r.waitState(t, sd.Addr(), driver.StateReady)
	})
}

func TestWatchAndServerRestart(t *testing.T) {
	r := newRig(t, 3, false)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := r.drv.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := func(serial string, states ...driver.DeviceState) {
		t.Helper()
		timeout := time.After(20 * time.Second)
		for {
			select {
			case ev, ok := <-ch:
				if !ok {
					t.Fatal("watch channel closed")
				}
				t.Logf("event %s %s", ev.Device.Serial, ev.Device.State)
				for _, state := range states {
					if ev.Device.Serial == serial && ev.Device.State == state {
						return
					}
				}
			case <-timeout:
				t.Fatalf("no %v event for %s", states, serial)
			}
		}
	}
	d := r.fleet.Devices()[1]
	want(d.Addr(), driver.StateReady)
	d.Detach()
	want(d.Addr(), driver.StateOffline, driver.StateGone)
	d.Attach()
	want(d.Addr(), driver.StateReady)
	// A run in flight when the server dies ends with ErrDeviceGone, not a hang or success.
	long := suite()
	long.Instrumentation.Tests = append(long.Instrumentation.Tests, adbd.TestSpec{Class: "com.example.shop.ZSlowTest", Method: "soaks", DurationMS: 500000})
	r.installSuite(t, r.fleet.Devices()[0].Addr(), long)
	runErr := make(chan error, 1)
	go func() {
		runErr <- r.drv.RunTests(context.Background(), r.fleet.Devices()[0].Addr(), req, nil)
	}()
	time.Sleep(300 * time.Millisecond)
	if err := r.srv.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-runErr:
		if !errors.Is(err, driver.ErrDeviceGone) {
			t.Errorf("RunTests across a server restart = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("RunTests hung across an adb server restart")
	}
	want(d.Addr(), driver.StateGone)
	want(d.Addr(), driver.StateReady) // the driver re-connected it to the new server
	if _, err := r.drv.Shell(context.Background(), d.Addr(), "true"); err != nil {
		t.Fatalf("shell after server restart: %v", err)
	}
	cancel()
	for range ch {
	}
}

// TestNoShellV2 covers devices whose adbd predates shell v2: exit codes come from the
// sentinel through gadb and instrumentation streams over plain shell.
func TestNoShellV2(t *testing.T) {
	r := newRig(t, 2, false)
	ctx := context.Background()
	d := r.fleet.Devices()[0]
	d.SetShellV2(false)
	// The adb server reconnects and reads the new banner; wait until it reports it.
	deadline := time.Now().Add(15 * time.Second)
	for {
		r.drv.forgetFeatures(d.Addr())
		f, err := r.drv.features(ctx, d.Addr())
		if err == nil && f["cmd"] && !f["shell_v2"] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("features = %v, %v", f, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.waitState(t, d.Addr(), driver.StateReady)
	res, err := r.drv.Shell(ctx, d.Addr(), "echo out; exit 5")
	if err != nil || res.ExitCode != 5 || string(res.Stdout) != "out\n" {
		t.Fatalf("Shell = %d %q %v", res.ExitCode, res.Stdout, err)
	}
	info, err := r.drv.Info(ctx, d.Addr())
	if err != nil || info.RAMMB != d.Instance().Model.RAMMB {
		t.Fatalf("Info = %+v, %v", info, err)
	}
	r.installSuite(t, d.Addr(), suite())
	n := 0
	if err := r.drv.RunTests(ctx, d.Addr(), req, func(driver.TestResult) { n++ }); err != nil || n != 5 {
		t.Fatalf("RunTests = %d results, %v", n, err)
	}
}

// TestFreshUnauthorizedAndOffline: devices that never completed a handshake are listed by
// List with their state, while gadb's DeviceList drops them (too few fields to parse).
func TestFreshUnauthorizedAndOffline(t *testing.T) {
	f, err := adbd.NewFleet(adbd.Config{Count: 3, Seed: "fresh", Faults: []adbd.Fault{
		{When: adbd.Match{Models: []string{"pixel-7"}}, Unauthorized: true},
		{When: adbd.Match{Models: []string{"pixel-4a"}}, Offline: true},
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := f.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Shutdown(ctx) })
	srv := adbserver.ForTest(t)
	drv, err := New(ctx, Config{ServerAddr: srv.Addr, NoStartServer: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range f.Devices() {
		// adb waits for the handshake of a silent device (the device is listed meanwhile), so
		// give up on each connect after a second. One at a time: Debian's adb 29 server can
		// abort ("failed to unregister fd ... with epoll") under concurrent connects.
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		_ = drv.Connect(cctx, d.Addr())
		cancel()
	}
	r := &rig{fleet: f, srv: srv, drv: drv}
	devs := f.Devices()
	r.waitState(t, devs[0].Addr(), driver.StateReady)
	r.waitState(t, devs[1].Addr(), driver.StateUnauthorized)
	r.waitState(t, devs[2].Addr(), driver.StateOffline)
	gd, err := drv.Gadb().DeviceList()
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, d := range gd {
		listed[d.Serial()] = true
	}
	raw, _ := adbserver.Query(ctx, srv.Addr, "host:devices-l")
	if !listed[devs[0].Addr()] || listed[devs[1].Addr()] {
		t.Errorf("gadb DeviceList = %v; expected it to drop the unauthorized device\nhost:devices-l:\n%s", listed, raw)
	}
	if _, err := drv.Shell(ctx, devs[1].Addr(), "true"); !errors.Is(err, driver.ErrDeviceNotReady) {
		t.Errorf("shell on unauthorized: %v", err)
	}
	if _, err := drv.Health(ctx, devs[2].Addr()); !errors.Is(err, driver.ErrDeviceNotReady) {
		t.Errorf("health on offline: %v", err)
	}
	if _, err := drv.Info(ctx, "127.0.0.1:1"); !errors.Is(err, driver.ErrDeviceGone) {
		t.Errorf("info on unknown serial: %v", err)
	}
}
