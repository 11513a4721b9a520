package adbd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/fleetlens/fleetlens/devicefarm/sim/catalog"
)

type connectMode int

const (
	modeOnline       connectMode = iota // answer CNXN at once (no AUTH)
	modeAuth                            // AUTH TOKEN first, accept any key
	modeUnauthorized                    // AUTH TOKEN forever: "unauthorized"
	modeOffline                         // never answer CNXN: "offline"
)

// Device is one simulated phone: a TCP listener speaking the adb transport plus the state its
// services expose (properties, packages, files, logs, battery). Fault-injection methods are
// safe to call from any goroutine while the device serves.
type Device struct {
	inst  catalog.Instance
	fleet *Fleet
	log   *slog.Logger
	props map[string]string
	start time.Time

	mu        sync.Mutex
	port      int
	ln        net.Listener
	conns     map[*conn]struct{}
	mode      connectMode
	packages  map[string]*pkg
	files     map[string]*file
	logs      logRing
	battery   int     // percent
	tempC     float64 // battery temperature
	plugged   bool
	thermal   int // PowerManager THERMAL_STATUS_* 0..6
	freeKB    int64
	settings  map[string]string
	reverses  map[string]string
	dropAfter int // drop off the bus after this many tests in a run (0: never)
	attempts  map[string]int
	pid       int
	detached  bool
	instrRuns int
	noShellV2 bool // an Android 6-style adbd: plain shell only, no exit codes
	dropbox   []dropboxEntry
	// storageBps limits how fast pushes and installs are written (slow eMMC); 0 is unlimited.
	storageBps int64
}

// dropboxEntry is one DropBoxManager record (data_app_crash, data_app_anr).
type dropboxEntry struct {
	at   time.Time
	tag  string
	text string
}

type pkg struct {
	name, version string
	versionCode   int
	size          int64
	hash          uint64
	manifest      *Manifest
	installed     time.Time
}

func newDevice(f *Fleet, inst catalog.Instance) *Device {
	d := &Device{inst: inst, fleet: f, conns: map[*conn]struct{}{}, packages: map[string]*pkg{},
		files: map[string]*file{}, settings: map[string]string{}, reverses: map[string]string{},
		attempts: map[string]int{}, battery: 80 + inst.Index%20, tempC: 27 + float64(inst.Index%6),
		plugged: true, freeKB: 24 << 20, pid: 4000 + inst.Index%1000, start: time.Now()}
	d.log = f.log.With("device", inst.Serial, "model", inst.Model.ID)
	d.props = buildProps(inst)
	for _, p := range systemPackages {
		d.packages[p] = &pkg{name: p, version: inst.OSVersion, versionCode: catalog.AndroidAPILevel(inst.OSVersion)}
	}
	d.logs.max = 400
	d.logBoot(d.start)
	return d
}

// Instance is the catalog entry the device impersonates.
func (d *Device) Instance() catalog.Instance { return d.inst }

// HardwareSerial is ro.serialno; the adb serial of a TCP device is its Addr.
func (d *Device) HardwareSerial() string { return d.inst.Serial }

// Port is the TCP port the device listens on.
func (d *Device) Port() int { d.mu.Lock(); defer d.mu.Unlock(); return d.port }

// Addr is "host:port", which is also the serial the adb server gives the device.
func (d *Device) Addr() string { return net.JoinHostPort(d.fleet.cfg.Host, strconv.Itoa(d.Port())) }

// Prop returns one system property as getprop would.
func (d *Device) Prop(key string) string { return d.props[key] }

func (d *Device) listen() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ln != nil {
		return nil
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(d.fleet.cfg.Host, strconv.Itoa(d.port)))
	if err != nil {
		return fmt.Errorf("adbd %s: listen on %s:%d: %w", d.inst.Serial, d.fleet.cfg.Host, d.port, err)
	}
	d.ln = ln
	d.port = ln.Addr().(*net.TCPAddr).Port
	d.detached = false
	go d.accept(ln)
	return nil
}

