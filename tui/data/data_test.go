package data_test

import (
	"testing"
	"time"

	"github.com/fleetlens/fleetlens/tui/data"
)

func TestRunETA(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	started := now.Add(-10 * time.Minute)
	cases := []struct {
		name string
		run  data.Run
		want time.Duration
	}{
		{"observed pace", data.Run{State: "running", Total: 40, Done: 10, StartedAt: &started}, 30 * time.Minute},
		{"nothing done: expected work over busy devices", data.Run{State: "running", Total: 40, RemainingMS: 600000, DevicesBusy: 4}, 150 * time.Second},
		{"queued, no device yet", data.Run{State: "queued", Total: 4, RemainingMS: 60000}, time.Minute},
		{"finished", data.Run{State: "passed", Total: 4, Done: 4, StartedAt: &started}, 0},
		{"cancelled", data.Run{State: "cancelled", Total: 4, Done: 1, StartedAt: &started}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.run.ETA(now); got != c.want {
				t.Fatalf("ETA = %v, want %v", got, c.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	for _, dsn := range []string{"", "host=/nonexistent port=x"} {
		if _, err := data.NewPG(data.Config{DSN: dsn}); err == nil {
			t.Errorf("DSN %q accepted", dsn)
		}
	}
}
