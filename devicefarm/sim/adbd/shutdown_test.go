package adbd

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// TestShutdownLeavesNothing: listeners, transports and running services all end on
// Shutdown, and an idle fleet costs two goroutines per connected device at most.
func TestShutdownLeavesNothing(t *testing.T) {
	before := runtime.NumGoroutine()
	f, err := NewFleet(Config{Count: 50, Seed: "shutdown", TimeScale: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	var conns []*raw
	for _, d := range f.Devices()[:10] {
		r := dialRaw(t, d)
		r.connect()
		conns = append(conns, r)
	}
	// A long-running service on one of them.
	conns[0].send(cmdOPEN, 1, 0, []byte("shell:sleep 3600\x00"))
	if h, _, err := conns[0].recv(); err != nil || h.cmd != cmdOKAY {
		t.Fatalf("open: %v", err)
	}
	time.Sleep(50 * time.Millisecond)
	idle := runtime.NumGoroutine() - before
	// 50 accept loops + 10 transports + 1 service (and its watcher).
	if idle > 50+10+4 {
		t.Errorf("%d goroutines for 50 listening devices and 10 transports", idle)
	}
	if err := f.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > before+1 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+1 {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines left after Shutdown (before: %d):\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}
