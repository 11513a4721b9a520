package demo

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// stack holds what the demo started, to be stopped in reverse order: the agents before the
// devices they drive, the devices before the adb server, the collector before the database.
// Every stop gets its own deadline and runs even when the demo's context was cancelled
// (Ctrl-C), so nothing outlives the demo.
type stack struct {
	items []stackItem
}

type stackItem struct {
	what string
	stop func(context.Context) error
}

func (s *stack) push(what string, stop func(context.Context) error) {
	s.items = append(s.items, stackItem{what, stop})
}

// unwind stops everything, newest first, and reports what failed to stop.
func (s *stack) unwind(ctx context.Context, each time.Duration) error {
	var errs []error
	for i := len(s.items) - 1; i >= 0; i-- {
		it := s.items[i]
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), each)
		if err := it.stop(sctx); err != nil {
			errs = append(errs, fmt.Errorf("stop %s: %w", it.what, err))
		}
		cancel()
	}
	s.items = nil
	return errors.Join(errs...)
}
