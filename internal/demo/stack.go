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
		// A stop that ignores its context (a library call without one) must not hold the
		// demo forever: after the deadline it is left behind and the unwind goes on.
		done := make(chan error, 1)
		go func() { done <- it.stop(sctx) }()
		select {
		case err := <-done:
			if err != nil {
				errs = append(errs, fmt.Errorf("stop %s: %w", it.what, err))
			}
		case <-time.After(each + time.Second):
			errs = append(errs, fmt.Errorf("stop %s: still not done after %v", it.what, each))
		}
		cancel()
	}
	s.items = nil
	return errors.Join(errs...)
}
