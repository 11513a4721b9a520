package dashboards

import "strings"

// Weak-device experience: app start, slow/frozen frames, ANRs and crashes by device tier
// (Sentry device classes: Android low < 4 GiB RAM or < 8 cores, mid if the fastest core is
// < 2500 MHz; iOS low < 2000 MHz, mid < 6 cores) and by model. Frame classes are Android
// vitals': slow 16-700 ms, frozen 700 ms-5 s, ANR > 5 s (the collector classifies them into
// events.class); excessive start is cold >= 5 s, warm >= 2 s, hot >= 1.5 s (spans.slow).

// perSessions is "events matching cond per 100 sessions" by dim, from event_rollups
// (sessions are counted by their session.start events).
func perSessions(dim, cond string) string {
	return strings.NewReplacer("{dim}", dim, "{cond}", cond).Replace(`
	SELECT $__timeGroupAlias(minute, $__interval), {dim} AS metric,
		100.0 * coalesce(sum(event_count) FILTER (WHERE {cond}), 0)
			/ nullif(sum(event_count) FILTER (WHERE name = 'session.start'), 0) AS value
	FROM event_rollups
	WHERE app_id = @APP AND release = @CAND AND $__timeFilter(minute) AND @DIMS
		AND name IN ('session.start', 'app.jank', 'app.anr', 'app.hang', 'app.crash')
	GROUP BY 1, 2
	ORDER BY 1, 2`)
}

func weakDevice() *Dashboard {
	return newDashboard("fleetlens-weak-device", "fleetlens · Weak-device experience",
		"App start, slow/frozen frames, ANRs and crashes by device tier and model (candidate release).",
		[]panelSpec{
			row("App start"),
			{kind: "timeseries", title: "App start p90 by start type", unit: "ms", w: 8,
				desc:       "app.start spans; excessive: cold >= 5 s, warm >= 2 s, hot >= 1.5 s.",
				thresholds: []threshold{{"green", nil}, {"orange", f(2000)}, {"red", f(5000)}}, lines: true,
				sql: `
				SELECT $__timeGroupAlias(start_time, $__interval),
					coalesce(nullif(start_type, ''), 'unknown') AS metric,
					percentile_cont(0.9) WITHIN GROUP (ORDER BY duration_ms) AS value
				FROM spans
				WHERE app_id = @APP AND release = @CAND AND category = 'app_start'
					AND $__timeFilter(start_time) AND @DIMS AND @PLATFORM
				GROUP BY 1, 2
				ORDER BY 1, 2`},
			{kind: "timeseries", title: "Mean app start by device tier", unit: "ms", w: 8,
				sql: `
				SELECT $__timeGroupAlias(minute, $__interval), tier AS metric,
					sum(duration_sum_ms) / nullif(sum(span_count), 0) AS value
				FROM span_rollups
				WHERE app_id = @APP AND release = @CAND AND category = 'app_start'
					AND $__timeFilter(minute) AND @DIMS
				GROUP BY 1, 2
				ORDER BY 1, 2`},
			{kind: "timeseries", title: "Excessive app starts by device tier", unit: "percent", min: f(0), w: 8,
				sql: `
				SELECT $__timeGroupAlias(minute, $__interval), tier AS metric,
					100.0 * sum(slow_count) / nullif(sum(span_count), 0) AS value
				FROM span_rollups
				WHERE app_id = @APP AND release = @CAND AND category = 'app_start'
					AND $__timeFilter(minute) AND @DIMS
				GROUP BY 1, 2
				ORDER BY 1, 2`},
			row("Frames, ANRs and crashes by device tier"),
			{kind: "timeseries", title: "Slow-frame reports per 100 sessions", unit: "short", min: f(0), w: 6,
				desc: "app.jank events classified slow (16-700 ms).",
				sql:  perSessions("tier", "class = 'slow'")},
			{kind: "timeseries", title: "Frozen-frame reports per 100 sessions", unit: "short", min: f(0), w: 6,
				desc: "app.jank events classified frozen (700 ms-5 s).",
				sql:  perSessions("tier", "class = 'frozen'")},
			{kind: "timeseries", title: "ANRs per 100 sessions", unit: "short", min: f(0), w: 6,
				desc: "app.anr events and jank over 5 s (class anr).",
				sql:  perSessions("tier", "class = 'anr'")},
			{kind: "timeseries", title: "Crashes per 100 sessions", unit: "short", min: f(0), w: 6,
				sql: perSessions("tier", "name = 'app.crash'")},
			row("By model"),
			{kind: "table", title: "Models (candidate): sessions, crashes, ANRs, frames, app start", w: 24, h: 10,
				desc: "Whole time range, from the rollups; sorted by sessions.",
				columns: []string{"model", "tier", "sessions", "crashes / 100 sessions", "ANRs / 100 sessions",
					"slow frames / 100 sessions", "frozen frames / 100 sessions", "mean app start ms", "excessive starts %"},
				thresholds: []threshold{{"green", nil}, {"red", f(8)}},
				sql: `
				WITH e AS (
					SELECT model, max(tier) AS tier,
						sum(event_count) FILTER (WHERE name = 'session.start') AS sessions,
						coalesce(sum(event_count) FILTER (WHERE name = 'app.crash'), 0) AS crashes,
						coalesce(sum(event_count) FILTER (WHERE class = 'anr'), 0) AS anrs,
						coalesce(sum(event_count) FILTER (WHERE class = 'slow'), 0) AS slow,
						coalesce(sum(event_count) FILTER (WHERE class = 'frozen'), 0) AS frozen
					FROM event_rollups
					WHERE app_id = @APP AND release = @CAND AND $__timeFilter(minute) AND @DIMS
					GROUP BY model
				), s AS (
					SELECT model, sum(duration_sum_ms) / nullif(sum(span_count), 0) AS start_ms,
						100.0 * sum(slow_count) / nullif(sum(span_count), 0) AS slow_pct
					FROM span_rollups
					WHERE app_id = @APP AND release = @CAND AND category = 'app_start'
						AND $__timeFilter(minute) AND @DIMS
					GROUP BY model
				)
				SELECT e.model AS "model", e.tier AS "tier", e.sessions AS "sessions",
					round(100.0 * e.crashes / nullif(e.sessions, 0), 2) AS "crashes / 100 sessions",
					round(100.0 * e.anrs / nullif(e.sessions, 0), 2) AS "ANRs / 100 sessions",
					round(100.0 * e.slow / nullif(e.sessions, 0), 1) AS "slow frames / 100 sessions",
					round(100.0 * e.frozen / nullif(e.sessions, 0), 1) AS "frozen frames / 100 sessions",
					round(s.start_ms::numeric) AS "mean app start ms",
					round(s.slow_pct::numeric, 1) AS "excessive starts %"
				FROM e LEFT JOIN s USING (model)
				ORDER BY e.sessions DESC NULLS LAST, 1
				LIMIT 100`},
		})
}
