package query

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// ReleaseInfo summarises one release of an app.
type ReleaseInfo struct {
	Release             string
	FirstSeen, LastSeen time.Time // minutes with data
	Spans               int64
	Sessions            int64 // session.start events
}

// Releases lists the releases of app with data, newest first.
func (s *Store) Releases(ctx context.Context, app string) ([]ReleaseInfo, error) {
	out, err := collect(ctx, s, `
SELECT release, min(first), max(last), sum(spans)::bigint, sum(sessions)::bigint FROM (
  SELECT release, min(minute) first, max(minute) last, sum(span_count) spans, 0 sessions
  FROM span_rollups WHERE app_id = $1 GROUP BY release
  UNION ALL
  SELECT release, min(minute), max(minute), 0, sum(event_count) FILTER (WHERE name = 'session.start')
  FROM event_rollups WHERE app_id = $1 GROUP BY release) r
GROUP BY release ORDER BY max(last) DESC, release`, []any{app}, func(r pgx.CollectableRow) (ReleaseInfo, error) {
		var ri ReleaseInfo
		var sessions *int64
		err := r.Scan(&ri.Release, &ri.FirstSeen, &ri.LastSeen, &ri.Spans, &sessions)
		if sessions != nil {
			ri.Sessions = *sessions
		}
		return ri, err
	})
	if err != nil {
		return nil, fmt.Errorf("query releases of %s: %w", app, err)
	}
	return out, nil
}

// SpanStats are span aggregates of one group.
type SpanStats struct {
	Group     Group
	Count     int64
	Errors    int64 // status error or HTTP 5xx
	Slow      int64 // excessive app starts
	MeanMS    float64
	MaxMS     float64
	ErrorRate float64 // Errors / Count
}

// Spans aggregates span_rollups for f, grouped by dims.
func (s *Store) Spans(ctx context.Context, f Filter, dims ...Dim) ([]SpanStats, error) {
	where, args, gc, err := f.grouped("minute", true, dims)
	if err != nil {
		return nil, err
	}
	sql := `SELECT ` + keySelect(gc) + `, sum(span_count)::bigint, sum(error_count)::bigint, sum(slow_count)::bigint,
sum(duration_sum_ms), max(duration_max_ms) FROM span_rollups WHERE ` + where + groupBy(gc)
	out, err := collect(ctx, s, sql, args, func(r pgx.CollectableRow) (SpanStats, error) {
		var st SpanStats
		var cnt, errs, slow *int64
		var sum, mx *float64
		if err := r.Scan(&st.Group, &cnt, &errs, &slow, &sum, &mx); err != nil {
			return st, err
		}
		if cnt == nil || *cnt == 0 {
			return st, nil
		}
		st.Count, st.Errors, st.Slow, st.MaxMS = *cnt, *errs, *slow, *mx
		st.MeanMS = *sum / float64(st.Count)
		st.ErrorRate = float64(st.Errors) / float64(st.Count)
		return st, nil
	})
	if err != nil {
		return nil, fmt.Errorf("query spans of %s %s: %w", f.App, f.Release, err)
	}
	if len(dims) == 0 && len(out) == 1 && out[0].Count == 0 {
		return nil, nil
	}
	return out, nil
}

// EventCount is the number of events of one name and class in one group.
type EventCount struct {
	Group       Group
	Name, Class string
	Count       int64
}

// Events counts events from event_rollups for f, by name, class and dims.
func (s *Store) Events(ctx context.Context, f Filter, dims ...Dim) ([]EventCount, error) {
	where, args, gc, err := f.grouped("minute", false, dims)
	if err != nil {
		return nil, err
	}
	full := "name, class"
	if gc != "" {
		full = gc + ", name, class"
	}
	sql := `SELECT ` + keySelect(gc) + `, name, class, sum(event_count)::bigint FROM event_rollups WHERE ` + where +
		` GROUP BY ` + full + ` ORDER BY ` + full
	out, err := collect(ctx, s, sql, args, func(r pgx.CollectableRow) (EventCount, error) {
		var e EventCount
		return e, r.Scan(&e.Group, &e.Name, &e.Class, &e.Count)
	})
	if err != nil {
		return nil, fmt.Errorf("query events of %s %s: %w", f.App, f.Release, err)
	}
	return out, nil
}

// Rate is sessions with crash and ANR counts of one group. Rates are per session (the
// sessions' session.start events); they are 0 when there are no sessions.
type Rate struct {
	Group     Group
	Sessions  int64
	Crashes   int64
	ANRs      int64
	CrashRate float64
	ANRRate   float64
}

