package collector_test

import (
	"context"
	"testing"
	"time"

	"github.com/fleetlens/fleetlens/collector/internal/loadgen"
	"github.com/fleetlens/fleetlens/internal/pg/pgtest"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// With a tiny write queue, a burst is partly answered 429 with Retry-After (never
// accepted and dropped); every request answered 200 is stored, and a client that honours
// the retry gets everything in.
func TestOverloadAnswers429AndAcceptsNothingItDrops(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	cfg := testConfig()
	cfg.Limits.MaxQueueBytes = 1 << 20 // about two 512-span batches
	c := startCollector(t, cfg, pool)
	tok := newApp(t, pool, "app.busy")
	bodies, err := loadgen.Bodies(7, 40, 512, time.Now(), "busy")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + c.HTTPAddr() + "/v1/traces"
	res := loadgen.Run(context.Background(), loadgen.Options{URL: url, Token: tok, Concurrency: 16}, bodies)
	if res.Codes["429"] == 0 {
		t.Fatalf("no 429 under a burst into a 1 MiB queue: %v", res.Codes)
	}
	if got := count(t, pool, `SELECT count(*) FROM spans`); got != int64(res.Acked*512) {
		t.Fatalf("%d requests acknowledged but %d spans stored", res.Acked, got)
	}
	// The retrying client gets the rest in, stored once.
	res2 := loadgen.Run(context.Background(), loadgen.Options{URL: url, Token: tok, Concurrency: 16, Retry: true, MaxRetryFor: time.Minute}, bodies)
	if res2.Acked != len(bodies) {
		t.Fatalf("retrying client: %d of %d acknowledged (%v)", res2.Acked, len(bodies), res2.Codes)
	}
	if got := count(t, pool, `SELECT count(*) FROM spans`); got != int64(len(bodies)*512) {
		t.Fatalf("stored %d, want %d", got, len(bodies)*512)
	}
}

// gRPC answers authentication and overload with the codes OTLP clients act on.
func TestGRPCStatusCodes(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	c := startCollector(t, testConfig(), pool)
	tok := newApp(t, pool, "app.grpc")
	conn, err := grpc.NewClient(c.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := ptraceotlp.NewGRPCClient(conn)
	req := ptraceotlp.NewExportRequestFromTraces(spanBatch("grpc", 3, nil))
	for _, tc := range []struct {
		token string
		want  codes.Code
	}{{"", codes.Unauthenticated}, {"flt_bogus", codes.Unauthenticated}, {tok, codes.OK}} {
		ctx := context.Background()
		if tc.token != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tc.token)
		}
		_, err := client.Export(ctx, req)
		if got := status.Code(err); got != tc.want {
			t.Fatalf("token %q: %v, want %v", tc.token, err, tc.want)
		}
	}
	if got := count(t, pool, `SELECT count(*) FROM spans WHERE release = 'grpc'`); got != 3 {
		t.Fatalf("stored %d", got)
	}
}
