// Package ios is the iOS implementation of driver.Driver on go-ios (v1.3.2) and usbmuxd: device
// discovery and hot-plug, lockdown properties, battery/storage/thermal health, app install
// (streaming_zip_conduit) and uninstall (installation_proxy), syslog capture (syslog_relay),
// crash report collection (crashreportmover + crashreportcopymobile) with symbol-free parsing,
// and the launch-free smoke check that stands in for XCTest until a TestRunner is plugged in.
//
// go-ios reads USBMUXD_SOCKET_ADDRESS from the process environment on every call; Config's
// SocketAddress sets it. Every call honours its context, recovers go-ios panics, and wraps
// driver.ErrDeviceGone when the device left the bus during the call.
package ios

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	goios "github.com/danielpaulus/go-ios/ios"
	"github.com/danielpaulus/go-ios/ios/diagnostics"
	"github.com/danielpaulus/go-ios/ios/golog"

	"github.com/fleetlens/fleetlens/devicefarm/driver"
	"github.com/fleetlens/fleetlens/devicefarm/sim/catalog"
	"github.com/fleetlens/fleetlens/sdk-hooks/device"
)

// TestRunner runs XCTest bundles (testmanagerd over DTX). It is the slot the XCTest issue
// fills; without one, RunTests runs the smoke check only.
type TestRunner interface {
	RunXCTest(ctx context.Context, serial string, req driver.RunRequest, onResult func(driver.TestResult)) error
}

// Config configures the driver.
type Config struct {
	// SocketAddress, if set, is exported as USBMUXD_SOCKET_ADDRESS ("UNIX:///path" or host:port).
	SocketAddress string
	// LogIdle ends a Logs capture once the syslog stream has been quiet this long. Default 300ms.
	LogIdle time.Duration
	// LogMax bounds one Logs capture. Default 3s.
	LogMax time.Duration
	// LogBuffer is how many syslog lines each device's recorder keeps. Default 4096.
	LogBuffer int
	// SmokeWindow is how far back the smoke check looks when the request gives no "since". Default 10m.
	SmokeWindow time.Duration
	XCTest      TestRunner
	Logger      *slog.Logger
}

// Validate reports the first unusable setting.
func (c Config) Validate() error {
	if c.LogIdle < 0 || c.LogMax < 0 || c.SmokeWindow < 0 || c.LogBuffer < 0 {
		return errors.New("ios driver: negative duration")
	}
	if c.SocketAddress != "" && !strings.Contains(c.SocketAddress, ":") {
		return fmt.Errorf("ios driver: SocketAddress %q: want UNIX:///path or host:port", c.SocketAddress)
	}
	return nil
}

// Driver talks to iOS devices through usbmuxd.
type Driver struct {
	cfg  Config
	log  *slog.Logger
	mu   sync.Mutex
	recs map[string]*recorder // syslog recorders by UDID
}

var _ driver.Driver = (*Driver)(nil)

