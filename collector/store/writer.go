// Package store owns how the collector persists telemetry: the spans and events tables
// (internal/pg/migrations/002_collector.sql), batched COPY with retry dedupe, incremental
// rollups, daily partitions with retention, and the Writer that group-commits concurrent
// requests and answers each one only after its rows are committed.
package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/semaphore"
)

var (
	// ErrOverloaded means the write queue is full: the caller should answer 429 / ResourceExhausted.
	ErrOverloaded = errors.New("write queue full")
	// ErrUnavailable means PostgreSQL cannot take writes now: answer 503 / Unavailable.
	ErrUnavailable = errors.New("database unavailable")
	// ErrStopped means the writer is shutting down.
	ErrStopped = errors.New("writer stopped")
)

// InvalidError means PostgreSQL refused a request's rows as data (not a transient failure);
// retrying the same rows cannot succeed.
type InvalidError struct{ Err error }

func (e *InvalidError) Error() string { return "rows rejected by database: " + e.Err.Error() }
func (e *InvalidError) Unwrap() error { return e.Err }

// WriterConfig sizes the writer.
type WriterConfig struct {
	Workers       int           // concurrent write transactions
	MaxBatchRows  int           // rows per transaction when coalescing queued requests
	MaxQueueBytes int64         // memory budget of queued, uncommitted rows
	RetryAfter    time.Duration // how long the writer stays unavailable after a failure before probing
}

// WriterObserver receives the writer's measurements (collector metrics implement it).
type WriterObserver interface {
	Committed(spans, events, dupSpans, dupEvents int, took time.Duration)
	Failed(err error)
	QueueBytes(n int64)
}

type nopObserver struct{}

func (nopObserver) Committed(int, int, int, int, time.Duration) {}
func (nopObserver) Failed(error)                                {}
func (nopObserver) QueueBytes(int64)                            {}

// Writer group-commits Write calls into PostgreSQL.
type Writer struct {
	cfg     WriterConfig
	pool    *pgxpool.Pool
	res     *resourceCache
	obs     WriterObserver
	q       chan *request
	budget  *semaphore.Weighted
	queued  atomic.Int64
	down    atomic.Bool // set on a transient failure, cleared by a successful probe
	stop    chan struct{}
	stopped atomic.Bool
	wg      sync.WaitGroup
	mu      sync.Mutex // guards closing q
}

type request struct {
	ctx    context.Context
	spans  []SpanRow
	events []EventRow
	size   int64
	done   chan error
}

// NewWriter returns a writer on pool; call Start before Write.
func NewWriter(pool *pgxpool.Pool, cfg WriterConfig, obs WriterObserver) *Writer {
	if obs == nil {
		obs = nopObserver{}
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 2
	}
	if cfg.MaxBatchRows <= 0 {
		cfg.MaxBatchRows = 8192
	}
	if cfg.MaxQueueBytes <= 0 {
		cfg.MaxQueueBytes = 32 << 20
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = time.Second
	}
	return &Writer{cfg: cfg, pool: pool, obs: obs, res: newResourceCache(100_000), q: make(chan *request, 4096),
		budget: semaphore.NewWeighted(cfg.MaxQueueBytes), stop: make(chan struct{})}
}

// Start launches the workers and the availability prober.
func (w *Writer) Start(ctx context.Context) {
	for i := range w.cfg.Workers {
		w.wg.Add(1)
		go w.work(int16(i))
	}
	w.wg.Add(1)
	go w.probe()
}

// Available reports whether the writer currently accepts writes (for /readyz).
func (w *Writer) Available() bool { return !w.down.Load() && !w.stopped.Load() }

// Write stores spans and events in one transaction (possibly shared with other requests)
// and returns nil only after that transaction committed. Duplicates of rows already stored
// are skipped. It never blocks on a full queue: it returns ErrOverloaded instead.
func (w *Writer) Write(ctx context.Context, spans []SpanRow, events []EventRow) error {
	if len(spans) == 0 && len(events) == 0 {
		return nil
	}
	if w.stopped.Load() {
		return ErrStopped
	}
	if w.down.Load() {
		return ErrUnavailable
	}
	var size int64
	for i := range spans {
		size += spans[i].approxSize()
	}
	for i := range events {
		size += events[i].approxSize()
	}
	size = min(size, w.cfg.MaxQueueBytes) // a single huge request still gets in, alone
	if !w.budget.TryAcquire(size) {
		return ErrOverloaded
	}
	w.obs.QueueBytes(w.queued.Add(size))
	req := &request{ctx: ctx, spans: spans, events: events, size: size, done: make(chan error, 1)}
	w.mu.Lock()
	if w.stopped.Load() {
		w.mu.Unlock()
		w.release(req)
		return ErrStopped
	}
	select {
	case w.q <- req:
		w.mu.Unlock()
	default:
		w.mu.Unlock()
		w.release(req)
		return ErrOverloaded
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		// The rows may still commit; the client's retry is then deduplicated.
		return fmt.Errorf("waiting for commit: %w", ctx.Err())
	}
}

