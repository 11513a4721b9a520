package schedule

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/fleetlens/fleetlens/internal/pg/pgtest"
)

func TestFairShareWeightsAndReservations(t *testing.T) {
	pool := pgtest.New(t)
	ctx := context.Background()
	devs := addFleet(t, pool, "h1", "d1", "d2", "d3", "d4")
	mk := func(release string, weight float64, reserve int) int64 {
		e, err := Enqueue(ctx, pool, RunSpec{SuiteName: "s", SuiteSource: "x", AppID: "com.example", Release: release,
			Tests: tests(20), Devices: devs, Weight: weight, Reserve: reserve, Plan: PlanConfig{LastMile: 0.999}})
		if err != nil {
			t.Fatal(err)
		}
		return e.RunID
	}
	q := &Queue{DB: pool, HostID: "h1", TTL: time.Minute}
	claimAll := func() map[int64]int {
		got := map[int64]int{}
		var leases []*Lease
		for _, s := range []string{"d1", "d2", "d3", "d4"} {
			l, err := q.Claim(ctx, s)
			if err != nil || l == nil {
				t.Fatalf("claim %s: %v %v", s, l, err)
			}
			got[l.RunID]++
			leases = append(leases, l)
		}
		for _, l := range leases { // give the work back for the next case
			if err := q.Release(ctx, l, "test", "reset"); err != nil {
				t.Fatal(err)
			}
		}
		return got
	}
	a := mk("1.0", 1, 0)
	b := mk("1.1", 1, 0)
	if got := claimAll(); got[a] != 2 || got[b] != 2 {
		t.Errorf("equal weights: %v, want 2 and 2", got)
	}
	c := mk("1.2", 6, 0) // weight 6 against 1 and 1
	if got := claimAll(); got[c] < 2 {
		t.Errorf("weight 6: run %d got %d of 4 devices (%v)", c, got[c], got)
	}
	if _, err := pool.Exec(ctx, `UPDATE farm_runs SET state = 'cancelled' WHERE id IN ($1, $2)`, b, c); err != nil {
		t.Fatal(err)
	}
	d := mk("1.3", 1, 2) // reserves 2 devices
	got := claimAll()
	if got[d] < 2 {
		t.Errorf("reservation of 2 devices: run %d got %d (%v)", d, got[d], got)
	}
	var reserved int
	pool.QueryRow(ctx, `SELECT count(*) FROM farm_reservations WHERE run_id = $1`, d).Scan(&reserved)
	if reserved != 2 {
		t.Errorf("%d reservations, want 2", reserved)
	}
}

func TestMatrixRunsEveryGroup(t *testing.T) {
	pool := pgtest.New(t)
	ctx := context.Background()
	devs := addFleet(t, pool, "h1", "m0a", "m1a", "m0b") // groups M0|13 (2 devices) and M1|13
	e, err := Enqueue(ctx, pool, RunSpec{SuiteName: "s", SuiteSource: "x", AppID: "com.example", Release: "1",
		Tests: tests(5), Devices: devs, Matrix: true})
	if err != nil {
		t.Fatal(err)
	}
	if e.Tests != 10 {
		t.Fatalf("matrix of 5 tests x 2 groups: %d run tests", e.Tests)
	}
	q := &Queue{DB: pool, HostID: "h1", TTL: time.Minute}
	drain(t, q, []string{"m0a", "m1a", "m0b"}, func(ClaimedTest, int) string { return "passed" })
	var groups, bad int
	pool.QueryRow(ctx, `SELECT count(DISTINCT t.group_key), count(*) FILTER (WHERE a.model || '|' || a.os_version <> t.group_key)
		FROM farm_attempts a JOIN farm_run_tests t ON t.id = a.run_test_id`).Scan(&groups, &bad)
	if groups != 2 || bad != 0 {
		t.Errorf("%d groups covered, %d attempts on the wrong group", groups, bad)
	}
}