// New builds a driver.
func New(cfg Config) (*Driver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.LogIdle == 0 {
		cfg.LogIdle = 300 * time.Millisecond
	}
	if cfg.LogMax == 0 {
		cfg.LogMax = 3 * time.Second
	}
	if cfg.LogBuffer == 0 {
		cfg.LogBuffer = 4096
	}
	if cfg.SmokeWindow == 0 {
		cfg.SmokeWindow = 10 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.SocketAddress != "" {
		if err := os.Setenv("USBMUXD_SOCKET_ADDRESS", cfg.SocketAddress); err != nil {
			return nil, fmt.Errorf("ios driver: %w", err)
		}
	}
	// go-ios logs through its own global logger; route it to ours, quietened to warnings.
	golog.SetLogger(slog.New(levelHandler{cfg.Logger.Handler().WithAttrs([]slog.Attr{slog.String("component", "go-ios")}), slog.LevelWarn}))
	return &Driver{cfg: cfg, log: cfg.Logger, recs: map[string]*recorder{}}, nil
}

type levelHandler struct {
	slog.Handler
	min slog.Level
}

func (h levelHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

// Platform is driver.IOS.
func (d *Driver) Platform() driver.Platform { return driver.IOS }

// List returns every device usbmuxd sees; one without a pair record is unauthorized.
func (d *Driver) List(ctx context.Context) ([]driver.Device, error) {
	return call(ctx, d, "list", "", func(func(io.Closer)) ([]driver.Device, error) {
		l, err := goios.ListDevices()
		if err != nil {
			return nil, fmt.Errorf("usbmuxd ListDevices: %w", err)
		}
		out := make([]driver.Device, 0, len(l.DeviceList))
		for _, e := range l.DeviceList {
			dev := driver.Device{Serial: e.Properties.SerialNumber, Platform: driver.IOS, State: driver.StateReady, Manufacturer: "Apple"}
			if _, err := goios.ReadPairRecord(dev.Serial); err != nil {
				dev.State = driver.StateUnauthorized
			}
			out = append(out, dev)
		}
		return out, nil
	})
}

// Watch streams Attached/Detached events until ctx ends, reconnecting to usbmuxd if it drops.
func (d *Driver) Watch(ctx context.Context) (<-chan driver.DeviceEvent, error) {
	ch := make(chan driver.DeviceEvent, 64)
	recv, closeFn, err := goios.Listen()
	if err != nil {
		return nil, fmt.Errorf("ios: watch: usbmuxd Listen: %w", err)
	}
	go func() {
		defer close(ch)
		serials := map[int]string{}
		for {
			done := make(chan struct{})
			go func() {
				select {
				case <-ctx.Done():
					_ = closeFn()
				case <-done:
				}
			}()
			d.pump(ctx, recv, serials, ch)
			close(done)
			_ = closeFn()
			for {
				select {
				case <-ctx.Done():
					return
				case <-time.After(500 * time.Millisecond):
				}
				if recv, closeFn, err = goios.Listen(); err == nil {
					break
				}
			}
		}
	}()
	return ch, nil
}

func (d *Driver) pump(ctx context.Context, recv func() (goios.AttachedMessage, error), serials map[int]string, ch chan<- driver.DeviceEvent) {
	for {
		m, err := safeRecv(recv)
		if err != nil {
			if ctx.Err() == nil {
				d.log.Warn("ios: usbmuxd listen stream ended", "err", err)
			}
			return
		}
		ev := driver.DeviceEvent{At: time.Now(), Device: driver.Device{Platform: driver.IOS, Manufacturer: "Apple"}}
		switch {
		case m.DeviceAttached():
			serials[m.DeviceID] = m.Properties.SerialNumber
			ev.Device.Serial, ev.Device.State = m.Properties.SerialNumber, driver.StateReady
		case m.DeviceDetached():
			ev.Device.Serial, ev.Device.State = serials[m.DeviceID], driver.StateGone
			delete(serials, m.DeviceID)
		default:
			continue // Paired and other notices
		}
		select {
		case ch <- ev:
		case <-ctx.Done():
			return
		}
	}
}

func safeRecv(recv func() (goios.AttachedMessage, error)) (m goios.AttachedMessage, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("go-ios panicked reading Listen: %v", r)
		}
	}()
	return recv()
}

// Info reads the device's lockdown values and completes the hardware figures lockdown does not
// expose (RAM, cores, clock) from the catalog of models, keyed by ProductType.
func (d *Driver) Info(ctx context.Context, serial string) (driver.Device, error) {
	return call(ctx, d, "info", serial, func(func(io.Closer)) (driver.Device, error) {
		e, err := d.entry(serial)
		if err != nil {
			return driver.Device{}, err
		}
		vals, err := goios.GetValuesPlist(e)
		if err != nil {
			return driver.Device{}, fmt.Errorf("lockdown GetValue: %w", err)
		}
		str := func(k string) string { s, _ := vals[k].(string); return s }
		if str("ProductType") == "" {
			return driver.Device{}, fmt.Errorf("lockdown values lack ProductType: %w", errNoValue)
		}
		dev := driver.Device{
			Serial: serial, Platform: driver.IOS, State: driver.StateReady, Manufacturer: "Apple",
			Model: str("ProductType"), ProductType: str("ProductType"), OSVersion: str("ProductVersion"),
			ABI: str("CPUArchitecture"), Props: map[string]string{},
		}
		for k, v := range vals {
			switch x := v.(type) {
			case string:
				dev.Props[k] = x
			case bool:
				dev.Props[k] = strconv.FormatBool(x)
			case uint64:
				dev.Props[k] = strconv.FormatUint(x, 10)
			case int64:
				dev.Props[k] = strconv.FormatInt(x, 10)
			case float64:
				dev.Props[k] = strconv.FormatFloat(x, 'f', -1, 64)
			}
		}
		if m, ok := modelOf(str("HardwareModel"), dev.ProductType); ok {
			dev.Model, dev.RAMMB, dev.CPUCores, dev.CPUMaxMHz, dev.Screen = m.Name, m.RAMMB, m.CPUCores, m.CPUMaxMHz, m.Screen
		}
		// The same classes the SDK and collector derive (SPEC §4: Sentry tier, device-year-class).
		prof := device.Profile{Platform: device.IOS, Manufacturer: "Apple", Model: dev.ProductType, ModelName: dev.Model,
			OSVersion: dev.OSVersion, RAMMB: dev.RAMMB, CPUCores: dev.CPUCores, CPUMaxMHz: dev.CPUMaxMHz}
		dev.Props["device.tier"] = string(prof.Tier())
		if dev.RAMMB > 0 {
			dev.Props["device.year_class"] = strconv.Itoa(prof.YearClass())
		}
		return dev, nil
	})
}

