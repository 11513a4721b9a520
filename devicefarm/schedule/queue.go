package schedule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ErrLeaseLost: the work item's lease is no longer ours (it expired and was reaped, or the
// run was cancelled); the caller must stop working on it and drop its results.
var ErrLeaseLost = errors.New("lease lost")

// Queue is the agent's handle on the work queue.
type Queue struct {
	DB     Querier
	HostID string
	TTL    time.Duration // lease TTL; heartbeats must come well within it
}

// ClaimedTest is one test of a claimed item.
type ClaimedTest struct {
	ID         int64  `json:"id"`
	Class      string `json:"class"`
	Method     string `json:"method"`
	ExpectedMS int    `json:"expected_ms"`
}

// Lease is a claimed work item.
type Lease struct {
	ItemID   int64
	RunID    int64
	LeaseNo  int
	Kind     string
	Profile  string
	Expected time.Duration
	Tests    []ClaimedTest
}

// Claim leases the next item for serial, or returns (nil, nil) when there is none.
func (q *Queue) Claim(ctx context.Context, serial string) (*Lease, error) {
	var l Lease
	var exp int
	var tests []byte
	err := q.DB.QueryRow(ctx, `SELECT item_id, run_id, lease_no, kind, profile, expected_ms, tests
		FROM farm_claim($1, $2, $3)`, q.HostID, serial, int(q.ttl()/time.Millisecond)).
		Scan(&l.ItemID, &l.RunID, &l.LeaseNo, &l.Kind, &l.Profile, &exp, &tests)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("claim work for %s: %w", serial, err)
	}
	l.Expected = time.Duration(exp) * time.Millisecond
	if err := json.Unmarshal(tests, &l.Tests); err != nil {
		return nil, fmt.Errorf("claim work for %s: decode tests: %w", serial, err)
	}
	return &l, nil
}

func (q *Queue) ttl() time.Duration {
	if q.TTL <= 0 {
		return 30 * time.Second
	}
	return q.TTL
}

// Attempt is one test execution to record.
type Attempt struct {
	TestID      int64
	Status      string // passed failed error skipped infra
	InfraReason string
	Duration    time.Duration
	Message     string
	Stack       string
	LogExcerpt  string
	CrashKind   string
	Crash       string
	Screenshot  string
	ArtifactDir string
	StartedAt   time.Time
}

// Record stores an attempt under the lease and returns the test's status afterwards.
func (q *Queue) Record(ctx context.Context, l *Lease, a Attempt) (string, error) {
	var status string
	started := a.StartedAt
	if started.IsZero() {
		started = time.Now()
	}
	err := q.DB.QueryRow(ctx, `SELECT farm_record($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15)`,
		l.ItemID, l.LeaseNo, q.HostID, a.TestID, a.Status, a.InfraReason, int(a.Duration/time.Millisecond),
		a.Message, a.Stack, a.LogExcerpt, a.CrashKind, a.Crash, a.Screenshot, a.ArtifactDir, started).Scan(&status)
	if err != nil {
		return "", leaseErr(fmt.Errorf("record test %d of item %d: %w", a.TestID, l.ItemID, err))
	}
	return status, nil
}

// Complete ends the lease; unreported tests go back to the queue.
func (q *Queue) Complete(ctx context.Context, l *Lease) error {
	var ok bool
	if err := q.DB.QueryRow(ctx, `SELECT farm_complete($1,$2,$3)`, l.ItemID, l.LeaseNo, q.HostID).Scan(&ok); err != nil {
		return fmt.Errorf("complete item %d: %w", l.ItemID, err)
	}
	if !ok {
		return fmt.Errorf("complete item %d: %w", l.ItemID, ErrLeaseLost)
	}
	return nil
}

// Release gives the unreported tests back after an infrastructure failure.
func (q *Queue) Release(ctx context.Context, l *Lease, reason, message string) error {
	var ok bool
	if err := q.DB.QueryRow(ctx, `SELECT farm_release($1,$2,$3,$4)`, l.ItemID, l.LeaseNo, reason, message).Scan(&ok); err != nil {
		return fmt.Errorf("release item %d: %w", l.ItemID, err)
	}
	if !ok {
		return fmt.Errorf("release item %d: %w", l.ItemID, ErrLeaseLost)
	}
	return nil
}

// Heartbeat marks the host alive, extends its leases and returns the item ids it still holds.
func (q *Queue) Heartbeat(ctx context.Context) (map[int64]bool, error) {
	var held []int64
	if err := q.DB.QueryRow(ctx, `SELECT farm_heartbeat($1)`, q.HostID).Scan(&held); err != nil {
		return nil, fmt.Errorf("heartbeat of host %s: %w", q.HostID, err)
	}
	m := make(map[int64]bool, len(held))
	for _, id := range held {
		m[id] = true
	}
	return m, nil
}

// Reap returns expired leases to the queue and settles finished runs (claims do this too).
func (q *Queue) Reap(ctx context.Context) (int, error) {
	var n int
	if err := q.DB.QueryRow(ctx, `SELECT farm_reap()`).Scan(&n); err != nil {
		return 0, fmt.Errorf("reap expired leases: %w", err)
	}
	return n, nil
}

func leaseErr(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "P0002" {
		return fmt.Errorf("%w: %w", ErrLeaseLost, err)
	}
	return err
}
