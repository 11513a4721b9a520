package data

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetlens/fleetlens/devicefarm/suite"
)

// FarmAdapter starts and cancels runs through the device farm's own packages.
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
	return 0, ErrNoFarm
}

// CancelRun implements Farm.
func (f *FarmAdapter) CancelRun(ctx context.Context, id int64, reason string) error {
	return ErrNoFarm
}
