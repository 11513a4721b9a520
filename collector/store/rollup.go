package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Rollups are aggregated in Go from exactly the rows a transaction inserted (duplicates
// excluded), then added to the rollup tables in the same transaction, so a rollup is always
// equal to an aggregate over the raw rows and reports never scan raw spans.

type spanRollupKey struct {
	minute                                                   time.Time
	app, release, model, osVersion, netClass, tier, category string
}

type spanRollupVal struct {
	count, errors, slow int64
	sum, max            float64
}

type eventRollupKey struct {
	minute                                                      time.Time
	app, release, model, osVersion, netClass, tier, name, class string
}

// SpanIsError is the error definition the span rollups use: OTLP status error, or an HTTP
// server error seen by the client.
func SpanIsError(r *SpanRow) bool { return r.StatusCode == 2 || r.HTTPStatus >= 500 }

func upsertSpanRollups(ctx context.Context, tx pgx.Tx, shard int16, rows []SpanRow, inserted func(i int) bool) error {
	agg := make(map[spanRollupKey]*spanRollupVal)
	for i := range rows {
		if !inserted(i) {
			continue
		}
		r := &rows[i]
		k := spanRollupKey{r.StartTime.UTC().Truncate(time.Minute), r.AppID, r.Release, r.Model,
			r.OSVersion, r.NetClass, r.Tier, r.Category}
		v := agg[k]
		if v == nil {
			v = &spanRollupVal{}
			agg[k] = v
		}
		v.count++
		if SpanIsError(r) {
			v.errors++
		}
		if r.Slow {
			v.slow++
		}
		v.sum += r.DurationMS
		v.max = max(v.max, r.DurationMS)
	}
	if len(agg) == 0 {
		return nil
	}
	n := len(agg)
	minutes := make([]time.Time, 0, n)
	cols := make([][]string, 7)
	for i := range cols {
		cols[i] = make([]string, 0, n)
	}
	counts, errs, slows := make([]int64, 0, n), make([]int64, 0, n), make([]int64, 0, n)
	sums, maxs := make([]float64, 0, n), make([]float64, 0, n)
	for k, v := range agg {
		minutes = append(minutes, k.minute)
		for i, s := range []string{k.app, k.release, k.model, k.osVersion, k.netClass, k.tier, k.category} {
			cols[i] = append(cols[i], s)
		}
		counts, errs, slows = append(counts, v.count), append(errs, v.errors), append(slows, v.slow)
		sums, maxs = append(sums, v.sum), append(maxs, v.max)
	}
	// ORDER BY the primary key so concurrent writers lock rollup rows in the same order
	// and cannot deadlock each other.
	_, err := tx.Exec(ctx, `
INSERT INTO span_rollups (minute, app_id, release, model, os_version, net_class, tier, category,
                          span_count, error_count, slow_count, duration_sum_ms, duration_max_ms, shard)
SELECT *, $14::smallint FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                     $7::text[], $8::text[], $9::bigint[], $10::bigint[], $11::bigint[],
                     $12::float8[], $13::float8[])
ORDER BY 2, 3, 1, 4, 5, 6, 7, 8
ON CONFLICT (app_id, release, minute, model, os_version, net_class, tier, category, shard) DO UPDATE SET
    span_count      = span_rollups.span_count + EXCLUDED.span_count,
    error_count     = span_rollups.error_count + EXCLUDED.error_count,
    slow_count      = span_rollups.slow_count + EXCLUDED.slow_count,
    duration_sum_ms = span_rollups.duration_sum_ms + EXCLUDED.duration_sum_ms,
    duration_max_ms = greatest(span_rollups.duration_max_ms, EXCLUDED.duration_max_ms)`,
		minutes, cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], counts, errs, slows, sums, maxs, shard)
	if err != nil {
		return fmt.Errorf("upsert span_rollups: %w", err)
	}
	return nil
}

func upsertEventRollups(ctx context.Context, tx pgx.Tx, shard int16, rows []EventRow, inserted func(i int) bool) error {
	agg := make(map[eventRollupKey]int64)
	for i := range rows {
		if !inserted(i) {
			continue
		}
		r := &rows[i]
		agg[eventRollupKey{r.Time.UTC().Truncate(time.Minute), r.AppID, r.Release, r.Model,
			r.OSVersion, r.NetClass, r.Tier, r.Name, r.Class}]++
	}
	if len(agg) == 0 {
		return nil
	}
	n := len(agg)
	minutes := make([]time.Time, 0, n)
	cols := make([][]string, 8)
	for i := range cols {
		cols[i] = make([]string, 0, n)
	}
	counts := make([]int64, 0, n)
	for k, c := range agg {
		minutes = append(minutes, k.minute)
		for i, s := range []string{k.app, k.release, k.model, k.osVersion, k.netClass, k.tier, k.name, k.class} {
			cols[i] = append(cols[i], s)
		}
		counts = append(counts, c)
	}
	_, err := tx.Exec(ctx, `
INSERT INTO event_rollups (minute, app_id, release, model, os_version, net_class, tier, name, class, event_count, shard)
SELECT *, $11::smallint FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                     $7::text[], $8::text[], $9::text[], $10::bigint[])
ORDER BY 2, 3, 1, 4, 5, 6, 7, 8, 9
ON CONFLICT (app_id, release, minute, model, os_version, net_class, tier, name, class, shard) DO UPDATE SET
    event_count = event_rollups.event_count + EXCLUDED.event_count`,
		minutes, cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], cols[7], counts, shard)
	if err != nil {
		return fmt.Errorf("upsert event_rollups: %w", err)
	}
	return nil
}
