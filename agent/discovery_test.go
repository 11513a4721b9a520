package agent

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/fleetlens/fleetlens/devicefarm/sim/adbd"
	"github.com/fleetlens/fleetlens/internal/pg/pgtest"
	hwdevice "github.com/fleetlens/fleetlens/sdk-hooks/device"
)

type deviceRow struct {
	state, manufacturer, model, osVersion, abi, tier string
	api, ram, cores, mhz                             int
}

func readDevice(t *testing.T, h *host, serial string) (deviceRow, bool) {
	t.Helper()
	var r deviceRow
	err := h.pool.QueryRow(context.Background(), `SELECT state, manufacturer, model, os_version, abi, tier,
		api_level, ram_mb, cpu_cores, cpu_max_mhz FROM devices WHERE serial = $1`, serial).Scan(
		&r.state, &r.manufacturer, &r.model, &r.osVersion, &r.abi, &r.tier, &r.api, &r.ram, &r.cores, &r.mhz)
	return r, err == nil
}

// wantRow is what the agent must store for a simulated phone: the properties as the
// driver's Info reads them from the device (not `adb devices -l`'s model with underscores or
// spaces and no OS version), and the tier sdk-hooks/device derives from RAM and CPU.
func wantRow(d *adbd.Device) deviceRow {
	m := d.Instance().Model
	api, _ := strconv.Atoi(d.Prop("ro.build.version.sdk"))
	return deviceRow{state: "idle", manufacturer: d.Prop("ro.product.manufacturer"), model: d.Prop("ro.product.model"),
		osVersion: d.Prop("ro.build.version.release"), abi: d.Prop("ro.product.cpu.abi"), api: api,
		ram: m.RAMMB, cores: m.CPUCores, mhz: m.CPUMaxMHz,
		tier: string(hwdevice.Profile{Platform: hwdevice.Android, RAMMB: m.RAMMB, CPUCores: m.CPUCores, CPUMaxMHz: m.CPUMaxMHz}.Tier())}
}

// TestDiscoveryStoresFullProperties: a discovered phone is stored with every property
// Info reports; when it drops offline (adb lists it with no model and no OS version) those
// properties stay, and when it is back they are read again.
func TestDiscoveryStoresFullProperties(t *testing.T) {
	h := startHost(t, pgtest.NewDSN(t), "host-disc", "discovery", 3)
	t.Cleanup(func() { h.agent.Shutdown(context.Background()) })
	for _, d := range h.fleet.Devices() {
		want := wantRow(d)
		if want.osVersion == "" || want.api == 0 || want.model == "" {
			t.Fatalf("simulator props incomplete: %+v", want)
		}
		var got deviceRow
		if !waitUntil(10*time.Second, func() bool { var ok bool; got, ok = readDevice(t, h, d.Addr()); return ok && got == want }) {
			t.Fatalf("%s stored as %+v, want %+v", d.Addr(), got, want)
		}
	}

	d := h.fleet.Devices()[0]
	want := wantRow(d)
	d.SetOffline(true)
	// The adb server reconnects and the transport hangs after CNXN: adb lists it offline,
	// with no model and no OS version; the agent sees that state change.
	if !waitUntil(15*time.Second, func() bool {
		devs, err := h.drv.List(context.Background())
		if err != nil {
			return false
		}
		for _, x := range devs {
			if x.Serial == d.Addr() && x.State == "offline" {
				return true
			}
		}
		return false
	}) {
		t.Fatal("device never listed offline")
	}
	var got deviceRow
	if !waitUntil(5*time.Second, func() bool { got, _ = readDevice(t, h, d.Addr()); return got.state == "offline" }) {
		t.Fatalf("offline device stored as %+v", got)
	}
	time.Sleep(time.Second) // every event of the flap has reached the agent
	got, _ = readDevice(t, h, d.Addr())
	off := want
	off.state = "offline"
	if got != off {
		t.Fatalf("an offline listing erased stored properties: %+v, want %+v", got, off)
	}

	d.SetOffline(false)
	if !waitUntil(20*time.Second, func() bool { got, _ = readDevice(t, h, d.Addr()); return got == want }) {
		t.Fatalf("back online, stored as %+v, want %+v", got, want)
	}
}
