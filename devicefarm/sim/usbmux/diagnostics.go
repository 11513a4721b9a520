package usbmux

import (
	"net"
	"sync"
	"time"
)

// batteryRegistry is the IOPMPowerSource entry (AppleSmartBattery) diagnostics_relay returns.
func (d *Device) batteryRegistry() map[string]any {
	level, charging, tempC := d.battery()
	design := uint64(2800 + d.ecid%800)
	maxCap := design * (88 + d.ecid%12) / 100
	amps := -310
	if charging {
		amps = 1200
	}
	return map[string]any{
		"IOClass":                 "AppleSmartBattery",
		"BatteryInstalled":        true,
		"CurrentCapacity":         level,
		"MaxCapacity":             100,
		"DesignCapacity":          design,
		"NominalChargeCapacity":   maxCap,
		"AppleRawCurrentCapacity": maxCap * uint64(level) / 100,
		"AppleRawMaxCapacity":     maxCap,
		"AbsoluteCapacity":        maxCap * uint64(level) / 100,
		"CycleCount":              uint64(120 + d.ecid%600),
		"Temperature":             int(tempC * 100), // centi-degrees Celsius, as the gas gauge reports
		"Voltage":                 3800 + level*4,
		"InstantAmperage":         amps,
		"IsCharging":              charging && level < 100,
		"ExternalConnected":       charging,
		"ExternalChargeCapable":   charging,
		"FullyCharged":            charging && level >= 100,
		"AtCriticalLevel":         level <= 5,
		"AtWarnLevel":             level <= 20,
		"UpdateTime":              time.Now().Unix(),
	}
}

func (d *Device) serveDiagnostics(c net.Conn) {
	// A restart or shutdown happens once the client says Goodbye or hangs up (or after a
	// second), as WaitForDisconnect asks: the reply must reach the host before the bus drops.
	var reboot func()
	defer func() {
		if reboot != nil {
			go reboot()
		}
	}()
	for {
		req, err := readMsg(c)
		if err == errNotPlist {
			if writeMsg(c, map[string]any{"Status": "UnknownRequest"}) != nil {
				return
			}
			continue
		}
		if err != nil {
			return
		}
		name, _ := req["Request"].(string)
		reg := d.batteryRegistry()
		gas := map[string]any{
			"CycleCount": reg["CycleCount"], "DesignCapacity": reg["DesignCapacity"],
			"FullChargeCapacity": reg["NominalChargeCapacity"], "Status": "Success",
		}
		var resp map[string]any
		switch name {
		case "All":
			resp = map[string]any{"Status": "Success", "Diagnostics": map[string]any{
				"GasGauge": gas,
				"HDMI":     map[string]any{"Connection": "Unknown", "Status": "Success"},
				"NAND":     map[string]any{"Status": "Success"},
				"WiFi":     map[string]any{"Active": "true", "Status": "Success"},
			}}
		case "GasGauge":
			resp = map[string]any{"Status": "Success", "Diagnostics": map[string]any{"GasGauge": gas}}
		case "WiFi", "NAND", "HDMI":
			resp = map[string]any{"Status": "Success", "Diagnostics": map[string]any{name: map[string]any{"Status": "Success"}}}
		case "IORegistry":
			class, _ := req["EntryClass"].(string)
			entry, _ := req["EntryName"].(string)
			if class == "IOPMPowerSource" || class == "AppleSmartBattery" || entry == "AppleSmartBattery" {
				resp = map[string]any{"Status": "Success", "Diagnostics": map[string]any{"IORegistry": reg}}
			} else {
				resp = map[string]any{"Status": "Failure"}
			}
		case "MobileGestalt":
			// iOS 17+ answers MobileGestalt with MobileGestaltDeprecated, earlier releases values.
			vals := map[string]any{"Status": "MobileGestaltDeprecated"}
			if versionLess(d.inst.OSVersion, "17.0") {
				vals = map[string]any{"Status": "Success", "ProductType": d.productType, "HWModelStr": d.inst.Model.HardwareModel}
			}
			resp = map[string]any{"Status": "Success", "Diagnostics": map[string]any{"MobileGestalt": vals}}
		case "Restart", "Shutdown", "Sleep":
			_ = writeMsg(c, map[string]any{"Status": "Success"})
			if name == "Sleep" {
				continue
			}
			d.Log("backboardd", "Notice", "Requesting "+name+" on behalf of diagnostics_relay")
			var once sync.Once
			comeBack := name == "Restart"
			reboot = func() { once.Do(func() { d.restart(comeBack) }) }
			time.AfterFunc(time.Second, reboot)
			continue
		case "Goodbye":
			_ = writeMsg(c, map[string]any{"Status": "Success"})
			return
		default:
			resp = map[string]any{"Status": "UnknownRequest"}
		}
		if writeMsg(c, resp) != nil {
			return
		}
	}
}

// restart takes the device off the bus like a reboot and, for a restart, brings it back.
func (d *Device) restart(comeBack bool) {
	d.Detach()
	if !comeBack {
		return
	}
	select {
	case <-time.After(d.srv.cfg.RestartDelay):
		d.Attach()
		d.Log("kernel", "Notice", "Darwin Kernel Version booted after restart")
	case <-d.srv.done:
	}
}