func TestNotifyAndRunTimeout(t *testing.T) {
	pool := pgtest.New(t)
	ctx := context.Background()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	for _, ch := range []string{"fleetlens_runs", "fleetlens_work", "fleetlens_devices"} {
		if _, err := conn.Exec(ctx, "LISTEN "+ch); err != nil {
			t.Fatal(err)
		}
	}
	devs := addFleet(t, pool, "h1", "d1")
	e, err := Enqueue(ctx, pool, RunSpec{SuiteName: "s", SuiteSource: "x", AppID: "com.example", Release: "1",
		Tests: tests(3), Devices: devs, RunTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for !(seen["fleetlens_runs"] && seen["fleetlens_work"] && seen["fleetlens_devices"]) {
		n, err := conn.Conn().WaitForNotification(wctx)
		if err != nil {
			t.Fatalf("notifications seen %v: %v", seen, err)
		}
		var p struct{ Run int64 }
		json.Unmarshal([]byte(n.Payload), &p)
		if n.Channel != "fleetlens_devices" && p.Run != e.RunID {
			t.Errorf("%s payload %s: want run %d", n.Channel, n.Payload, e.RunID)
		}
		seen[n.Channel] = true
	}
	time.Sleep(400 * time.Millisecond)
	q := &Queue{DB: pool, HostID: "h1"}
	if _, err := q.Reap(ctx); err != nil {
		t.Fatal(err)
	}
	var state, reason string
	var errored int
	pool.QueryRow(ctx, `SELECT state, state_reason, (SELECT count(*) FROM farm_run_tests WHERE run_id = $1 AND status = 'error')
		FROM farm_runs WHERE id = $1`, e.RunID).Scan(&state, &reason, &errored)
	if state != "error" || reason != "run timeout" || errored != 3 {
		t.Errorf("after the run timeout: %s (%s), %d tests error", state, reason, errored)
	}
	if l, _ := q.Claim(ctx, "d1"); l != nil {
		t.Errorf("claimed work of a timed-out run")
	}
}

func TestMatrixRetryStaysInGroup(t *testing.T) {
	pool := pgtest.New(t)
	ctx := context.Background()
	devs := addFleet(t, pool, "h1", "m0a", "m1a", "m0b") // M0|13 has m0a and m0b; M1|13 only m1a
	if _, err := Enqueue(ctx, pool, RunSpec{SuiteName: "s", SuiteSource: "x", AppID: "com.example", Release: "1",
		Tests: tests(0, "brokenOnM1", "brokenOnM0"), Devices: devs, Matrix: true, MaxRetries: 2}); err != nil {
		t.Fatal(err)
	}
	q := &Queue{DB: pool, HostID: "h1", TTL: time.Minute}
	model := map[string]string{"m0a": "M0", "m0b": "M0", "m1a": "M1"}
	ctxSerial := ""
	drainAs := func(serials []string) {
		for _, s := range serials {
			ctxSerial = s
			drain(t, q, []string{s}, func(ct ClaimedTest, n int) string {
				if ct.Method == "broken"+"On"+model[ctxSerial] {
					return "failed"
				}
				return "passed"
			})
		}
	}
	for i := 0; i < 4; i++ {
		drainAs([]string{"m0a", "m1a", "m0b"})
	}
	rows, err := pool.Query(ctx, `SELECT t.method, t.group_key, t.status, count(*) FILTER (WHERE a.model || '|13' <> t.group_key)
		FROM farm_run_tests t JOIN farm_attempts a ON a.run_test_id = t.id GROUP BY 1, 2, 3`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var m, g, st string
		var wrong int
		rows.Scan(&m, &g, &st, &wrong)
		if wrong != 0 {
			t.Errorf("%s {%s}: %d attempts outside its group", m, g, wrong)
		}
		want := "passed"
		if m == "brokenOn"+g[:2] {
			want = "failed"
		}
		if st != want {
			t.Errorf("%s {%s}: %s, want %s", m, g, st, want)
		}
	}
}

func TestPreventiveCopiesFromHistory(t *testing.T) {
	pool := pgtest.New(t)
	ctx := context.Background()
	devs := addFleet(t, pool, "h1", "d1", "d2", "d3")
	// A previous run saw "wobbly" flaky: 1 failure in 2 attempts, so f = 0.5.
	if _, err := pool.Exec(ctx, `WITH a AS (INSERT INTO apps (id) VALUES ('com.example') RETURNING id),
		s AS (INSERT INTO farm_suites (name, source, spec) VALUES ('s', '', '{}') RETURNING id),
		r AS (INSERT INTO farm_runs (suite_id, app_id, release, state) SELECT s.id, a.id, '0.9', 'passed' FROM s, a RETURNING id)
		INSERT INTO farm_test_history (app_id, class, method, run_id, status, duration_ms, attempts, failures)
		SELECT 'com.example', 'com.example.EdgeTest', 'wobbly', r.id, 'flaky', 1000, 2, 1 FROM r`); err != nil {
		t.Fatal(err)
	}
	e, err := Enqueue(ctx, pool, RunSpec{SuiteName: "s", SuiteSource: "x", AppID: "com.example", Release: "1",
		Tests: tests(3, "wobbly"), Devices: devs, Preventive: Preventive{Target: 0.8, MaxCopies: 5}})
	if err != nil {
		t.Fatal(err)
	}
	// 1 - 0.5^n >= 0.8 needs n = 3: two preventive copies.
	if e.Preventive != 2 {
		t.Fatalf("%d preventive copies, want 2", e.Preventive)
	}
	q := &Queue{DB: pool, HostID: "h1", TTL: time.Minute}
	drain(t, q, []string{"d1", "d2", "d3"}, func(ct ClaimedTest, n int) string {
		if ct.Method == "wobbly" && n == 1 {
			return "failed"
		}
		return "passed"
	})
	var status string
	var attempts, outstanding int
	pool.QueryRow(ctx, `SELECT status, attempts, outstanding FROM farm_run_tests WHERE method = 'wobbly'`).Scan(&status, &attempts, &outstanding)
	if status != "flaky" || outstanding != 0 || attempts < 2 || attempts > 3 {
		t.Errorf("wobbly: %s after %d attempts, %d outstanding", status, attempts, outstanding)
	}
}

func TestBadDeviceIsQuarantined(t *testing.T) {
	pool := pgtest.New(t)
	ctx := context.Background()
	devs := addFleet(t, pool, "h1", "bad", "good")
	if _, err := Enqueue(ctx, pool, RunSpec{SuiteName: "s", SuiteSource: "x", AppID: "com.example", Release: "1",
		Tests: tests(30), Devices: devs, MaxRetries: 2, RetryBudget: 100, Plan: PlanConfig{LastMile: 0.999}}); err != nil {
		t.Fatal(err)
	}
	q := &Queue{DB: pool, HostID: "h1", TTL: time.Minute}
	for round := 0; round < 100; round++ {
		progressed := false
		for _, s := range []string{"bad", "good"} {
			l, err := q.Claim(ctx, s)
			if err != nil {
				t.Fatal(err)
			}
			if l == nil {
				continue
			}
			progressed = true
			for _, ct := range l.Tests {
				st := "passed"
				if s == "bad" {
					st = "failed"
				}
				if _, err := q.Record(ctx, l, Attempt{TestID: ct.ID, Status: st}); err != nil {
					t.Fatal(err)
				}
			}
			if err := q.Complete(ctx, l); err != nil {
				t.Fatal(err)
			}
		}
		if !progressed {
			break
		}
	}
	var state, reason string
	pool.QueryRow(ctx, `SELECT state, quarantine_reason FROM devices WHERE serial = 'bad'`).Scan(&state, &reason)
	if state != "quarantined" || reason == "" {
		t.Errorf("bad device: %s %q, want quarantined", state, reason)
	}
	var badAttempts, failed int
	pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM farm_attempts WHERE serial = 'bad'),
		(SELECT count(*) FROM farm_run_tests WHERE status = 'failed')`).Scan(&badAttempts, &failed)
	if badAttempts > 10 || failed != 0 {
		t.Errorf("bad device ran %d attempts and %d tests failed; it should have been quarantined after 8", badAttempts, failed)
	}
}
