package ios

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestCallRecoversPanicAndHonoursContext(t *testing.T) {
	d := &Driver{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	t.Setenv("USBMUXD_SOCKET_ADDRESS", "UNIX:///nonexistent/usbmuxd.sock")
	_, err := call(context.Background(), d, "op", "X", func(func(io.Closer)) (int, error) {
		var m map[string]any
		return m["BatteryCurrentCapacity"].(int), nil // what go-ios does with a missing value
	})
	if err == nil || !strings.Contains(err.Error(), "go-ios panicked") {
		t.Fatalf("panic not recovered: %v", err)
	}
	closed := make(chan struct{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = call(ctx, d, "op", "X", func(reg func(io.Closer)) (int, error) {
		reg(closerFunc(func() error { close(closed); return nil }))
		<-closed // blocks like a stuck device read until the closer runs
		return 0, nil
	})
	if err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("ctx deadline not honoured: %v", err)
	}
	select {
	case <-closed:
	case <-time.After(time.Second):
		t.Fatal("registered closer not closed on ctx end")
	}
}
