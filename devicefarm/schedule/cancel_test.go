package schedule

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetlens/fleetlens/internal/pg/pgtest"
)

// listenRuns LISTENs on fleetlens_runs on a connection of its own and returns a function
// that waits for the state notification of one run.
func listenRuns(t *testing.T, pool *pgxpool.Pool) func(run int64, state string) error {
	t.Helper()
	ctx := context.Background()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Release)
	if _, err := conn.Exec(ctx, "LISTEN fleetlens_runs"); err != nil {
		t.Fatal(err)
	}
	return func(run int64, state string) error {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		for {
			n, err := conn.Conn().WaitForNotification(ctx)
			if err != nil {
				return err
			}
			var p struct {
				Run   int64  `json:"run"`
				State string `json:"state"`
				Event string `json:"event"`
			}
			if json.Unmarshal([]byte(n.Payload), &p) == nil && p.Run == run && p.Event == "state" && p.State == state {
				return nil
			}
		}
	}
}

func TestCancel(t *testing.T) {
	type setup struct {
		run   int64
		lease *Lease // held by host h1 when Cancel is called
		other int64  // a second run on the same devices that must go on
	}
	for _, tc := range []struct {
		name    string
		prepare func(t *testing.T, ctx context.Context, pool *pgxpool.Pool, q *Queue, devs []DeviceRef) setup
		wantErr string
		is      error
		before  string // the run's state the failed cancel leaves alone
	}{
		{name: "queued, never claimed", prepare: func(t *testing.T, ctx context.Context, pool *pgxpool.Pool, q *Queue, devs []DeviceRef) setup {
			return setup{run: enqueue(t, pool, devs, 0)}
		}},
		{name: "running, lease in flight, devices reserved", prepare: func(t *testing.T, ctx context.Context, pool *pgxpool.Pool, q *Queue, devs []DeviceRef) setup {
			run := enqueue(t, pool, devs, 1)
			l, err := q.Claim(ctx, "d1")
			if err != nil || l == nil || l.RunID != run || len(l.Tests) < 2 {
				t.Fatalf("claim: %+v %v", l, err)
			}
			if _, err := q.Record(ctx, l, Attempt{TestID: l.Tests[0].ID, Status: "passed"}); err != nil {
				t.Fatal(err)
			}
			return setup{run: run, lease: l, other: enqueue(t, pool, devs, 0)}
		}},
		{name: "already passed", wantErr: "is already passed", is: ErrRunEnded, before: "passed",
			prepare: func(t *testing.T, ctx context.Context, pool *pgxpool.Pool, q *Queue, devs []DeviceRef) setup {
				run := enqueue(t, pool, devs, 0)
				drain(t, q, []string{"d1", "d2", "d3"}, func(ClaimedTest, int) string { return "passed" })
				return setup{run: run}
			}},
		{name: "cancelled twice", wantErr: "is already cancelled", is: ErrRunEnded, before: "cancelled",
			prepare: func(t *testing.T, ctx context.Context, pool *pgxpool.Pool, q *Queue, devs []DeviceRef) setup {
				run := enqueue(t, pool, devs, 0)
				if err := Cancel(ctx, pool, run, "first"); err != nil {
					t.Fatal(err)
				}
				return setup{run: run}
			}},
		{name: "unknown run", wantErr: "run 4242: no such run", is: ErrNoRun,
			prepare: func(t *testing.T, ctx context.Context, pool *pgxpool.Pool, q *Queue, devs []DeviceRef) setup {
				return setup{run: 4242}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool := pgtest.New(t)
			ctx := context.Background()
			devs := addFleet(t, pool, "h1", "d1", "d2", "d3")
			q := &Queue{DB: pool, HostID: "h1", TTL: 30 * time.Second}
			s := tc.prepare(t, ctx, pool, q, devs)
			wait := listenRuns(t, pool)

			err := Cancel(ctx, pool, s.run, "stopped by QA")
			if tc.wantErr != "" {
				if err == nil || !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("cancel: %v, want %q (%v)", err, tc.wantErr, tc.is)
				}
				if tc.before != "" {
					if st := runState(t, pool, s.run); st != tc.before {
						t.Errorf("a refused cancel changed the run to %s, want %s", st, tc.before)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := wait(s.run, "cancelled"); err != nil {
				t.Errorf("no NOTIFY fleetlens_runs for the cancelled run: %v", err)
			}
			var state, reason string
			var finished bool
			var open, reservations int
			if err := pool.QueryRow(ctx, `SELECT state, state_reason, finished_at IS NOT NULL,
				(SELECT count(*) FROM farm_work_items WHERE run_id = r.id AND state IN ('queued', 'leased')),
				(SELECT count(*) FROM farm_reservations WHERE run_id = r.id)
				FROM farm_runs r WHERE id = $1`, s.run).Scan(&state, &reason, &finished, &open, &reservations); err != nil {
				t.Fatal(err)
			}
			if state != "cancelled" || reason != "stopped by QA" || !finished || open != 0 || reservations != 0 {
				t.Errorf("run after cancel: state %s reason %q finished %v, %d open items, %d reservations; want cancelled, no open work",
					state, reason, finished, open, reservations)
			}
			for m, v := range verdicts(t, pool, s.run) {
				want := "skipped"
				if s.lease != nil && m == s.lease.Tests[0].Method {
					want = "passed" // reported before the cancel: kept
				}
				if v != want {
					t.Errorf("test %s: %s, want %s", m, v, want)
				}
			}
			if s.lease != nil {
				held, err := q.Heartbeat(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if held[s.lease.ItemID] {
					t.Errorf("heartbeat still holds item %d of the cancelled run", s.lease.ItemID)
				}
				if _, err := q.Record(ctx, s.lease, Attempt{TestID: s.lease.Tests[1].ID, Status: "passed"}); !errors.Is(err, ErrLeaseLost) {
					t.Errorf("record under the cancelled lease: %v, want ErrLeaseLost", err)
				}
				if err := q.Complete(ctx, s.lease); !errors.Is(err, ErrLeaseLost) {
					t.Errorf("complete of the cancelled lease: %v, want ErrLeaseLost", err)
				}
				var devState string
				var current *int64
				if err := pool.QueryRow(ctx, `SELECT state, current_run FROM devices WHERE serial = 'd1'`).Scan(&devState, &current); err != nil {
					t.Fatal(err)
				}
				if devState != "idle" || current != nil {
					t.Errorf("device of the lost lease: %s, current run %v; want idle, none", devState, current)
				}
			}
			// Agents get no more work from the cancelled run; another run goes on.
			otherWork := 0
			for _, serial := range []string{"d1", "d2", "d3"} {
				l, err := q.Claim(ctx, serial)
				if err != nil {
					t.Fatal(err)
				}
				if l != nil && l.RunID == s.run {
					t.Fatalf("%s claimed item %d of the cancelled run", serial, l.ItemID)
				}
				if l != nil {
					otherWork++
				}
			}
			if s.other != 0 && otherWork == 0 {
				t.Errorf("no device got work from run %d after the other run's cancel", s.other)
			}
			if s.other != 0 {
				if st := runState(t, pool, s.other); st != "queued" && st != "running" {
					t.Errorf("the other run is %s, want it still going", st)
				}
			}
		})
	}
}

// enqueue queues 6 tests on devs in several items; reserve devices are held for the run.
func enqueue(t *testing.T, pool *pgxpool.Pool, devs []DeviceRef, reserve int) int64 {
	t.Helper()
	e, err := Enqueue(context.Background(), pool, RunSpec{SuiteName: "cancel", SuiteSource: "x", AppID: "com.example", Release: "1.0",
		Tests: tests(6), Devices: devs, Reserve: reserve, Plan: PlanConfig{Devices: 2, BatchesPerDevice: 1, LastMile: 0.01}})
	if err != nil {
		t.Fatal(err)
	}
	return e.RunID
}

func runState(t *testing.T, pool *pgxpool.Pool, run int64) string {
	t.Helper()
	var s string
	if err := pool.QueryRow(context.Background(), `SELECT state FROM farm_runs WHERE id = $1`, run).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}
