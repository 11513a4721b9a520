package usbmux_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/danielpaulus/go-ios/ios"
	"github.com/danielpaulus/go-ios/ios/crashreport"
	"github.com/danielpaulus/go-ios/ios/diagnostics"
	"github.com/danielpaulus/go-ios/ios/installationproxy"
	"github.com/danielpaulus/go-ios/ios/syslog"
	"github.com/danielpaulus/go-ios/ios/zipconduit"

	"github.com/fleetlens/fleetlens/devicefarm/sim/usbmux"
	"github.com/fleetlens/fleetlens/devicefarm/sim/usbmux/ipa"
)

func entry(t *testing.T, udid string) ios.DeviceEntry {
	t.Helper()
	e, err := ios.GetDevice(udid)
	if err != nil {
		t.Fatalf("go-ios GetDevice(%s): %v", udid, err)
	}
	return e
}

func buildIPA(t testing.TB, s ipa.Spec) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), s.BundleID+".ipa")
	if err := ipa.Write(p, s); err != nil {
		t.Fatal(err)
	}
	return p
}

func install(t *testing.T, e ios.DeviceEntry, path string) error {
	t.Helper()
	return installGoIOS(e, path)
}

func installGoIOS(e ios.DeviceEntry, path string) error {
	conn, err := zipconduit.New(e)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.SendFile(path)
}

func TestGoIOSListAndValues(t *testing.T) {
	srv := startSim(t, 4, nil)
	list, err := ios.ListDevices()
	if err != nil {
		t.Fatal(err)
	}
	if len(list.DeviceList) != 4 {
		t.Fatalf("ListDevices: %d devices, want 4", len(list.DeviceList))
	}
	for i, d := range srv.Devices() {
		e := list.DeviceList[i]
		if e.Properties.SerialNumber != d.UDID() || e.DeviceID != d.ID() || e.Properties.ConnectionType != "USB" {
			t.Errorf("entry %d = %+v, want udid %s id %d over USB", i, e, d.UDID(), d.ID())
		}
		vals, err := ios.GetValues(e)
		if err != nil {
			t.Fatalf("GetValues %s: %v", d.UDID(), err)
		}
		v := vals.Value
		m := d.Instance().Model
		if v.ProductType != d.ProductType() || !strings.Contains(v.ProductType, ",") || v.HardwareModel != m.HardwareModel || v.ProductVersion != d.Instance().OSVersion ||
			v.BuildVersion != d.BuildVersion() || v.UniqueDeviceID != d.UDID() || v.UniqueChipID == 0 || len(v.SupportedDeviceFamilies) == 0 {
			t.Errorf("GetValues %s = %+v", d.UDID(), v)
		}
		raw, err := ios.GetValuesPlist(e)
		if err != nil || raw["DeviceName"] == nil {
			t.Errorf("GetValuesPlist: %v %v", raw["DeviceName"], err)
		}
	}
	e := list.DeviceList[0]
	bat, err := ios.GetBatteryDiagnostics(e) // type-asserts uint64 and bools
	if err != nil || bat.BatteryCurrentCapacity == 0 || !bat.HasBattery {
		t.Errorf("battery = %+v, %v", bat, err)
	}
	ver, err := ios.GetProductVersion(e)
	if err != nil || ver.String() == "" {
		t.Errorf("product version %v %v", ver, err)
	}
	if mac, err := ios.GetWifiMac(e); err != nil || len(mac) != 17 {
		t.Errorf("wifi mac %q %v", mac, err)
	}
}

func TestGoIOSListenAttachDetach(t *testing.T) {
	srv := startSim(t, 3, nil)
	recv, closeFn, err := ios.Listen()
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	for i := 0; i < 3; i++ {
		m, err := recv()
		if err != nil || !m.DeviceAttached() {
			t.Fatalf("initial event %d: %+v %v", i, m, err)
		}
	}
	d := srv.Devices()[1]
	d.Detach()
	m, err := recv()
	if err != nil || !m.DeviceDetached() || m.DeviceID != d.ID() {
		t.Fatalf("after Detach: %+v %v", m, err)
	}
	if l, _ := ios.ListDevices(); len(l.DeviceList) != 2 {
		t.Errorf("ListDevices after detach: %d", len(l.DeviceList))
	}
	d.Attach()
	m, err = recv()
	if err != nil || !m.DeviceAttached() || m.Properties.SerialNumber != d.UDID() {
		t.Fatalf("after Attach: %+v %v", m, err)
	}
}

