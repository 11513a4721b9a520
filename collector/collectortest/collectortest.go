// Package collectortest starts real collectors and registers apps on pgtest databases, for
// the tests of the collector and of the packages that read what it stores.
package collectortest

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetlens/fleetlens/collector"
	"github.com/fleetlens/fleetlens/collector/auth"
)

// Start starts a collector with cfg on pool, shut down when the test ends.
func Start(t testing.TB, cfg collector.Config, pool *pgxpool.Pool) *collector.Collector {
	t.Helper()
	c, err := collector.NewCollector(cfg, pool)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c.Shutdown(ctx)
	})
	return c
}

// NewApp creates app (if it does not exist yet) and returns a fresh ingest token for it.
func NewApp(t testing.TB, pool *pgxpool.Pool, app string) string {
	t.Helper()
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `INSERT INTO apps (id) VALUES ($1) ON CONFLICT DO NOTHING`, app); err != nil {
		t.Fatal(err)
	}
	tok, err := auth.Mint(ctx, pool, app)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
