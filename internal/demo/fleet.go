package demo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetlens/fleetlens/agent"
	"github.com/fleetlens/fleetlens/devicefarm/driver"
	"github.com/fleetlens/fleetlens/devicefarm/driver/android"
	"github.com/fleetlens/fleetlens/devicefarm/driver/ios"
	"github.com/fleetlens/fleetlens/devicefarm/results"
	"github.com/fleetlens/fleetlens/devicefarm/sim/adbd"
	"github.com/fleetlens/fleetlens/devicefarm/sim/usbmux"
	"github.com/fleetlens/fleetlens/internal/adbserver"
)

// The two simulated device hosts.
const (
	HostA = "demo-host-a"
	HostB = "demo-host-b"
)

// startAndroid starts the adb server (ANDROID_ADB_SERVER_PORT's if set, else a private one
// on a free port, so the user's 5037 is never touched), the simulated phones, and connects
// each phone with `adb connect` (host:connect) through the driver of the host that owns it.
func (d *run) startAndroid(ctx context.Context) (string, error) {
	e := d.env
	where, err := d.startADBServer(ctx)
	if err != nil {
		return "", err
	}
	fleet, err := adbd.NewFleet(adbd.Config{Count: d.sc.android, Seed: "demo", TimeScale: d.sc.timeScale, Logger: d.log})
	if err != nil {
		return "", err
	}
	if err := fleet.Start(ctx); err != nil {
		return "", err
	}
	e.fleet = fleet
	d.st.push("simulated Android devices", fleet.Shutdown)
	for _, p := range []**android.Driver{&e.androidA, &e.androidB} {
		drv, err := android.New(ctx, android.Config{ServerAddr: e.adbAddr, NoStartServer: true, Logger: d.log})
		if err != nil {
			return "", err
		}
		*p = drv
	}
	e.hostA, e.hostB = map[string]bool{}, map[string]bool{}
	devs := fleet.Devices()
	// Alternate the phones between the hosts so both get a mix of models and tiers.
	for i, dev := range devs {
		if i%2 == 0 {
			e.hostA[dev.Addr()] = true
		} else {
			e.hostB[dev.Addr()] = true
		}
	}
	// Four at a time: adb 29's fdevent loop has crashed under many racing host:connects.
	if err := parallel(ctx, len(devs), 4, func(ctx context.Context, i int) error {
		drv := e.androidA
		if i%2 == 1 {
			drv = e.androidB
		}
		return drv.Connect(ctx, devs[i].Addr())
	}); err != nil {
		return "", err
	}
	if e.sharedADB {
		// A private server is killed with its devices; on the user's own, leave no stale entries.
		d.st.push("adb connections", func(ctx context.Context) error {
			return parallel(ctx, len(devs), 8, func(ctx context.Context, i int) error {
				_ = e.androidA.Disconnect(ctx, devs[i].Addr())
				return nil
			})
		})
	}
	ready, lastTry := 0, time.Now()
	if !waitUntil(ctx, 60*time.Second, func() bool {
		ready = countReady(ctx, e.androidA, nil)
		if ready < len(devs) && time.Since(lastTry) > 10*time.Second {
			// adb 29 sometimes drops a host:connect made while it is busy: ask again for
			// the phones it does not list.
			lastTry = time.Now()
			listed := listed(ctx, e.androidA)
			for i, dev := range devs {
				if !listed[dev.Addr()] {
					drv := e.androidA
					if i%2 == 1 {
						drv = e.androidB
					}
					_ = drv.Connect(ctx, dev.Addr())
				}
			}
		}
		return ready >= len(devs)
	}) {
		msg := fmt.Sprintf("only %d of %d simulated Android devices came up in the adb server at %s", ready, len(devs), e.adbAddr)
		if _, err := adbserver.Version(ctx, e.adbAddr); err != nil {
			msg += " (the adb server no longer answers: " + err.Error() + ")"
		}
		if e.adbLog != "" {
			if b, err := os.ReadFile(e.adbLog); err == nil {
				msg += "; adb server log:\n" + tailLines(string(b), 15)
			}
		}
		return "", errors.New(msg)
	}
	return fmt.Sprintf("%d devices in `adb devices` of %s", ready, where), nil
}

func (d *run) startADBServer(ctx context.Context) (string, error) {
	e := d.env
	if p := os.Getenv("ANDROID_ADB_SERVER_PORT"); p != "" {
		port, err := strconv.Atoi(p)
		if err != nil || port < 1 || port > 65535 {
			return "", fmt.Errorf("ANDROID_ADB_SERVER_PORT=%q is not a port number", p)
		}
		e.adbAddr = net.JoinHostPort("127.0.0.1", p)
		if _, err := adbserver.Version(ctx, e.adbAddr); err == nil {
			e.sharedADB = true
			return "the adb server already running on port " + p + " (ANDROID_ADB_SERVER_PORT)", nil
		}
		if err := adbserver.Ensure(ctx, e.adbAddr); err != nil {
			return "", err
		}
		// We started it, so we stop it (as `adb kill-server` would).
		d.st.push("adb server", func(ctx context.Context) error {
			return exec.CommandContext(ctx, "adb", "-P", p, "kill-server").Run()
		})
		return "adb server started on port " + p + " (ANDROID_ADB_SERVER_PORT)", nil
	}
	home := filepath.Join(d.cfg.WorkDir, "adb")
	srv, err := adbserver.StartPrivate(ctx, home)
	if err != nil {
		return "", err
	}
	d.st.push("adb server", func(context.Context) error { srv.Stop(); return nil })
	e.adbAddr = srv.Addr
	e.adbLog = filepath.Join(home, "adb-server.log")
	return fmt.Sprintf("adb server started on port %d", srv.Port), nil
}

