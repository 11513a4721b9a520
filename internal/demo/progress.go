package demo

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"
)

// Step is one numbered step of the demo as it ran, for the summary and the report.
type Step struct {
	What     string
	Detail   string
	Duration time.Duration
	Err      error
}

// progress prints numbered steps with their duration ("[n/N] what ... done in Xs (detail)"),
// so a demo that takes minutes never looks stuck; a step that runs long prints its own
// sub-progress lines through note.
type progress struct {
	mu    sync.Mutex
	out   io.Writer
	total int
	n     int
	open  bool // the current step's line has no newline yet
	steps []Step
}

func (p *progress) step(ctx context.Context, what string, fn func(context.Context) (string, error)) error {
	p.mu.Lock()
	p.n++
	fmt.Fprintf(p.out, "[%d/%d] %s ... ", p.n, p.total, what)
	p.open = true
	p.mu.Unlock()
	start := time.Now()
	detail, err := fn(ctx)
	d := time.Since(start)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.open {
		p.open = false
	} else {
		fmt.Fprintf(p.out, "[%d/%d] %s ... ", p.n, p.total, what)
	}
	p.steps = append(p.steps, Step{What: what, Detail: detail, Duration: d, Err: err})
	if err != nil {
		fmt.Fprintf(p.out, "failed after %.1fs\n", d.Seconds())
		return fmt.Errorf("%s: %w", what, err)
	}
	fmt.Fprintf(p.out, "done in %.1fs", d.Seconds())
	if detail != "" {
		fmt.Fprintf(p.out, " (%s)", detail)
	}
	fmt.Fprintln(p.out)
	return nil
}

// note prints an indented line under the running step (e.g. a farm run's progress).
func (p *progress) note(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.open {
		fmt.Fprintln(p.out)
		p.open = false
	}
	fmt.Fprintf(p.out, "      "+format+"\n", args...)
}
