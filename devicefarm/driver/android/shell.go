package android

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/electricbubble/gadb"
	"github.com/fleetlens/fleetlens/devicefarm/driver"
	"github.com/fleetlens/fleetlens/internal/adbserver"
)

// ShellResult is the outcome of one shell command.
type ShellResult struct {
	Stdout, Stderr []byte
	ExitCode       int
}

// sentinel marks the exit status on devices without shell v2; it cannot occur in normal
// output (unit separator + marker).
const sentinel = "\x1fFLEETLENS_EXIT:"

// deviceError maps adb server FAIL messages and broken transports to the driver's sentinels.
func deviceError(serial, op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("android %s: %s: %w", serial, op, err)
	}
	var fe *adbserver.FailError
	msg := err.Error()
	if errors.As(err, &fe) {
		msg = fe.Msg
	}
	switch {
	case strings.Contains(msg, "not found"), strings.Contains(msg, "no devices"):
		return fmt.Errorf("android %s: %s: %s: %w", serial, op, msg, driver.ErrDeviceGone)
	case strings.Contains(msg, "offline"), strings.Contains(msg, "unauthorized"), strings.Contains(msg, "authorizing"),
		strings.Contains(msg, "connecting"), strings.Contains(msg, "no permissions"):
		return fmt.Errorf("android %s: %s: %s: %w", serial, op, firstLine(msg), driver.ErrDeviceNotReady)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		strings.Contains(msg, "connection reset"), strings.Contains(msg, "broken pipe"):
		return fmt.Errorf("android %s: %s: transport ended: %v: %w", serial, op, err, driver.ErrDeviceGone)
	}
	return fmt.Errorf("android %s: %s: %w", serial, op, err)
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// openService connects to serial's transport through the adb server and opens a device
// service; the returned conn is closed when ctx ends.
func (d *Driver) openService(ctx context.Context, serial, service string) (net.Conn, error) {
	c, err := adbserver.Dial(ctx, d.addr, "host:transport:"+serial)
	if err != nil {
		return nil, deviceError(serial, service, err)
	}
	if err := adbserver.Request(c, service); err != nil {
		c.Close()
		if ctx.Err() != nil {
			return nil, deviceError(serial, service, ctx.Err())
		}
		// The device refused the service (adbd CLSE) or vanished: the server says "closed".
		if d.gone(serial) {
			return nil, fmt.Errorf("android %s: %s: %v: %w", serial, service, err, driver.ErrDeviceGone)
		}
		return nil, deviceError(serial, service, err)
	}
	return c, nil
}

// gone checks whether the server still lists serial as a usable device.
func (d *Driver) gone(serial string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), shortTimeout)
	defer cancel()
	devs, err := d.List(ctx)
	if err != nil {
		return true
	}
	for _, dv := range devs {
		if dv.Serial == serial {
			return dv.State != driver.StateReady
		}
	}
	return true
}

// features returns the device's adb feature set, cached per serial.
func (d *Driver) features(ctx context.Context, serial string) (map[string]bool, error) {
	d.mu.Lock()
	f, ok := d.feat[serial]
	d.mu.Unlock()
	if ok {
		return f, nil
	}
	resp, err := adbserver.Query(ctx, d.addr, "host-serial:"+serial+":features")
	if err != nil {
		return nil, deviceError(serial, "features", err)
	}
	f = map[string]bool{}
	for _, x := range strings.Split(strings.TrimSpace(resp), ",") {
		f[x] = true
	}
	d.mu.Lock()
	d.feat[serial] = f
	d.mu.Unlock()
	return f, nil
}

func (d *Driver) forgetFeatures(serial string) {
	d.mu.Lock()
	delete(d.feat, serial)
	d.mu.Unlock()
}

// Shell runs cmd on the device and returns its output and exit code. The exit code comes
// from shell v2 when the device has it, else from a sentinel suffix through gadb.
func (d *Driver) Shell(ctx context.Context, serial, cmd string) (ShellResult, error) {
	f, err := d.features(ctx, serial)
	if err != nil {
		return ShellResult{}, err
	}
	if f["shell_v2"] {
		return d.shellV2(ctx, serial, cmd, nil)
	}
	return d.shellSentinel(ctx, serial, cmd)
}

