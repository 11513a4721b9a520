package usbmux_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleetlens/fleetlens/devicefarm/sim/usbmux"
)

var (
	pkiOnce sync.Once
	testPKI *usbmux.PKI
)

// startSim runs a fleet on a private socket and points go-ios and libimobiledevice at it.
func startSim(t testing.TB, n int, mod func(*usbmux.Config)) *usbmux.Server {
	t.Helper()
	pkiOnce.Do(func() {
		var err error
		if testPKI, err = usbmux.NewPKI(); err != nil {
			t.Fatal(err)
		}
	})
	cfg := usbmux.Config{
		SocketPath:       filepath.Join(t.TempDir(), "usbmuxd.sock"),
		Count:            n,
		Seed:             t.Name(),
		PKI:              testPKI,
		HandshakeTimeout: 2 * time.Second,
		RestartDelay:     300 * time.Millisecond,
	}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := usbmux.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	t.Setenv("USBMUXD_SOCKET_ADDRESS", srv.SocketAddress())
	return srv
}

// tool runs a libimobiledevice CLI tool with a deadline and returns its stdout.
func tool(t *testing.T, timeout time.Duration, name string, args ...string) (string, error) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Fatalf("%s not installed (Debian: libimobiledevice-utils, libusbmuxd-tools, ideviceinstaller): %v", name, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		t.Logf("%s %v: %v; stderr: %s", name, args, err, errb.String())
	}
	return out.String(), err
}
