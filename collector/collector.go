// Package collector is fleetlens's OTLP collector: it receives traces and logs from
// sdk-hooks and from any OpenTelemetry SDK or collector (receiver/), authenticates them
// with per-app ingest tokens (auth/), scrubs PII (scrub/), enriches them with network
// class, device tier and vitals classes (enrich/), and group-commits them into
// time-partitioned PostgreSQL tables with incremental rollups (store/), answering a
// request only after its data is committed and pushing back with 429/503 when the
// database cannot keep up. query/ is the read side for the gate, TUI and dashboards.
//
// Self-telemetry is on the admin endpoint: /metrics (Prometheus), /healthz (process up),
// /readyz (listening and the database writable). Metrics, all prefixed
// fleetlens_collector_: received_items_total{signal,transport}, stored_items_total{signal},
// duplicate_items_total{signal}, rejected_items_total{signal,reason},
// rejected_requests_total{signal,transport,reason}, requests_total{signal,transport,code},
// request_duration_seconds, batch_commit_duration_seconds, queue_bytes,
// write_failures_total, plus Go and process collectors.
//
// Answers: 200 after commit; 400 (InvalidArgument) for malformed requests and for batches
// with invalid items — the valid items of such a batch are committed and the message says
// how many were rejected and why; 401 (Unauthenticated) for a missing or unknown token;
// 413 above the body or decompressed-size limit; 415 for an unsupported Content-Type or
// Content-Encoding; 429 (ResourceExhausted) when the write queue or in-flight budget is
// full; 503 (Unavailable) when PostgreSQL is down or slower than the request timeout. 429
// and 503 carry Retry-After (gRPC: RetryInfo).
package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/fleetlens/fleetlens/collector/auth"
	"github.com/fleetlens/fleetlens/collector/enrich"
	"github.com/fleetlens/fleetlens/collector/receiver"
	"github.com/fleetlens/fleetlens/collector/store"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Collector wires receiver -> enrich -> store.
type Collector struct {
	cfg      Config
	pool     *pgxpool.Pool
	metrics  *metrics
	tokens   *auth.Tokens
	enricher *enrich.Enricher
	writer   *store.Writer
	parts    store.Partitions
	recv     *receiver.Receiver

	admin   *http.Server
	adminLn net.Listener
	stop    chan struct{}
	wg      sync.WaitGroup

	releasesMu sync.Mutex
	releases   map[[2]string]bool // (app, release) already recorded in releases
}

// NewCollector builds a collector on pool (which must be migrated).
func NewCollector(cfg Config, pool *pgxpool.Pool) (*Collector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("collector config: %w", err)
	}
	if mc := int(pool.Config().MaxConns); mc < cfg.Store.Workers+2 {
		slog.Warn("collector: the database pool is smaller than store.workers + 2; writers will wait for connections",
			"pool_max_conns", mc, "store.workers", cfg.Store.Workers)
	}
	c := &Collector{cfg: cfg, pool: pool, metrics: newMetrics(), stop: make(chan struct{}),
		releases: map[[2]string]bool{}}
	c.tokens = auth.NewTokens(pool, 30*time.Second)
	c.parts = store.Partitions{Pool: pool, Retention: cfg.Store.Retention, Ahead: cfg.Store.PartitionsAhead}
	ecfg := enrich.DefaultConfig()
	ecfg.MaxAttributes = cfg.Limits.MaxAttributes
	ecfg.Sessions = cfg.Store.Sessions
	ecfg.Scrub = cfg.Scrub
	ecfg.Window = c.parts.Window
	c.enricher = enrich.New(ecfg)
	c.writer = store.NewWriter(pool, store.WriterConfig{Workers: cfg.Store.Workers, MaxBatchRows: cfg.Store.MaxBatchRows,
		MaxQueueBytes: cfg.Limits.MaxQueueBytes, RetryAfter: cfg.Limits.RetryAfter}, c.metrics)
	l := cfg.Limits
	recv, err := receiver.New(receiver.Config{
		HTTPAddr: cfg.HTTP.Endpoint, GRPCAddr: cfg.GRPC.Endpoint,
		TLSCertFile: cfg.TLS.CertFile, TLSKeyFile: cfg.TLS.KeyFile,
		MaxBodyBytes: l.MaxBodyBytes, MaxDecodedBytes: l.MaxDecodedBytes, MaxInflightBytes: l.MaxInflightBytes,
		RequestTimeout: l.RequestTimeout, RetryAfter: l.RetryAfter,
	}, tokenAuth{c.tokens}, c, c.metrics)
	if err != nil {
		return nil, err
	}
	c.recv = recv
	return c, nil
}

// HTTPAddr, GRPCAddr and AdminAddr are the bound addresses after Start.
func (c *Collector) HTTPAddr() string { return c.recv.HTTPAddr() }
func (c *Collector) GRPCAddr() string { return c.recv.GRPCAddr() }
func (c *Collector) AdminAddr() string {
	if c.adminLn == nil {
		return ""
	}
	return c.adminLn.Addr().String()
}

