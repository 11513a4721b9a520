package dashboards

// Device farm: fleet state by host, pass rate per (model, OS), flaky tests, run durations
// against the scheduler's expectations and device health, over the farm tables of
// internal/pg/migrations/003_farm.sql. Attempts with status 'infra' (device lost, install
// failed, ...) never count against a test's pass rate there, so they do not here either.

// farmDevice filters a devices row (alias d) by the platform and model selection.
const farmDevice = `d.platform IN (${platform}) AND d.model IN (${model})`

// candidateRuns filters farm_runs (alias r) to the candidate of the selected app.
const candidateRuns = `r.app_id = ${app:sqlstring} AND r.release = ${release:sqlstring} AND r.platform IN (${platform})`

func deviceFarm() *Dashboard {
	return newDashboard("fleetlens-device-farm", "fleetlens · Device farm",
		"Fleet state by host, pass rate per (model, OS), flaky tests, run durations vs expected, device health.",
		[]panelSpec{
			row("Fleet"),
			{kind: "table", title: "Fleet state by host", w: 24, h: 7,
				desc:    "Current device states (devices table); agent last seen is the host's heartbeat.",
				columns: []string{"host", "idle", "busy", "draining", "offline", "quarantined", "unhealthy", "devices", "agent last seen"},
				sql: `
				SELECT coalesce(h.hostname, d.host_id, '(no host)') AS "host",
					count(*) FILTER (WHERE d.state = 'idle') AS "idle",
					count(*) FILTER (WHERE d.state = 'busy') AS "busy",
					count(*) FILTER (WHERE d.state = 'draining') AS "draining",
					count(*) FILTER (WHERE d.state = 'offline') AS "offline",
					count(*) FILTER (WHERE d.state = 'quarantined') AS "quarantined",
					count(*) FILTER (WHERE NOT d.health_ok) AS "unhealthy",
					count(*) AS "devices",
					max(h.last_seen) AS "agent last seen"
				FROM devices d LEFT JOIN hosts h ON h.id = d.host_id
				WHERE ` + farmDevice + `
				GROUP BY 1
				ORDER BY 1`},
			row("Compatibility (candidate)"),
			{kind: "table", title: "Pass rate per (model, OS)", w: 12, h: 10,
				desc:       "Runs of the candidate created in the time range; a test is flaky on a group when it both failed and passed there.",
				columns:    []string{"model", "OS", "tests", "passed", "failed", "flaky", "pass rate %"},
				thresholds: []threshold{{"red", nil}, {"orange", f(90)}, {"green", f(99)}},
				sql: `
				SELECT c.model AS "model", c.os_version AS "OS", sum(c.tests) AS "tests",
					sum(c.passed) AS "passed", sum(c.failed) AS "failed", sum(c.flaky) AS "flaky",
					round(100.0 * sum(c.passed) / nullif(sum(c.passed + c.failed + c.flaky), 0), 1) AS "pass rate %"
				FROM farm_compat c JOIN farm_runs r ON r.id = c.run_id
				WHERE ` + candidateRuns + ` AND $__timeFilter(r.created_at) AND c.model IN (${model})
				GROUP BY 1, 2
				ORDER BY 7 ASC NULLS LAST, 1, 2`},
			{kind: "timeseries", title: "Attempt pass rate by OS version", unit: "percent", min: f(0), max: f(100), w: 12, h: 10,
				desc: "passed / (passed + failed + error) attempts; infrastructure failures excluded.",
				sql: `
				SELECT $__timeGroupAlias(a.finished_at, $__interval), a.os_version AS metric,
					100.0 * count(*) FILTER (WHERE a.status = 'passed')
						/ nullif(count(*) FILTER (WHERE a.status IN ('passed', 'failed', 'error')), 0) AS value
				FROM farm_attempts a JOIN farm_runs r ON r.id = a.run_id
				WHERE ` + candidateRuns + ` AND a.model IN (${model}) AND $__timeFilter(a.finished_at)
				GROUP BY 1, 2
				ORDER BY 1, 2`},
			{kind: "table", title: "Flaky tests", w: 12, h: 9,
				desc:    "Per test and network profile over every release of the app (farm_test_history).",
				columns: []string{"test", "network profile", "runs", "flaky runs", "flake rate %", "last flaky"},
				sql: `
				SELECT class || '#' || method AS "test", coalesce(nullif(profile, ''), 'unshaped') AS "network profile",
					count(*) AS "runs", count(*) FILTER (WHERE status = 'flaky') AS "flaky runs",
					round(100.0 * count(*) FILTER (WHERE status = 'flaky') / count(*), 1) AS "flake rate %",
					max(at) FILTER (WHERE status = 'flaky') AS "last flaky"
				FROM farm_test_history
				WHERE app_id = ${app:sqlstring} AND $__timeFilter(at)
				GROUP BY class, method, profile
				HAVING count(*) FILTER (WHERE status = 'flaky') > 0
				ORDER BY 5 DESC, 3 DESC
				LIMIT 50`},
			{kind: "timeseries", title: "Infrastructure failures by reason", unit: "short", w: 12, h: 9,
				desc:   "Attempts with status infra: they are re-queued and never fail a test.",
				custom: map[string]any{"drawStyle": "bars", "stacking": map[string]any{"mode": "normal"}, "fillOpacity": 60},
				sql: `
				SELECT $__timeGroupAlias(a.finished_at, $__interval), coalesce(nullif(a.infra_reason, ''), 'other') AS metric,
					count(*)::float8 AS value
				FROM farm_attempts a JOIN farm_runs r ON r.id = a.run_id
				WHERE ` + candidateRuns + ` AND a.status = 'infra' AND a.model IN (${model}) AND $__timeFilter(a.finished_at)
				GROUP BY 1, 2
				ORDER BY 1, 2`},
			row("Durations"),
			{kind: "timeseries", title: "Run duration vs expected", unit: "s", w: 12,
				desc: "Per finished run of the candidate: wall clock, the sum of its tests' durations and the sum the scheduler expected.",
				sql: `
				SELECT $__timeGroupAlias(r.finished_at, $__interval), v.metric, avg(v.value) AS value
				FROM farm_runs r
				CROSS JOIN LATERAL (
					SELECT sum(t.duration_ms) / 1000.0 AS actual, sum(t.expected_ms) / 1000.0 AS expected
					FROM farm_run_tests t WHERE t.run_id = r.id
				) s
				CROSS JOIN LATERAL (VALUES
					('wall clock', extract(epoch FROM r.finished_at - r.started_at)::float8),
					('test time', s.actual::float8),
					('expected test time', s.expected::float8)
				) v(metric, value)
				WHERE ` + candidateRuns + ` AND r.finished_at IS NOT NULL AND r.started_at IS NOT NULL
					AND $__timeFilter(r.finished_at)
				GROUP BY 1, 2
				ORDER BY 1, 2`},
			{kind: "table", title: "Tests slower than expected", w: 12,
				columns:    []string{"test", "network profile", "runs", "median ms", "expected ms", "ratio"},
				thresholds: []threshold{{"green", nil}, {"orange", f(1.5)}, {"red", f(3)}},
				sql: `
				SELECT t.class || '#' || t.method AS "test", coalesce(nullif(t.profile, ''), 'unshaped') AS "network profile",
					count(*) AS "runs",
					percentile_cont(0.5) WITHIN GROUP (ORDER BY t.duration_ms) AS "median ms",
					max(t.expected_ms) AS "expected ms",
					round((percentile_cont(0.5) WITHIN GROUP (ORDER BY t.duration_ms) / nullif(max(t.expected_ms), 0))::numeric, 2) AS "ratio"
				FROM farm_run_tests t JOIN farm_runs r ON r.id = t.run_id
				WHERE ` + candidateRuns + ` AND t.duration_ms IS NOT NULL AND $__timeFilter(r.created_at)
				GROUP BY t.class, t.method, t.profile
				ORDER BY 6 DESC NULLS LAST, 1
				LIMIT 50`},
			row("Device health"),
			{kind: "status-history", title: "Device temperature heat map", unit: "celsius", w: 12, h: 10,
				desc:       "Mean battery temperature per device and interval (farm_device_health).",
				thresholds: []threshold{{"blue", nil}, {"green", f(25)}, {"orange", f(40)}, {"red", f(45)}},
				sql: `
				SELECT $__timeGroupAlias(h.at, $__interval), d.model || ' ' || h.serial AS metric,
					avg(h.temperature_c)::float8 AS value
				FROM farm_device_health h JOIN devices d ON d.serial = h.serial
				WHERE $__timeFilter(h.at) AND h.temperature_c IS NOT NULL AND ` + farmDevice + `
				GROUP BY 1, 2
				ORDER BY 1, 2`},
			{kind: "status-history", title: "Battery level heat map", unit: "percent", w: 12, h: 10,
				desc:       "Minimum battery level per device and interval (farm_device_health).",
				thresholds: []threshold{{"red", nil}, {"orange", f(20)}, {"green", f(50)}},
				sql: `
				SELECT $__timeGroupAlias(h.at, $__interval), d.model || ' ' || h.serial AS metric,
					min(h.battery_level)::float8 AS value
				FROM farm_device_health h JOIN devices d ON d.serial = h.serial
				WHERE $__timeFilter(h.at) AND h.battery_level IS NOT NULL AND ` + farmDevice + `
				GROUP BY 1, 2
				ORDER BY 1, 2`},
			row("Runs"),
			{kind: "table", title: "Recent runs", w: 24, h: 8,
				columns: []string{"run", "release", "baseline", "state", "created", "duration s", "tests", "passed", "failed", "flaky", "errored"},
				sql: `
				SELECT r.id AS "run", r.release AS "release", r.baseline_release AS "baseline", r.state AS "state",
					r.created_at AS "created",
					round(extract(epoch FROM coalesce(r.finished_at, now()) - r.started_at)::numeric, 1) AS "duration s",
					p.total_tests AS "tests", p.passed AS "passed", p.failed AS "failed", p.flaky AS "flaky", p.errored AS "errored"
				FROM farm_runs r JOIN farm_run_progress p ON p.run_id = r.id
				WHERE r.app_id = ${app:sqlstring} AND r.platform IN (${platform}) AND $__timeFilter(r.created_at)
				ORDER BY r.created_at DESC
				LIMIT 50`},
		})
}
