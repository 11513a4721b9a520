package collector_test

import (
	"context"
	"encoding/binary"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fleetlens/fleetlens/internal/pg/pgtest"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// stubBatch makes n spans with ids derived from (batch, k), so the test knows every id.
func stubBatch(release string, batch, n int) []sdktrace.ReadOnlySpan {
	now := time.Now()
	stubs := make(tracetest.SpanStubs, n)
	for k := range stubs {
		var tid trace.TraceID
		var sid trace.SpanID
		binary.BigEndian.PutUint32(tid[:4], uint32(batch)+1)
		binary.BigEndian.PutUint32(tid[12:], uint32(k)+1)
		binary.BigEndian.PutUint32(sid[:4], uint32(batch)+1)
		binary.BigEndian.PutUint32(sid[4:], uint32(k)+1)
		stubs[k] = tracetest.SpanStub{
			Name:        "GET",
			SpanKind:    trace.SpanKindClient,
			SpanContext: trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid}),
			StartTime:   now.Add(-time.Second),
			EndTime:     now,
			Attributes:  []attribute.KeyValue{attribute.String("http.request.method", "GET")},
			Resource:    deviceResource(release),
		}
	}
	return stubs.Snapshots()
}

// exportAll exports batches [0, n) from workers goroutines and returns the acknowledged
// batch numbers. between runs after each acknowledged batch (to inject faults).
func exportAll(t *testing.T, exp sdktrace.SpanExporter, release string, n, per, workers int, between func(acked int)) []int {
	var next, ackedN atomic.Int64
	var mu sync.Mutex
	var acked []int
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				b := int(next.Add(1) - 1)
				if b >= n {
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				err := exp.ExportSpans(ctx, stubBatch(release, b, per))
				cancel()
				if err != nil {
					t.Logf("batch %d not acknowledged: %v", b, err)
					continue
				}
				mu.Lock()
				acked = append(acked, b)
				mu.Unlock()
				between(int(ackedN.Add(1)))
			}
		}()
	}
	wg.Wait()
	return acked
}

// checkAcked asserts every span of every acknowledged batch is stored exactly once.
func checkAcked(t *testing.T, pool *pgxpool.Pool, release string, acked []int, per int) {
	t.Helper()
	ctx := context.Background()
	for _, b := range acked {
		var n, distinct int64
		var prefix [4]byte
		binary.BigEndian.PutUint32(prefix[:], uint32(b)+1)
		err := pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT span_id) FROM spans
WHERE release = $1 AND substring(span_id from 1 for 4) = $2`, release, prefix[:]).Scan(&n, &distinct)
		if err != nil {
			t.Fatal(err)
		}
		if n != int64(per) || distinct != int64(per) {
			t.Fatalf("acknowledged batch %d: %d rows (%d distinct) stored, want %d", b, n, distinct, per)
		}
	}
	if got := count(t, pool, `SELECT count(*) - count(DISTINCT (trace_id, span_id)) FROM spans`); got != 0 {
		t.Fatalf("%d duplicate spans stored", got)
	}
}

// PostgreSQL stops in the middle of a load and comes back: the collector answers 503 with
// Retry-After meanwhile, the OTel SDK's HTTP exporter retries, and no acknowledged span is
// lost or doubled.
func TestPostgresStoppedMidLoadLosesNoAcknowledgedSpan(t *testing.T) {
	t.Parallel()
	cl := pgtest.NewCluster(t)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, cl.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	c := startCollector(t, testConfig(), pool)
	tok := newApp(t, pool, "app.fault")
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(c.HTTPAddr()), otlptracehttp.WithInsecure(),
		otlptracehttp.WithHeaders(bearer(tok)), otlptracehttp.WithRetry(otlptracehttp.RetryConfig{
			Enabled: true, InitialInterval: 100 * time.Millisecond, MaxInterval: time.Second, MaxElapsedTime: 50 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	var readyWhileDown int
	restarted := make(chan struct{})
	acked := exportAll(t, exp, "pgdown", 60, 200, 4, func(n int) {
		if n == 15 {
			once.Do(func() {
				if err := cl.Stop(ctx); err != nil {
					t.Error(err)
				}
				readyWhileDown = getStatus(t, "http://"+c.AdminAddr()+"/readyz")
				go func() {
					time.Sleep(2 * time.Second)
					if err := cl.Start(ctx); err != nil {
						t.Error(err)
					}
					close(restarted)
				}()
			})
		}
	})
	<-restarted
	if len(acked) != 60 {
		t.Fatalf("only %d of 60 batches acknowledged (the exporter gave up)", len(acked))
	}
	if readyWhileDown != 503 {
		t.Fatalf("/readyz answered %d while PostgreSQL was down, want 503", readyWhileDown)
	}
	if got := getStatus(t, "http://"+c.AdminAddr()+"/readyz"); got != 200 {
		t.Fatalf("/readyz answered %d after PostgreSQL came back", got)
	}
	if got := getStatus(t, "http://"+c.AdminAddr()+"/healthz"); got != 200 {
		t.Fatalf("/healthz: %d", got)
	}
	unavailable := metricSum(t, c.AdminAddr(), "fleetlens_collector_requests_total", map[string]string{"code": "503"})
	if unavailable == 0 {
		t.Fatal("no request was answered 503 while PostgreSQL was down: the fault was not exercised")
	}
	t.Logf("503 answers during the outage: %v", unavailable)
	checkAcked(t, pool, "pgdown", acked, 200)
}

// The collector process is killed with SIGKILL in the middle of a load and started again:
// the OTel SDK's gRPC exporter retries, and no acknowledged span is lost or doubled.
func TestCollectorKilledMidLoadLosesNoAcknowledgedSpan(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDSN(t)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	tok := newApp(t, pool, "app.kill")
	httpAddr, grpcAddr := freePort(t), freePort(t)
	ch := startChild(t, dsn, httpAddr, grpcAddr)
	exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(grpcAddr), otlptracegrpc.WithInsecure(),
		otlptracegrpc.WithHeaders(bearer(tok)), otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{
			Enabled: true, InitialInterval: 100 * time.Millisecond, MaxInterval: time.Second, MaxElapsedTime: 50 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Shutdown(ctx)
	var once sync.Once
	var mu sync.Mutex
	acked := exportAll(t, exp, "killed", 60, 200, 4, func(n int) {
		if n == 20 {
			once.Do(func() {
				ch.kill9(t)
				time.Sleep(300 * time.Millisecond)
				mu.Lock()
				ch = startChild(t, dsn, httpAddr, grpcAddr)
				mu.Unlock()
			})
		}
	})
	if len(acked) != 60 {
		t.Fatalf("only %d of 60 batches acknowledged", len(acked))
	}
	checkAcked(t, pool, "killed", acked, 200)
}

func getStatus(t *testing.T, url string) int {
	resp, err := http.Get(url)
	if err != nil {
		t.Error(err)
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}
