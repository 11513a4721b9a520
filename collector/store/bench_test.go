package store

import (
	"context"
	"testing"
	"time"

	"github.com/fleetlens/fleetlens/internal/pg/pgtest"
	"github.com/jackc/pgx/v5"
)

// BenchmarkInsertPaths compares, on the same rows in the same run: a raw COPY (baseline),
// the writer's fast path (COPY under a savepoint + rollups) and the dedupe path (COPY into
// the staging table + INSERT ... ON CONFLICT DO NOTHING RETURNING + rollups), which only
// batches containing retried spans take.
func BenchmarkInsertPaths(b *testing.B) {
	ctx := context.Background()
	const rowsPerTx = 8192
	pool := pgtest.New(b)
	if err := (Partitions{Pool: pool, Retention: 48 * time.Hour, Ahead: 1}).Maintain(ctx, time.Now()); err != nil {
		b.Fatal(err)
	}
	base := time.Now().Add(-time.Hour)
	run := func(name string, f func(tx pgx.Tx, rows []SpanRow) error) float64 {
		var total time.Duration
		n := 0
		for range 8 {
			rows := testRows("bench", rowsPerTx, base)
			for i := range rows {
				rows[i].Attributes = []byte(`{"http.request.method":"GET","http.response.status_code":200,"url.full":"https://api.example.com/v1/items/42","server.address":"api.example.com","http.response.body.size":12345,"fleetlens.http.ttfb_ms":321.5,"session.id":"sess-1-2","network.connection.type":"cell"}`)
				rows[i].Resource = []byte(`{"service.name":"com.example.shop","service.version":"1.0","device.model.identifier":"SM-A125F","device.manufacturer":"samsung","os.name":"Android","os.version":"11","fleetlens.device.ram_mb":3072}`)
			}
			t0 := time.Now()
			if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return f(tx, rows) }); err != nil {
				b.Fatal(name, err)
			}
			total += time.Since(t0)
			n += len(rows)
		}
		rate := float64(n) / total.Seconds()
		b.ReportMetric(rate, name+"_rows/s")
		return rate
	}
	for range b.N {
		raw := run("raw_copy", func(tx pgx.Tx, rows []SpanRow) error {
			_, err := tx.CopyFrom(ctx, pgx.Identifier{"spans"}, SpanColumns, SpanSource(rows))
			return err
		})
		fast := run("fast_path", func(tx pgx.Tx, rows []SpanRow) error {
			_, err := insertSpans(ctx, tx, 0, rows)
			return err
		})
		forceStaging = true
		staged := run("staging_path", func(tx pgx.Tx, rows []SpanRow) error {
			_, err := insertSpans(ctx, tx, 0, rows)
			return err
		})
		forceStaging = false
		b.ReportMetric(fast/raw, "fast/raw")
		b.ReportMetric(staged/raw, "staging/raw")
	}
}
