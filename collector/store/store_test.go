package store

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/fleetlens/fleetlens/internal/pg/pgtest"
	"github.com/jackc/pgx/v5/pgxpool"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// testRows makes n distinct spans of app starting at base.
func testRows(app string, n int, base time.Time) []SpanRow {
	rows := make([]SpanRow, n)
	res := []byte(`{"service.version":"1.0"}`)
	for i := range rows {
		r := &rows[i]
		rand.Read(r.TraceID[:])
		rand.Read(r.SpanID[:])
		r.StartTime = base.Add(time.Duration(i) * time.Millisecond)
		r.EndTime = r.StartTime.Add(120 * time.Millisecond)
		r.DurationMS = 120
		r.AppID = app
		r.Name = "GET"
		r.Kind = 3
		r.Release = "1.0"
		r.Model = "SM-A125F"
		r.OSVersion = "11"
		r.Category = "http"
		r.NetClass = "3g"
		r.ThroughputClass = "moderate"
		r.Tier = "low"
		r.RTTMS = -1
		r.HTTPStatus = 200
		if i%10 == 0 {
			r.HTTPStatus = 503
		}
		r.Attributes = []byte(fmt.Sprintf(`{"i":%d}`, i))
		r.Resource = res
		r.ReceivedAt = time.Now()
	}
	return rows
}

func newTestWriter(t testing.TB, pool *pgxpool.Pool) *Writer {
	ctx := context.Background()
	p := Partitions{Pool: pool, Retention: 48 * time.Hour, Ahead: 1}
	if err := p.Maintain(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	w := NewWriter(pool, WriterConfig{Workers: 2}, nil)
	w.Start(ctx)
	t.Cleanup(func() { w.Shutdown(context.Background()) })
	return w
}

func count(t testing.TB, pool *pgxpool.Pool, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// A retried batch, a batch overlapping an earlier one and a batch containing the same span
// twice all store each span once, and the rollups count each span once.
func TestWriterDedupesRetriesAndKeepsRollupsExact(t *testing.T) {
	pool := pgtest.New(t)
	w := newTestWriter(t, pool)
	ctx := context.Background()
	base := time.Now().Add(-time.Hour).Truncate(time.Minute)
	a := testRows("app.a", 300, base)
	if err := w.Write(ctx, a, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, a, nil); err != nil { // client retry of the whole batch
		t.Fatal(err)
	}
	b := testRows("app.a", 200, base)
	mixed := append(append([]SpanRow{}, a[:50]...), b...)
	mixed = append(mixed, b[0]) // the same span twice in one batch
	if err := w.Write(ctx, mixed, nil); err != nil {
		t.Fatal(err)
	}
	if got := count(t, pool, `SELECT count(*) FROM spans`); got != 500 {
		t.Fatalf("spans = %d, want 500", got)
	}
	if got := count(t, pool, `SELECT sum(span_count) FROM span_rollups`); got != 500 {
		t.Fatalf("rollup span_count = %d, want 500", got)
	}
	if got := count(t, pool, `SELECT sum(error_count) FROM span_rollups`); got != 30+20 {
		t.Fatalf("rollup error_count = %d, want 50", got)
	}
	// The rollup equals the aggregate over raw rows, minute by minute.
	if got := count(t, pool, `SELECT count(*) FROM (
SELECT date_trunc('minute', start_time) m, count(*) c FROM spans GROUP BY 1) s
FULL JOIN (SELECT minute m, sum(span_count) c FROM span_rollups GROUP BY 1) r USING (m)
WHERE s.c IS DISTINCT FROM r.c`); got != 0 {
		t.Fatalf("%d minutes where rollups differ from raw spans", got)
	}
}

func TestWriterEventsDedupe(t *testing.T) {
	pool := pgtest.New(t)
	w := newTestWriter(t, pool)
	ctx := context.Background()
	ev := make([]EventRow, 40)
	for i := range ev {
		ev[i] = EventRow{Time: time.Now().Add(-time.Minute), AppID: "app.a", Name: "app.crash",
			DurationMS: -1, Attributes: []byte(`{}`), Resource: []byte(`{}`), Release: "1.0", ReceivedAt: time.Now()}
		rand.Read(ev[i].RecordHash[:])
	}
	for range 2 {
		if err := w.Write(ctx, nil, ev); err != nil {
			t.Fatal(err)
		}
	}
	if got := count(t, pool, `SELECT count(*) FROM events`); got != 40 {
		t.Fatalf("events = %d, want 40", got)
	}
	if got := count(t, pool, `SELECT sum(event_count) FROM event_rollups WHERE name = 'app.crash'`); got != 40 {
		t.Fatalf("event rollup = %d, want 40", got)
	}
}

func TestPartitionsCreatedAheadAndDroppedByRetention(t *testing.T) {
	pool := pgtest.New(t)
	ctx := context.Background()
	day := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	p := Partitions{Pool: pool, Retention: 3 * 24 * time.Hour, Ahead: 2}
	if err := p.Maintain(ctx, day); err != nil {
		t.Fatal(err)
	}
	q := `SELECT count(*) FROM pg_inherits WHERE inhparent = 'spans'::regclass`
	if got := count(t, pool, q); got != 6 { // 17..22 Nov
		t.Fatalf("partitions = %d, want 6", got)
	}
	if err := p.Maintain(ctx, day.Add(48*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := count(t, pool, q); got != 6 { // 19..24 Nov
		t.Fatalf("partitions after two days = %d, want 6", got)
	}
	if got := count(t, pool, `SELECT count(*) FROM pg_class WHERE relname = 'spans_p20261118'`); got != 0 {
		t.Fatal("expired partition spans_p20261118 still exists")
	}
	oldest, newest := p.Window(day)
	if !oldest.Equal(time.Date(2026, 11, 17, 0, 0, 0, 0, time.UTC)) || !newest.Equal(time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("window = %v .. %v", oldest, newest)
	}
}
