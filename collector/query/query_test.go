package query_test

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/fleetlens/fleetlens/collector/query"
	"github.com/fleetlens/fleetlens/collector/store"
	"github.com/fleetlens/fleetlens/internal/pg/pgtest"
	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestReleaseComparisonReads(t *testing.T) {
	pool := pgtest.New(t)
	ctx := context.Background()
	if err := (store.Partitions{Pool: pool, Retention: 48 * time.Hour, Ahead: 1}).Maintain(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	w := store.NewWriter(pool, store.WriterConfig{}, nil)
	w.Start(ctx)
	defer w.Shutdown(ctx)
	base := time.Now().Add(-30 * time.Minute).Truncate(time.Minute)
	var spans []store.SpanRow
	var events []store.EventRow
	for i := range 200 {
		rel, model := "1.0", "Pixel 7"
		if i%2 == 1 {
			rel = "1.1"
		}
		if i%4 >= 2 {
			model = "SM-A125F"
		}
		r := store.SpanRow{StartTime: base.Add(time.Duration(i) * time.Second), AppID: "app", Release: rel, Model: model,
			Name: "GET", Category: "http", NetClass: "4g", Tier: "high", DurationMS: float64(100 + i), RTTMS: -1,
			Attributes: []byte(`{}`), Resource: []byte(`{}`), ReceivedAt: time.Now()}
		r.EndTime = r.StartTime.Add(time.Duration(r.DurationMS) * time.Millisecond)
		if i%10 == 1 {
			r.StatusCode = 2
		}
		rand.Read(r.TraceID[:])
		rand.Read(r.SpanID[:])
		spans = append(spans, r)
		name := "session.start"
		if i%20 == 1 {
			name = "app.crash"
		}
		e := store.EventRow{Time: r.StartTime, AppID: "app", Release: rel, Model: model, Name: name, NetClass: "4g", Tier: "high",
			DurationMS: -1, Attributes: []byte(`{}`), Resource: []byte(`{}`), ReceivedAt: time.Now()}
		rand.Read(e.RecordHash[:])
		events = append(events, e)
	}
	if err := w.Write(ctx, spans, events); err != nil {
		t.Fatal(err)
	}
	q := query.New(pool)
	f := query.Filter{App: "app", Release: "1.1", From: base.Add(-time.Hour), To: time.Now().Add(time.Hour)}

	st, err := q.Spans(ctx, f, query.Model)
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 2 || st[0].Group[0] != "Pixel 7" || st[0].Count != 50 || st[1].Count != 50 {
		t.Fatalf("spans by model: %+v", st)
	}
	if all, _ := q.Spans(ctx, f); len(all) != 1 || all[0].Errors != 20 || all[0].ErrorRate != 0.2 {
		t.Fatalf("overall: %+v", all)
	}
	rates, err := q.Rates(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	// release 1.1 has 100 events: crashes where i%20 == 1 (10 of them), the rest sessions.
	if len(rates) != 1 || rates[0].Crashes != 10 || rates[0].Sessions != 90 {
		t.Fatalf("rates: %+v", rates)
	}
	d, err := q.Durations(ctx, f, "http", "GET", 20)
	if err != nil {
		t.Fatal(err)
	}
	if len(d) != 20 || d[0] != 101 || d[1] != 111 {
		t.Fatalf("durations sample: %v", d)
	}
	crashes, err := q.RecentCrashes(ctx, f, 3)
	if err != nil || len(crashes) != 3 || !crashes[0].Time.After(crashes[1].Time) {
		t.Fatalf("recent crashes: %+v %v", crashes, err)
	}
	rels, err := q.Releases(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	if len(rels) != 2 || rels[0].Spans != 100 {
		t.Fatalf("releases: %+v", rels)
	}
	if _, err := q.Spans(ctx, f, query.Dim("1; DROP TABLE spans")); err == nil {
		t.Fatal("a dimension outside the whitelist was accepted")
	}
	// The read role really is read-only.
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL ROLE fleetlens_reader"); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "DELETE FROM span_rollups")
		return err
	})
	if err == nil {
		t.Fatal("fleetlens_reader could delete rows")
	}
}
