package android

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/electricbubble/gadb"
	"github.com/fleetlens/fleetlens/devicefarm/driver"
	"github.com/fleetlens/fleetlens/internal/adbserver"
)

const shortTimeout = 5 * time.Second

// Config configures the Android driver.
type Config struct {
	// ServerAddr is the adb server; empty means as adb finds it (ADB_SERVER_SOCKET,
	// ANDROID_ADB_SERVER_PORT, 127.0.0.1:5037).
	ServerAddr string
	// NoStartServer: fail instead of starting an adb server that is not running.
	NoStartServer bool
	// CaptureLogcat attaches each test's device log to its TestResult (one extra logcat
	// call per test).
	CaptureLogcat bool
	// PollInterval backs up host:track-devices for state changes adb does not push
	// (default 2s).
	PollInterval time.Duration
	// Logger for reconnects and parse warnings; default slog.Default().
	Logger *slog.Logger
}

// Validate reports an unusable configuration.
func (c *Config) Validate() error {
	if c.ServerAddr != "" {
		if _, _, err := net.SplitHostPort(c.ServerAddr); err != nil {
			return fmt.Errorf("android driver: server address %q: %w", c.ServerAddr, err)
		}
	}
	return nil
}

// Driver implements driver.Driver for Android devices behind one adb server.
type Driver struct {
	cfg  Config
	addr string
	log  *slog.Logger
	gadb gadb.Client

	mu   sync.Mutex
	feat map[string]map[string]bool
	tcp  map[string]bool // TCP serials seen, re-connected after an adb server restart
}

var _ driver.Driver = (*Driver)(nil)

// New finds (and unless told not to, starts) the adb server and returns a driver on it.
func New(ctx context.Context, cfg Config) (*Driver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	addr := cfg.ServerAddr
	if addr == "" {
		var err error
		if addr, err = adbserver.Addr(); err != nil {
			return nil, fmt.Errorf("android driver: %w", err)
		}
	}
	if cfg.NoStartServer {
		if _, err := adbserver.Version(ctx, addr); err != nil {
			return nil, fmt.Errorf("android driver: %w", err)
		}
	} else if err := adbserver.Ensure(ctx, addr); err != nil {
		return nil, fmt.Errorf("android driver: %w", err)
	}
	host, portS, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portS)
	gc, err := callCtx(ctx, func() (gadb.Client, error) { return gadb.NewClientWith(host, port) })
	if err != nil {
		return nil, fmt.Errorf("android driver: gadb on %s: %w", addr, err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Driver{cfg: cfg, addr: addr, log: cfg.Logger, gadb: gc, feat: map[string]map[string]bool{}, tcp: map[string]bool{}}, nil
}

// Addr is the adb server the driver talks to.
func (d *Driver) Addr() string { return d.addr }

// Gadb exposes the underlying gadb client (benchmarks compare against it).
func (d *Driver) Gadb() gadb.Client { return d.gadb }

func (d *Driver) Platform() driver.Platform { return driver.Android }

// adbState maps the adb server's connection state to the driver's.
func adbState(s string) driver.DeviceState {
	switch s {
	case "device":
		return driver.StateReady
	case "unauthorized", "no permissions":
		return driver.StateUnauthorized
	}
	// offline, authorizing, connecting, bootloader, recovery, sideload, host, unknown
	return driver.StateOffline
}

// parseDevicesL parses host:devices-l, keeping every state (gadb drops offline and
// unauthorized lines, whose attributes are missing).
func parseDevicesL(resp string) []driver.Device {
	var out []driver.Device
	for _, line := range strings.Split(resp, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		dev := driver.Device{Serial: f[0], Platform: driver.Android, Props: map[string]string{}}
		rest := f[1:]
		// "no permissions (...)" spans several fields.
		if rest[0] == "no" && len(rest) > 1 && rest[1] == "permissions" {
			dev.State = driver.StateUnauthorized
			rest = nil
		} else {
			dev.State = adbState(rest[0])
			rest = rest[1:]
		}
		for _, kv := range rest {
			k, v, ok := strings.Cut(kv, ":")
			if !ok {
				continue
			}
			dev.Props["adb."+k] = v
			switch k {
			case "model":
				dev.Model = strings.ReplaceAll(v, "_", " ")
			case "device":
				dev.ProductType = v
			}
		}
		out = append(out, dev)
	}
	return out
}

// List returns every device the adb server knows, in any state.
func (d *Driver) List(ctx context.Context) ([]driver.Device, error) {
	resp, err := adbserver.Query(ctx, d.addr, "host:devices-l")
	if err != nil {
		return nil, fmt.Errorf("android: list devices on %s: %w", d.addr, err)
	}
	devs := parseDevicesL(resp)
	d.mu.Lock()
	for _, dv := range devs {
		if _, _, err := net.SplitHostPort(dv.Serial); err == nil {
			d.tcp[dv.Serial] = true
		}
	}
	d.mu.Unlock()
	return devs, nil
}

// Watch follows host:track-devices and emits an event per appearance, state change and
// disappearance. adb 29 does not push every state change of a network device (a TCP device
// that drops to offline while adb retries it goes unannounced), so the list is also polled
// every PollInterval. When the adb server dies it is started again (unless NoStartServer)
// and the TCP devices seen before are re-connected.
func (d *Driver) Watch(ctx context.Context) (<-chan driver.DeviceEvent, error) {
	c, err := adbserver.Dial(ctx, d.addr, "host:track-devices")
	if err != nil {
		return nil, fmt.Errorf("android: track devices on %s: %w", d.addr, err)
	}
	ch := make(chan driver.DeviceEvent, 64)
	go d.watch(ctx, c, ch)
	return ch, nil
}

func (d *Driver) watch(ctx context.Context, c net.Conn, ch chan<- driver.DeviceEvent) {
	defer close(ch)
	known := map[string]driver.DeviceState{}
	emit := func(dev driver.Device) bool {
		select {
		case ch <- driver.DeviceEvent{Device: dev, At: time.Now()}:
			return true
		case <-ctx.Done():
			return false
		}
	}
	diff := func(devs []driver.Device) bool {
		seen := map[string]bool{}
		for _, dev := range devs {
			seen[dev.Serial] = true
			if known[dev.Serial] == dev.State {
				continue
			}
			known[dev.Serial] = dev.State
			d.forgetFeatures(dev.Serial)
			if !emit(dev) {
				return false
			}
		}
		for s := range known {
			if !seen[s] {
				delete(known, s)
				d.forgetFeatures(s)
				if !emit(driver.Device{Serial: s, Platform: driver.Android, State: driver.StateGone}) {
					return false
				}
			}
		}
		return true
	}
	poll := d.cfg.PollInterval
	if poll <= 0 {
		poll = 2 * time.Second
	}
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		msgs, errs := make(chan string), make(chan error, 1)
		go func(c net.Conn) {
			defer c.Close()
			for {
				m, err := adbserver.ReadHexString(c)
				if err != nil {
					errs <- err
					return
				}
				select {
				case msgs <- m:
				case <-ctx.Done():
					return
				}
			}
		}(c)
	loop:
		for {
			select {
			case <-ctx.Done():
				return
			case m := <-msgs:
				if !diff(parseDevicesL(m)) {
					return
				}
			case <-tick.C:
				if devs, err := d.List(ctx); err == nil && !diff(devs) {
					return
				}
			case err := <-errs:
				if ctx.Err() != nil {
					return
				}
				d.log.Warn("android: lost the adb server; reconnecting", "server", d.addr, "err", err)
				break loop
			}
		}
		// Everything is gone from our point of view until the server answers again.
		if !diff(nil) {
			return
		}
		var err error
		c, err = d.redial(ctx)
		if err != nil {
			return
		}
	}
}

