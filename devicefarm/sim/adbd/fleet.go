package adbd

import (
	"context"

	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"

	"github.com/fleetlens/fleetlens/devicefarm/sim/catalog"
)

// Config configures a fleet of simulated Android devices.
type Config struct {
	// Count is the number of devices (1..5000).
	Count int
	// BasePort: device i listens on BasePort+i; 0 picks free ports.
	BasePort int
	// Host is the listen address (default 127.0.0.1).
	Host string
	// Seed varies serials so two fleets on one machine never collide (default "fleetlens").
	Seed string
	// TimeScale multiplies every simulated duration (test run times, sleeps); 1 is real
	// time, 0.01 makes a 2 s test take 20 ms. Default 1.
	TimeScale float64
	// Faults script device misbehaviour by model/OS at start.
	Faults []Fault
	// Logger receives protocol warnings (garbage frames, unknown services); default discards.
	Logger *slog.Logger
}

// Fault is a device-level misbehaviour applied at start to devices matching When.
type Fault struct {
	When           Match   `json:"when" yaml:"when"`
	BatteryLevel   int     `json:"battery_level,omitempty" yaml:"battery_level,omitempty"`   // percent, 0 = unchanged
	TemperatureC   float64 `json:"temperature_c,omitempty" yaml:"temperature_c,omitempty"`   // battery °C, 0 = unchanged
	ThermalStatus  int     `json:"thermal_status,omitempty" yaml:"thermal_status,omitempty"` // 0..6
	Unplugged      bool    `json:"unplugged,omitempty" yaml:"unplugged,omitempty"`
	DropAfterTests int     `json:"drop_after_tests,omitempty" yaml:"drop_after_tests,omitempty"`
	FreeStorageMB  int64   `json:"free_storage_mb,omitempty" yaml:"free_storage_mb,omitempty"`
	Offline        bool    `json:"offline,omitempty" yaml:"offline,omitempty"`
	Unauthorized   bool    `json:"unauthorized,omitempty" yaml:"unauthorized,omitempty"`
	NoShellV2      bool    `json:"no_shell_v2,omitempty" yaml:"no_shell_v2,omitempty"`
	StorageMBps    float64 `json:"storage_mbps,omitempty" yaml:"storage_mbps,omitempty"` // slow storage
}

// Validate reports the first invalid field.
func (c *Config) Validate() error {
	switch {
	case c.Count < 1 || c.Count > 5000:
		return fmt.Errorf("adbd config: count %d: want 1..5000", c.Count)
	case c.BasePort < 0 || c.BasePort > 65535 || (c.BasePort > 0 && c.BasePort+c.Count-1 > 65535):
		return fmt.Errorf("adbd config: base port %d with %d devices runs past 65535", c.BasePort, c.Count)
	case c.TimeScale < 0:
		return fmt.Errorf("adbd config: time scale %v is negative", c.TimeScale)
	}
	if c.Host != "" && net.ParseIP(c.Host) == nil && c.Host != "localhost" {
		return fmt.Errorf("adbd config: host %q is not an IP address", c.Host)
	}
	for i, f := range c.Faults {
		if f.BatteryLevel < 0 || f.BatteryLevel > 100 || f.ThermalStatus < 0 || f.ThermalStatus > 6 {
			return fmt.Errorf("adbd config: faults[%d]: battery_level 0..100, thermal_status 0..6", i)
		}
	}
	return nil
}

// Fleet is a set of simulated devices.
type Fleet struct {
	cfg     Config
	log     *slog.Logger
	devices []*Device

	ctx    context.Context
	cancel context.CancelFunc
}

// NewFleet builds the devices (catalog.Fleet(catalog.Android, Count, Seed)) without
// listening yet.
func NewFleet(cfg Config) (*Fleet, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.Seed == "" {
		cfg.Seed = "fleetlens"
	}
	if cfg.TimeScale == 0 {
		cfg.TimeScale = 1
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	f := &Fleet{cfg: cfg, log: cfg.Logger}
	f.ctx, f.cancel = context.WithCancel(context.Background())
	for i, inst := range catalog.Fleet(catalog.Android, cfg.Count, cfg.Seed) {
		d := newDevice(f, inst)
		if cfg.BasePort > 0 {
			d.port = cfg.BasePort + i
		}
		for _, flt := range cfg.Faults {
			if flt.When.matches(d) {
				d.applyFault(flt)
			}
		}
		f.devices = append(f.devices, d)
	}
	return f, nil
}

func (d *Device) applyFault(f Fault) {
	if f.BatteryLevel > 0 {
		d.battery = f.BatteryLevel
	}
	if f.TemperatureC != 0 {
		d.SetBattery(d.battery, f.TemperatureC)
	}
	if f.ThermalStatus > 0 {
		d.thermal = f.ThermalStatus
	}
	if f.Unplugged {
		d.plugged = false
	}
	if f.DropAfterTests > 0 {
		d.dropAfter = f.DropAfterTests
	}
	if f.FreeStorageMB > 0 {
		d.freeKB = f.FreeStorageMB << 10
	}
	if f.Offline {
		d.mode = modeOffline
	}
	if f.Unauthorized {
		d.mode = modeUnauthorized
	}
	if f.NoShellV2 {
		d.noShellV2 = true
	}
	if f.StorageMBps > 0 {
		d.storageBps = int64(f.StorageMBps * (1 << 20))
	}
}

// Start opens every device's listener. On error the devices already listening are closed.
func (f *Fleet) Start(ctx context.Context) error {
	for _, d := range f.devices {
		if err := ctx.Err(); err != nil {
			f.closeAll()
			return err
		}
		if err := d.listen(); err != nil {
			f.closeAll()
			return err
		}
	}
	f.log.Info("adbd: fleet listening", "devices", len(f.devices))
	return nil
}

// Devices returns the devices in catalog order.
func (f *Fleet) Devices() []*Device { return f.devices }

// Device finds a device by adb serial (host:port) or ro.serialno.
func (f *Fleet) Device(serial string) *Device {
	for _, d := range f.devices {
		if d.Addr() == serial || d.inst.Serial == serial {
			return d
		}
	}
	return nil
}

// Shutdown closes every listener and transport; running services end with their streams.
// It returns when ctx ends even if a device is still closing: closing never waits for a
// host (no stream write happens under d.mu and conn.close does not take the write lock),
// but a caller's deadline must hold regardless.
func (f *Fleet) Shutdown(ctx context.Context) error {
	done := make(chan struct{})
	go func() { defer close(done); f.closeAll() }()
	select {
	case <-done:
		return ctx.Err()
	case <-ctx.Done():
		return fmt.Errorf("adbd: shutdown: %w", ctx.Err())
	}
}

func (f *Fleet) closeAll() {
	f.cancel()
	var wg sync.WaitGroup
	for _, d := range f.devices {
		wg.Add(1)
		go func() { defer wg.Done(); d.Detach() }()
	}
	wg.Wait()
}
