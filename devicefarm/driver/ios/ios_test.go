package ios_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleetlens/fleetlens/devicefarm/driver"
	iosdrv "github.com/fleetlens/fleetlens/devicefarm/driver/ios"
	"github.com/fleetlens/fleetlens/devicefarm/sim/usbmux"
	"github.com/fleetlens/fleetlens/devicefarm/sim/usbmux/ipa"
)

func TestParseCrash(t *testing.T) {
	tests := []struct {
		file                          string
		kind, proc, exc, os, bundleID string
		at                            string
		wantErr                       bool
	}{
		{file: "shop-17.ips", kind: "crash", proc: "Shop", exc: "EXC_BAD_ACCESS (SIGSEGV)", os: "17.6", bundleID: "com.fleetlens.shop", at: "2026-11-30T10:15:02Z"},
		{file: "watchdog-16.ips", kind: "anr", proc: "Maps Lite", exc: "EXC_CRASH (SIGKILL)", os: "16.7", bundleID: "com.fleetlens.maps", at: "2026-11-29T07:00:00Z"},
		{file: "legacy-14.crash", kind: "crash", proc: "Notes Pro", exc: "EXC_CRASH (SIGABRT)", os: "14.8", bundleID: "com.fleetlens.notes", at: "2021-09-29T08:00:00Z"},
		{file: "garbage.txt", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			c, bid, err := iosdrv.ParseCrash(b)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("parsed garbage as %+v", c)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Kind != tc.kind || c.Process != tc.proc || c.Exception != tc.exc || c.OSVersion != tc.os || bid != tc.bundleID {
				t.Errorf("got kind=%q proc=%q exc=%q os=%q bundle=%q", c.Kind, c.Process, c.Exception, c.OSVersion, bid)
			}
			if got := c.At.UTC().Format(time.RFC3339); got != tc.at {
				t.Errorf("At = %s, want %s", got, tc.at)
			}
		})
	}
}

