package dashboards

import "strings"

// Release health: the candidate and the baseline against Google Play's Android-vitals bad
// behaviour thresholds: user-perceived crash rate 1.09% overall and 8% on any one phone
// model; user-perceived ANR rate 0.47% overall and 8% per model. Rates here are affected
// sessions / sessions: the numerator counts distinct sessions among the (rare) crash/ANR
// events, the denominator sums session.start events from event_rollups.

// Guardrails from Google Play Android vitals (SPEC §4).
const (
	CrashRateGuardrail  = 1.09
	ANRRateGuardrail    = 0.47
	PerModelGuardrail   = 8.0
	crashCond           = "name = 'app.crash'"
	anrCond             = "class = 'anr'"
	affectedEventsNames = "name IN ('app.crash', 'app.anr', 'app.jank')"
)

// affected counts the distinct sessions whose events match cond; events without a session
// id count one each, so a client that sends no session.id is not hidden.
func affected(cond string) string {
	return "count(DISTINCT nullif(session_id, '')) FILTER (WHERE " + cond + ") + count(*) FILTER (WHERE session_id = '' AND " + cond + ")"
}

// rateOverTime is the affected-session rate by release per interval.
func rateOverTime(cond string) string {
	return strings.NewReplacer("{affected}", affected(cond)).Replace(`
	WITH s AS (
		SELECT $__timeGroupAlias(minute, $__interval), release, sum(event_count) AS sessions
		FROM event_rollups
		WHERE app_id = @APP AND release IN @BOTH AND name = 'session.start'
			AND $__timeFilter(minute) AND @DIMS
		GROUP BY 1, 2
	), c AS (
		SELECT $__timeGroupAlias(time, $__interval), release, {affected} AS affected
		FROM events
		WHERE app_id = @APP AND release IN @BOTH AND ` + affectedEventsNames + `
			AND $__timeFilter(time) AND @DIMS AND @PLATFORM
		GROUP BY 1, 2
	)
	SELECT s.time, @LABEL AS metric, 100.0 * coalesce(c.affected, 0) / nullif(s.sessions, 0) AS value
	FROM s LEFT JOIN c USING (time, release)
	ORDER BY 1, 2`)
}

// rateStat is the same over the whole range, one row per release; crashFree turns the
// crash rate into crash-free sessions.
func rateStat(cond string, crashFree bool) string {
	value := "100.0 * coalesce(c.affected, 0) / nullif(s.sessions, 0)"
	if crashFree {
		value = "100.0 - " + value
	}
	return strings.NewReplacer("{affected}", affected(cond), "{value}", value).Replace(`
	WITH s AS (
		SELECT release, sum(event_count) AS sessions
		FROM event_rollups
		WHERE app_id = @APP AND release IN @BOTH AND name = 'session.start'
			AND $__timeFilter(minute) AND @DIMS
		GROUP BY 1
	), c AS (
		SELECT release, {affected} AS affected
		FROM events
		WHERE app_id = @APP AND release IN @BOTH AND ` + affectedEventsNames + `
			AND $__timeFilter(time) AND @DIMS AND @PLATFORM
		GROUP BY 1
	)
	SELECT @LABEL AS metric, {value} AS value
	FROM s LEFT JOIN c USING (release)
	ORDER BY 1`)
}

