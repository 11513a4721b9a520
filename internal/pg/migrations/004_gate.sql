-- 004_gate: release-gate verdicts (issue 8). Owner: internal/gate.
--
-- Stable contract for readers (TUI regressions view, Grafana): names change only additively.
--
--   gate_verdicts   one row per `fleetlens gate` run: app, candidate, baseline, verdict
--                   (pass|marginal|fail|inconclusive), exit code, score, summary, the full
--                   JSON report (same document as `--format json`)
--   gate_findings   the checks behind a verdict that need attention (fail and marginal
--                   field checks, every guardrail, every farm compatibility cell), one row each
--   gate_latest     view: the newest verdict per (app, candidate, baseline)

CREATE TABLE gate_verdicts (
    id                 bigserial PRIMARY KEY,
    app_id             text        NOT NULL,
    candidate          text        NOT NULL,
    baseline           text        NOT NULL,
    verdict            text        NOT NULL CHECK (verdict IN ('pass', 'marginal', 'fail', 'inconclusive')),
    exit_code          smallint    NOT NULL,
    score              double precision NOT NULL,
    summary            text        NOT NULL,
    horizon            timestamptz NOT NULL,   -- data after this was still arriving and not judged
    wait_until         timestamptz,            -- inconclusive: when to run again
    baseline_sessions  bigint      NOT NULL,
    candidate_sessions bigint      NOT NULL,
    report             jsonb       NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX gate_verdicts_app_idx ON gate_verdicts (app_id, candidate, created_at DESC);

CREATE TABLE gate_findings (
    verdict_id  bigint  NOT NULL REFERENCES gate_verdicts(id) ON DELETE CASCADE,
    ord         int     NOT NULL,              -- report order: failures first
    kind        text    NOT NULL CHECK (kind IN ('check', 'guardrail', 'compat')),
    status      text    NOT NULL CHECK (status IN ('pass', 'marginal', 'fail')),
    metric      text    NOT NULL,              -- request_ttfb, crash_rate, ..., compatibility
    dim         text    NOT NULL,              -- overall | net_tier | model | os_version | model_os
    stratum     text    NOT NULL,              -- e.g. '3g × low', 'Pixel 7', 'Pixel 7 / 14'
    baseline    double precision,              -- median ms, rate or pass rate
    candidate   double precision,
    change      double precision,              -- relative change
    change_lo   double precision,
    change_hi   double precision,
    p           double precision,
    q           double precision,              -- p after multiple-comparison control
    n_baseline  bigint,
    n_candidate bigint,
    headline    text    NOT NULL,              -- one line for humans
    PRIMARY KEY (verdict_id, ord)
);
CREATE INDEX gate_findings_metric_idx ON gate_findings (metric, status);

CREATE VIEW gate_latest AS
SELECT DISTINCT ON (app_id, candidate, baseline) *
FROM gate_verdicts
ORDER BY app_id, candidate, baseline, created_at DESC, id DESC;

GRANT SELECT ON gate_verdicts, gate_findings, gate_latest TO fleetlens_reader;

---- create above / drop below ----

DROP VIEW IF EXISTS gate_latest;
DROP TABLE IF EXISTS gate_findings, gate_verdicts;