func setup(t *testing.T, n int, mod func(*usbmux.Config)) (*usbmux.Server, *iosdrv.Driver) {
	t.Helper()
	cfg := usbmux.Config{SocketPath: filepath.Join(t.TempDir(), "mux.sock"), Count: n, Seed: t.Name(), RestartDelay: 200 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := usbmux.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	t.Setenv("USBMUXD_SOCKET_ADDRESS", "") // restored after the test; the driver sets it
	drv, err := iosdrv.New(iosdrv.Config{SocketAddress: srv.SocketAddress(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return srv, drv
}

func mkIPA(t *testing.T, s ipa.Spec) string {
	p := filepath.Join(t.TempDir(), "app.ipa")
	if err := ipa.Write(p, s); err != nil {
		t.Fatal(err)
	}
	return p
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func FuzzParseCrash(f *testing.F) {
	for _, n := range []string{"shop-17.ips", "watchdog-16.ips", "legacy-14.crash", "garbage.txt"} {
		b, err := os.ReadFile(filepath.Join("testdata", n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, _, err := iosdrv.ParseCrash(b)
		if err == nil && c.Process == "" {
			t.Fatalf("accepted a report without a process: %q", b)
		}
	})
}

func TestDriverDiscoverInfoHealth(t *testing.T) {
	srv, drv := setup(t, 3, nil)
	devs, err := drv.List(ctx(t))
	if err != nil || len(devs) != 3 {
		t.Fatalf("List = %v, %v", devs, err)
	}
	for _, dv := range devs {
		if dv.State != driver.StateReady || dv.Platform != driver.IOS {
			t.Errorf("device %+v not ready", dv)
		}
	}
	sd := srv.Devices()[2]
	sd.SetFaults(usbmux.Faults{BatteryLevel: 7, NotCharging: true, BatteryTemperatureC: 44})
	info, err := drv.Info(ctx(t), sd.UDID())
	if err != nil {
		t.Fatal(err)
	}
	m := sd.Instance().Model
	if info.ProductType != sd.ProductType() || !strings.Contains(info.ProductType, ",") || info.Model != m.Name || info.OSVersion != sd.Instance().OSVersion || info.RAMMB != m.RAMMB || info.CPUCores != m.CPUCores || info.Props["HardwareModel"] != m.HardwareModel {
		t.Errorf("Info = %+v, want model %+v", info, m)
	}
	if info.Props["device.tier"] == "" || info.Props["device.tier"] == "unknown" || info.Props["device.year_class"] == "" {
		t.Errorf("Info lacks tier/year class: %v %v", info.Props["device.tier"], info.Props["device.year_class"])
	}
	h, err := drv.Health(ctx(t), sd.UDID())
	if err != nil {
		t.Fatal(err)
	}
	if h.BatteryLevel != 7 || h.Charging || h.TemperatureC != 44 || h.ThermalStatus != "severe" || h.FreeStorageMB <= 0 || !h.Responsive {
		t.Errorf("Health = %+v", h)
	}
}

func TestDriverWatch(t *testing.T) {
	srv, drv := setup(t, 2, nil)
	c, cancel := context.WithCancel(ctx(t))
	ch, err := drv.Watch(c)
	if err != nil {
		t.Fatal(err)
	}
	next := func() driver.DeviceEvent {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatal("watch channel closed")
			}
			return ev
		case <-time.After(5 * time.Second):
			t.Fatal("no event")
		}
		return driver.DeviceEvent{}
	}
	for i := 0; i < 2; i++ {
		if ev := next(); ev.Device.State != driver.StateReady {
			t.Fatalf("initial %+v", ev)
		}
	}
	d := srv.Devices()[0]
	d.Detach()
	if ev := next(); ev.Device.State != driver.StateGone || ev.Device.Serial != d.UDID() {
		t.Fatalf("detach event %+v", ev)
	}
	d.Attach()
	if ev := next(); ev.Device.State != driver.StateReady || ev.Device.Serial != d.UDID() {
		t.Fatalf("attach event %+v", ev)
	}
	cancel()
	for range ch { // closed once ctx ends
	}
}

func TestDriverInstallLogsCrashesSmoke(t *testing.T) {
	// installs on iOS 15.8 crash; a device on a later release stays clean.
	srv, drv := setup(t, 5, func(c *usbmux.Config) { c.CrashOnOSVersion = "15.8" })
	var crashy, clean *usbmux.Device
	for _, d := range srv.Devices() {
		if d.Instance().OSVersion == "15.8" && crashy == nil {
			crashy = d
		} else if d.Instance().OSVersion != "15.8" && clean == nil {
			clean = d
		}
	}
	if crashy == nil || clean == nil {
		t.Fatal("fleet lacks a 15.8 and a later device")
	}
	p := mkIPA(t, ipa.Spec{BundleID: "com.fleetlens.shop", Name: "Shop", Version: "2.3", Build: "230"})
	start := time.Now()
	// Arm the recorder first, as the agent does at test start: install lines then arrive live.
	if _, err := drv.Logs(ctx(t), clean.UDID(), start); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = drv.Close() })
	for _, d := range []*usbmux.Device{crashy, clean} {
		app, err := drv.Install(ctx(t), d.UDID(), p)
		if err != nil || app.ID != "com.fleetlens.shop" || app.Version != "2.3" {
			t.Fatalf("Install on %s = %+v, %v", d.UDID(), app, err)
		}
	}
	logs, err := drv.Logs(ctx(t), clean.UDID(), start)
	if err != nil || !strings.Contains(logs, "Install Successful for (Placeholder:com.fleetlens.shop)") {
		t.Fatalf("Logs = %v\n%s", err, logs)
	}
	if future, err := drv.Logs(ctx(t), clean.UDID(), time.Now().Add(time.Hour)); err != nil || strings.Contains(future, "Install Successful") {
		t.Errorf("since filter let old lines through: %v\n%s", err, future)
	}
	crashes, err := drv.Crashes(ctx(t), crashy.UDID(), "com.fleetlens.shop", start)
	if err != nil || len(crashes) != 1 {
		t.Fatalf("Crashes = %+v, %v", crashes, err)
	}
	if c := crashes[0]; c.Process != "Shop" || c.Exception != "EXC_BAD_ACCESS (SIGSEGV)" || c.OSVersion != "15.8" {
		t.Errorf("crash = %+v", c)
	}
	if none, err := drv.Crashes(ctx(t), clean.UDID(), "", start); err != nil || len(none) != 0 {
		t.Errorf("clean device crashes = %+v, %v", none, err)
	}

	smoke := func(d *usbmux.Device) map[string]driver.TestStatus {
		got := map[string]driver.TestStatus{}
		err := drv.RunTests(ctx(t), d.UDID(), driver.RunRequest{AppID: "com.fleetlens.shop", Args: map[string]string{"since": start.Add(-time.Second).Format(time.RFC3339)}},
			func(r driver.TestResult) { got[r.Method] = r.Status })
		if err != nil {
			t.Fatalf("RunTests on %s: %v", d.UDID(), err)
		}
		return got
	}
	if got := smoke(clean); got["installed"] != driver.TestPassed || got["syslog_clean"] != driver.TestPassed || got["no_crash_reports"] != driver.TestPassed {
		t.Errorf("clean smoke = %v", got)
	}
	if got := smoke(crashy); got["installed"] != driver.TestPassed || got["syslog_clean"] != driver.TestFailed || got["no_crash_reports"] != driver.TestError {
		t.Errorf("crashy smoke = %v", got)
	}
	err = drv.RunTests(ctx(t), clean.UDID(), driver.RunRequest{AppID: "com.fleetlens.shop", TestAppID: "com.fleetlens.shopUITests"}, nil)
	if !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("XCTest without runner: %v", err)
	}

	if err := drv.Uninstall(ctx(t), clean.UDID(), "com.fleetlens.shop"); err != nil {
		t.Fatal(err)
	}
	if len(clean.Apps()) != 0 {
		t.Errorf("still installed")
	}
	var got []driver.TestResult
	if err := drv.RunTests(ctx(t), clean.UDID(), driver.RunRequest{AppID: "com.fleetlens.shop"}, func(r driver.TestResult) { got = append(got, r) }); err != nil || got[0].Status != driver.TestFailed {
		t.Errorf("smoke after uninstall = %+v, %v", got, err)
	}
}

func TestDriverDeviceGone(t *testing.T) {
	srv, drv := setup(t, 2, nil)
	d := srv.Devices()[0]
	d.SetFaults(usbmux.Faults{DetachMidInstall: true})
	_, err := drv.Install(ctx(t), d.UDID(), mkIPA(t, ipa.Spec{BundleID: "com.x.big", Size: 1 << 20}))
	if !errors.Is(err, driver.ErrDeviceGone) {
		t.Fatalf("install across detach: %v, want ErrDeviceGone", err)
	}
	for name, fn := range map[string]func() error{
		"info":      func() error { _, err := drv.Info(ctx(t), d.UDID()); return err },
		"health":    func() error { _, err := drv.Health(ctx(t), d.UDID()); return err },
		"logs":      func() error { _, err := drv.Logs(ctx(t), d.UDID(), time.Time{}); return err },
		"crashes":   func() error { _, err := drv.Crashes(ctx(t), d.UDID(), "", time.Time{}); return err },
		"uninstall": func() error { return drv.Uninstall(ctx(t), d.UDID(), "com.x.big") },
	} {
		if err := fn(); !errors.Is(err, driver.ErrDeviceGone) {
			t.Errorf("%s on detached device: %v, want ErrDeviceGone", name, err)
		}
	}
	// the other device is fine
	if _, err := drv.Info(ctx(t), srv.Devices()[1].UDID()); err != nil {
		t.Errorf("other device: %v", err)
	}
	c, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := drv.Info(c, srv.Devices()[1].UDID()); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled ctx: %v", err)
	}
	if _, err := drv.Install(ctx(t), srv.Devices()[1].UDID(), filepath.Join(t.TempDir(), "missing.ipa")); !errors.Is(err, driver.ErrInstallFailed) {
		t.Errorf("missing ipa: %v", err)
	}
}
