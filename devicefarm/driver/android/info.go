package android

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/fleetlens/fleetlens/devicefarm/driver"
)

const split = "__FLEETLENS_SPLIT__"

// infoCmd reads everything Info needs in one round trip.
var infoCmd = strings.Join([]string{
	"getprop", "echo " + split, "cat /proc/meminfo", "echo " + split,
	"cat /sys/devices/system/cpu/possible", "echo " + split,
	"cat /sys/devices/system/cpu/cpu*/cpufreq/cpuinfo_max_freq", "echo " + split, "wm size",
}, "; ")

var propLine = regexp.MustCompile(`^\[([^\]]+)\]: \[(.*)\]$`)

// parseGetprop parses `getprop` output ("[key]: [value]"); multi-line values keep their
// first line.
func parseGetprop(s string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(s, "\n") {
		if g := propLine.FindStringSubmatch(strings.TrimRight(l, "\r")); g != nil {
			m[g[1]] = g[2]
		}
	}
	return m
}

// Info reads properties and hardware facts of one device.
func (d *Driver) Info(ctx context.Context, serial string) (driver.Device, error) {
	out, err := d.run(ctx, serial, infoCmd)
	if err != nil && out == "" {
		return driver.Device{}, err
	}
	parts := strings.Split(out, split+"\n")
	for len(parts) < 5 {
		parts = append(parts, "")
	}
	p := parseGetprop(parts[0])
	if len(p) == 0 {
		return driver.Device{}, fmt.Errorf("android %s: getprop returned no properties", serial)
	}
	dev := driver.Device{
		Serial: serial, Platform: driver.Android, State: driver.StateReady,
		Manufacturer: p["ro.product.manufacturer"], Model: p["ro.product.model"], ProductType: p["ro.product.device"],
		OSVersion: p["ro.build.version.release"], ABI: p["ro.product.cpu.abi"], Props: p,
	}
	dev.APILevel, _ = strconv.Atoi(p["ro.build.version.sdk"])
	dev.RAMMB = parseMemTotalMB(parts[1])
	dev.CPUCores = parseCPURange(parts[2])
	for _, l := range strings.Fields(parts[3]) {
		if khz, err := strconv.Atoi(l); err == nil && khz/1000 > dev.CPUMaxMHz {
			dev.CPUMaxMHz = khz / 1000
		}
	}
	if _, size, ok := strings.Cut(parts[4], "Physical size: "); ok {
		dev.Screen = strings.TrimSpace(firstLine(size))
	}
	return dev, nil
}

// parseMemTotalMB reads MemTotal and rounds up to the marketed size (the kernel reserves a
// few percent, so 3.7 GB of MemTotal is a "4 GB" phone).
func parseMemTotalMB(meminfo string) int {
	for _, l := range strings.Split(meminfo, "\n") {
		if rest, ok := strings.CutPrefix(l, "MemTotal:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			mb := kb / 1024
			for _, size := range []int{512, 768, 1024, 1536, 2048, 3072, 4096, 6144, 8192, 12288, 16384, 24576} {
				if mb <= size && mb >= size*85/100 {
					return size
				}
			}
			return mb
		}
	}
	return 0
}

// parseCPURange counts CPUs in a kernel cpu list such as "0-7" or "0-3,6".
func parseCPURange(s string) int {
	n := 0
	for _, part := range strings.Split(strings.TrimSpace(s), ",") {
		lo, hi, ok := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(lo)
		if err1 != nil {
			continue
		}
		b := a
		if ok {
			if v, err := strconv.Atoi(hi); err == nil {
				b = v
			}
		}
		n += b - a + 1
	}
	return n
}

var healthCmd = strings.Join([]string{"dumpsys battery", "echo " + split, "dumpsys thermalservice", "echo " + split,
	"df /data", "echo " + split, "getprop sys.boot_completed"}, "; ")

// thermalNames are PowerManager.THERMAL_STATUS_* (Android 10+).
var thermalNames = []string{"none", "light", "moderate", "severe", "critical", "emergency", "shutdown"}

// Health reads battery, thermal status, free storage and boot completion.
func (d *Driver) Health(ctx context.Context, serial string) (driver.Health, error) {
	h := driver.Health{CheckedAt: time.Now()}
	out, err := d.run(ctx, serial, healthCmd)
	if err != nil && out == "" {
		return h, err
	}
	parts := strings.Split(out, split+"\n")
	for len(parts) < 4 {
		parts = append(parts, "")
	}
	bat := map[string]string{}
	for _, l := range strings.Split(parts[0], "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(l), ": "); ok {
			bat[k] = v
		}
	}
	if _, ok := bat["level"]; !ok {
		return h, fmt.Errorf("android %s: dumpsys battery has no level: %.80q", serial, parts[0])
	}
	level, _ := strconv.Atoi(bat["level"])
	scale, _ := strconv.Atoi(bat["scale"])
	if scale > 0 && scale != 100 {
		level = level * 100 / scale
	}
	h.BatteryLevel = level
	h.Charging = bat["AC powered"] == "true" || bat["USB powered"] == "true" || bat["Wireless powered"] == "true"
	if t, err := strconv.Atoi(bat["temperature"]); err == nil {
		h.TemperatureC = float64(t) / 10 // tenths of a degree Celsius (BatteryManager.EXTRA_TEMPERATURE)
	}
	h.ThermalStatus = "unknown"
	for _, l := range strings.Split(parts[1], "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "Thermal Status: "); ok {
			if n, err := strconv.Atoi(v); err == nil && n >= 0 && n < len(thermalNames) {
				h.ThermalStatus = thermalNames[n]
			}
		}
	}
	h.FreeStorageMB = parseDfFreeMB(parts[2])
	h.Booted = strings.TrimSpace(parts[3]) == "1"
	h.Responsive = true
	return h, nil
}

// parseDfFreeMB reads the Available column of toybox df (1K blocks) for /data.
func parseDfFreeMB(df string) int64 {
	for _, l := range strings.Split(df, "\n") {
		f := strings.Fields(l)
		if len(f) >= 6 && f[len(f)-1] == "/data" {
			kb, err := strconv.ParseInt(f[3], 10, 64)
			if err == nil {
				return kb / 1024
			}
		}
	}
	return 0
}
