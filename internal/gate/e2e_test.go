package gate_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fleetlens/fleetlens/internal/gate"
	"github.com/fleetlens/fleetlens/internal/gate/gatetest"
	"github.com/fleetlens/fleetlens/internal/pg/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// The done-when: two releases seeded through the collector, one with a regression
// confined to one stratum and one neutral; the gate fails the first naming the stratum,
// passes the second, is inconclusive for a candidate with too little data or whose data is
// still arriving, and rejects bad input with clear messages.
func TestGateThroughCollector(t *testing.T) {
	pool := pgtest.New(t)
	ctx := context.Background()
	gatetest.SeedStandard(t, pool)
	const app = gatetest.App
	// Judge a couple of minutes after the traffic, as CI would: the newest minute has landed.
	judgeAt := time.Now().Add(2 * time.Minute)
	pol := gate.DefaultPolicy()
	run := func(cand, base string) (*gate.Report, error) {
		in, err := gate.Load(ctx, pool, gate.Request{App: app, Candidate: cand, Baseline: base, Now: judgeAt}, pol)
		if err != nil {
			return nil, err
		}
		r := gate.Judge(in, pol)
		t.Logf("%s vs %s: %s", cand, base, r.Summary)
		return r, nil
	}

	t.Run("regression in one stratum fails naming it", func(t *testing.T) {
		r, err := run("2.3.0", "2.2.0")
		if err != nil {
			t.Fatal(err)
		}
		if r.Verdict != gate.Fail || r.ExitCode != 1 {
			t.Fatalf("verdict %s exit %d: %s", r.Verdict, r.ExitCode, r.Summary)
		}
		if !strings.Contains(r.Summary, "3g × low") || !strings.Contains(r.Summary, "Request TTFB") {
			t.Errorf("summary does not name the stratum and metric: %s", r.Summary)
		}
		for _, ch := range r.Checks {
			if ch.Status == gate.StatusFail && ch.Dim == gate.DimNetTier && ch.Stratum != "3g × low" {
				t.Errorf("unaffected stratum failed: %s", ch.Headline())
			}
		}
		id, err := gate.Save(ctx, pool, r)
		if err != nil {
			t.Fatal(err)
		}
		var v, stratum string
		if err := pool.QueryRow(ctx, `SELECT l.verdict, f.stratum FROM gate_latest l JOIN gate_findings f ON f.verdict_id = l.id
			WHERE l.app_id = $1 AND l.candidate = '2.3.0' AND f.kind = 'check' AND f.status = 'fail' AND f.metric = 'request_ttfb'
			ORDER BY f.ord LIMIT 1`, app).Scan(&v, &stratum); err != nil || v != "fail" || id == 0 {
			t.Errorf("stored verdict: %v %q %q", err, v, stratum)
		}
	})
	t.Run("neutral change passes", func(t *testing.T) {
		r, err := run("2.3.1", "2.2.0")
		if err != nil {
			t.Fatal(err)
		}
		if r.Verdict != gate.Pass || r.ExitCode != 0 {
			var b bytes.Buffer
			gate.Render(&b, r, "text")
			t.Fatalf("verdict %s:\n%s", r.Verdict, b.String())
		}
	})
	t.Run("too little data is inconclusive", func(t *testing.T) {
		r, err := run("2.4.0", "2.2.0")
		if err != nil {
			t.Fatal(err)
		}
		if r.Verdict != gate.Inconclusive || r.ExitCode != 3 || r.Data.WaitUntil == nil {
			t.Fatalf("verdict %s exit %d wait %v: %s", r.Verdict, r.ExitCode, r.Data.WaitUntil, r.Summary)
		}
		if !strings.Contains(r.Summary, "wait until") {
			t.Errorf("summary lacks the wait-until advice: %s", r.Summary)
		}
	})
	t.Run("data still arriving is inconclusive", func(t *testing.T) {
		// 2.1.0's arrival curve: 30% of its data came 3 h late, so its p95 delay is ~3 h and
		// the candidate's minutes-old data is not complete yet.
		r, err := run("2.3.1", "2.1.0")
		if err != nil {
			t.Fatal(err)
		}
		if r.Verdict != gate.Inconclusive || r.Data.CandidateLate == 0 || r.Data.WaitUntil == nil ||
			r.Data.WaitUntil.Before(judgeAt.Add(2*time.Hour)) {
			t.Fatalf("verdict %s late %d wait %v: %s", r.Verdict, r.Data.CandidateLate, r.Data.WaitUntil, r.Summary)
		}
	})
	t.Run("farm compatibility regression fails", func(t *testing.T) {
		// Farm results (003_farm.sql): the same suite on the same (model, OS) for both
		// releases; the candidate crashes in one test on Pixel 8 / 14.
		var suite int64
		if err := pool.QueryRow(ctx, `INSERT INTO farm_suites (name, source, spec) VALUES ('smoke', 'x', '{}') RETURNING id`).Scan(&suite); err != nil {
			t.Fatal(err)
		}
		for _, rel := range []string{"2.2.0", "2.3.1"} {
			var run int64
			if err := pool.QueryRow(ctx, `INSERT INTO farm_runs (suite_id, app_id, release, state, finished_at)
				VALUES ($1, $2, $3, 'passed', now()) RETURNING id`, suite, app, rel).Scan(&run); err != nil {
				t.Fatal(err)
			}
			for i, name := range []string{"login", "checkout", "search", "profile"} {
				status, crash := "passed", ""
				if rel == "2.3.1" && name == "checkout" {
					status, crash = "failed", "crash"
				}
				var test int64
				if err := pool.QueryRow(ctx, `INSERT INTO farm_run_tests (run_id, class, method, status)
					VALUES ($1, 'ShopTest', $2, $3) RETURNING id`, run, name, status).Scan(&test); err != nil {
					t.Fatal(err)
				}
				for _, m := range []string{"Pixel 8", "SM-A125F"} {
					st, ck := "passed", ""
					if m == "Pixel 8" {
						st, ck = status, crash
					}
					if _, err := pool.Exec(ctx, `INSERT INTO farm_attempts (run_id, run_test_id, serial, model, os_version, status, crash_kind)
						VALUES ($1, $2, $3, $4, '14', $5, $6)`, run, test, fmt.Sprintf("dev-%d", i), m, st, ck); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		// A second suite on the other platform: only the iOS run shows the iPhone crash, so the
		// gate must judge the latest run of each platform, not the latest run overall. The
		// candidate also has a flaky Android test (failed, then passed on retry): flakiness,
		// not a new failure.
		for _, rel := range []string{"2.2.0", "2.3.1"} {
			var run, test int64
			if err := pool.QueryRow(ctx, `INSERT INTO farm_runs (suite_id, app_id, release, platform, name, state, finished_at)
				VALUES ($1, $2, $3, 'ios', 'smoke-ios', 'passed', now() - interval '1 minute') RETURNING id`, suite, app, rel).Scan(&run); err != nil {
				t.Fatal(err)
			}
			status := map[string]string{"2.2.0": "passed", "2.3.1": "failed"}[rel]
			if err := pool.QueryRow(ctx, `INSERT INTO farm_run_tests (run_id, class, method, status)
				VALUES ($1, 'ios.smoke', 'no_crash_reports', $2) RETURNING id`, run, status).Scan(&test); err != nil {
				t.Fatal(err)
			}
			if _, err := pool.Exec(ctx, `INSERT INTO farm_attempts (run_id, run_test_id, serial, model, os_version, status)
				VALUES ($1, $2, 'ios-1', 'iPhone 13', '17.6', $3)`, run, test, status); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := pool.Exec(ctx, `
			WITH t AS (UPDATE farm_run_tests SET status = 'flaky'
			           WHERE method = 'search' AND run_id = (SELECT id FROM farm_runs WHERE release = '2.3.1' AND platform = 'android')
			           RETURNING id, run_id)
			INSERT INTO farm_attempts (run_id, run_test_id, serial, model, os_version, status)
			SELECT run_id, id, 'dev-flaky', 'SM-A125F', '14', 'failed' FROM t`); err != nil {
			t.Fatal(err)
		}
		r, err := run("2.3.1", "2.2.0")
		if err != nil {
			t.Fatal(err)
		}
		if r.Verdict != gate.Fail || !strings.Contains(r.Summary, "Pixel 8") || len(r.Compat) != 3 {
			t.Fatalf("verdict %s, compat %+v: %s", r.Verdict, r.Compat, r.Summary)
		}
		byModel := map[string]gate.CompatCheck{}
		for _, c := range r.Compat {
			byModel[c.Model] = c
		}
		if c := byModel["Pixel 8"]; c.Status != gate.StatusFail || len(c.NewFailures) != 1 || c.NewFailures[0] != "ShopTest.checkout" {
			t.Errorf("Pixel 8 compat finding: %+v", c)
		}
		if c := byModel["iPhone 13"]; c.Status != gate.StatusFail || len(c.NewFailures) != 1 || c.NewFailures[0] != "ios.smoke.no_crash_reports" {
			t.Errorf("iPhone 13 (the other platform's run) compat finding: %+v", c)
		}
		if c := byModel["SM-A125F"]; len(c.NewFailures) != 0 || c.FlakyRate == 0 {
			t.Errorf("SM-A125F, where a test failed then passed: want flakiness and no new failure, got %+v", c)
		}
		if c := byModel["Pixel 8"]; c.FlakyRate != 0 {
			t.Errorf("Pixel 8 never failed the flaky test but got flaky rate %v", c.FlakyRate)
		}
	})
	t.Run("bad input", func(t *testing.T) {
		if _, err := pool.Exec(ctx, `INSERT INTO releases (app_id, version) VALUES ($1, '0.9.0')`, app); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct{ app, cand, base, want string }{
			{"com.nope", "2.3.0", "2.2.0", `unknown app "com.nope" (known apps: com.example.shop)`},
			{app, "9.9.9", "2.2.0", `--candidate 9.9.9: app com.example.shop has no release "9.9.9"`},
			{app, "2.3.0", "1.0.0", `--baseline 1.0.0: app com.example.shop has no release "1.0.0"`},
			{app, "2.3.0", "2.3.0", "candidate and baseline are the same release"},
			{app, "2.3.0", "0.9.0", "baseline 0.9.0 of com.example.shop has no field data"},
		} {
			_, err := gate.Load(ctx, pool, gate.Request{App: tc.app, Candidate: tc.cand, Baseline: tc.base, Now: judgeAt}, pol)
			if err == nil || !gate.IsUsage(err) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s %s vs %s: error %v, want usage error containing %q", tc.app, tc.cand, tc.base, err, tc.want)
			}
		}
	})
}