func (d *Device) accept(ln net.Listener) {
	for {
		nc, err := ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				d.log.Warn("adbd: accept", "err", err)
			}
			return
		}
		if tc, ok := nc.(*net.TCPConn); ok {
			_ = tc.SetNoDelay(true)
			// Small kernel buffers: 500 devices must stay cheap.
			_ = tc.SetReadBuffer(64 << 10)
		}
		c := newConn(d.fleet.ctx, d, nc)
		d.mu.Lock()
		d.conns[c] = struct{}{}
		d.mu.Unlock()
		go func() {
			c.serve()
			d.mu.Lock()
			delete(d.conns, c)
			d.mu.Unlock()
		}()
	}
}

// Detach drops the device off the bus: its listener and every transport close, as when a
// cable is pulled. The adb server then shows it offline and finally forgets it.
func (d *Device) Detach() {
	d.mu.Lock()
	ln := d.ln
	d.ln = nil
	d.detached = true
	conns := make([]*conn, 0, len(d.conns))
	for c := range d.conns {
		conns = append(conns, c)
	}
	d.mu.Unlock()
	if ln != nil {
		_ = ln.Close()
	}
	for _, c := range conns {
		c.close()
	}
	if d.fleet.ctx.Err() == nil {
		d.log.Info("adbd: detached")
	}
}

// reboot drops off the bus, "boots" for a few (scaled) seconds with fresh logs and comes
// back on the same port, as `adb reboot` does to a phone.
func (d *Device) reboot() {
	d.log.Info("adbd: rebooting")
	d.Detach()
	_ = d.sleep(d.fleet.ctx, 3*time.Second)
	if d.fleet.ctx.Err() != nil {
		return
	}
	d.mu.Lock()
	d.logs.entries = nil
	d.logBoot(time.Now())
	d.mu.Unlock()
	if err := d.Attach(); err != nil {
		d.log.Warn("adbd: reboot: listen again", "err", err)
	}
}

// Attach plugs a detached device back in on the same port.
func (d *Device) Attach() error { return d.listen() }

// Detached reports whether the device is off the bus.
func (d *Device) Detached() bool { d.mu.Lock(); defer d.mu.Unlock(); return d.detached }

// SetOffline makes new transports hang after CNXN (adb shows "offline"); existing ones drop.
func (d *Device) SetOffline(v bool) { d.setMode(v, modeOffline) }

// SetAuthRequired makes new transports go through AUTH (TOKEN, then the host's SIGNATURE
// or public key is accepted), as a phone that already trusts the host does.
func (d *Device) SetAuthRequired(v bool) { d.setMode(v, modeAuth) }

// SetUnauthorized makes new transports stop at AUTH (adb shows "unauthorized").
func (d *Device) SetUnauthorized(v bool) { d.setMode(v, modeUnauthorized) }

func (d *Device) setMode(v bool, m connectMode) {
	d.mu.Lock()
	if v {
		d.mode = m
	} else if d.mode == m {
		d.mode = modeOnline
	}
	conns := make([]*conn, 0, len(d.conns))
	for c := range d.conns {
		conns = append(conns, c)
	}
	d.mu.Unlock()
	for _, c := range conns {
		c.close() // the adb server reconnects and meets the new mode
	}
}

func (d *Device) connectMode() connectMode { d.mu.Lock(); defer d.mu.Unlock(); return d.mode }

// SetShellV2 turns the shell_v2 feature on or off (off: like adbd before Android 7, which
// gives no exit codes); existing transports reconnect to see the new banner.
func (d *Device) SetShellV2(on bool) {
	d.mu.Lock()
	d.noShellV2 = !on
	conns := make([]*conn, 0, len(d.conns))
	for c := range d.conns {
		conns = append(conns, c)
	}
	d.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
}

