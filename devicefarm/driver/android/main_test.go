package android

import (
	"log/slog"
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	if os.Getenv("FLEETLENS_TEST_DEBUG") != "" {
		slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})))
	}
	code := m.Run()
	closeBenchRig() // benchmarks share one 500-device fleet and adb server
	os.Exit(code)
}
