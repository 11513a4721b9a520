package dashboards

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetlens/fleetlens/collector/enrich"
	"github.com/fleetlens/fleetlens/collector/store"
	"github.com/fleetlens/fleetlens/internal/pg/pgtest"
)

// BenchmarkErrorRatePanel measures the "Request error rate by network class" panel, which
// reads span_rollups, against the same result computed from the raw spans (the baseline,
// measured in the same run on the same data): the ratio is what reading the rollups buys.
func BenchmarkErrorRatePanel(b *testing.B) {
	pool := pgtest.New(b)
	ctx := context.Background()
	now := time.Now().UTC()
	r := Range{From: now.Add(-6 * time.Hour).Truncate(time.Minute), To: now.Truncate(time.Minute), Interval: "5m"}
	spans := seedBulk(b, pool, r.From, now.Add(-time.Minute), 6000)

	d := weakNetwork()
	var panelSQL string
	for _, p := range d.Panels {
		if p.Title == "Request error rate by network class" {
			panelSQL = p.Targets[0].RawSQL
		}
	}
	sel := Selection{VarApp: {seedApp}, VarRelease: {seedCand}, VarCompareRelease: {seedBase},
		VarPlatform: {"$__all"}, VarNetClass: {"$__all"}, VarTier: {"$__all"}, VarModel: modelsOf(seedDevices)}
	rollupSQL, err := Render(panelSQL, r, d.Templating.List, sel)
	if err != nil {
		b.Fatal(err)
	}
	rawSQL, err := Render(`
		SELECT $__timeGroupAlias(start_time, $__interval), net_class AS metric,
			100.0 * count(*) FILTER (WHERE status_code = 2 OR http_status >= 500) / nullif(count(*), 0) AS value
		FROM spans
		WHERE app_id = ${app:sqlstring} AND release = ${release:sqlstring} AND category = 'http'
			AND $__timeFilter(start_time) AND model IN (${model}) AND net_class IN (${net_class}) AND tier IN (${tier})
		GROUP BY 1, 2 ORDER BY 1, 2`, r, d.Templating.List, sel)
	if err != nil {
		b.Fatal(err)
	}
	run := func(sql string) int {
		rows, err := pool.Query(ctx, sql)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for rows.Next() {
			n++
		}
		if rows.Err() != nil || n == 0 {
			b.Fatalf("%d rows, %v", n, rows.Err())
		}
		return n
	}
	if a, c := run(rollupSQL), run(rawSQL); a != c {
		b.Fatalf("rollup panel returned %d rows, raw spans %d: they must agree", a, c)
	}
	const baselineRuns = 20
	start := time.Now()
	for range baselineRuns {
		run(rawSQL)
	}
	raw := time.Since(start) / baselineRuns

	b.ResetTimer()
	start = time.Now()
	for b.Loop() {
		run(rollupSQL)
	}
	rollup := time.Since(start) / time.Duration(max(b.N, 1))
	b.ReportMetric(float64(raw.Microseconds()), "raw-µs/op")
	b.ReportMetric(float64(raw)/float64(max(rollup, 1)), "x-faster-than-raw")
	b.ReportMetric(float64(spans), "spans")
}

// seedBulk stores sessions through the enricher and the writer in batches of 100 sessions.
func seedBulk(b *testing.B, pool *pgxpool.Pool, from, to time.Time, sessions int) int {
	b.Helper()
	ctx := context.Background()
	now := time.Now()
	if err := (store.Partitions{Pool: pool, Retention: 48 * time.Hour, Ahead: 2}).Maintain(ctx, now); err != nil {
		b.Fatal(err)
	}
	w := store.NewWriter(pool, store.WriterConfig{}, nil)
	w.Start(ctx)
	defer w.Shutdown(context.Background())
	en := enrich.New(enrich.DefaultConfig())
	step := to.Sub(from) / time.Duration(sessions+1)
	total := 0
	var spans []store.SpanRow
	var events []store.EventRow
	for n := 1; n <= sessions; n++ {
		dev := seedDevices[n%len(seedDevices)]
		rel := []string{seedBase, seedCand}[n%2]
		td, ld := session(dev, rel, fmt.Sprintf("b-%d", n), uint64(n), seedClasses[n%len(seedClasses)],
			seedCarriers[n%len(seedCarriers)], n%8, from.Add(time.Duration(n)*step))
		s, _ := en.Traces(seedApp, td, now)
		e, _ := en.Logs(seedApp, ld, now)
		spans, events = append(spans, s...), append(events, e...)
		if n%100 == 0 || n == sessions {
			if err := w.Write(ctx, spans, events); err != nil {
				b.Fatal(err)
			}
			total += len(spans)
			spans, events = spans[:0], events[:0]
		}
	}
	return total
}