// SetBattery sets the level (percent) and battery temperature (°C) dumpsys battery reports.
func (d *Device) SetBattery(level int, tempC float64) {
	d.mu.Lock()
	d.battery, d.tempC = max(0, min(100, level)), tempC
	if tempC >= 45 && d.thermal < 3 {
		d.thermal = 3 // severe: Android throttles hard above ~45 °C battery temperature
	}
	d.mu.Unlock()
}

// SetCharging sets whether the device reports USB power.
func (d *Device) SetCharging(v bool) { d.mu.Lock(); d.plugged = v; d.mu.Unlock() }

// SetThermalStatus sets PowerManager's thermal status (0 none .. 6 shutdown).
func (d *Device) SetThermalStatus(s int) { d.mu.Lock(); d.thermal = max(0, min(6, s)); d.mu.Unlock() }

// SetFreeStorageMB sets the free space of /data; pushes and installs beyond it fail.
func (d *Device) SetFreeStorageMB(mb int64) { d.mu.Lock(); d.freeKB = mb << 10; d.mu.Unlock() }

// SetStorageSpeedMBps makes pushes and installs run at most this fast (slow storage, as on
// cheap eMMC phones); 0 removes the limit.
func (d *Device) SetStorageSpeedMBps(mbps float64) {
	d.mu.Lock()
	d.storageBps = int64(mbps * (1 << 20))
	d.mu.Unlock()
}

// DropAfterTests makes the device fall off the bus after n tests of its next instrumentation
// run (0 disables).
func (d *Device) DropAfterTests(n int) { d.mu.Lock(); d.dropAfter = n; d.mu.Unlock() }

// Packages lists installed package names (system and user), sorted.
func (d *Device) Packages() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]string, 0, len(d.packages))
	for n := range d.packages {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// FileInfo reports size and xxhash64 of a pushed file.
func (d *Device) FileInfo(path string) (size int64, hash uint64, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f, ok := d.files[path]
	if !ok {
		return 0, 0, false
	}
	return f.size, f.hash, true
}

// Log appends a logcat line (priority V/D/I/W/E/F) to the main buffer.
func (d *Device) Log(prio byte, tag, msg string) { d.logf("main", prio, tag, "%s", msg) }

func (d *Device) logf(buffer string, prio byte, tag, format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.logs.add(logEntry{at: time.Now(), buffer: buffer, prio: prio, tag: tag, pid: d.pid, msg: fmt.Sprintf(format, args...)})
}

func (d *Device) banner() string {
	feats := deviceFeatures
	d.mu.Lock()
	if d.noShellV2 {
		feats = "cmd"
	}
	d.mu.Unlock()
	return fmt.Sprintf("device::ro.product.name=%s;ro.product.model=%s;ro.product.device=%s;features=%s",
		d.props["ro.product.name"], d.props["ro.product.model"], d.props["ro.product.device"], feats)
}

// deviceFeatures are what the simulator implements; adb picks shell v2 and streamed
// install (`exec:cmd package install -S`) from them.
const deviceFeatures = "shell_v2,cmd"

var systemPackages = []string{"android", "com.android.shell", "com.android.systemui", "com.android.settings",
	"com.google.android.gms", "com.android.vending", "com.android.chrome", "com.android.providers.settings"}

func (d *Device) sleep(ctx context.Context, dur time.Duration) error {
	dur = time.Duration(float64(dur) * d.fleet.cfg.TimeScale)
	if dur <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(dur)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (d *Device) logBoot(at time.Time) {
	add := func(buf string, p byte, tag, msg string) {
		d.logs.add(logEntry{at: at, buffer: buf, prio: p, tag: tag, pid: 1000 + len(d.logs.entries), msg: msg})
	}
	add("main", 'I', "init", "starting service 'zygote'...")
	add("system", 'I', "ActivityManager", "System now ready")
	add("main", 'I', "BootReceiver", "Copying /data/tombstones to DropBox")
	add("system", 'I', "ActivityManager", "Start proc com.android.systemui for service {com.android.systemui/.SystemUIService}")
	add("events", 'I', "boot_progress_enable_screen", fmt.Sprintf("%d", 9000+d.inst.Index%900))
}
