package gate

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Save records the report in gate_verdicts / gate_findings (004_gate.sql) for the TUI and
// dashboards, in one transaction, and returns the verdict's id.
func Save(ctx context.Context, pool *pgxpool.Pool, r *Report) (int64, error) {
	doc, err := json.Marshal(r)
	if err != nil {
		return 0, fmt.Errorf("gate: encode report: %w", err)
	}
	var id int64
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `
INSERT INTO gate_verdicts (app_id, candidate, baseline, verdict, exit_code, score, summary, horizon,
                           wait_until, baseline_sessions, candidate_sessions, report)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id`,
			r.App, r.Candidate, r.Baseline, r.Verdict, r.ExitCode, r.Score, r.Summary, r.Data.Horizon,
			r.Data.WaitUntil, r.Data.BaselineSessions, r.Data.CandidateSessions, doc).Scan(&id); err != nil {
			return err
		}
		rows := [][]any{}
		add := func(kind, status, metric, dim, stratum string, b, c, ch, lo, hi, p, q any, nb, nc any, head string) {
			rows = append(rows, []any{id, len(rows), kind, status, metric, dim, stratum, b, c, ch, lo, hi, p, q, nb, nc, head})
		}
		for _, g := range r.Guardrails {
			add("guardrail", g.Status, g.Metric, dimOfGuardrail(g), g.Stratum, g.Threshold, g.Rate, nil, g.Lo, g.Hi, nil, nil, nil, g.Sessions,
				fmt.Sprintf("%s %s: %s vs guardrail %s", titleOf(g.Metric), g.Stratum, pct(g.Rate), pct(g.Threshold)))
		}
		for _, c := range r.Checks {
			if c.Status == StatusFail || c.Status == StatusMarginal {
				add("check", c.Status, c.Metric, c.Dim, c.Stratum, c.Baseline, c.Candidate, c.Change, c.ChangeLo, c.ChangeHi,
					c.P, c.Q, c.NBaseline, c.NCandidate, c.Headline())
			}
		}
		for _, c := range r.Compat {
			add("compat", c.Status, "compatibility", "model_os", c.Model+" / "+c.OSVersion, c.BasePass, c.CandPass,
				c.CandPass-c.BasePass, nil, nil, nil, nil, nil, nil, c.Model+" "+c.OSVersion+": "+c.Reason)
		}
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"gate_findings"}, []string{"verdict_id", "ord", "kind", "status", "metric",
			"dim", "stratum", "baseline", "candidate", "change", "change_lo", "change_hi", "p", "q", "n_baseline",
			"n_candidate", "headline"}, pgx.CopyFromRows(rows))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("gate: save verdict of %s %s: %w", r.App, r.Candidate, err)
	}
	return id, nil
}

func dimOfGuardrail(g GuardrailCheck) string {
	if g.Stratum == "overall" {
		return DimOverall
	}
	return DimModel
}