// redial waits for (or restarts) the adb server, re-connects known TCP devices and opens a
// new track-devices stream.
func (d *Driver) redial(ctx context.Context) (net.Conn, error) {
	backoff := 100 * time.Millisecond
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
		if !d.cfg.NoStartServer {
			if err := adbserver.Ensure(ctx, d.addr); err != nil {
				continue
			}
		} else if _, err := adbserver.Version(ctx, d.addr); err != nil {
			continue
		}
		d.reconnectTCP(ctx)
		if c, err := adbserver.Dial(ctx, d.addr, "host:track-devices"); err == nil {
			return c, nil
		}
	}
}

// reconnectTCP re-issues adb connect for network devices seen before a server restart.
func (d *Driver) reconnectTCP(ctx context.Context) {
	d.mu.Lock()
	serials := make([]string, 0, len(d.tcp))
	for s := range d.tcp {
		serials = append(serials, s)
	}
	d.mu.Unlock()
	for _, s := range serials {
		if _, err := adbserver.Query(ctx, d.addr, "host:connect:"+s); err != nil {
			d.log.Warn("android: reconnect", "device", s, "err", err)
		}
	}
}

// Connect runs `adb connect host:port` and remembers the device for reconnects.
func (d *Driver) Connect(ctx context.Context, addr string) error {
	resp, err := adbserver.Query(ctx, d.addr, "host:connect:"+addr)
	if err != nil {
		return fmt.Errorf("android: connect %s: %w", addr, err)
	}
	if !strings.HasPrefix(resp, "connected to") && !strings.HasPrefix(resp, "already connected") {
		return fmt.Errorf("android: connect %s: %s", addr, resp)
	}
	d.mu.Lock()
	d.tcp[addr] = true
	d.mu.Unlock()
	return nil
}

// Disconnect runs `adb disconnect host:port`.
func (d *Driver) Disconnect(ctx context.Context, addr string) error {
	resp, err := adbserver.Query(ctx, d.addr, "host:disconnect:"+addr)
	if err != nil {
		return fmt.Errorf("android: disconnect %s: %w", addr, err)
	}
	d.mu.Lock()
	delete(d.tcp, addr)
	d.mu.Unlock()
	if !strings.HasPrefix(resp, "disconnected") {
		return fmt.Errorf("android: disconnect %s: %s", addr, resp)
	}
	return nil
}
