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
				all = append(all, d)
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

func (h *hostDriver) Info(ctx context.Context, serial string) (driver.Device, error) {
	d, err := h.part(serial)
	if err != nil {
		return driver.Device{}, err
	}
	return d.Info(ctx, serial)
}

func (h *hostDriver) Health(ctx context.Context, serial string) (driver.Health, error) {
	d, err := h.part(serial)
	if err != nil {
		return driver.Health{}, err
	}
	return d.Health(ctx, serial)
}

func (h *hostDriver) Install(ctx context.Context, serial, path string) (driver.App, error) {
	d, err := h.part(serial)
	if err != nil {
		return driver.App{}, err
	}
	return d.Install(ctx, serial, path)
}

func (h *hostDriver) Uninstall(ctx context.Context, serial, appID string) error {
	d, err := h.part(serial)
	if err != nil {
		return err
	}
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
	return d.Logs(ctx, serial, since)
}

func (h *hostDriver) Crashes(ctx context.Context, serial, appID string, since time.Time) ([]driver.Crash, error) {
	d, err := h.part(serial)
	if err != nil {
		return nil, err
	}
	return d.Crashes(ctx, serial, appID, since)
}

func (h *hostDriver) Screenshot(ctx context.Context, serial string) ([]byte, error) {
	d, err := h.part(serial)
	if err != nil {
		return nil, err
	}
	return d.Screenshot(ctx, serial)
}

func (h *hostDriver) ApplyNetworkProfile(ctx context.Context, serial, hostProxyAddr string) (func(context.Context) error, error) {
	d, err := h.part(serial)
	if err != nil {
		return nil, err
	}
	return d.ApplyNetworkProfile(ctx, serial, hostProxyAddr)
}
