package usbmux

import (
	"fmt"
	"hash/fnv"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/fleetlens/fleetlens/devicefarm/sim/catalog"
)

// Faults are the scriptable misbehaviours of one device. The zero value is a well-behaved phone.
type Faults struct {
	// DetachMidInstall drops the device off the bus once half of an app archive has arrived.
	DetachMidInstall bool
	// ReattachAfter brings a device that detached itself (fault or restart) back after this
	// long; 0 leaves a fault-detached device gone (a restart always comes back).
	ReattachAfter time.Duration
	// CrashAfterInstall makes every installed app leave a crash report (.ips) right after
	// installation, as an app crashing at first launch on this OS version would.
	CrashAfterInstall bool
	// CrashApp limits CrashAfterInstall to one bundle id; empty means every app.
	CrashApp string
	// BatteryLevel overrides the battery percentage (1-100); 0 keeps the simulated default.
	BatteryLevel int
	// NotCharging reports the battery as discharging on battery power.
	NotCharging bool
	// BatteryTemperatureC overrides the battery temperature ("running hot"); 0 keeps default.
	BatteryTemperatureC float64
	// TLSDelay stalls each TLS handshake (lockdown session and services) by this long.
	TLSDelay time.Duration
}

// App is an application installed on a simulated device. The archive bytes are not kept: only
// their size and SHA-256, which is what a test needs to assert the transfer was complete.
type App struct {
	BundleID    string
	Name        string
	Executable  string
	Version     string // CFBundleShortVersionString
	Build       string // CFBundleVersion
	MinOS       string
	Bytes       int64
	SHA256      string
	InstalledAt time.Time
}

// CrashLog is a crash report in the device's crash report directory.
type CrashLog struct {
	Name    string // file name, e.g. "MyApp-2026-12-01-215329.ips"
	Data    []byte
	ModTime time.Time
}

// Device is one simulated iPhone or iPad.
type Device struct {
	srv         *Server
	id          int
	inst        catalog.Instance
	productType string
	build       string
	wifiMAC     string
	btMAC       string
	serialNo    string
	ecid        uint64
	name        string
	storage     uint64

	mu       sync.Mutex
	attached bool
	faults   Faults
	apps     map[string]*App
	crashes  map[string]*CrashLog // visible in crashreportcopymobile
	pending  []*CrashLog          // written, not yet moved by crashreportmover
	services map[uint16]string
	conns    map[net.Conn]struct{}
	nextPID  int
	nextPort uint16
	setVals  map[string]any
	syslog   *logBook
}

func newDevice(s *Server, id int, inst catalog.Instance) *Device {
	h := fnv.New64a()
	fmt.Fprint(h, inst.Serial)
	sum := h.Sum64()
	mac := func(prefix byte, v uint64) string {
		return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", prefix, byte(v>>32), byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	}
	const alnum = "0123456789CDFGHJKLMNPQRTVWXY" // Apple serials avoid vowels and look-alikes
	var sn strings.Builder
	sn.WriteString("F")
	for v, i := sum, 0; i < 11; i, v = i+1, v/uint64(len(alnum)) {
		sn.WriteByte(alnum[v%uint64(len(alnum))])
	}
	sizes := []uint64{64, 128, 256}
	d := &Device{
		srv:         s,
		id:          id,
		inst:        inst,
		productType: inst.Model.ProductType,
		build:       buildFor(inst.OSVersion),
		wifiMAC:     mac(0xa4, sum),
		btMAC:       mac(0xa4, sum+1),
		serialNo:    sn.String(),
		ecid:        sum & 0x000fffffffffffff,
		name:        fmt.Sprintf("%s #%d", inst.Model.Name, inst.Index+1),
		storage:     sizes[sum%3] * 1_000_000_000,
		attached:    true,
		apps:        map[string]*App{},
		crashes:     map[string]*CrashLog{},
		services:    map[uint16]string{},
		conns:       map[net.Conn]struct{}{},
		nextPID:     300 + int(sum%200),
		nextPort:    49152 + uint16(sum%1000),
		setVals:     map[string]any{},
	}
	d.syslog = newLogBook(d)
	if s.cfg.CrashOnOSVersion != "" && inst.OSVersion == s.cfg.CrashOnOSVersion {
		d.faults.CrashAfterInstall = true
		d.faults.CrashApp = s.cfg.CrashApp
	}
	return d
}

// ProductType is the lockdown ProductType, e.g. "iPhone14,5".
func (d *Device) ProductType() string { return d.productType }

// buildFor maps an iOS release to the build Apple shipped it as.
func buildFor(v string) string {
	switch v {
	case "15.8":
		return "19H370"
	case "16.7":
		return "20H19"
	case "17.6":
		return "21G80"
	case "18.1":
		return "22B83"
	}
	return "22A3354"
}

// ID is the usbmuxd DeviceID.
func (d *Device) ID() int { return d.id }

// UDID is the device's UniqueDeviceID (usbmux SerialNumber).
func (d *Device) UDID() string { return d.inst.Serial }

// Instance is the catalog model and OS version this device impersonates.
func (d *Device) Instance() catalog.Instance { return d.inst }

// BuildVersion is the iOS build, e.g. "21G80".
func (d *Device) BuildVersion() string { return d.build }

// Attached reports whether the device is on the (simulated) bus.
func (d *Device) Attached() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.attached
}

