package data

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetlens/fleetlens/internal/gate"
)

// GateAdapter gives the TUI the release gate through internal/gate's own API (Load → Judge
// → Render/Save) and reads stored verdicts from its gate_latest view (004_gate.sql).
type GateAdapter struct {
	Pool *pgxpool.Pool
	// Policy is the gate policy (default: the shipped one).
	Policy *gate.Policy
	// Save records verdicts judged from the TUI, as `fleetlens gate` does (off in read-only).
	Save bool
	// Now fixes the judging time (tests); zero means now.
	Now time.Time
}

func (g *GateAdapter) policy() *gate.Policy {
	if g.Policy != nil {
		return g.Policy
	}
	return gate.DefaultPolicy()
}

func (g *GateAdapter) judge(ctx context.Context, app, cand, base string) (*gate.Report, error) {
	if cand == base {
		return nil, fmt.Errorf("candidate and baseline are both %q: compare a new release with the one it replaces", cand)
	}
	pol := g.policy()
	in, err := gate.Load(ctx, g.Pool, gate.Request{App: app, Candidate: cand, Baseline: base, Now: g.Now}, pol)
	if err != nil {
		return nil, err
	}
	return gate.Judge(in, pol), nil
}

// Verdict implements Gate.
func (g *GateAdapter) Verdict(ctx context.Context, app, cand, base string) (Verdict, error) {
	rep, err := g.judge(ctx, app, cand, base)
	if err != nil {
		return Verdict{}, err
	}
	if g.Save {
		if _, err := gate.Save(ctx, g.Pool, rep); err != nil {
			slog.Warn("tui: save gate verdict", "app", app, "candidate", cand, "err", err)
		}
	}
	return fromReport(rep, false, rep.GeneratedAt), nil
}

// Stored implements Gate.
func (g *GateAdapter) Stored(ctx context.Context, app, cand, base string) (Verdict, bool, error) {
	var raw []byte
	var at time.Time
	err := g.Pool.QueryRow(ctx, `SELECT report, created_at FROM gate_latest
		WHERE app_id = $1 AND candidate = $2 AND baseline = $3`, app, cand, base).Scan(&raw, &at)
	if errors.Is(err, pgx.ErrNoRows) {
		return Verdict{}, false, nil
	}
	if err != nil {
		return Verdict{}, false, fmt.Errorf("stored verdict for %s %s vs %s: %w", app, cand, base, err)
	}
	var rep gate.Report
	if err := json.Unmarshal(raw, &rep); err != nil {
		return Verdict{}, false, fmt.Errorf("stored verdict for %s %s vs %s: decode report: %w", app, cand, base, err)
	}
	return fromReport(&rep, true, at), true, nil
}

// Export implements Gate: judge now and write the report atomically.
func (g *GateAdapter) Export(ctx context.Context, app, cand, base, format, path string) error {
	rep, err := g.judge(ctx, app, cand, base)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := gate.Render(&buf, rep, format); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".gate-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func fromReport(r *gate.Report, stored bool, at time.Time) Verdict {
	v := Verdict{AppID: r.App, Candidate: r.Candidate, Baseline: r.Baseline, Verdict: r.Verdict,
		Score: r.Score, Summary: r.Summary, At: at, Stored: stored}
	for _, g := range r.Guardrails {
		v.Checks = append(v.Checks, Check{Stratum: "guardrail " + g.Stratum, Metric: g.Metric, Verdict: g.Status,
			// A guardrail compares the candidate with an absolute threshold, not the baseline.
			Baseline: math.NaN(), Candidate: g.Rate, Threshold: g.Threshold, Unit: "%",
			Detail: fmt.Sprintf("%s %.2f%% (%d of %d sessions) against the %.2f%% threshold", g.Metric, g.Rate*100, g.Events, g.Sessions, g.Threshold*100)})
	}
	for _, c := range r.Checks {
		unit := ""
		switch c.Kind {
		case gate.Distribution:
			unit = "ms"
		case gate.Proportion:
			unit = "%"
		}
		st := "overall"
		if c.Dim != "overall" && c.Dim != "" {
			st = c.Dim + ": " + c.Stratum
		}
		status := c.Status
		if status == gate.StatusInsufficient {
			status = "inconclusive"
		}
		ch := Check{Stratum: st, Metric: c.Metric, Verdict: status, Baseline: c.Baseline,
			Candidate: c.Candidate, Unit: unit, Detail: c.Headline()}
		for _, p := range c.Percentiles {
			ch.Series = append(ch.Series, p.Change)
		}
		v.Checks = append(v.Checks, ch)
	}
	for _, c := range r.Compat {
		d := c.Reason
		if len(c.NewFailures) > 0 {
			d = fmt.Sprintf("new failures: %v; %s", c.NewFailures, c.Reason)
		}
		v.Checks = append(v.Checks, Check{Stratum: "farm " + c.Model + " / " + c.OSVersion, Metric: "compatibility",
			Verdict: c.Status, Baseline: c.BasePass, Candidate: c.CandPass, Unit: "%", Detail: d})
	}
	return v
}
