package ios

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"slices"
	"sync"

	goios "github.com/danielpaulus/go-ios/ios"

	"github.com/fleetlens/fleetlens/devicefarm/driver"
)

// errNoValue reports go-ios answering (nil, nil): a lockdown error it swallowed.
var errNoValue = errors.New("go-ios returned no value and no error")

// call runs a blocking go-ios operation under ctx: it recovers go-ios panics (it type-asserts
// device replies without checks), returns as soon as ctx ends, and closes closer (if the
// operation registered one) so the abandoned goroutine unblocks instead of leaking.
func call[T any](ctx context.Context, d *Driver, op, serial string, fn func(reg func(io.Closer)) (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	var (
		mu        sync.Mutex
		cancelled bool
		closers   []io.Closer
	)
	reg := func(c io.Closer) {
		mu.Lock()
		defer mu.Unlock()
		if cancelled {
			_ = c.Close()
			return
		}
		closers = append(closers, c)
	}
	go func() {
		defer func() {
			if r := recover(); r != nil {
				d.log.Error("go-ios panicked", "op", op, "udid", serial, "panic", r, "stack", string(debug.Stack()))
				ch <- result{err: fmt.Errorf("ios: %s on %s: go-ios panicked: %v", op, serial, r)}
			}
		}()
		v, err := fn(reg)
		ch <- result{v, err}
	}()
	var zero T
	select {
	case r := <-ch:
		if r.err != nil {
			return zero, d.wrap(op, serial, r.err)
		}
		return r.v, nil
	case <-ctx.Done():
		mu.Lock()
		cancelled = true
		for _, c := range closers {
			_ = c.Close()
		}
		mu.Unlock()
		return zero, fmt.Errorf("ios: %s on %s: %w", op, serial, ctx.Err())
	}
}

// wrap names the operation and device and marks the error ErrDeviceGone when the device is
// no longer on the bus, so callers can tell a vanished phone from a refusing one.
func (d *Driver) wrap(op, serial string, err error) error {
	if errors.Is(err, driver.ErrDeviceGone) {
		return err
	}
	if !d.present(serial) {
		return fmt.Errorf("ios: %s on %s: %w: %w", op, serial, driver.ErrDeviceGone, err)
	}
	return fmt.Errorf("ios: %s on %s: %w", op, serial, err)
}

func (d *Driver) present(serial string) bool {
	l, err := goios.ListDevices()
	if err != nil {
		return false
	}
	return slices.ContainsFunc(l.DeviceList, func(e goios.DeviceEntry) bool { return e.Properties.SerialNumber == serial })
}

// entry finds the usbmux entry of serial, or ErrDeviceGone.
func (d *Driver) entry(serial string) (goios.DeviceEntry, error) {
	if serial == "" {
		// go-ios would pick "the first device" for an empty udid: never what a caller means.
		return goios.DeviceEntry{}, errors.New("ios: empty device serial")
	}
	l, err := goios.ListDevices()
	if err != nil {
		return goios.DeviceEntry{}, fmt.Errorf("ios: list devices via usbmuxd: %w", err)
	}
	for _, e := range l.DeviceList {
		if e.Properties.SerialNumber == serial {
			return e, nil
		}
	}
	return goios.DeviceEntry{}, fmt.Errorf("ios: device %s: %w", serial, driver.ErrDeviceGone)
}
