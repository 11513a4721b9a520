package agent

import (
	"fmt"
	"strings"

	"github.com/fleetlens/fleetlens/devicefarm/driver"
)

// gate evaluates a health reading; "" means healthy, else the reasons it is not.
func (h HealthConfig) gate(r driver.Health) string {
	var why []string
	if !r.Booted {
		why = append(why, "not booted")
	}
	if !r.Responsive {
		why = append(why, "not responsive")
	}
	if r.BatteryLevel < h.MinBattery && !r.Charging {
		why = append(why, fmt.Sprintf("battery %d%% < %d%% and not charging", r.BatteryLevel, h.MinBattery))
	}
	if r.TemperatureC >= h.MaxTemperatureC {
		why = append(why, fmt.Sprintf("temperature %.1f°C >= %.1f°C", r.TemperatureC, h.MaxTemperatureC))
	}
	switch r.ThermalStatus {
	case "severe", "critical", "emergency", "shutdown":
		why = append(why, "thermal status "+r.ThermalStatus)
	}
	if r.FreeStorageMB > 0 && r.FreeStorageMB < h.MinFreeStorageMB {
		why = append(why, fmt.Sprintf("free storage %d MB < %d MB", r.FreeStorageMB, h.MinFreeStorageMB))
	}
	return strings.Join(why, "; ")
}