// Rates computes crash and ANR rates per session for f, grouped by dims (Google Play's
// guardrails compare these overall and per model).
func (s *Store) Rates(ctx context.Context, f Filter, dims ...Dim) ([]Rate, error) {
	where, args, gc, err := f.grouped("minute", false, dims)
	if err != nil {
		return nil, err
	}
	sql := `SELECT ` + keySelect(gc) + `,
coalesce(sum(event_count) FILTER (WHERE name = 'session.start'), 0)::bigint,
coalesce(sum(event_count) FILTER (WHERE name = 'app.crash'), 0)::bigint,
coalesce(sum(event_count) FILTER (WHERE name = 'app.anr' OR (name = 'app.jank' AND class = 'anr')), 0)::bigint
FROM event_rollups WHERE ` + where + groupBy(gc)
	out, err := collect(ctx, s, sql, args, func(r pgx.CollectableRow) (Rate, error) {
		var rt Rate
		if err := r.Scan(&rt.Group, &rt.Sessions, &rt.Crashes, &rt.ANRs); err != nil {
			return rt, err
		}
		if rt.Sessions > 0 {
			rt.CrashRate = float64(rt.Crashes) / float64(rt.Sessions)
			rt.ANRRate = float64(rt.ANRs) / float64(rt.Sessions)
		}
		return rt, nil
	})
	if err != nil {
		return nil, fmt.Errorf("query rates of %s %s: %w", f.App, f.Release, err)
	}
	return out, nil
}

// Durations returns up to n span durations in milliseconds for f, optionally only spans of
// category and/or name (empty = any), sampled evenly over the matching spans when there
// are more than n. For distribution comparisons (Mann-Whitney U, Hodges-Lehmann).
func (s *Store) Durations(ctx context.Context, f Filter, category, name string, n int) ([]float64, error) {
	if n <= 0 {
		return nil, fmt.Errorf("query durations: n must be positive")
	}
	f.Category = ""
	where, args, err := f.where("start_time", true)
	if err != nil {
		return nil, err
	}
	if category != "" {
		args = append(args, category)
		where += fmt.Sprintf(" AND category = $%d", len(args))
	}
	if name != "" {
		args = append(args, name)
		where += fmt.Sprintf(" AND name = $%d", len(args))
	}
	args = append(args, n)
	// Every k-th row of a deterministic order: an even, reproducible sample.
	sql := `WITH m AS (SELECT duration_ms, row_number() OVER (ORDER BY start_time, span_id) rn, count(*) OVER () total
FROM spans WHERE ` + where + `)
SELECT duration_ms FROM m WHERE total <= $` + fmt.Sprint(len(args)) + ` OR (rn - 1) % ceil(total::float8 / $` + fmt.Sprint(len(args)) + `)::bigint = 0
ORDER BY rn LIMIT $` + fmt.Sprint(len(args))
	out, err := collect(ctx, s, sql, args, pgx.RowTo[float64])
	if err != nil {
		return nil, fmt.Errorf("query durations of %s %s: %w", f.App, f.Release, err)
	}
	return out, nil
}

// Crash is one app.crash event, for lists in the TUI and reports.
type Crash struct {
	Time                   time.Time
	Model, OSVersion       string
	NetClass, Tier         string
	SessionID              string
	ExceptionType, Message string
}

// RecentCrashes returns up to n app.crash events of f, newest first.
func (s *Store) RecentCrashes(ctx context.Context, f Filter, n int) ([]Crash, error) {
	f.Category = ""
	where, args, err := f.where("time", false)
	if err != nil {
		return nil, err
	}
	args = append(args, n)
	sql := `SELECT time, model, os_version, net_class, tier, session_id,
coalesce(attributes->>'exception.type', ''), coalesce(attributes->>'exception.message', body)
FROM events WHERE name = 'app.crash' AND ` + where + fmt.Sprintf(` ORDER BY time DESC LIMIT $%d`, len(args))
	out, err := collect(ctx, s, sql, args, func(r pgx.CollectableRow) (Crash, error) {
		var c Crash
		return c, r.Scan(&c.Time, &c.Model, &c.OSVersion, &c.NetClass, &c.Tier, &c.SessionID, &c.ExceptionType, &c.Message)
	})
	if err != nil {
		return nil, fmt.Errorf("query crashes of %s %s: %w", f.App, f.Release, err)
	}
	return out, nil
}

// grouped is where and groupCols together, for the rollup reads grouped by dims.
func (f Filter) grouped(tcol string, spans bool, dims []Dim) (where string, args []any, gc string, err error) {
	if where, args, err = f.where(tcol, spans); err != nil {
		return "", nil, "", err
	}
	if gc, err = groupCols(dims, spans); err != nil {
		return "", nil, "", err
	}
	return where, args, gc, nil
}

// collect runs sql in a read transaction (see Store.read) and scans every row with scan.
func collect[T any](ctx context.Context, s *Store, sql string, args []any, scan pgx.RowToFunc[T]) ([]T, error) {
	var out []T
	err := s.read(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, scan)
		return err
	})
	return out, err
}
