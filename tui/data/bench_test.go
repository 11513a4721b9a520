package data_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetlens/fleetlens/internal/pg/pgtest"
	"github.com/fleetlens/fleetlens/tui/data"
	"github.com/fleetlens/fleetlens/tui/internal/seed"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func source(tb testing.TB, devices int) (*data.PG, *pgxpool.Pool) {
	tb.Helper()
	dsn := pgtest.NewDSN(tb)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	if err := seed.BulkDevices(ctx, pool, devices, 10); err != nil {
		tb.Fatal(err)
	}
	src, err := data.NewPG(data.Config{DSN: dsn, Coalesce: time.Millisecond})
	if err != nil {
		tb.Fatal(err)
	}
	src.Start(ctx)
	tb.Cleanup(func() { src.Shutdown(context.Background()) })
	for e := range src.Events() {
		if e.Conn != nil && e.Conn.Up {
			break
		}
	}
	return src, pool
}

// BenchmarkNotifyRoundTrip: a device changes state (as an agent reports it), the trigger
// notifies, the listener delivers the batch and the TUI re-reads that one row: the end-to-end
// cost of one live update, against one plain query round trip measured in the same run.
func BenchmarkNotifyRoundTrip(b *testing.B) {
	src, pool := source(b, 500)
	ctx := context.Background()
	var serials []string
	rows, _ := pool.Query(ctx, `SELECT serial FROM devices ORDER BY serial`)
	for rows.Next() {
		var s string
		rows.Scan(&s)
		serials = append(serials, s)
	}
	start := time.Now()
	for i := 0; i < 200; i++ {
		var one int
		pool.QueryRow(ctx, `SELECT 1`).Scan(&one)
	}
	baseline := time.Since(start) / 200
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s := serials[i%len(serials)]
		// Always a real change (the trigger notifies only on one).
		if _, err := pool.Exec(ctx, `UPDATE devices SET state = CASE state WHEN 'idle' THEN 'busy' ELSE 'idle' END WHERE serial = $1`, s); err != nil {
			b.Fatal(err)
		}
		timeout := time.After(10 * time.Second)
	wait:
		for {
			select {
			case e := <-src.Events():
				if slices.Contains(e.Serials, s) {
					break wait
				}
			case <-timeout:
				b.Fatalf("no NOTIFY for %s", s)
			}
		}
		devs, err := src.DevicesBySerial(ctx, []string{s})
		if err != nil || len(devs) != 1 {
			b.Fatalf("read back %s: %v %d", s, err, len(devs))
		}
	}
	per := b.Elapsed() / time.Duration(b.N)
	b.ReportMetric(float64(per)/float64(time.Millisecond), "ms/notify")
	b.ReportMetric(float64(per)/float64(baseline), "x_vs_select1")
}

// BenchmarkFleetLoad: reading the whole fleet (what a reconnect or ctrl+r costs).
func BenchmarkFleetLoad(b *testing.B) {
	for _, n := range []int{500, 5000} {
		b.Run("devices="+map[int]string{500: "500", 5000: "5000"}[n], func(b *testing.B) {
			src, _ := source(b, n)
			ctx := context.Background()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				devs, err := src.Devices(ctx)
				if err != nil || len(devs) != n {
					b.Fatalf("%d devices, %v", len(devs), err)
				}
			}
			b.ReportMetric(float64(b.Elapsed()/time.Duration(b.N))/float64(time.Millisecond), "ms/load")
		})
	}
}
