package schedule

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Querier is the part of pgx a read needs (a pool, a conn or a tx).
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// TestKey names a test of an app.
type TestKey struct{ Class, Method string }

// HistoryConfig says how to estimate from farm_test_history.
type HistoryConfig struct {
	Percentile float64       // of durations over the recent runs; default 0.9
	Window     int           // recent runs per test; default 20
	Default    time.Duration // for tests never seen; default 30s
}

func (h HistoryConfig) withDefaults() HistoryConfig {
	if h.Percentile <= 0 || h.Percentile > 1 {
		h.Percentile = 0.9
	}
	if h.Window <= 0 {
		h.Window = 20
	}
	if h.Default <= 0 {
		h.Default = 30 * time.Second
	}
	return h
}

// Stats is what history says about one test.
type Stats struct {
	Expected time.Duration
	Seen     bool
	// FailRate is the per-attempt failure probability f of a test that has been flaky in its
	// window (passes and failures in one run); 0 for tests never flaky (their failures are
	// real regressions, which copies must not hide).
	FailRate float64
	Runs     int
}

// History reads expected durations (percentile over the last Window runs of each test) and
// flakiness for an app's tests in one query.
func History(ctx context.Context, q Querier, appID string, cfg HistoryConfig) (map[TestKey]Stats, error) {
	cfg = cfg.withDefaults()
	rows, err := q.Query(ctx, `
		WITH recent AS (
			SELECT class, method, duration_ms, status, attempts, failures,
			       row_number() OVER (PARTITION BY class, method ORDER BY at DESC) AS rn
			  FROM farm_test_history WHERE app_id = $1)
		SELECT class, method,
		       percentile_cont($2::float8) WITHIN GROUP (ORDER BY duration_ms) FILTER (WHERE duration_ms IS NOT NULL),
		       count(*),
		       bool_or(status = 'flaky'),
		       sum(failures)::float8 / nullif(sum(attempts), 0)
		  FROM recent WHERE rn <= $3
		 GROUP BY class, method`, appID, cfg.Percentile, cfg.Window)
	if err != nil {
		return nil, fmt.Errorf("read test history of %s: %w", appID, err)
	}
	defer rows.Close()
	out := map[TestKey]Stats{}
	for rows.Next() {
		var k TestKey
		var p, rate *float64
		var n int
		var flaky *bool
		if err := rows.Scan(&k.Class, &k.Method, &p, &n, &flaky, &rate); err != nil {
			return nil, fmt.Errorf("read test history of %s: %w", appID, err)
		}
		s := Stats{Expected: cfg.Default, Runs: n}
		if p != nil {
			s.Expected = time.Duration(*p * float64(time.Millisecond))
			s.Seen = true
		}
		if flaky != nil && *flaky && rate != nil {
			s.FailRate = *rate
		}
		out[k] = s
	}
	return out, rows.Err()
}
