package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// How COPY and retry dedupe combine: COPY cannot skip conflicting rows, and INSERT ... ON
// CONFLICT cannot stream like COPY. Retries are rare, so each batch is first COPYed straight
// into the partitioned table under a savepoint (the fast path, no second copy of the data).
// Only when that hits a unique violation (a retried span, or the same span twice in a
// batch) is the savepoint rolled back and the batch COPYed into a per-connection temporary
// staging table and moved with INSERT ... SELECT ... ON CONFLICT DO NOTHING RETURNING, which
// tells exactly which rows were new so the rollups count each span once.
// BenchmarkInsertPaths measures both paths.

type spanKey struct {
	trace [16]byte
	span  [8]byte
	start int64
	app   string
}

type eventKey struct {
	hash [16]byte
	time int64
	app  string
}

// forceStaging makes every batch take the staging path (benchmarks compare the two).
var forceStaging = false

func insertSpans(ctx context.Context, tx pgx.Tx, shard int16, rows []SpanRow) (int, error) {
	if len(rows) == 0 {
		return 0, nil
	}
	if !forceStaging {
		ok, err := copyFast(ctx, tx, "spans", func(tx pgx.Tx) error { return copySpans(ctx, tx, "spans", rows) })
		if err != nil {
			return 0, err
		}
		if ok {
			return len(rows), upsertSpanRollups(ctx, tx, shard, rows, func(int) bool { return true })
		}
	}
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE IF NOT EXISTS spans_stage (LIKE spans) ON COMMIT DELETE ROWS`); err != nil {
		return 0, fmt.Errorf("create spans_stage: %w", err)
	}
	if err := copySpans(ctx, tx, "spans_stage", rows); err != nil {
		return 0, fmt.Errorf("copy into spans_stage: %w", err)
	}
	res, err := tx.Query(ctx, `INSERT INTO spans SELECT * FROM spans_stage ON CONFLICT DO NOTHING
RETURNING trace_id, span_id, start_time, app_id`)
	if err != nil {
		return 0, fmt.Errorf("move spans_stage into spans: %w", err)
	}
	fresh := make(map[spanKey]bool)
	for res.Next() {
		var tid, sid []byte
		var k spanKey
		var st time.Time
		if err := res.Scan(&tid, &sid, &st, &k.app); err != nil {
			res.Close()
			return 0, fmt.Errorf("read inserted span keys: %w", err)
		}
		copy(k.trace[:], tid)
		copy(k.span[:], sid)
		k.start = st.UnixMicro()
		fresh[k] = true
	}
	if err := res.Err(); err != nil {
		return 0, fmt.Errorf("move spans_stage into spans: %w", err)
	}
	n := len(fresh)
	err = upsertSpanRollups(ctx, tx, shard, rows, func(i int) bool {
		r := &rows[i]
		k := spanKey{r.TraceID, r.SpanID, r.StartTime.UnixMicro(), r.AppID}
		if fresh[k] {
			delete(fresh, k) // the same span twice in one batch counts once
			return true
		}
		return false
	})
	return n, err
}

func insertEvents(ctx context.Context, tx pgx.Tx, shard int16, rows []EventRow) (int, error) {
	if len(rows) == 0 {
		return 0, nil
	}
	if !forceStaging {
		ok, err := copyFast(ctx, tx, "events", func(tx pgx.Tx) error { return copyEvents(ctx, tx, "events", rows) })
		if err != nil {
			return 0, err
		}
		if ok {
			return len(rows), upsertEventRollups(ctx, tx, shard, rows, func(int) bool { return true })
		}
	}
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE IF NOT EXISTS events_stage (LIKE events) ON COMMIT DELETE ROWS`); err != nil {
		return 0, fmt.Errorf("create events_stage: %w", err)
	}
	if err := copyEvents(ctx, tx, "events_stage", rows); err != nil {
		return 0, fmt.Errorf("copy into events_stage: %w", err)
	}
	res, err := tx.Query(ctx, `INSERT INTO events SELECT * FROM events_stage ON CONFLICT DO NOTHING
RETURNING record_hash, time, app_id`)
	if err != nil {
		return 0, fmt.Errorf("move events_stage into events: %w", err)
	}
	fresh := make(map[eventKey]bool)
	for res.Next() {
		var h []byte
		var k eventKey
		var t time.Time
		if err := res.Scan(&h, &t, &k.app); err != nil {
			res.Close()
			return 0, fmt.Errorf("read inserted event keys: %w", err)
		}
		copy(k.hash[:], h)
		k.time = t.UnixMicro()
		fresh[k] = true
	}
	if err := res.Err(); err != nil {
		return 0, fmt.Errorf("move events_stage into events: %w", err)
	}
	n := len(fresh)
	err = upsertEventRollups(ctx, tx, shard, rows, func(i int) bool {
		r := &rows[i]
		k := eventKey{r.RecordHash, r.Time.UnixMicro(), r.AppID}
		if fresh[k] {
			delete(fresh, k)
			return true
		}
		return false
	})
	return n, err
}

// copyFast COPYs src into table under a savepoint. It reports false (and leaves the
// transaction usable) when the COPY hit a unique violation.
func copyFast(ctx context.Context, tx pgx.Tx, table string, copyIn func(pgx.Tx) error) (bool, error) {
	sp, err := tx.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("savepoint before copy into %s: %w", table, err)
	}
	if err := copyIn(sp); err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23505" {
			if rerr := sp.Rollback(ctx); rerr != nil {
				return false, fmt.Errorf("rollback to savepoint after duplicate in %s: %w", table, rerr)
			}
			return false, nil
		}
		return false, fmt.Errorf("copy into %s: %w", table, err)
	}
	if err := sp.Commit(ctx); err != nil {
		return false, fmt.Errorf("release savepoint after copy into %s: %w", table, err)
	}
	return true, nil
}
