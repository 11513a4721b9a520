package gate_test

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetlens/fleetlens/collector/store"
	"github.com/fleetlens/fleetlens/internal/gate"
	"github.com/fleetlens/fleetlens/internal/pg/pgtest"
)

// seedSQL fills the collector's tables for one release directly in SQL (generate_series),
// then builds its rollups from the raw rows exactly as the collector's store would: the
// benchmark's volume (10 M spans) is far beyond what OTLP ingest in a benchmark can deliver.
// Strata: 8 models (tiers low/mid/high), 2 OS versions, 4 network classes; 10% of spans
// are cold/warm app starts, the rest HTTP; data spread over 6 hours, arriving within a
// minute; crashes 0.5% and ANRs 0.25% of sessions (inside the Android-vitals guardrails).
const seedSpansSQL = `
INSERT INTO spans (start_time, end_time, duration_ms, app_id, trace_id, span_id, parent_span_id, name, kind,
  status_code, status_message, release, model, manufacturer, os_name, os_version, session_id, category,
  net_class, throughput_class, net_type, net_subtype, tier, year_class, http_status, rtt_ms, start_type, slow,
  attributes, resource_hash, span_events, scope, received_at)
SELECT t, t + make_interval(secs => d / 1000), d, $1, decode(md5($2 || g), 'hex'), substr(decode(md5(g || $2), 'hex'), 1, 8), NULL,
  CASE WHEN g % 10 = 0 THEN 'app.start' ELSE 'GET' END, 3, CASE WHEN g % 97 = 0 THEN 2 ELSE 1 END, '', $2,
  (ARRAY['m0','m1','m2','m3','m4','m5','m6','m7'])[g % 8 + 1], 'acme', 'Android', (ARRAY['13','14'])[g % 2 + 1],
  'sess-' || (g / 5), CASE WHEN g % 10 = 0 THEN 'app_start' ELSE 'http' END,
  (ARRAY['4g','3g','2g','slow-2g'])[(g / 8) % 4 + 1], 'good', 'cell', 'lte',
  (ARRAY['low','low','mid','mid','mid','high','high','high'])[g % 8 + 1], 2016, 200,
  CASE WHEN g % 10 = 0 THEN NULL ELSE d * 0.6 END,
  CASE WHEN g % 10 = 0 THEN (ARRAY['cold','warm'])[(g / 10) % 2 + 1] ELSE '' END, false,
  '{}', decode(md5('res' || (g % 8)), 'hex'), NULL, 'bench', t + make_interval(secs => (g % 60))
FROM (SELECT g, $3::timestamptz + make_interval(secs => g * 21600.0 / $4) AS t,
             (CASE WHEN g % 10 = 0 THEN 800 ELSE 150 * ((g / 8) % 4 + 1) END) * (0.5 + random()) * $5 AS d
      FROM generate_series(1, $4::bigint) g) s`

const seedEventsSQL = `
INSERT INTO events (time, app_id, record_hash, name, class, duration_ms, severity, severity_text, body, trace_id, span_id,
  release, model, manufacturer, os_name, os_version, session_id, net_class, net_type, tier, year_class, attributes,
  resource_hash, scope, received_at)
SELECT t, $1, decode(md5('e' || $2 || g), 'hex'),
  CASE WHEN g % 5 = 0 THEN 'session.start' WHEN g % 997 = 1 THEN 'app.crash' ELSE 'app.jank' END,
  CASE WHEN g % 5 = 0 OR g % 997 = 1 THEN '' WHEN g % 1999 = 2 THEN 'anr' WHEN g % 7 = 3 THEN 'frozen' ELSE 'slow' END,
  NULL, 9, 'INFO', '', NULL, NULL, $2,
  (ARRAY['m0','m1','m2','m3','m4','m5','m6','m7'])[g % 8 + 1], 'acme', 'Android', (ARRAY['13','14'])[g % 2 + 1],
  'sess-' || (g / 5), (ARRAY['4g','3g','2g','slow-2g'])[(g / 8) % 4 + 1], 'cell',
  (ARRAY['low','low','mid','mid','mid','high','high','high'])[g % 8 + 1], 2016, '{}', decode(md5('res' || (g % 8)), 'hex'), 'bench',
  t + make_interval(secs => (g % 60))
FROM (SELECT g, $3::timestamptz + make_interval(secs => g * 21600.0 / $4) AS t FROM generate_series(1, $4::bigint) g) s`

const rollupSQL = `
INSERT INTO span_rollups SELECT date_trunc('minute', start_time), app_id, release, model, os_version, net_class, tier, category,
  count(*), count(*) FILTER (WHERE status_code = 2 OR http_status >= 500), count(*) FILTER (WHERE slow),
  sum(duration_ms), max(duration_ms)
FROM spans WHERE app_id = $1 AND release = $2 GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;
`
const eventRollupSQL = `
INSERT INTO event_rollups SELECT date_trunc('minute', time), app_id, release, model, os_version, net_class, tier, name, class, count(*)
FROM events WHERE app_id = $1 AND release = $2 GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9`

