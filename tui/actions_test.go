package tui_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetlens/fleetlens/internal/pg/pgtest"
	"github.com/fleetlens/fleetlens/tui"
	"github.com/fleetlens/fleetlens/tui/data"
	"github.com/fleetlens/fleetlens/tui/internal/seed"
)

// TestStartAndCancelRun: pick a broken suite (errors inline), then a good one, start it
// through the farm, watch it appear, cancel it behind the confirmation.
func TestStartAndCancelRun(t *testing.T) {
	opts := seeded(t)(t)
	opts.SuiteDir = "testdata/suites"
	s := start(t, opts, 100, 30)
	s.waitFor("● live", "24 devices")
	s.keys("2")
	s.waitFor("2 runs")
	s.keys("n")
	s.waitFor("Start a run", "broken.yaml", "smoke.yaml")
	s.keys("enter") // broken.yaml is first
	scr := s.waitFor("broken.yaml has 1 error(s)", "line 5", "devices.colour", "unknown field")
	if !strings.Contains(scr, "smoke.yaml") {
		t.Fatalf("the picker should stay open under the errors:\n%s", scr)
	}
	s.keys("j", "j", "enter")
	s.waitFor("suite testdata/suites/smoke.yaml", "▸ release")
	s.keys("ctrl+s") // empty release
	s.waitFor("release: required")
	// A profile the farm does not know is refused inline, nothing queued.
	s.keys("2", ".", "5", ".", "0", "enter", "enter", "enter", "5", "g", "enter")
	s.waitFor(`profile "5g": unknown network profile (known: `, "2g-rural")
	for i := 0; i < 2; i++ {
		s.tm.Send(backspace())
	}
	s.keys("enter")
	s.waitFor("Run #3", "com.example.shop 2.5.0 vs 2.4.0", "suite smoke-tui", "0/3", "run #3 queued from smoke.yaml")
	s.keys("x")
	s.waitFor("Cancel run #3", "y yes")
	s.keys("n")
	s.waitFor("Run #3 queued")
	s.keys("x")
	s.waitFor("Cancel run #3")
	s.keys("y")
	s.waitFor("Run #3 cancelled", "cancelled from fleetlens tui")
	s.keys("esc")
	s.waitFor("3 runs · 1 active", "#3 cancelled")
}

// TestReadOnly: starting and cancelling are refused, and say why.
func TestReadOnly(t *testing.T) {
	opts := seeded(t)(t)
	opts.ReadOnly = true
	opts.Farm = nil
	s := start(t, opts, 100, 30)
	s.waitFor("read-only", "● live")
	s.keys("2")
	s.waitFor("2 runs")
	s.keys("n")
	s.waitFor("read-only: starting runs is disabled")
	s.keys("x")
	s.waitFor("read-only: cancelling runs is disabled")
	s.keys("?")
	scr := s.waitFor("press ? or esc to close")
	if strings.Contains(scr, "start a run") || strings.Contains(scr, "cancel run") {
		t.Fatalf("read-only help must not offer disabled actions:\n%s", scr)
	}
}

// TestLiveUpdates: a device's state change reaches the screen through NOTIFY.
func TestLiveUpdates(t *testing.T) {
	dsn := pgtest.NewDSN(t)
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	serials, err := seed.Devices(context.Background(), pool, 4, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	src, err := data.NewPG(data.Config{DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	src.Start(context.Background())
	t.Cleanup(func() { src.Shutdown(context.Background()) })
	s := start(t, tui.Options{Src: src}, 100, 30)
	s.waitFor("4 devices", "idle 4", "offline 0")
	if _, err := pool.Exec(context.Background(), `UPDATE devices SET state = 'offline' WHERE serial = $1`, serials[2]); err != nil {
		t.Fatal(err)
	}
	s.waitFor("idle 3", "offline 1")
	if _, err := seed.Devices(context.Background(), pool, 0, 2, 1); err != nil {
		t.Fatal(err)
	}
	s.waitFor("6 devices", "idle 5")
	if _, err := pool.Exec(context.Background(), `DELETE FROM devices WHERE serial = $1`, serials[0]); err != nil {
		t.Fatal(err)
	}
	// Deletes do not notify; ctrl+r reloads.
	s.keys("ctrl+r")
	s.waitFor("5 devices")
}

// TestReconnect: the database restarts under a running TUI; it says it is reconnecting,
// keeps the last data, and comes back live with fresh data.
func TestReconnect(t *testing.T) {
	c := pgtest.NewCluster(t)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, c.DSN())
	if err != nil {
		t.Fatal(err)
	}
	serials, err := seed.Devices(ctx, pool, 3, 0, 1)
	pool.Close()
	if err != nil {
		t.Fatal(err)
	}
	src, err := data.NewPG(data.Config{DSN: c.DSN(), MaxBackoff: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	src.Start(ctx)
	t.Cleanup(func() { src.Shutdown(context.Background()) })
	s := start(t, tui.Options{Src: src}, 100, 30)
	s.waitFor("3 devices", "● live")
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	scr := s.waitFor("⟳ reconnecting", "3 devices")
	if !strings.Contains(scr, "database connection lost") {
		t.Fatalf("footer should say the connection was lost:\n%s", scr)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	s.waitFor("● live")
	pool, err = pgxpool.New(ctx, c.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, `UPDATE devices SET state = 'quarantined' WHERE serial = $1`, serials[1]); err != nil {
		t.Fatal(err)
	}
	s.waitFor("quarantined 1")
}