// startIOS starts the simulated usbmuxd and its devices, and the iOS driver on it (go-ios,
// through USBMUXD_SOCKET_ADDRESS).
func (d *run) startIOS(ctx context.Context) (string, error) {
	e := d.env
	e.iosOwned = map[string]bool{}
	if d.sc.ios == 0 {
		return "skipped (--ios 0)", nil
	}
	sock := filepath.Join(d.cfg.WorkDir, "usbmuxd.sock")
	srv, err := usbmux.NewServer(usbmux.Config{SocketPath: sock, Count: d.sc.ios, Seed: "demo", Logger: d.log})
	if err != nil {
		return "", err
	}
	if err := srv.Start(ctx); err != nil {
		return "", err
	}
	e.usb = srv
	d.st.push("simulated usbmuxd", srv.Shutdown)
	drv, err := ios.New(ios.Config{SocketAddress: srv.SocketAddress(), Logger: d.log})
	if err != nil {
		return "", err
	}
	e.iosDrv = drv
	d.st.push("iOS driver", func(context.Context) error { return drv.Close() })
	for _, dev := range srv.Devices() {
		e.iosOwned[dev.Instance().Serial] = true
	}
	ready := 0
	if !waitUntil(ctx, 60*time.Second, func() bool {
		ready = countReady(ctx, drv, nil)
		return ready >= d.sc.ios
	}) {
		return "", fmt.Errorf("only %d of %d simulated iOS devices are ready behind %s", ready, d.sc.ios, srv.SocketAddress())
	}
	return fmt.Sprintf("%d devices paired, usbmuxd at %s", ready, sock), nil
}

// startAgents starts host A (half the Android phones) and host B (the other half and every
// iPhone), each with its own database pool, and waits until PostgreSQL lists every device.
func (d *run) startAgents(ctx context.Context) (string, error) {
	e := d.env
	// Phones of earlier demo runs listened on other ports: forget them rather than show a
	// wall of offline devices.
	if _, err := e.pool.Exec(ctx, `DELETE FROM devices WHERE host_id IN ($1, $2) AND state = 'offline'`, HostA, HostB); err != nil {
		return "", fmt.Errorf("forget earlier demo devices: %w", err)
	}
	hosts := []struct {
		id    string
		parts []hostPart
	}{
		{HostA, []hostPart{{e.androidA, e.hostA}}},
		{HostB, []hostPart{{e.androidB, e.hostB}}},
	}
	if e.iosDrv != nil {
		hosts[1].parts = append(hosts[1].parts, hostPart{e.iosDrv, e.iosOwned})
	}
	for _, h := range hosts {
		pcfg, err := pgxpool.ParseConfig(e.dsn)
		if err != nil {
			return "", err
		}
		pcfg.MaxConns = 16
		pool, err := pgxpool.NewWithConfig(ctx, pcfg)
		if err != nil {
			return "", fmt.Errorf("agent %s: database pool: %w", h.id, err)
		}
		d.st.push("agent "+h.id+" pool", func(context.Context) error { pool.Close(); return nil })
		a, err := agent.New(agent.Config{HostID: h.id, ArtifactsDir: filepath.Join(d.cfg.WorkDir, h.id),
			Labels: map[string]string{"pool": "demo"}, LeaseTTL: 15 * time.Second, PollInterval: time.Second,
			HealthInterval: 5 * time.Second}, pool, &hostDriver{parts: h.parts}, d.log)
		if err != nil {
			return "", err
		}
		if err := a.Start(ctx); err != nil {
			return "", err
		}
		d.st.push("agent "+h.id, a.Shutdown)
	}
	want := map[string]int{HostA: len(e.hostA), HostB: len(e.hostB) + len(e.iosOwned)}
	got := map[string]int{}
	if !waitUntil(ctx, 60*time.Second, func() bool {
		devs, err := results.ListDevices(ctx, e.pool)
		if err != nil {
			return false
		}
		clear(got)
		for _, dv := range devs {
			if dv.State == "idle" || dv.State == "busy" {
				got[dv.Host]++
			}
		}
		return got[HostA] >= want[HostA] && got[HostB] >= want[HostB]
	}) {
		return "", fmt.Errorf("devices registered in PostgreSQL: %s %d of %d, %s %d of %d", HostA, got[HostA], want[HostA], HostB, got[HostB], want[HostB])
	}
	b := fmt.Sprintf("%s: %d Android; %s: %d Android", HostA, len(e.hostA), HostB, len(e.hostB))
	if len(e.iosOwned) > 0 {
		b += fmt.Sprintf(" + %d iOS", len(e.iosOwned))
	}
	return b, nil
}

func listed(ctx context.Context, drv driver.Driver) map[string]bool {
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	devs, _ := drv.List(lctx)
	m := map[string]bool{}
	for _, dv := range devs {
		m[dv.Serial] = true
	}
	return m
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func countReady(ctx context.Context, drv driver.Driver, owns map[string]bool) int {
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	devs, err := drv.List(lctx)
	if err != nil {
		return 0
	}
	n := 0
	for _, dv := range devs {
		if dv.State == driver.StateReady && (owns == nil || owns[dv.Serial]) {
			n++
		}
	}
	return n
}

// parallel runs fn for 0..n-1 on at most width goroutines and returns the first error.
func parallel(ctx context.Context, n, width int, fn func(context.Context, int) error) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	sem := make(chan struct{}, width)
	for i := range n {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := fn(ctx, i); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return fmt.Errorf("%d of %d failed, first: %w", len(errs), n, errs[0])
	}
	return errors.Join(ctx.Err())
}
