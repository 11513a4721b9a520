package agent

import (
	"context"
	"time"

	"github.com/fleetlens/fleetlens/devicefarm/driver"
	hwdevice "github.com/fleetlens/fleetlens/sdk-hooks/device"
)

// Discovery budgets: Info is a handful of shell calls; a phone that takes longer is treated
// as not yet usable rather than letting it hold up the watch loop (which serves every
// other device of the host).
const (
	infoTimeout  = 20 * time.Second
	infoAttempts = 3
	infoRetry    = 5 * time.Second
)

// deviceSeen handles a device the driver listed or whose state changed. A device that is
// ready gets the driver's Info once (here: each time it is newly discovered or reappears,
// since Watch reports only changes): `adb devices -l` names the model with underscores or
// spaces and has no OS version, API level, ABI, RAM or CPU, and the farm selects and groups
// devices by those. Without full properties no stored property is overwritten and no
// worker starts; the device is kept offline and Info is retried.
func (a *Agent) deviceSeen(ctx context.Context, d driver.Device) {
	full := false
	reason := ""
	if d.State != driver.StateReady {
		a.mu.Lock()
		delete(a.infoRetry, d.Serial) // asked again when it is ready
		a.mu.Unlock()
	} else {
		info, err := a.readInfo(ctx, d.Serial)
		if err == nil {
			info.State = driver.StateReady
			if info.Platform == "" {
				info.Platform = d.Platform
			}
			d, full = info, true
		} else {
			a.log.Warn("device info", "serial", d.Serial, "err", err)
			reason = "device info: " + err.Error()
			if ctx.Err() == nil {
				a.retryInfo(ctx, d)
			}
		}
	}
	tier := string(hwdevice.Profile{Platform: hwdevice.Platform(d.Platform), RAMMB: d.RAMMB, CPUCores: d.CPUCores,
		CPUMaxMHz: d.CPUMaxMHz}.Tier())
	if tier == "unknown" || !full {
		tier = ""
	}
	state := "idle"
	if !full {
		state = "offline"
	}
	labels := a.cfg.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	// $17 (full): only a successful Info replaces the stored properties; an offline or
	// unauthorized listing (no model, no OS version) must not erase them.
	_, err := a.pool.Exec(ctx, `INSERT INTO devices (serial, platform, host_id, state, manufacturer, model, product_type, os_version,
			api_level, abi, ram_mb, cpu_cores, cpu_max_mhz, tier, labels, screen, health_reason)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$18)
		ON CONFLICT (serial) DO UPDATE SET host_id = EXCLUDED.host_id, last_seen = now(),
			state = CASE WHEN devices.state = 'quarantined' AND devices.quarantined_until > now() THEN 'quarantined'
			             ELSE EXCLUDED.state END,
			health_reason = CASE WHEN $17::boolean THEN devices.health_reason ELSE EXCLUDED.health_reason END,
			manufacturer = CASE WHEN $17::boolean THEN EXCLUDED.manufacturer ELSE devices.manufacturer END,
			model = CASE WHEN $17::boolean THEN EXCLUDED.model ELSE devices.model END,
			product_type = CASE WHEN $17::boolean THEN EXCLUDED.product_type ELSE devices.product_type END,
			os_version = CASE WHEN $17::boolean THEN EXCLUDED.os_version ELSE devices.os_version END,
			api_level = CASE WHEN $17::boolean THEN EXCLUDED.api_level ELSE devices.api_level END,
			abi = CASE WHEN $17::boolean THEN EXCLUDED.abi ELSE devices.abi END,
			ram_mb = CASE WHEN $17::boolean THEN EXCLUDED.ram_mb ELSE devices.ram_mb END,
			cpu_cores = CASE WHEN $17::boolean THEN EXCLUDED.cpu_cores ELSE devices.cpu_cores END,
			cpu_max_mhz = CASE WHEN $17::boolean THEN EXCLUDED.cpu_max_mhz ELSE devices.cpu_max_mhz END,
			tier = CASE WHEN $17::boolean THEN EXCLUDED.tier ELSE devices.tier END,
			screen = CASE WHEN $17::boolean THEN EXCLUDED.screen ELSE devices.screen END,
			labels = devices.labels || EXCLUDED.labels`,
		d.Serial, string(d.Platform), a.cfg.HostID, state, d.Manufacturer, d.Model, d.ProductType, d.OSVersion,
		d.APILevel, d.ABI, d.RAMMB, d.CPUCores, d.CPUMaxMHz, tier, labels, d.Screen, full, reason)
	if err != nil {
		a.log.Warn("store device", "serial", d.Serial, "err", err)
		return
	}
	if !full {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if w, ok := a.workers[d.Serial]; ok && !w.stopped() {
		return
	}
	w := &worker{a: a, dev: d, log: a.log.With("serial", d.Serial, "model", d.Model)}
	wctx, cancel := context.WithCancel(ctx)
	w.cancel = cancel
	a.workers[d.Serial] = w
	a.wg.Add(1)
	go func() { defer a.wg.Done(); w.loop(wctx) }()
}

// readInfo asks the driver for the device's properties, a few times, each bounded.
func (a *Agent) readInfo(ctx context.Context, serial string) (driver.Device, error) {
	var err error
	for i := 0; i < infoAttempts; i++ {
		ictx, cancel := context.WithTimeout(ctx, infoTimeout)
		var d driver.Device
		d, err = a.drv.Info(ictx, serial)
		cancel()
		if err == nil {
			return d, nil
		}
		if ctx.Err() != nil || i == infoAttempts-1 {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(i+1) * 200 * time.Millisecond):
		}
	}
	return driver.Device{}, err
}

// retryInfo retries a ready device's Info in the background (one goroutine per device)
// until it works, the device goes (deviceGone clears the mark) or the agent stops.
func (a *Agent) retryInfo(ctx context.Context, d driver.Device) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.infoRetry[d.Serial] {
		return
	}
	a.infoRetry[d.Serial] = true
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		select {
		case <-ctx.Done():
			return
		case <-time.After(infoRetry):
		}
		a.mu.Lock()
		still := a.infoRetry[d.Serial]
		delete(a.infoRetry, d.Serial)
		a.mu.Unlock()
		if still {
			a.deviceSeen(ctx, d)
		}
	}()
}
