package collector_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/fleetlens/fleetlens/collector"
	"github.com/fleetlens/fleetlens/collector/collectortest"
	"github.com/fleetlens/fleetlens/internal/pg/pgtest"
	"github.com/jackc/pgx/v5/pgxpool"
)

// TestMain also lets the test binary act as a separate collector or load process
// (FLT_ROLE), so fault tests can kill -9 a real collector process and benchmarks can load
// it from outside.
func TestMain(m *testing.M) {
	switch os.Getenv("FLT_ROLE") {
	case "collector":
		os.Exit(childCollector())
	case "loader":
		os.Exit(childLoader())
	}
	pgtest.Main(m)
}

func testConfig() collector.Config {
	cfg := collector.DefaultConfig()
	cfg.HTTP.Endpoint = "127.0.0.1:0"
	cfg.GRPC.Endpoint = "127.0.0.1:0"
	cfg.Admin.Endpoint = "127.0.0.1:0"
	cfg.Store.Retention = 48 * time.Hour // fewer partitions to create per test database
	cfg.Store.PartitionsAhead = 1
	cfg.Limits.RetryAfter = time.Second
	cfg.Limits.RequestTimeout = 5 * time.Second
	return cfg
}

var (
	startCollector = collectortest.Start
	newApp         = collectortest.NewApp // creates app and returns a fresh ingest token for it
)

func count(t testing.TB, pool *pgxpool.Pool, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