func releaseHealth() *Dashboard {
	crashT := []threshold{{"green", nil}, {"red", f(CrashRateGuardrail)}}
	anrT := []threshold{{"green", nil}, {"red", f(ANRRateGuardrail)}}
	return newDashboard("fleetlens-release-health", "fleetlens · Release health",
		"Crash-free sessions, crash and ANR rates against the Android-vitals guardrails (1.09% / 0.47% overall, 8% per model), latest gate verdicts.",
		append([]panelSpec{
			row("Candidate vs baseline (whole time range)"),
			{kind: "stat", title: "Crash-free sessions", unit: "percent", decimals: i(2), w: 6, h: 5,
				columns:    []string{"metric", "value"},
				thresholds: []threshold{{"red", nil}, {"green", f(100 - CrashRateGuardrail)}},
				sql:        rateStat(crashCond, true)},
			{kind: "stat", title: "User-perceived crash rate (guardrail 1.09%)", unit: "percent", decimals: i(2), w: 6, h: 5,
				columns: []string{"metric", "value"}, thresholds: crashT, sql: rateStat(crashCond, false)},
			{kind: "stat", title: "User-perceived ANR rate (guardrail 0.47%)", unit: "percent", decimals: i(2), w: 6, h: 5,
				columns: []string{"metric", "value"}, thresholds: anrT, sql: rateStat(anrCond, false)},
			{kind: "stat", title: "Sessions", unit: "short", w: 6, h: 5,
				columns: []string{"metric", "value"},
				sql: `
				SELECT @LABEL AS metric, sum(event_count) AS value
				FROM event_rollups
				WHERE app_id = @APP AND release IN @BOTH AND name = 'session.start'
					AND $__timeFilter(minute) AND @DIMS
				GROUP BY release
				ORDER BY 1`},
			row("Over time"),
			{kind: "timeseries", title: "User-perceived crash rate vs 1.09% guardrail", unit: "percent", min: f(0),
				desc:       "Sessions with a crash / sessions, per interval. The red band starts at the Android-vitals bad-behaviour threshold.",
				thresholds: crashT, lines: true, sql: rateOverTime(crashCond)},
			{kind: "timeseries", title: "User-perceived ANR rate vs 0.47% guardrail", unit: "percent", min: f(0),
				desc:       "Sessions with an ANR (app.anr, or a frame over 5 s) / sessions, per interval.",
				thresholds: anrT, lines: true, sql: rateOverTime(anrCond)},
			{kind: "timeseries", title: "Sessions by release", unit: "short", w: 24, h: 6,
				sql: `
				SELECT $__timeGroupAlias(minute, $__interval), @LABEL AS metric, sum(event_count)::float8 AS value
				FROM event_rollups
				WHERE app_id = @APP AND release IN @BOTH AND name = 'session.start'
					AND $__timeFilter(minute) AND @DIMS
				GROUP BY 1, 2
				ORDER BY 1, 2`},
			row("Per model and farm"),
			{kind: "table", title: "Per-model crash and ANR rate (candidate) vs 8% guardrail", w: 12, h: 10,
				columns:    []string{"model", "sessions", "crash rate %", "ANR rate %", "guardrail"},
				thresholds: []threshold{{"green", nil}, {"red", f(PerModelGuardrail)}},
				sql: strings.NewReplacer("{crashed}", affected(crashCond), "{anred}", affected(anrCond)).Replace(`
				WITH s AS (
					SELECT model, sum(event_count) AS sessions
					FROM event_rollups
					WHERE app_id = @APP AND release = @CAND AND name = 'session.start'
						AND $__timeFilter(minute) AND @DIMS
					GROUP BY model
				), c AS (
					SELECT model, {crashed} AS crashed, {anred} AS anred
					FROM events
					WHERE app_id = @APP AND release = @CAND AND ` + affectedEventsNames + `
						AND $__timeFilter(time) AND @DIMS AND @PLATFORM
					GROUP BY model
				), r AS (
					SELECT s.model, s.sessions,
						100.0 * coalesce(c.crashed, 0) / nullif(s.sessions, 0) AS crash,
						100.0 * coalesce(c.anred, 0) / nullif(s.sessions, 0) AS anr
					FROM s LEFT JOIN c USING (model)
				)
				SELECT model AS "model", sessions AS "sessions",
					round(crash::numeric, 2) AS "crash rate %", round(anr::numeric, 2) AS "ANR rate %",
					CASE WHEN crash >= 8 OR anr >= 8 THEN 'over 8% per-model guardrail' ELSE 'ok' END AS "guardrail"
				FROM r
				ORDER BY greatest(crash, anr) DESC NULLS LAST, sessions DESC
				LIMIT 100`)},
			farmVerdictsPanel(),
		}, gatePanels()...))
}
