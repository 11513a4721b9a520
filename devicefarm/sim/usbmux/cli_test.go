package usbmux_test

import (
	"strings"
	"testing"
	"time"
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
		"ProductType: " + m.ProductType,
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
	if err != nil || strings.TrimSpace(out) != m.ProductType {
		t.Errorf("ideviceinfo -k ProductType = %q, %v; want %q", out, err, m.ProductType)
	}
	out, err = tool(t, 15*time.Second, "ideviceinfo", "-u", d.UDID(), "-q", "com.apple.mobile.battery", "-k", "BatteryCurrentCapacity")
	if err != nil || strings.TrimSpace(out) == "" {
		t.Errorf("battery capacity = %q, %v", out, err)
	}
}
