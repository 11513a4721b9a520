package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetlens/fleetlens/internal/gate/gatetest"
)

// fleetlens gate as a user runs it: releases seeded through the collector into the managed
// cluster, then the binary's exit codes, messages and report files.
func TestGateCommand(t *testing.T) {
	t.Parallel()
	h := home(t)
	if out, code := fleetlens(t, h, "db", "start"); code != 0 {
		t.Fatalf("db start: %d %s", code, out)
	}
	url, code := fleetlens(t, h, "db", "url")
	if code != 0 {
		t.Fatalf("db url: %d %s", code, url)
	}
	dsn := strings.TrimSpace(url)
	if out, code := fleetlens(t, h, "--db", dsn, "db", "migrate"); code != 0 {
		t.Fatalf("db migrate: %d %s", code, out)
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	gatetest.SeedStandard(t, pool)
	if _, err := pool.Exec(ctx, `INSERT INTO releases (app_id, version) VALUES ($1, '0.9.0')`, gatetest.App); err != nil {
		t.Fatal(err)
	}
	asOf := time.Now().Add(2 * time.Minute).UTC().Format(time.RFC3339)
	dir := t.TempDir()
	badPolicy := filepath.Join(dir, "policy.yaml")
	os.WriteFile(badPolicy, []byte("confidence: 0.98\nmetrics:\n  crash_rate:\n    direction: up\n"), 0o644)
	gateArgs := func(cand, base string, extra ...string) []string {
		return append([]string{"--db", dsn, "gate", "--app", gatetest.App, "--candidate", cand, "--baseline", base, "--as-of", asOf}, extra...)
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"regression fails", gateArgs("2.3.0", "2.2.0"), 1, "3g × low: Request TTFB +"},
		{"neutral passes", gateArgs("2.3.1", "2.2.0", "--format", "md"), 0, "# Release gate: com.example.shop 2.3.1 vs 2.2.0 — ✅ **PASS**"},
		{"too little data", gateArgs("2.4.0", "2.2.0"), 3, "wait until"},
		{"still arriving", gateArgs("2.3.1", "2.1.0"), 3, "still arriving"},
		{"unknown app", []string{"--db", dsn, "gate", "--app", "com.nope", "--candidate", "1", "--baseline", "2"}, 2, `unknown app "com.nope"`},
		{"unknown release", gateArgs("9.9", "2.2.0"), 2, `no release "9.9"`},
		{"baseline without data", gateArgs("2.3.0", "0.9.0"), 2, "baseline 0.9.0 of com.example.shop has no field data"},
		{"equal releases", gateArgs("2.2.0", "2.2.0"), 2, "are both \"2.2.0\""},
		{"policy error", gateArgs("2.3.0", "2.2.0", "--policy", badPolicy), 2, badPolicy + ":4: metrics.crash_rate.direction"},
		{"missing flags", []string{"--db", dsn, "gate", "--app", gatetest.App}, 2, "missing --candidate, --baseline"},
		{"bad format", gateArgs("2.3.0", "2.2.0", "--format", "pdf"), 2, `--format "pdf"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, code := fleetlens(t, h, tc.args...)
			if code != tc.code || !strings.Contains(out, tc.want) {
				t.Errorf("exit %d (want %d), output lacks %q:\n%s", code, tc.code, tc.want, out)
			}
			if strings.Contains(out, "goroutine ") || strings.Contains(out, "panic") {
				t.Errorf("stack trace in output:\n%s", out)
			}
		})
	}
	// Reports to files: JSON for tools, HTML self-contained.
	for _, f := range []string{"json", "html"} {
		path := filepath.Join(dir, "report."+f)
		if out, code := fleetlens(t, h, gateArgs("2.3.0", "2.2.0", "--format", f, "--out", path)...); code != 1 || !strings.Contains(out, "FAIL") {
			t.Fatalf("--format %s --out: exit %d %s", f, code, out)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if f == "json" {
			var r struct{ Verdict, Candidate string }
			if err := json.Unmarshal(b, &r); err != nil || r.Verdict != "fail" || r.Candidate != "2.3.0" {
				t.Errorf("JSON report: %v %+v", err, r)
			}
		} else if !strings.Contains(string(b), "<svg") || strings.Contains(string(b), "<script") {
			t.Errorf("HTML report is not a self-contained page with charts")
		}
	}
	var n int64
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM gate_verdicts WHERE app_id = $1`, gatetest.App).Scan(&n); err != nil || n < 6 {
		t.Errorf("verdicts stored: %d, %v", n, err)
	}
}
