// GATE_DEBUG=1 turns on the loader's per-step timing logs in tests and benchmarks.
package gate_test

import (
	"log/slog"
	"os"
)

func init() {
	if os.Getenv("GATE_DEBUG") != "" {
		slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})))
	}
}
