package store

import (
	"context"
	"testing"
	"time"

	"github.com/fleetlens/fleetlens/internal/pg/pgtest"
	"github.com/jackc/pgx/v5"
)

// The hand-written binary COPY stores exactly what pgx's CopyFrom stores, NULLs included.
func TestCopyEncodingMatchesPgx(t *testing.T) {
	pool := pgtest.New(t)
	ctx := context.Background()
	spans := testRows("app", 50, time.Date(2026, 11, 30, 23, 59, 59, 999999999, time.UTC))
	for i := range spans {
		r := &spans[i]
		if i%2 == 0 {
			r.ParentSpanID = [8]byte{9, 9, byte(i)}
			r.RTTMS = 123.25
			r.SpanEvents = []byte(`[{"name":"e","time":"2026-11-30T00:00:00Z","attributes":{"k":"v"}}]`)
			r.Slow = true
		}
		r.Name = "naïve ✓ " + r.Name
		r.YearClass, r.Kind, r.StatusCode, r.HTTPStatus = -3, 5, 2, -1
		r.DurationMS = -0.5
	}
	events := []EventRow{
		{Time: time.Date(1999, 12, 31, 23, 0, 0, 1000, time.UTC), AppID: "app", Name: "x", DurationMS: -1, Attributes: []byte(`{}`), ReceivedAt: time.Now()},
		{Time: time.Now(), AppID: "app", Name: "app.jank", Class: "slow", DurationMS: 33.5, Severity: 9, SeverityText: "INFO",
			Body: "b\n", TraceID: [16]byte{1}, SpanID: [8]byte{2}, Release: "r", YearClass: 2014, Attributes: []byte(`{"a":[1,2]}`),
			ResourceHash: [16]byte{7}, Scope: "s", ReceivedAt: time.Now()},
	}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for _, q := range []string{
			`CREATE TEMP TABLE s_pgx (LIKE spans)`, `CREATE TEMP TABLE s_own (LIKE spans)`,
			`CREATE TEMP TABLE e_pgx (LIKE events)`, `CREATE TEMP TABLE e_own (LIKE events)`} {
			if _, err := tx.Exec(ctx, q); err != nil {
				return err
			}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"s_pgx"}, SpanColumns, SpanSource(spans)); err != nil {
			return err
		}
		if err := copySpans(ctx, tx, "s_own", spans); err != nil {
			return err
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"e_pgx"}, EventColumns, EventSource(events)); err != nil {
			return err
		}
		if err := copyEvents(ctx, tx, "e_own", events); err != nil {
			return err
		}
		for _, q := range []string{
			`SELECT count(*) FROM s_own`, `SELECT count(*) FROM e_own`,
			`SELECT count(*) FROM (SELECT * FROM s_pgx EXCEPT SELECT * FROM s_own) d`,
			`SELECT count(*) FROM (SELECT * FROM s_own EXCEPT SELECT * FROM s_pgx) d`,
			`SELECT count(*) FROM (SELECT * FROM e_pgx EXCEPT SELECT * FROM e_own) d`,
			`SELECT count(*) FROM (SELECT * FROM e_own EXCEPT SELECT * FROM e_pgx) d`,
		} {
			var n int
			if err := tx.QueryRow(ctx, q).Scan(&n); err != nil {
				return err
			}
			want := 0
			switch q {
			case `SELECT count(*) FROM s_own`:
				want = len(spans)
			case `SELECT count(*) FROM e_own`:
				want = len(events)
			}
			if n != want {
				t.Errorf("%s = %d, want %d", q, n, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