// shellV2 runs cmd over shell protocol v2; onStdout, when set, receives stdout as it arrives
// instead of it being buffered.
func (d *Driver) shellV2(ctx context.Context, serial, cmd string, onStdout func([]byte)) (ShellResult, error) {
	c, err := d.openService(ctx, serial, "shell,v2,raw:"+cmd)
	if err != nil {
		return ShellResult{}, err
	}
	defer c.Close()
	if onStdout != nil {
		adbserver.QuickAck(c)
	}
	// Tell the device we send no stdin, as `adb shell` does when stdin is not a terminal.
	_, _ = c.Write([]byte{4, 0, 0, 0, 0})
	var res ShellResult
	var out, errb bytes.Buffer
	hdr := make([]byte, 5)
	for {
		if _, err := io.ReadFull(c, hdr); err != nil {
			if ctx.Err() != nil {
				return res, deviceError(serial, "shell "+cmd, ctx.Err())
			}
			// The stream ended without an exit packet: the device went away mid-call.
			d.forgetFeatures(serial)
			return res, fmt.Errorf("android %s: shell %q: stream ended without exit status: %v: %w", serial, cmd, err, driver.ErrDeviceGone)
		}
		n := binary.LittleEndian.Uint32(hdr[1:])
		if n > 1<<24 {
			return res, fmt.Errorf("android %s: shell %q: bad shell packet length %d", serial, cmd, n)
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(c, body); err != nil {
			return res, fmt.Errorf("android %s: shell %q: truncated packet: %v: %w", serial, cmd, err, driver.ErrDeviceGone)
		}
		switch hdr[0] {
		case 1:
			if onStdout != nil {
				onStdout(body)
			} else {
				out.Write(body)
			}
		case 2:
			errb.Write(body)
		case 3:
			if len(body) > 0 {
				res.ExitCode = int(body[0])
			}
			res.Stdout, res.Stderr = out.Bytes(), errb.Bytes()
			return res, nil
		}
	}
}

// shellStream runs cmd over the plain `shell:` service on our own connection (no gadb
// read deadline), passing output as it arrives; the stream's end is the command's end.
func (d *Driver) shellStream(ctx context.Context, serial, cmd string, onStdout func([]byte)) error {
	c, err := d.openService(ctx, serial, "shell:"+cmd)
	if err != nil {
		return err
	}
	defer c.Close()
	adbserver.QuickAck(c)
	buf := make([]byte, 32<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			onStdout(buf[:n])
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return deviceError(serial, "shell "+cmd, ctx.Err())
			}
			return deviceError(serial, "shell "+cmd, err)
		}
	}
}

// shellSentinel runs cmd over the plain `shell:` service and recovers the exit code from a
// sentinel the command prints last. It uses our own adb-server connection, not gadb's
// RunShellCommand: that one cannot be cancelled, so an abandoned call kept its socket (and
// a goroutine) until gadb's 60 s read deadline; ours is closed the moment ctx ends.
func (d *Driver) shellSentinel(ctx context.Context, serial, cmd string) (ShellResult, error) {
	c, err := d.openService(ctx, serial, "shell:"+cmd+"; echo "+sentinel+"$?")
	if err != nil {
		return ShellResult{}, err
	}
	raw, err := io.ReadAll(c)
	c.Close()
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return ShellResult{}, deviceError(serial, "shell "+cmd, err)
	}
	i := bytes.LastIndex(raw, []byte(sentinel))
	if i < 0 {
		return ShellResult{Stdout: raw}, fmt.Errorf("android %s: shell %q: output ended before the exit status: %w", serial, cmd, driver.ErrDeviceGone)
	}
	code, err := strconv.Atoi(strings.TrimSpace(string(raw[i+len(sentinel):])))
	if err != nil {
		return ShellResult{Stdout: raw[:i]}, fmt.Errorf("android %s: shell %q: bad exit status %q", serial, cmd, raw[i:])
	}
	// Without v2, stderr is merged into stdout, as on the device's pty-less shell.
	return ShellResult{Stdout: raw[:i], ExitCode: code}, nil
}

// run is Shell that treats a non-zero exit as an error naming the command and its stderr.
func (d *Driver) run(ctx context.Context, serial, cmd string) (string, error) {
	res, err := d.Shell(ctx, serial, cmd)
	if err != nil {
		return "", err
	}
	if res.ExitCode != 0 {
		return string(res.Stdout), fmt.Errorf("android %s: %q exited %d: %s", serial, cmd, res.ExitCode,
			strings.TrimSpace(firstLine(string(res.Stderr)+string(res.Stdout))))
	}
	return string(res.Stdout), nil
}

// exec opens an exec: service (raw bytes, no shell framing) and returns the conn.
func (d *Driver) exec(ctx context.Context, serial, cmd string) (net.Conn, error) {
	return d.openService(ctx, serial, "exec:"+cmd)
}

// gadbDevice finds serial in gadb's device list (it only lists online devices).
func (d *Driver) gadbDevice(ctx context.Context, serial string) (gadb.Device, error) {
	devs, err := callCtx(ctx, d.gadb.DeviceList)
	if err != nil {
		return gadb.Device{}, deviceError(serial, "device list", err)
	}
	for _, dv := range devs {
		if dv.Serial() == serial {
			return dv, nil
		}
	}
	if d.gone(serial) {
		return gadb.Device{}, fmt.Errorf("android %s: not listed by the adb server: %w", serial, driver.ErrDeviceGone)
	}
	return gadb.Device{}, fmt.Errorf("android %s: listed but not online: %w", serial, driver.ErrDeviceNotReady)
}

// callCtx runs a gadb call (which takes no context) and returns when it ends or ctx does;
// in the latter case the call finishes in the background, bounded by gadb's read timeout.
func callCtx[T any](ctx context.Context, f func() (T, error)) (T, error) {
	type res struct {
		v   T
		err error
	}
	ch := make(chan res, 1)
	go func() {
		v, err := f()
		ch <- res{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

var _ = sync.Mutex{}
