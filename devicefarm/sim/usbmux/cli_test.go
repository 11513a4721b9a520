package usbmux_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleetlens/fleetlens/devicefarm/sim/usbmux"
	"github.com/fleetlens/fleetlens/devicefarm/sim/usbmux/ipa"
)

func TestCLIIdeviceID(t *testing.T) {
	srv := startSim(t, 3, nil)
	out, err := tool(t, 10*time.Second, "idevice_id", "-l")
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Fields(out)
	if len(got) != 3 {
		t.Fatalf("idevice_id -l listed %q, want 3 UDIDs", out)
	}
	for i, d := range srv.Devices() {
		if got[i] != d.UDID() {
			t.Errorf("line %d = %q, want %q", i, got[i], d.UDID())
		}
	}
}

func TestCLIIdeviceInfo(t *testing.T) {
	srv := startSim(t, 2, nil)
	d := srv.Devices()[1]
	m := d.Instance().Model
	out, err := tool(t, 15*time.Second, "ideviceinfo", "-u", d.UDID())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"ProductType: " + d.ProductType(),
		"HardwareModel: " + m.HardwareModel,
		"ProductVersion: " + d.Instance().OSVersion,
		"BuildVersion: " + d.BuildVersion(),
		"UniqueDeviceID: " + d.UDID(),
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("ideviceinfo output lacks %q:\n%s", want, out)
		}
	}
	out, err = tool(t, 15*time.Second, "ideviceinfo", "-u", d.UDID(), "-k", "ProductType")
	if err != nil || strings.TrimSpace(out) != d.ProductType() || !strings.Contains(out, ",") {
		t.Errorf("ideviceinfo -k ProductType = %q, %v; want %q", out, err, d.ProductType())
	}
	out, err = tool(t, 15*time.Second, "ideviceinfo", "-u", d.UDID(), "-q", "com.apple.mobile.battery", "-k", "BatteryCurrentCapacity")
	if err != nil || strings.TrimSpace(out) == "" {
		t.Errorf("battery capacity = %q, %v", out, err)
	}
}

func TestCLIIdeviceSyslog(t *testing.T) {
	srv := startSim(t, 2, nil)
	d := srv.Devices()[0]
	d.Log("Shop", "Notice", "cart restored with 3 items")
	// idevicesyslog streams until killed: give it a few seconds of stream, then look at it.
	out, _ := tool(t, 3*time.Second, "idevicesyslog", "-u", d.UDID())
	if !strings.Contains(out, "Shop[") || !strings.Contains(out, "<Notice>: cart restored with 3 items") {
		t.Fatalf("idevicesyslog output lacks the app line:\n%s", out)
	}
	if testing.Verbose() {
		t.Logf("%s", out)
	}
	if strings.Contains(out, "\n\n") {
		t.Errorf("blank lines in the stream (bad separators):\n%q", out)
	}
}

func TestCLIIdeviceDiagnostics(t *testing.T) {
	srv := startSim(t, 1, nil)
	d := srv.Devices()[0]
	out, err := tool(t, 15*time.Second, "idevicediagnostics", "-u", d.UDID(), "diagnostics")
	if err != nil || !strings.Contains(out, "<key>GasGauge</key>") || !strings.Contains(out, "<key>CycleCount</key>") {
		t.Fatalf("idevicediagnostics diagnostics: %v\n%s", err, out)
	}
	out, err = tool(t, 15*time.Second, "idevicediagnostics", "-u", d.UDID(), "ioregentry", "AppleSmartBattery")
	if err != nil || !strings.Contains(out, "<key>CurrentCapacity</key>") {
		t.Fatalf("idevicediagnostics ioregentry: %v\n%s", err, out)
	}
	out, err = tool(t, 15*time.Second, "idevicediagnostics", "-u", d.UDID(), "restart")
	if err != nil || !strings.Contains(out, "Restarting device.") {
		t.Fatalf("idevicediagnostics restart: %v\n%s", err, out)
	}
	deadline := time.Now().Add(3 * time.Second)
	for d.Attached() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if d.Attached() {
		t.Fatal("device did not restart")
	}
}

func TestCLIIdeviceInstallerList(t *testing.T) {
	srv := startSim(t, 1, nil)
	d := srv.Devices()[0]
	if err := install(t, entry(t, d.UDID()), buildIPA(t, ipa.Spec{BundleID: "com.fleetlens.shop", Name: "Shop", Version: "2.3", Build: "230"})); err != nil {
		t.Fatal(err)
	}
	out, err := tool(t, 15*time.Second, "ideviceinstaller", "-u", d.UDID(), "-l")
	if err != nil {
		t.Fatal(err)
	}
	want := "CFBundleIdentifier, CFBundleVersion, CFBundleDisplayName\ncom.fleetlens.shop, \"230\", \"Shop\"\n"
	if !strings.Contains(out, want) {
		t.Fatalf("ideviceinstaller -l = %q, want %q", out, want)
	}
	out, err = tool(t, 15*time.Second, "ideviceinstaller", "-u", d.UDID(), "-l", "-o", "list_system")
	if err != nil || !strings.Contains(out, "com.apple.mobilesafari, ") {
		t.Fatalf("list_system: %v %q", err, out)
	}
}

func TestCLIIdeviceCrashReport(t *testing.T) {
	srv := startSim(t, 1, func(c *usbmux.Config) { c.CrashOnOSVersion = "15.8" })
	d := srv.Devices()[0]
	if err := install(t, entry(t, d.UDID()), buildIPA(t, ipa.Spec{BundleID: "com.fleetlens.shop", Name: "Shop"})); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out, err := tool(t, 15*time.Second, "idevicecrashreport", "-u", d.UDID(), "-k", dir)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "Shop-*.ips"))
	if len(files) != 1 {
		t.Fatalf("idevicecrashreport copied %v:\n%s", files, out)
	}
	b, _ := os.ReadFile(files[0])
	if !strings.Contains(string(b), `"procName" : "Shop"`) && !strings.Contains(string(b), `"procName": "Shop"`) {
		t.Errorf("copied report content:\n%s", b)
	}
	if len(d.CrashLogs()) != 1 {
		t.Errorf("-k (keep) removed the report from the device")
	}
	if _, err := tool(t, 15*time.Second, "idevicecrashreport", "-u", d.UDID(), t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if n := len(d.CrashLogs()); n != 0 {
		t.Errorf("without -k the report stays on the device (%d left)", n)
	}
}