func TestGoIOSInstallBrowseUninstall(t *testing.T) {
	srv := startSim(t, 2, nil)
	d := srv.Devices()[0]
	e := entry(t, d.UDID())
	p := buildIPA(t, ipa.Spec{BundleID: "com.fleetlens.shop", Name: "Shop", Version: "2.3", Build: "230", Size: 300 << 10})
	if err := install(t, e, p); err != nil {
		t.Fatalf("install: %v", err)
	}
	apps := d.Apps()
	if len(apps) != 1 || apps[0].BundleID != "com.fleetlens.shop" || apps[0].Bytes < 300<<10 || len(apps[0].SHA256) != 64 {
		t.Fatalf("apps after install = %+v", apps)
	}
	ip, err := installationproxy.New(e)
	if err != nil {
		t.Fatal(err)
	}
	defer ip.Close()
	user, err := ip.BrowseUserApps()
	if err != nil || len(user) != 1 || user[0].CFBundleIdentifier() != "com.fleetlens.shop" || user[0].CFBundleShortVersionString() != "2.3" {
		t.Fatalf("BrowseUserApps = %v, %v", user, err)
	}
	sys, err := ip.BrowseSystemApps()
	if err != nil || len(sys) == 0 {
		t.Fatalf("BrowseSystemApps = %v, %v", sys, err)
	}
	if err := ip.Uninstall("com.fleetlens.shop"); err != nil {
		t.Fatal(err)
	}
	if len(d.Apps()) != 0 {
		t.Errorf("app still installed after Uninstall")
	}
}

func TestGoIOSInstallRejected(t *testing.T) {
	srv := startSim(t, 1, nil)
	d := srv.Devices()[0] // first catalog device runs iOS 15.8
	e := entry(t, d.UDID())
	tests := []struct {
		name string
		spec ipa.Spec
		want string
	}{
		{"min OS too high", ipa.Spec{BundleID: "com.x.new", MinOS: "99.0"}, "DeviceOSVersionTooLow"},
		{"iPad only on iPhone", ipa.Spec{BundleID: "com.x.pad", DeviceFams: []int{2}}, "DeviceFamilyNotSupported"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := install(t, e, buildIPA(t, tc.spec))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("install error = %v, want %s", err, tc.want)
			}
		})
	}
	if len(d.Apps()) != 0 {
		t.Errorf("rejected apps were installed: %+v", d.Apps())
	}
}