func (w *Writer) release(r *request) {
	w.budget.Release(r.size)
	w.obs.QueueBytes(w.queued.Add(-r.size))
}

// work is one writer slot; shard keeps its rollup rows apart from the other slots'.
func (w *Writer) work(shard int16) {
	defer w.wg.Done()
	for first := range w.q {
		var group []*request
		rows := 0
		add := func(r *request) {
			// A request whose caller already gave up was answered 503 and will be resent:
			// writing it now would only slow the queue down when it is already too long.
			if err := r.ctx.Err(); err != nil && !w.stopped.Load() {
				w.finish(r, err)
				return
			}
			group = append(group, r)
			rows += len(r.spans) + len(r.events)
		}
		add(first)
	drain:
		for rows < w.cfg.MaxBatchRows {
			select {
			case r, ok := <-w.q:
				if !ok {
					break drain
				}
				add(r)
			default:
				break drain
			}
		}
		if len(group) > 0 {
			w.commitGroup(shard, group)
		}
	}
}

// commitGroup commits a group in one transaction. When PostgreSQL rejects the data itself,
// each request is retried alone so one bad request cannot fail the others.
func (w *Writer) commitGroup(shard int16, group []*request) {
	err := w.commitRetry(shard, group)
	var inv *InvalidError
	if errors.As(err, &inv) && len(group) > 1 {
		for _, r := range group {
			w.finish(r, w.commitRetry(shard, []*request{r}))
		}
		return
	}
	for _, r := range group {
		w.finish(r, err)
	}
}

func (w *Writer) finish(r *request, err error) {
	r.done <- err
	w.release(r)
}

func (w *Writer) commitRetry(shard int16, group []*request) error {
	var spans []SpanRow
	var events []EventRow
	if len(group) == 1 {
		spans, events = group[0].spans, group[0].events
	} else {
		for _, r := range group {
			spans = append(spans, r.spans...)
			events = append(events, r.events...)
		}
	}
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		err = w.commit(shard, spans, events)
		if err == nil {
			return nil
		}
		var pe *pgconn.PgError
		if errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001") {
			continue // deadlock or serialization failure: retry at once
		}
		break
	}
	if isDataError(err) {
		return &InvalidError{Err: err}
	}
	w.obs.Failed(err)
	if w.down.CompareAndSwap(false, true) {
		slog.Warn("collector store: database write failed; answering 503 until it recovers", "err", err)
	}
	return fmt.Errorf("%w: %v", ErrUnavailable, err)
}

func (w *Writer) commit(shard int16, spans []SpanRow, events []EventRow) error {
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var ns, ne int
	var newRes []resKey
	err := pgx.BeginFunc(ctx, w.pool, func(tx pgx.Tx) error {
		var err error
		if newRes, err = upsertResources(ctx, tx, w.res, spans, events); err != nil {
			return err
		}
		if ns, err = insertSpans(ctx, tx, shard, spans); err != nil {
			return err
		}
		ne, err = insertEvents(ctx, tx, shard, events)
		return err
	})
	if err != nil {
		return err
	}
	w.res.add(newRes)
	w.obs.Committed(ns, ne, len(spans)-ns, len(events)-ne, time.Since(t0))
	return nil
}

// isDataError tells a refusal of the data (retrying cannot help) from a transient failure.
// A missing partition (23514) or table (42P01) is an operator problem that will be fixed:
// clients must retry, not drop, so those count as transient.
func isDataError(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	switch {
	case pe.Code == "23514":
		return false
	case strings.HasPrefix(pe.Code, "22"), strings.HasPrefix(pe.Code, "23"), strings.HasPrefix(pe.Code, "54"):
		return true
	}
	return false
}

// probe clears the unavailable state once PostgreSQL answers again.
func (w *Writer) probe() {
	defer w.wg.Done()
	t := time.NewTicker(w.cfg.RetryAfter / 2)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
		}
		if !w.down.Load() {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		var one int
		err := w.pool.QueryRow(ctx, "SELECT 1").Scan(&one)
		cancel()
		if err == nil {
			w.down.Store(false)
			slog.Info("collector store: database reachable again")
		}
	}
}

// Shutdown stops accepting writes and waits until queued writes are committed or ctx ends.
func (w *Writer) Shutdown(ctx context.Context) error {
	w.mu.Lock()
	if !w.stopped.Swap(true) {
		close(w.q)
		close(w.stop)
	}
	w.mu.Unlock()
	done := make(chan struct{})
	go func() { w.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("collector store: queued writes not finished: %w", ctx.Err())
	}
}
