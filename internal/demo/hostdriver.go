package demo

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/fleetlens/fleetlens/devicefarm/driver"
)

// hostDriver is what one simulated device host sees: the devices it owns out of one or more
// platform drivers. On a real farm every host has its own USB bus, adb server and usbmuxd;
// on one demo machine all simulated phones sit behind one adb server and one usbmuxd, so each
// agent is given a disjoint share of them (by serial) and the two agents then coordinate
// only through PostgreSQL, as two hosts would.
type hostDriver struct {
	parts []hostPart

	mu    sync.Mutex
	info  map[string]driver.Device // full Info of ready devices, by serial
	locks map[string]*sync.Mutex   // one short call at a time per device
}

// lock serialises the short calls on one device. The simulated phone (devicefarm/sim/adbd)
// can deadlock when a new service is opened while dumpsys is still writing its answer, and
// a device host has no reason to overlap health checks, installs and log reads on one phone.
// RunTests does not take it: its callbacks read logs and crash reports while it runs.
func (h *hostDriver) lock(serial string) func() {
	h.mu.Lock()
	if h.locks == nil {
		h.locks = map[string]*sync.Mutex{}
	}
	l := h.locks[serial]
	if l == nil {
		l = &sync.Mutex{}
		h.locks[serial] = l
	}
	h.mu.Unlock()
	l.Lock()
	return l.Unlock
}

type hostPart struct {
	drv  driver.Driver
	owns map[string]bool // serials (adb host:port, iOS UDID) this host drives
}

var _ driver.Driver = (*hostDriver)(nil)

func (h *hostDriver) Platform() driver.Platform {
	var ps []string
	for _, p := range h.parts {
		ps = append(ps, string(p.drv.Platform()))
	}
	return driver.Platform(strings.Join(ps, "+"))
}

func (h *hostDriver) part(serial string) (driver.Driver, error) {
	for _, p := range h.parts {
		if p.owns[serial] {
			return p.drv, nil
		}
	}
	return nil, fmt.Errorf("device %s is not on this host: %w", serial, driver.ErrDeviceGone)
}

func (h *hostDriver) List(ctx context.Context) ([]driver.Device, error) {
	var all []driver.Device
	for _, p := range h.parts {
		devs, err := p.drv.List(ctx)
		if err != nil {
			return nil, err
		}
		for _, d := range devs {
			if p.owns[d.Serial] {
				all = append(all, h.complete(ctx, p.drv, d))
			}
		}
	}
	return all, nil
}

// Watch merges the parts' event streams, keeping this host's devices; the channel closes
// when every part's stream has closed.
func (h *hostDriver) Watch(ctx context.Context) (<-chan driver.DeviceEvent, error) {
	out := make(chan driver.DeviceEvent, 64)
	var wg sync.WaitGroup
	for _, p := range h.parts {
		ch, err := p.drv.Watch(ctx)
		if err != nil {
			return nil, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ev := range ch {
				if !p.owns[ev.Device.Serial] {
					continue
				}
				ev.Device = h.complete(ctx, p.drv, ev.Device)
				select {
				case out <- ev:
				case <-ctx.Done():
				}
			}
		}()
	}
	go func() { wg.Wait(); close(out) }()
	return out, nil
}

// complete fills a listed device's properties from Info once: `adb devices -l` gives a
// model name (with spaces for underscores) but no OS version, and the agent only asks for
// Info when the model is empty, so its matrix groups would lack the OS version.
func (h *hostDriver) complete(ctx context.Context, drv driver.Driver, d driver.Device) driver.Device {
	if d.State != driver.StateReady || d.OSVersion != "" {
		return d
	}
	h.mu.Lock()
	full, ok := h.info[d.Serial]
	h.mu.Unlock()
	if !ok {
		ictx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		var err error
		unlock := h.lock(d.Serial)
		full, err = drv.Info(ictx, d.Serial)
		unlock()
		if err != nil {
			return d
		}
		h.mu.Lock()
		if h.info == nil {
			h.info = map[string]driver.Device{}
		}
		h.info[d.Serial] = full
		h.mu.Unlock()
	}
	full.State = d.State
	return full
}

func (h *hostDriver) Info(ctx context.Context, serial string) (driver.Device, error) {
	d, err := h.part(serial)
	if err != nil {
		return driver.Device{}, err
	}
	defer h.lock(serial)()
	return d.Info(ctx, serial)
}

func (h *hostDriver) Health(ctx context.Context, serial string) (driver.Health, error) {
	d, err := h.part(serial)
	if err != nil {
		return driver.Health{}, err
	}
	defer h.lock(serial)()
	return d.Health(ctx, serial)
}

func (h *hostDriver) Install(ctx context.Context, serial, path string) (driver.App, error) {
	d, err := h.part(serial)
	if err != nil {
		return driver.App{}, err
	}
	defer h.lock(serial)()
	return d.Install(ctx, serial, path)
}

func (h *hostDriver) Uninstall(ctx context.Context, serial, appID string) error {
	d, err := h.part(serial)
	if err != nil {
		return err
	}
	defer h.lock(serial)()
	return d.Uninstall(ctx, serial, appID)
}

func (h *hostDriver) RunTests(ctx context.Context, serial string, req driver.RunRequest, onResult func(driver.TestResult)) error {
	d, err := h.part(serial)
	if err != nil {
		return err
	}
	return d.RunTests(ctx, serial, req, onResult)
}

func (h *hostDriver) Logs(ctx context.Context, serial string, since time.Time) (string, error) {
	d, err := h.part(serial)
	if err != nil {
		return "", err
	}
	defer h.lock(serial)()
	return d.Logs(ctx, serial, since)
}

func (h *hostDriver) Crashes(ctx context.Context, serial, appID string, since time.Time) ([]driver.Crash, error) {
	d, err := h.part(serial)
	if err != nil {
		return nil, err
	}
	defer h.lock(serial)()
	return d.Crashes(ctx, serial, appID, since)
}

func (h *hostDriver) Screenshot(ctx context.Context, serial string) ([]byte, error) {
	d, err := h.part(serial)
	if err != nil {
		return nil, err
	}
	defer h.lock(serial)()
	return d.Screenshot(ctx, serial)
}

func (h *hostDriver) ApplyNetworkProfile(ctx context.Context, serial, hostProxyAddr string) (func(context.Context) error, error) {
	d, err := h.part(serial)
	if err != nil {
		return nil, err
	}
	defer h.lock(serial)()
	return d.ApplyNetworkProfile(ctx, serial, hostProxyAddr)
}