// Detach unplugs the device: listeners get Detached, every open connection to it is cut.
func (d *Device) Detach() {
	d.mu.Lock()
	if !d.attached {
		d.mu.Unlock()
		return
	}
	d.attached = false
	conns := d.conns
	d.conns = map[net.Conn]struct{}{}
	d.services = map[uint16]string{}
	d.mu.Unlock()
	for c := range conns {
		_ = c.Close()
	}
	d.srv.broadcast(d, false)
}

// Attach plugs the device back in; listeners get Attached.
func (d *Device) Attach() {
	d.mu.Lock()
	if d.attached {
		d.mu.Unlock()
		return
	}
	d.attached = true
	d.mu.Unlock()
	d.srv.broadcast(d, true)
}

// SetFaults replaces the device's fault knobs.
func (d *Device) SetFaults(f Faults) {
	d.mu.Lock()
	d.faults = f
	d.mu.Unlock()
}

// Faults returns the device's fault knobs.
func (d *Device) Faults() Faults {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.faults
}

// Apps lists the user apps installed, sorted by bundle id.
func (d *Device) Apps() []App {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]App, 0, len(d.apps))
	for _, a := range d.apps {
		out = append(out, *a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].BundleID < out[j].BundleID })
	return out
}

// CrashLogs lists the crash reports on the device (moved and not yet moved), sorted by name.
func (d *Device) CrashLogs() []CrashLog {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []CrashLog
	for _, c := range d.crashes {
		out = append(out, *c)
	}
	for _, c := range d.pending {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// InjectCrash writes a crash report for process (bundle id and version from the installed app
// of that executable name, if any), as ReportCrash would, and logs it to syslog.
func (d *Device) InjectCrash(process, exceptionType, signal string) CrashLog {
	d.mu.Lock()
	var app *App
	for _, a := range d.apps {
		if a.Executable == process || a.BundleID == process {
			app = a
			process = a.Executable
		}
	}
	d.nextPID++
	pid := d.nextPID
	c := d.crashReportLocked(process, app, exceptionType, signal, pid, time.Now())
	d.pending = append(d.pending, c)
	d.mu.Unlock()
	d.Log("ReportCrash", "Error", fmt.Sprintf("Formulating report for corpse[%d] %s", pid, process))
	d.Log("osanalyticshelper", "Notice", fmt.Sprintf("Saved type '309(309_%s)' report (1 of max 25) at /private/var/mobile/Library/Logs/CrashReporter/%s", process, c.Name))
	return *c
}

func (d *Device) battery() (level int, charging bool, tempC float64) {
	d.mu.Lock()
	f := d.faults
	d.mu.Unlock()
	level = 60 + int(d.ecid%40)
	charging = true
	tempC = 29.5 + float64(d.ecid%50)/10
	if f.BatteryLevel > 0 {
		level = min(f.BatteryLevel, 100)
	}
	if f.NotCharging {
		charging = false
	}
	if f.BatteryTemperatureC != 0 {
		tempC = f.BatteryTemperatureC
	}
	return level, charging, tempC
}

// track registers a connection so Detach can cut it; false if the device is gone.
func (d *Device) track(c net.Conn) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.attached {
		return false
	}
	d.conns[c] = struct{}{}
	return true
}

func (d *Device) untrack(c net.Conn) {
	d.mu.Lock()
	delete(d.conns, c)
	d.mu.Unlock()
}

// openService allocates a one-shot port for a started service, as lockdownd does.
func (d *Device) openService(name string) uint16 {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.services) > 64 { // clients that never connect must not leak ports forever
		d.services = map[uint16]string{}
	}
	for {
		d.nextPort++
		if d.nextPort < 49152 {
			d.nextPort = 49152
		}
		if _, used := d.services[d.nextPort]; !used && d.nextPort != lockdownPort {
			break
		}
	}
	d.services[d.nextPort] = name
	return d.nextPort
}

func (d *Device) takeService(port uint16) (string, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	name, ok := d.services[port]
	delete(d.services, port)
	return name, ok
}

func (d *Device) freeBytes() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	used := d.storage * 2 / 5
	for _, a := range d.apps {
		used += uint64(a.Bytes) * 2
	}
	if used > d.storage {
		return 0
	}
	return d.storage - used
}
