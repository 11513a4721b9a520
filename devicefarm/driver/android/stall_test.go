package android

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/fleetlens/fleetlens/devicefarm/driver"
)

// TestStalledServerHonoursDeadline: with the real adb server stopped (SIGSTOP: its socket
// accepts, nothing answers), every driver call returns soon after its context's deadline
// instead of waiting on the server (the demo once hung 23 minutes in a shutdown Disconnect).
func TestStalledServerHonoursDeadline(t *testing.T) {
	r := newRig(t, 2, false)
	serial := r.fleet.Devices()[0].Addr()
	v2less := r.fleet.Devices()[1]
	v2less.SetShellV2(false) // the sentinel shell path (gadb's before this test)
	// The adb server reconnects and reads the new banner; wait until it reports it.
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		r.drv.forgetFeatures(v2less.Addr())
		f, err := r.drv.features(context.Background(), v2less.Addr())
		if err == nil && f["cmd"] && !f["shell_v2"] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("features = %v, %v", f, err)
		}
	}
	r.waitState(t, v2less.Addr(), driver.StateReady)
	if res, err := r.drv.Shell(context.Background(), v2less.Addr(), "echo warm"); err != nil || string(res.Stdout) != "warm\n" {
		t.Fatalf("sentinel shell before the stall: %q %v", res.Stdout, err)
	}
	if err := r.srv.Pause(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.srv.Resume() })
	const deadline = 500 * time.Millisecond
	calls := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Disconnect", func(ctx context.Context) error { return r.drv.Disconnect(ctx, serial) }},
		{"Connect", func(ctx context.Context) error { return r.drv.Connect(ctx, serial) }},
		{"List", func(ctx context.Context) error { _, err := r.drv.List(ctx); return err }},
		{"Shell v2", func(ctx context.Context) error { _, err := r.drv.Shell(ctx, serial, "echo hi"); return err }},
		{"Shell sentinel", func(ctx context.Context) error { _, err := r.drv.Shell(ctx, v2less.Addr(), "echo hi"); return err }},
		{"Info", func(ctx context.Context) error { _, err := r.drv.Info(ctx, serial); return err }},
		{"Health", func(ctx context.Context) error { _, err := r.drv.Health(ctx, serial); return err }},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
			start := time.Now()
			done := make(chan error, 1)
			go func() { done <- c.call(ctx) }()
			select {
			case err := <-done:
				if el := time.Since(start); el > deadline+time.Second {
					t.Errorf("%s returned after %v (deadline %v)", c.name, el, deadline)
				}
				if err == nil || !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("%s against a stalled server: err %v, want one wrapping context.DeadlineExceeded", c.name, err)
				}
			case <-time.After(deadline + 5*time.Second):
				t.Fatalf("%s still blocked %v after its %v deadline", c.name, time.Since(start)-deadline, deadline)
			}
		})
	}
	// Returning is not enough: a call abandoned inside gadb kept its goroutine and socket
	// on the server until gadb's 60 s read deadline (500 phones x every timed-out call).
	time.Sleep(100 * time.Millisecond)
	buf := make([]byte, 1<<20)
	if st := string(buf[:runtime.Stack(buf, true)]); strings.Contains(st, "electricbubble/gadb") {
		t.Errorf("a gadb call is still blocked after its caller's deadline:\n%s", st)
	}
}