// modelOf finds the catalog model by HardwareModel (one board per model, e.g. "D17AP"), then
// by ProductType.
func modelOf(hw, pt string) (catalog.Model, bool) {
	for _, m := range catalog.ByPlatform(catalog.IOS) {
		if hw != "" && strings.EqualFold(m.HardwareModel, hw) {
			return m, true
		}
	}
	for _, m := range catalog.ByPlatform(catalog.IOS) {
		if m.ProductType == pt {
			return m, true
		}
	}
	return catalog.Model{}, false
}

// Health reads battery (lockdown battery domain and the gas gauge), temperature and free storage.
func (d *Driver) Health(ctx context.Context, serial string) (driver.Health, error) {
	return call(ctx, d, "health", serial, func(reg func(io.Closer)) (driver.Health, error) {
		e, err := d.entry(serial)
		if err != nil {
			return driver.Health{}, err
		}
		bat, err := goios.GetBatteryDiagnostics(e)
		if err != nil {
			return driver.Health{}, fmt.Errorf("battery domain: %w", err)
		}
		h := driver.Health{BatteryLevel: int(bat.BatteryCurrentCapacity), Charging: bat.ExternalConnected, Booted: true, Responsive: true, CheckedAt: time.Now()}
		ld, err := goios.ConnectLockdownWithSession(e)
		if err != nil {
			return driver.Health{}, fmt.Errorf("lockdown session: %w", err)
		}
		reg(closerFunc(func() error { ld.Close(); return nil }))
		free, err := ld.GetValueForDomain("AmountDataAvailable", "com.apple.disk_usage")
		ld.Close()
		if n, ok := free.(uint64); ok && err == nil {
			h.FreeStorageMB = int64(n / 1_000_000)
		}
		dc, err := diagnostics.New(e)
		if err != nil {
			return driver.Health{}, fmt.Errorf("diagnostics_relay: %w", err)
		}
		reg(closerFunc(dc.Close))
		ioreg, err := dc.Battery()
		_ = dc.Close()
		if err != nil {
			return driver.Health{}, fmt.Errorf("diagnostics IORegistry: %w", err)
		}
		h.TemperatureC = float64(ioreg.Temperature) / 100
		h.ThermalStatus = thermalStatus(h.TemperatureC)
		return h, nil
	})
}

// thermalStatus classes the battery temperature. Apple rates iPhones for 0-35 °C ambient
// (support.apple.com/en-us/102336) and throttles charging above ~40 °C battery temperature;
// the names follow driver.Health (Android's PowerManager thermal status words).
func thermalStatus(c float64) string {
	switch {
	case c <= 0:
		return "unknown"
	case c < 35:
		return "none"
	case c < 40:
		return "light"
	case c < 43:
		return "moderate"
	case c < 45:
		return "severe"
	}
	return "critical"
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// Screenshot needs screenshotr from a mounted developer disk image, which the fleet lacks.
func (d *Driver) Screenshot(ctx context.Context, serial string) ([]byte, error) {
	return nil, fmt.Errorf("ios: screenshot of %s needs the developer disk image: %w", serial, errors.ErrUnsupported)
}

// ApplyNetworkProfile would need a configuration profile with a global HTTP proxy (MDM /
// supervised devices); unsupervised devices cannot be re-routed from the host.
func (d *Driver) ApplyNetworkProfile(ctx context.Context, serial, hostProxyAddr string) (func(context.Context) error, error) {
	return nil, fmt.Errorf("ios: network profile on %s needs a supervised device: %w", serial, errors.ErrUnsupported)
}
