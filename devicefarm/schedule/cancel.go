package schedule

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
)

// ErrNoRun: the run id names no run.
var ErrNoRun = errors.New("no such run")

// ErrRunEnded matches (errors.Is) a RunEndedError.
var ErrRunEnded = errors.New("run already ended")

// RunEndedError: the run was no longer queued or running, so there was nothing to cancel.
type RunEndedError struct {
	RunID int64
	State string // passed, failed, error or cancelled
}

func (e *RunEndedError) Error() string { return fmt.Sprintf("run %d is already %s", e.RunID, e.State) }

// Is makes errors.Is(err, ErrRunEnded) hold.
func (e *RunEndedError) Is(target error) bool { return target == ErrRunEnded }

// Cancel ends a queued or running run as 'cancelled' with reason, in one statement
// (farm_cancel in 003_farm.sql): its queued and leased work is cancelled, so agents lose
// their leases at their next record or heartbeat and get no more work from it; unfinished
// tests end 'skipped'; the devices it held go idle; the state change notifies fleetlens_runs.
// db should be a pool or a connection, not a transaction: a deadlock with an agent's report
// is retried.
func Cancel(ctx context.Context, db Querier, runID int64, reason string) error {
	if reason == "" {
		reason = "cancelled"
	}
	var state *string
	var err error
	for try := 0; try < 3; try++ {
		err = db.QueryRow(ctx, `SELECT farm_cancel($1, $2)`, runID, reason).Scan(&state)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "40P01" { // deadlock_detected: the other side went on
			break
		}
	}
	switch {
	case err != nil:
		return fmt.Errorf("cancel run %d: %w", runID, err)
	case state == nil:
		return fmt.Errorf("run %d: %w", runID, ErrNoRun)
	case *state != "queued" && *state != "running":
		return &RunEndedError{RunID: runID, State: *state}
	}
	return nil
}