func TestGoIOSDetachMidInstall(t *testing.T) {
	srv := startSim(t, 2, nil)
	d := srv.Devices()[0]
	d.SetFaults(usbmux.Faults{DetachMidInstall: true, ReattachAfter: 200 * time.Millisecond})
	e := entry(t, d.UDID())
	err := install(t, e, buildIPA(t, ipa.Spec{BundleID: "com.x.big", Size: 2 << 20}))
	if err == nil {
		t.Fatal("install succeeded across a detach")
	}
	if len(d.Apps()) != 0 {
		t.Errorf("half-sent app installed")
	}
	// the other device is undisturbed
	if err := install(t, entry(t, srv.Devices()[1].UDID()), buildIPA(t, ipa.Spec{BundleID: "com.x.small"})); err != nil {
		t.Errorf("other device: %v", err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for !d.Attached() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !d.Attached() {
		t.Fatal("device did not reattach")
	}
}

func TestGoIOSSyslog(t *testing.T) {
	srv := startSim(t, 1, nil)
	d := srv.Devices()[0]
	d.Log("Shop", "Notice", "checkout screen shown")
	conn, err := syslog.New(entry(t, d.UDID()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	parse := syslog.Parser()
	found := false
	for i := 0; i < 5 && !found; i++ {
		msg, err := conn.ReadLogMessage()
		if err != nil {
			t.Fatal(err)
		}
		le, err := parse(msg)
		if err != nil {
			t.Fatalf("go-ios cannot parse %q: %v", msg, err)
		}
		found = le.Process == "Shop" && strings.Contains(le.Message, "checkout screen shown")
	}
	if !found {
		t.Fatal("logged line not relayed")
	}
	go d.Log("Shop", "Error", "live line")
	for i := 0; i < 10; i++ {
		msg, err := conn.ReadLogMessage()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(msg, "live line") {
			return
		}
	}
	t.Fatal("live line not relayed")
}

func TestGoIOSDiagnostics(t *testing.T) {
	srv := startSim(t, 1, nil)
	d := srv.Devices()[0]
	d.SetFaults(usbmux.Faults{BatteryLevel: 4, NotCharging: true})
	e := entry(t, d.UDID())
	dc, err := diagnostics.New(e)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := dc.Battery()
	if err != nil || reg.CurrentCapacity != 4 || reg.IsCharging || !reg.AtCriticalLevel || reg.DesignCapacity == 0 {
		t.Errorf("Battery = %+v, %v", reg, err)
	}
	all, err := dc.AllValues()
	if err != nil || all.Status != "Success" || all.Diagnostics.GasGauge.CycleCount == 0 {
		t.Errorf("AllValues = %+v, %v", all, err)
	}
	if err := dc.Close(); err != nil {
		t.Error(err)
	}
	if err := diagnostics.Reboot(e); err != nil {
		t.Fatalf("Reboot: %v", err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for d.Attached() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if d.Attached() {
		t.Fatal("device did not go away on restart")
	}
	for !d.Attached() && time.Now().Before(deadline.Add(2*time.Second)) {
		time.Sleep(10 * time.Millisecond)
	}
	if !d.Attached() {
		t.Fatal("device did not come back after restart")
	}
}

func TestGoIOSCrashReports(t *testing.T) {
	srv := startSim(t, 1, func(c *usbmux.Config) { c.CrashOnOSVersion, c.CrashApp = "15.8", "com.fleetlens.shop" })
	d := srv.Devices()[0]
	e := entry(t, d.UDID())
	for _, bid := range []string{"com.fleetlens.shop", "com.fleetlens.other"} { // only the first crashes
		if err := install(t, e, buildIPA(t, ipa.Spec{BundleID: bid, Name: bid[strings.LastIndex(bid, ".")+1:]})); err != nil {
			t.Fatal(err)
		}
	}
	files, err := crashreport.ListReports(e, "*")
	if err != nil || len(files) != 1 || !strings.HasPrefix(files[0], "shop-") || !strings.HasSuffix(files[0], ".ips") {
		t.Fatalf("ListReports = %v, %v", files, err)
	}
	dir := t.TempDir()
	if err := crashreport.DownloadReports(e, "*.ips", dir); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, filepath.Base(files[0])))
	if err != nil || !strings.Contains(string(b), `"bug_type":"309"`) || !strings.Contains(string(b), "EXC_BAD_ACCESS") {
		t.Fatalf("downloaded report: %v\n%s", err, b)
	}
	if err := crashreport.RemoveReports(e, ".", "*"); err != nil {
		t.Fatal(err)
	}
	if files, err := crashreport.ListReports(e, "*"); err != nil || len(files) != 0 {
		t.Fatalf("after remove: %v %v", files, err)
	}
}

func TestGoIOSSlowTLS(t *testing.T) {
	srv := startSim(t, 1, nil)
	d := srv.Devices()[0]
	d.SetFaults(usbmux.Faults{TLSDelay: 300 * time.Millisecond})
	start := time.Now()
	if _, err := ios.GetValues(entry(t, d.UDID())); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 300*time.Millisecond {
		t.Errorf("GetValues took %v, TLS delay not applied", el)
	}
}
