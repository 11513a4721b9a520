package tui_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetlens/fleetlens/internal/pg/pgtest"
	"github.com/fleetlens/fleetlens/tui"
	"github.com/fleetlens/fleetlens/tui/data"
	"github.com/fleetlens/fleetlens/tui/internal/seed"
)

// TestFiveThousandDevices: 5,000 devices arrive while the TUI watches (5,000 NOTIFYs,
// coalesced), and the fleet stays navigable: the bottom row, a filter, grouping.
func TestFiveThousandDevices(t *testing.T) {
	dsn := pgtest.NewDSN(t)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	src, err := data.NewPG(data.Config{DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	src.Start(ctx)
	t.Cleanup(func() { src.Shutdown(context.Background()) })
	s := start(t, tui.Options{Src: src}, 120, 40)
	s.waitFor("0 devices", "● live")
	if err := seed.BulkDevices(ctx, pool, 5000, 25); err != nil {
		t.Fatal(err)
	}
	s.waitFor("5000 devices", "idle 3000", "quarantined 500")
	var last string
	if err := pool.QueryRow(ctx, `SELECT max(serial) FROM devices`).Scan(&last); err != nil {
		t.Fatal(err)
	}
	s.keys("G")
	s.waitFor(last)
	s.keys("/", "g", "a", "l", "a", "x", "y", "enter")
	scr := s.waitFor("devices of 5000")
	if strings.Contains(scr, "Pixel") {
		t.Fatalf("filter leaked:\n%s", scr)
	}
	s.keys("o", "o", "g")
	s.waitFor("group model", "▾ ", "Galaxy A12 (")
}
