package dashboards

// Weak-network experience: how requests behave by effective connection type (Chromium NQE:
// slow-2g >= 2010 ms HTTP RTT, 2g >= 1420 ms, 3g >= 272 ms, else 4g) and by carrier, and
// the candidate against the baseline. Percentiles need the raw spans (the rollups keep
// counts, sums and maxima only); counts, error rates and means read span_rollups.

// carrier is the carrier a span was sent over: the span's network.carrier.name (semconv),
// else its resource's (stored once per app in resources, 002_collector.sql), else unknown.
const carrier = `coalesce(nullif(attributes->>'network.carrier.name', ''),
		nullif((SELECT r.attributes->>'network.carrier.name' FROM resources r
			WHERE r.app_id = spans.app_id AND r.hash = spans.resource_hash), ''), 'unknown')`

// httpP90 is the p90 HTTP span duration per interval, one series per metric, of the
// releases release selects ("= @CAND" or "IN @BOTH").
func httpP90(metric, release string) string {
	return `
				SELECT $__timeGroupAlias(start_time, $__interval), ` + metric + ` AS metric,
					percentile_cont(0.9) WITHIN GROUP (ORDER BY duration_ms) AS value
				FROM spans
				WHERE app_id = @APP AND release ` + release + ` AND category = 'http'
					AND $__timeFilter(start_time) AND @DIMS AND @PLATFORM
				GROUP BY 1, 2
				ORDER BY 1, 2`
}

// httpErrorRate is the share of HTTP spans in error per interval (span_rollups), one
// series per metric, of the releases release selects.
func httpErrorRate(metric, release string) string {
	return `
				SELECT $__timeGroupAlias(minute, $__interval), ` + metric + ` AS metric,
					100.0 * sum(error_count) / nullif(sum(span_count), 0) AS value
				FROM span_rollups
				WHERE app_id = @APP AND release ` + release + ` AND category = 'http'
					AND $__timeFilter(minute) AND @DIMS
				GROUP BY 1, 2
				ORDER BY 1, 2`
}

func weakNetwork() *Dashboard {
	return newDashboard("fleetlens-weak-network", "fleetlens · Weak-network experience",
		"HTTP request latency and errors by effective network class and carrier; candidate vs baseline.",
		[]panelSpec{
			row("Candidate release"),
			{kind: "timeseries", title: "Request latency p50 / p90 / p99", unit: "ms",
				desc: "Client-measured HTTP span duration of the candidate, all selected network classes.",
				sql: `
				SELECT s.time, v.metric, v.value FROM (
					SELECT $__timeGroupAlias(start_time, $__interval),
						percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms) AS p50,
						percentile_cont(0.9) WITHIN GROUP (ORDER BY duration_ms) AS p90,
						percentile_cont(0.99) WITHIN GROUP (ORDER BY duration_ms) AS p99
					FROM spans
					WHERE app_id = @APP AND release = @CAND AND category = 'http'
						AND $__timeFilter(start_time) AND @DIMS AND @PLATFORM
					GROUP BY 1
				) s CROSS JOIN LATERAL (VALUES ('p50', s.p50), ('p90', s.p90), ('p99', s.p99)) v(metric, value)
				ORDER BY 1, 2`},
			{kind: "timeseries", title: "Request latency p90 by network class", unit: "ms",
				desc: "Effective connection type from measured request RTT (Chromium NQE thresholds).",
				sql:  httpP90("net_class", "= @CAND")},
			{kind: "timeseries", title: "Request error rate by network class", unit: "percent", min: f(0),
				desc: "Share of HTTP spans with OTLP status error or an HTTP 5xx (span_rollups).",
				sql:  httpErrorRate("net_class", "= @CAND")},
			{kind: "timeseries", title: "Requests by network class", unit: "short",
				desc:   "HTTP spans per interval (span_rollups).",
				custom: map[string]any{"stacking": map[string]any{"mode": "normal"}, "fillOpacity": 30},
				sql: `
				SELECT $__timeGroupAlias(minute, $__interval), net_class AS metric,
					sum(span_count)::float8 AS value
				FROM span_rollups
				WHERE app_id = @APP AND release = @CAND AND category = 'http'
					AND $__timeFilter(minute) AND @DIMS
				GROUP BY 1, 2
				ORDER BY 1, 2`},
			{kind: "timeseries", title: "Request latency p90 by carrier", unit: "ms",
				desc: "network.carrier.name of the span, else of the resource.",
				sql:  httpP90(carrier, "= @CAND")},
			{kind: "timeseries", title: "Request error rate by carrier", unit: "percent", min: f(0),
				sql: `
				SELECT $__timeGroupAlias(start_time, $__interval), ` + carrier + ` AS metric,
					100.0 * count(*) FILTER (WHERE status_code = 2 OR http_status >= 500) / count(*) AS value
				FROM spans
				WHERE app_id = @APP AND release = @CAND AND category = 'http'
					AND $__timeFilter(start_time) AND @DIMS AND @PLATFORM
				GROUP BY 1, 2
				ORDER BY 1, 2`},
			row("Candidate vs baseline"),
			{kind: "timeseries", title: "Request latency p90: candidate vs baseline", unit: "ms",
				sql: httpP90("@LABEL", "IN @BOTH")},
			{kind: "timeseries", title: "Request error rate by network class: candidate vs baseline", unit: "percent", min: f(0),
				sql: httpErrorRate("(@LABEL) || ' · ' || net_class", "IN @BOTH")},
			{kind: "table", title: "Network classes: candidate vs baseline", w: 24,
				desc:    "Whole time range; mean and max from span_rollups.",
				columns: []string{"network class", "release", "requests", "error rate %", "mean ms", "max ms"},
				sql: `
				SELECT net_class AS "network class", @LABEL AS "release",
					sum(span_count) AS "requests",
					round((100.0 * sum(error_count) / nullif(sum(span_count), 0))::numeric, 2) AS "error rate %",
					round((sum(duration_sum_ms) / nullif(sum(span_count), 0))::numeric, 1) AS "mean ms",
					round(max(duration_max_ms)::numeric, 1) AS "max ms"
				FROM span_rollups
				WHERE app_id = @APP AND release IN @BOTH AND category = 'http'
					AND $__timeFilter(minute) AND @DIMS
				GROUP BY net_class, release
				ORDER BY array_position(ARRAY['slow-2g', '2g', '3g', '4g', 'unknown'], net_class), 2`},
		})
}
