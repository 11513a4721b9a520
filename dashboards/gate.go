package dashboards

// The release gate's verdicts (internal/pg/migrations/004_gate.sql): one gate_verdicts row
// per `fleetlens gate` run, its findings (every guardrail, failing and marginal checks, farm
// compatibility cells) in gate_findings, and gate_latest, the newest verdict per
// (app, candidate, baseline).

// verdictColors maps the four verdicts to colours (and the stat's text).
var verdictColors = []any{map[string]any{"type": "value", "options": map[string]any{
	"pass":         map[string]any{"color": "green", "text": "PASS", "index": 0},
	"marginal":     map[string]any{"color": "orange", "text": "MARGINAL", "index": 1},
	"fail":         map[string]any{"color": "red", "text": "FAIL", "index": 2},
	"inconclusive": map[string]any{"color": "blue", "text": "INCONCLUSIVE (not enough data)", "index": 3},
}}}

func gatePanels() []panelSpec {
	return []panelSpec{
		row("Release gate"),
		{kind: "stat", title: "Latest gate verdict: candidate vs baseline", w: 6, h: 6,
			desc:     "Newest `fleetlens gate --candidate $release --baseline $compare_release` run (gate_latest).",
			columns:  []string{"verdict", "score", "judged"},
			mappings: verdictColors,
			extra: map[string]any{"reduceOptions": map[string]any{"values": false, "calcs": []string{"lastNotNull"}, "fields": "/^verdict$/"},
				"textMode": "value", "colorMode": "background"},
			sql: `
			SELECT verdict AS "verdict", score AS "score", created_at AS "judged"
			FROM gate_latest
			WHERE app_id = @APP AND candidate = @CAND AND baseline = @BASE`},
		{kind: "table", title: "Gate verdicts of the app", w: 18, h: 6,
			desc:     "Every gate run on the app, newest first; exit code 0 pass, 1 fail, 3 inconclusive.",
			columns:  []string{"judged", "candidate", "baseline", "verdict", "score", "candidate sessions", "baseline sessions", "summary"},
			mappings: verdictColors,
			sql: `
			SELECT created_at AS "judged", candidate AS "candidate", baseline AS "baseline", verdict AS "verdict",
				round(score::numeric, 1) AS "score", candidate_sessions AS "candidate sessions",
				baseline_sessions AS "baseline sessions", summary AS "summary"
			FROM gate_verdicts
			WHERE app_id = @APP
			ORDER BY created_at DESC, id DESC
			LIMIT 20`},
		{kind: "table", title: "Findings of the latest verdict: candidate vs baseline", w: 24, h: 9,
			desc:     "Guardrails, failing and marginal checks, farm compatibility cells; failures first.",
			columns:  []string{"kind", "status", "metric", "stratum", "baseline", "candidate", "finding"},
			mappings: verdictColors,
			sql: `
			SELECT f.kind AS "kind", f.status AS "status", f.metric AS "metric", f.stratum AS "stratum",
				round(f.baseline::numeric, 4) AS "baseline", round(f.candidate::numeric, 4) AS "candidate",
				f.headline AS "finding"
			FROM gate_latest v JOIN gate_findings f ON f.verdict_id = v.id
			WHERE v.app_id = @APP AND v.candidate = @CAND AND v.baseline = @BASE
			ORDER BY f.ord
			LIMIT 200`},
	}
}

// farmVerdictsPanel lists the farm's verdicts on the two releases (the device half of the
// gate's evidence), newest first.
func farmVerdictsPanel() panelSpec {
	return panelSpec{kind: "table", title: "Latest farm runs: candidate and baseline", w: 12, h: 10,
		columns: []string{"release", "run", "state", "finished", "passed", "failed", "flaky", "reason"},
		sql: `
		SELECT @LABEL AS "release", r.id AS "run", r.state AS "state", r.finished_at AS "finished",
			p.passed AS "passed", p.failed AS "failed", p.flaky AS "flaky", r.state_reason AS "reason"
		FROM farm_runs r JOIN farm_run_progress p ON p.run_id = r.id
		WHERE r.app_id = @APP AND r.release IN @BOTH AND r.platform IN (${platform})
			AND $__timeFilter(r.created_at)
		ORDER BY r.created_at DESC
		LIMIT 20`}
}
