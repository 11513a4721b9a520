package schedule

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetlens/fleetlens/internal/pg/pgtest"
)

// addFleet registers hosts and their devices as an agent would.
func addFleet(t *testing.T, pool *pgxpool.Pool, host string, serials ...string) []DeviceRef {
	t.Helper()
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `INSERT INTO hosts (id, hostname) VALUES ($1, $1) ON CONFLICT DO NOTHING`, host); err != nil {
		t.Fatal(err)
	}
	var refs []DeviceRef
	for i, s := range serials {
		model := fmt.Sprintf("M%d", i%2)
		if _, err := pool.Exec(ctx, `INSERT INTO devices (serial, platform, host_id, model, os_version) VALUES ($1, 'android', $2, $3, '13')`,
			s, host, model); err != nil {
			t.Fatal(err)
		}
		refs = append(refs, DeviceRef{Serial: s, Group: model + "|13"})
	}
	return refs
}

func tests(n int, extra ...string) []TestKey {
	var ts []TestKey
	for i := 0; i < n; i++ {
		ts = append(ts, TestKey{"com.example.LoginTest", fmt.Sprintf("t%02d", i)})
	}
	for _, m := range extra {
		ts = append(ts, TestKey{"com.example.EdgeTest", m})
	}
	return ts
}

// drain runs every claimable item on the given devices with outcome(test, attemptNo) until
// the queue is empty, returning how many items ran.
func drain(t *testing.T, q *Queue, serials []string, outcome func(ClaimedTest, int) string) int {
	t.Helper()
	ctx := context.Background()
	seen := map[int64]int{}
	items := 0
	for idle := 0; idle < 3; {
		progressed := false
		for _, s := range serials {
			l, err := q.Claim(ctx, s)
			if err != nil {
				t.Fatal(err)
			}
			if l == nil {
				continue
			}
			progressed = true
			items++
			for _, ct := range l.Tests {
				seen[ct.ID]++
				st := outcome(ct, seen[ct.ID])
				if _, err := q.Record(ctx, l, Attempt{TestID: ct.ID, Status: st, Duration: 10 * time.Millisecond, Message: st}); err != nil {
					t.Fatal(err)
				}
			}
			if err := q.Complete(ctx, l); err != nil {
				t.Fatal(err)
			}
		}
		if !progressed {
			idle++
		}
	}
	return items
}

func verdicts(t *testing.T, pool *pgxpool.Pool, run int64) map[string]string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT method, status FROM farm_run_tests WHERE run_id = $1`, run)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	m := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			t.Fatal(err)
		}
		m[k] = v
	}
	return m
}

func TestRetriesFlakyAndFailures(t *testing.T) {
	pool := pgtest.New(t)
	ctx := context.Background()
	devs := addFleet(t, pool, "h1", "d1", "d2", "d3")
	enq, err := Enqueue(ctx, pool, RunSpec{SuiteName: "smoke", SuiteSource: "x", AppID: "com.example", Release: "1.0",
		Tests: tests(10, "flaky", "broken", "infra"), Devices: devs, MaxRetries: 2})
	if err != nil {
		t.Fatal(err)
	}
	q := &Queue{DB: pool, HostID: "h1", TTL: 10 * time.Second}
	drain(t, q, []string{"d1", "d2", "d3"}, func(ct ClaimedTest, n int) string {
		switch {
		case ct.Method == "flaky" && n == 1:
			return "failed"
		case ct.Method == "broken":
			return "failed"
		case ct.Method == "infra" && n == 1:
			return "infra"
		}
		return "passed"
	})
	v := verdicts(t, pool, enq.RunID)
	if len(v) != 13 {
		t.Fatalf("want 13 tests accounted for, got %d", len(v))
	}
	for m, want := range map[string]string{"t00": "passed", "flaky": "flaky", "broken": "failed", "infra": "passed"} {
		if v[m] != want {
			t.Errorf("%s: verdict %q, want %q", m, v[m], want)
		}
	}
	// broken: 1 + max_retries attempts, each on a different device.
	var attempts, devices int
	if err := pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT serial) FROM farm_attempts a
		JOIN farm_run_tests t ON t.id = a.run_test_id WHERE t.method = 'broken'`).Scan(&attempts, &devices); err != nil {
		t.Fatal(err)
	}
	if attempts != 3 || devices != 3 {
		t.Errorf("broken: %d attempts on %d devices, want 3 on 3", attempts, devices)
	}
	// infra failures do not consume the retry quota.
	var retries int
	if err := pool.QueryRow(ctx, `SELECT retries FROM farm_run_tests WHERE method = 'infra'`).Scan(&retries); err != nil {
		t.Fatal(err)
	}
	if retries != 0 {
		t.Errorf("infra: %d test retries, want 0", retries)
	}
	var state string
	if err := pool.QueryRow(ctx, `SELECT state FROM farm_runs WHERE id = $1`, enq.RunID).Scan(&state); err != nil {
		t.Fatal(err)
	}
	if state != "failed" {
		t.Errorf("run state %q, want failed", state)
	}
}