// Start prepares partitions, starts the writer, the admin endpoint and the receivers.
func (c *Collector) Start(ctx context.Context) error {
	if err := c.parts.Maintain(ctx, time.Now()); err != nil {
		return fmt.Errorf("collector: prepare partitions: %w", err)
	}
	c.writer.Start(ctx)
	if c.cfg.Admin.Endpoint != "" {
		var lc net.ListenConfig
		ln, err := lc.Listen(ctx, "tcp", c.cfg.Admin.Endpoint)
		if err != nil {
			c.writer.Shutdown(ctx)
			return fmt.Errorf("collector: listen admin on %s: %w", c.cfg.Admin.Endpoint, err)
		}
		c.adminLn = ln
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(c.metrics.reg, promhttp.HandlerOpts{}))
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
		mux.HandleFunc("/readyz", c.readyz)
		c.admin = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go c.admin.Serve(ln)
	}
	if err := c.recv.Start(ctx); err != nil {
		c.shutdownRest(ctx)
		return err
	}
	c.wg.Add(1)
	go c.maintain()
	return nil
}

func (c *Collector) readyz(w http.ResponseWriter, r *http.Request) {
	if !c.writer.Available() {
		http.Error(w, "database not writable", http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := c.pool.Ping(ctx); err != nil {
		http.Error(w, "database unreachable: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}

// maintain keeps partitions ahead of time and drops expired ones.
func (c *Collector) maintain() {
	defer c.wg.Done()
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		if err := c.parts.Maintain(ctx, time.Now()); err != nil {
			slog.Error("collector: partition maintenance failed; will retry", "err", err)
		}
		cancel()
	}
}

// Shutdown stops receiving, lets in-flight requests finish their commits, then stops.
func (c *Collector) Shutdown(ctx context.Context) error {
	err := c.recv.Shutdown(ctx)
	return errors.Join(err, c.shutdownRest(ctx))
}

func (c *Collector) shutdownRest(ctx context.Context) error {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	c.wg.Wait()
	err := c.writer.Shutdown(ctx)
	if c.admin != nil {
		c.admin.Shutdown(ctx)
	}
	return err
}

// Traces implements receiver.Sink.
func (c *Collector) Traces(ctx context.Context, app string, td ptrace.Traces) (receiver.Outcome, error) {
	total := td.SpanCount()
	rows, rej := c.enricher.Traces(app, td, time.Now())
	c.countRejects("traces", rej)
	if err := c.writer.Write(ctx, rows, nil); err != nil {
		return receiver.Outcome{}, storeErr(err)
	}
	c.noteReleases(ctx, app, func(yield func(string)) {
		for i := range rows {
			yield(rows[i].Release)
		}
	})
	return outcome(rej, total, "spans"), nil
}

// Logs implements receiver.Sink.
func (c *Collector) Logs(ctx context.Context, app string, ld plog.Logs) (receiver.Outcome, error) {
	total := ld.LogRecordCount()
	rows, rej := c.enricher.Logs(app, ld, time.Now())
	c.countRejects("logs", rej)
	if err := c.writer.Write(ctx, nil, rows); err != nil {
		return receiver.Outcome{}, storeErr(err)
	}
	c.noteReleases(ctx, app, func(yield func(string)) {
		for i := range rows {
			yield(rows[i].Release)
		}
	})
	return outcome(rej, total, "log records"), nil
}

func (c *Collector) countRejects(signal string, rej enrich.Rejects) {
	for reason, n := range rej.ByReason {
		c.metrics.rejectedItems.WithLabelValues(signal, reason).Add(float64(n))
	}
}

func outcome(rej enrich.Rejects, total int, what string) receiver.Outcome {
	if rej.Count == 0 {
		return receiver.Outcome{}
	}
	return receiver.Outcome{Rejected: rej.Count, Message: rej.Message(total, what)}
}

func storeErr(err error) error {
	var inv *store.InvalidError
	switch {
	case errors.As(err, &inv):
		return fmt.Errorf("%w: %v", receiver.ErrInvalid, err)
	case errors.Is(err, store.ErrOverloaded):
		return fmt.Errorf("%w: %v", receiver.ErrOverloaded, err)
	default:
		return fmt.Errorf("%w: %v", receiver.ErrUnavailable, err)
	}
}

// noteReleases records releases seen for the first time in the foundation's releases table
// (so the gate and TUI can list them). It is derived data: a failure is only logged.
func (c *Collector) noteReleases(ctx context.Context, app string, each func(func(string))) {
	var fresh []string
	c.releasesMu.Lock()
	each(func(rel string) {
		k := [2]string{app, rel}
		if rel != "" && !c.releases[k] {
			c.releases[k] = true
			fresh = append(fresh, rel)
		}
	})
	c.releasesMu.Unlock()
	for _, rel := range fresh {
		if _, err := c.pool.Exec(ctx, `INSERT INTO releases (app_id, version) VALUES ($1, $2) ON CONFLICT DO NOTHING`, app, rel); err != nil {
			slog.Warn("collector: record release", "app", app, "release", rel, "err", err)
			c.releasesMu.Lock()
			delete(c.releases, [2]string{app, rel})
			c.releasesMu.Unlock()
		}
	}
}

// tokenAuth adapts auth.Tokens to the receiver's error contract.
type tokenAuth struct{ t *auth.Tokens }

func (a tokenAuth) App(ctx context.Context, token string) (string, error) {
	app, err := a.t.App(ctx, token)
	if errors.Is(err, auth.ErrUnknownToken) {
		return "", fmt.Errorf("%w: %v", receiver.ErrUnauthenticated, err)
	}
	return app, err
}

// Err reports a listener that stopped serving.
func (c *Collector) Err() <-chan error { return c.recv.Err() }
