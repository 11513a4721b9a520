package data

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetlens/fleetlens/devicefarm/farmrun"
	"github.com/fleetlens/fleetlens/devicefarm/schedule"
	"github.com/fleetlens/fleetlens/devicefarm/suite"
)

// FarmAdapter starts and cancels runs through the device farm's own packages:
// devicefarm/farmrun turns the suite file and apps into a run spec exactly as `fleetlens farm
// run` does, devicefarm/schedule.Enqueue stores the run and its queue in one transaction and
// schedule.Cancel ends it.
type FarmAdapter struct {
	Pool *pgxpool.Pool
}

// NewFarm returns the farm adapter on pool.
func NewFarm(pool *pgxpool.Pool) *FarmAdapter { return &FarmAdapter{Pool: pool} }

// CheckSuite implements Farm: the farm's suite parser, its field errors made inline-friendly.
func (f *FarmAdapter) CheckSuite(ctx context.Context, path string) error {
	_, _, err := suite.Load(path)
	return suiteErr(path, err)
}

func suiteErr(path string, err error) error {
	var es suite.Errors
	if errors.As(err, &es) {
		out := &SuiteErrors{Path: path}
		for _, e := range es {
			out.Errors = append(out.Errors, SuiteError{Line: e.Line, Field: e.Field, Message: e.Msg})
		}
		return out
	}
	return err
}

// StartRun implements Farm.
func (f *FarmAdapter) StartRun(ctx context.Context, req StartRequest) (int64, error) {
	spec, err := farmrun.Prepare(ctx, f.Pool, farmrun.Options{SuitePath: req.SuitePath, AppPath: req.AppFile,
		TestAppPath: req.TestAppFile, Release: req.Release, Profile: req.Profile, StartedFrom: "tui"})
	if err != nil {
		return 0, suiteErr(req.SuitePath, err)
	}
	e, err := schedule.Enqueue(ctx, f.Pool, spec)
	if err != nil {
		return 0, fmt.Errorf("enqueue %s: %w", filepath.Base(req.SuitePath), err)
	}
	return e.RunID, nil
}

// CancelRun implements Farm.
func (f *FarmAdapter) CancelRun(ctx context.Context, id int64, reason string) error {
	return schedule.Cancel(ctx, f.Pool, id, reason)
}