func TestExpiredLeaseReturnsWork(t *testing.T) {
	pool := pgtest.New(t)
	ctx := context.Background()
	devs := addFleet(t, pool, "hA", "a1")
	devs = append(devs, addFleet(t, pool, "hB", "b1")...)
	enq, err := Enqueue(ctx, pool, RunSpec{SuiteName: "s", SuiteSource: "x", AppID: "com.example", Release: "1.0",
		Tests: tests(4), Devices: devs, Plan: PlanConfig{Devices: 1, BatchesPerDevice: 1, LastMile: 0.01}})
	if err != nil {
		t.Fatal(err)
	}
	qb := &Queue{DB: pool, HostID: "hB", TTL: 300 * time.Millisecond}
	lb, err := qb.Claim(ctx, "b1")
	if err != nil || lb == nil {
		t.Fatalf("claim: %v %v", lb, err)
	}
	if len(lb.Tests) < 2 {
		t.Fatalf("want a batch, got %d tests", len(lb.Tests))
	}
	if _, err := qb.Record(ctx, lb, Attempt{TestID: lb.Tests[0].ID, Status: "passed"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // hB "dies": no heartbeat
	qa := &Queue{DB: pool, HostID: "hA", TTL: 10 * time.Second}
	la, err := qa.Claim(ctx, "a1")
	if err != nil || la == nil {
		t.Fatalf("claim after expiry: %v %v", la, err)
	}
	if la.ItemID != lb.ItemID || len(la.Tests) != len(lb.Tests)-1 {
		t.Fatalf("reclaimed item %d with %d tests, want item %d with %d", la.ItemID, len(la.Tests), lb.ItemID, len(lb.Tests)-1)
	}
	// The late agent's result is refused: nothing counted twice.
	_, err = qb.Record(ctx, lb, Attempt{TestID: lb.Tests[1].ID, Status: "passed"})
	if !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("late record: %v, want ErrLeaseLost", err)
	}
	for _, ct := range la.Tests {
		if _, err := qa.Record(ctx, la, Attempt{TestID: ct.ID, Status: "passed"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := qa.Complete(ctx, la); err != nil {
		t.Fatal(err)
	}
	drain(t, qa, []string{"a1"}, func(ClaimedTest, int) string { return "passed" })
	var infra int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM farm_attempts WHERE status = 'infra' AND infra_reason = 'lease_expired'`).Scan(&infra); err != nil {
		t.Fatal(err)
	}
	if infra != 1 {
		t.Errorf("%d lease_expired attempts, want 1 (the test in flight)", infra)
	}
	for m, s := range verdicts(t, pool, enq.RunID) {
		if s != "passed" {
			t.Errorf("%s: %s", m, s)
		}
	}
}
