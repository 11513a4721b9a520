// Package gate is the release gate: it judges a candidate release against a baseline on the
// collector's field data (latency, errors, starts, frames, ANRs, crashes, stratified by
// network class × device tier, device model and OS version) and the device farm's
// compatibility results, and returns one verdict — pass, marginal, fail or inconclusive —
// with a report in text, Markdown, HTML or JSON.
//
// It owns: the policy (YAML, defaults embedded from default_policy.yaml), the judges
// (stats/), the Android-vitals guardrails, the enough-data and arrival-completeness rules,
// loading from PostgreSQL (load.go), the renderers and the gate_verdicts / gate_findings
// tables (internal/pg/migrations/004_gate.sql) the TUI and dashboards read.
//
// Flow: Load (SQL, read-only role) → Input → Judge (pure, deterministic) → Report → Render /
// Save.
package gate
