package dashboards

// gateVerdictsPanel lists the latest verdicts on the candidate and the baseline.
// The release gate's own verdict table (migration 004) has not landed yet, so until it does
// this shows the farm's verdicts on the two releases (the device-farm half of the gate's
// evidence), newest first.
func gateVerdictsPanel() panelSpec {
	return panelSpec{kind: "table", title: "Latest farm verdicts: candidate and baseline", w: 12, h: 10,
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