// naiveSQL is the baseline: one query over the raw tables computing the same per-stratum
// figures (percentiles, error, crash and ANR counts) with no rollups and no sampling.
const naiveSQL = `
WITH s AS (
  SELECT release, net_class, tier, count(*) AS n,
         count(*) FILTER (WHERE status_code = 2 OR http_status >= 500) AS errs,
         percentile_cont(ARRAY[0.5, 0.9, 0.99]) WITHIN GROUP (ORDER BY rtt_ms) FILTER (WHERE category = 'http') AS ttfb,
         percentile_cont(ARRAY[0.5, 0.9, 0.99]) WITHIN GROUP (ORDER BY duration_ms) FILTER (WHERE category = 'http') AS total,
         percentile_cont(ARRAY[0.5, 0.9, 0.99]) WITHIN GROUP (ORDER BY duration_ms) FILTER (WHERE start_type = 'cold') AS cold
  FROM spans WHERE app_id = $1 AND release IN ($2, $3) GROUP BY 1, 2, 3),
e AS (
  SELECT release, net_class, tier, count(*) FILTER (WHERE name = 'session.start') AS sessions,
         count(*) FILTER (WHERE name = 'app.crash') AS crashes, count(*) FILTER (WHERE class = 'anr') AS anrs,
         count(*) FILTER (WHERE class = 'frozen') AS frozen
  FROM events WHERE app_id = $1 AND release IN ($2, $3) GROUP BY 1, 2, 3)
SELECT count(*) FROM s FULL JOIN e USING (release, net_class, tier)`

func seedRelease(b *testing.B, pool *pgxpool.Pool, app, rel string, spans, events int64, slow float64, from time.Time) {
	ctx := context.Background()
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO releases (app_id, version) VALUES ($1, $2)`, []any{app, rel}},
		{seedSpansSQL, []any{app, rel, from, spans, slow}},
		{seedEventsSQL, []any{app, rel, from, events}},
		{rollupSQL, []any{app, rel}},
		{eventRollupSQL, []any{app, rel}},
	} {
		if _, err := pool.Exec(ctx, q.sql, q.args...); err != nil {
			b.Fatalf("seed %s: %v", rel, err)
		}
	}
}

// BenchmarkGate judges 10 M spans + 1 M events per release (FLEETLENS_GATE_BENCH_SPANS
// scales it) and reports the ratio against a naive single-query scan of the raw tables,
// measured in the same run.
func BenchmarkGate(b *testing.B) {
	spans := int64(10_000_000)
	if v, err := strconv.ParseInt(os.Getenv("FLEETLENS_GATE_BENCH_SPANS"), 10, 64); err == nil && v > 0 {
		spans = v
	}
	events := spans / 10
	pool := pgtest.New(b)
	ctx := context.Background()
	now := time.Now()
	if err := (store.Partitions{Pool: pool, Retention: 48 * time.Hour, Ahead: 1}).Maintain(ctx, now); err != nil {
		b.Fatal(err)
	}
	const app = "com.bench.app"
	if _, err := pool.Exec(ctx, `INSERT INTO apps (id) VALUES ($1)`, app); err != nil {
		b.Fatal(err)
	}
	from := now.Add(-7 * time.Hour)
	start := time.Now()
	seedRelease(b, pool, app, "1.0.0", spans, events, 1.0, from)
	seedRelease(b, pool, app, "1.1.0", spans, events, 1.05, from)
	if _, err := pool.Exec(ctx, `ANALYZE`); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded 2 x (%d spans + %d events) in %s", spans, events, time.Since(start).Round(time.Second))

	t0 := time.Now()
	var n int64
	if err := pool.QueryRow(ctx, naiveSQL, app, "1.0.0", "1.1.0").Scan(&n); err != nil {
		b.Fatal(err)
	}
	naive := time.Since(t0)

	pol := gate.DefaultPolicy()
	var r *gate.Report
	b.ResetTimer()
	for b.Loop() {
		in, err := gate.Load(ctx, pool, gate.Request{App: app, Candidate: "1.1.0", Baseline: "1.0.0", Now: now}, pol)
		if err != nil {
			b.Fatal(err)
		}
		r = gate.Judge(in, pol)
	}
	b.StopTimer()
	per := b.Elapsed() / time.Duration(b.N)
	b.ReportMetric(per.Seconds(), "gate-s")
	b.ReportMetric(naive.Seconds(), "naive-scan-s")
	b.ReportMetric(naive.Seconds()/per.Seconds(), "speedup-x")
	b.Logf("verdict %s, %d tests; gate %s vs naive scan %s", r.Verdict, r.Method.Tests, per.Round(time.Millisecond), naive.Round(time.Millisecond))
}
