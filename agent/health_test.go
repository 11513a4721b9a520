package agent

import (
	"strings"
	"testing"

	"github.com/fleetlens/fleetlens/devicefarm/driver"
)

func TestHealthGate(t *testing.T) {
	h := Config{}.WithDefaults().Health
	good := driver.Health{BatteryLevel: 80, TemperatureC: 30, FreeStorageMB: 4000, Booted: true, Responsive: true, ThermalStatus: "none"}
	for _, tc := range []struct {
		name string
		mod  func(*driver.Health)
		want string // substring of the reason; "" healthy
	}{
		{"healthy", func(*driver.Health) {}, ""},
		{"low battery", func(r *driver.Health) { r.BatteryLevel = 5 }, "battery 5% < 20%"},
		{"low battery charging", func(r *driver.Health) { r.BatteryLevel = 5; r.Charging = true }, ""},
		{"hot", func(r *driver.Health) { r.TemperatureC = 47.5 }, "temperature 47.5°C"},
		{"throttled", func(r *driver.Health) { r.ThermalStatus = "severe" }, "thermal status severe"},
		{"full storage", func(r *driver.Health) { r.FreeStorageMB = 100 }, "free storage 100 MB"},
		{"not booted", func(r *driver.Health) { r.Booted = false }, "not booted"},
		{"hung", func(r *driver.Health) { r.Responsive = false }, "not responsive"},
	} {
		r := good
		tc.mod(&r)
		got := h.gate(r)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: gate = %q, want %q", tc.name, got, tc.want)
		}
	}
	if err := (Config{HostID: "x", LeaseTTL: 10, HeartbeatInterval: 10}).WithDefaults().Validate(); err == nil {
		t.Error("heartbeat interval equal to the lease TTL must be refused")
	}
}
