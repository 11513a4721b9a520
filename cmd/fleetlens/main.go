// Command fleetlens is the one binary of the fleetlens toolkit: the managed database, the
// OTLP collector, the device agent, the device simulators, the farm client, the release gate
// and the TUI are its subcommands. This package holds flags and wiring only.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

// run executes the command line and maps errors to exit codes: an *exitError carries its own
// code, anything else is a usage or internal error (2), as the CLI contract requires.
func run(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCmd()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(os.Stderr, "fleetlens:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(os.Stderr, "fleetlens:", err)
	return 2
}

// exitError ends the process with a specific exit code (e.g. the gate's 1 and 3).
type exitError struct {
	code int
	err  error // printed when non-nil
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// withExitCode wraps err so that the process exits with code.
func withExitCode(code int, err error) error { return &exitError{code: code, err: err} }
