package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/fleetlens/fleetlens/devicefarm/driver"
	"github.com/fleetlens/fleetlens/devicefarm/netprofile"
	"github.com/fleetlens/fleetlens/devicefarm/schedule"
)

// Agent is one host's daemon.
type Agent struct {
	cfg   Config
	pool  *pgxpool.Pool
	drv   driver.Driver
	q     *schedule.Queue
	log   *slog.Logger
	m     *metrics
	net   *netprofile.Manager
	runs  *runCache
	wake  chan struct{}
	http  *http.Server
	addr  string
	start time.Time

	killed atomic.Bool // tests: the process "died"; no more database writes

	mu      sync.Mutex
	workers map[string]*worker // by serial
	// infoRetry: ready devices whose Info failed; a goroutine retries each until it
	// succeeds, the device goes or the agent stops.
	infoRetry map[string]bool
	cancel    context.CancelFunc
	wg        sync.WaitGroup
}

// New makes an agent; Start begins its work.
func New(cfg Config, pool *pgxpool.Pool, drv driver.Driver, log *slog.Logger) (*Agent, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	if err := os.MkdirAll(cfg.ArtifactsDir, 0o755); err != nil {
		return nil, fmt.Errorf("agent: artifacts dir: %w", err)
	}
	a := &Agent{cfg: cfg, pool: pool, drv: drv, log: log.With("host", cfg.HostID), m: newMetrics(),
		net: netprofile.NewManager(""), wake: make(chan struct{}, 1), workers: map[string]*worker{}, infoRetry: map[string]bool{},
		q: &schedule.Queue{DB: pool, HostID: cfg.HostID, TTL: cfg.LeaseTTL}}
	a.runs = &runCache{pool: pool, dir: cfg.ArtifactsDir, runs: map[int64]*runInfo{}}
	return a, nil
}

// MetricsAddr is where /metrics listens once started ("" when disabled).
func (a *Agent) MetricsAddr() string { return a.addr }

// Start registers the host, discovers devices and starts the loops.
func (a *Agent) Start(ctx context.Context) error {
	hostname, _ := os.Hostname()
	if a.cfg.Labels == nil {
		a.cfg.Labels = map[string]string{}
	}
	if _, err := a.pool.Exec(ctx, `INSERT INTO hosts (id, hostname, agent_version, labels, lease_ttl_ms) VALUES ($1, $2, 'fleetlens', $3, $4)
		ON CONFLICT (id) DO UPDATE SET hostname = EXCLUDED.hostname, started_at = now(), last_seen = now(),
			labels = EXCLUDED.labels, lease_ttl_ms = EXCLUDED.lease_ttl_ms`,
		a.cfg.HostID, hostname, a.cfg.Labels, int(a.cfg.LeaseTTL/time.Millisecond)); err != nil {
		return fmt.Errorf("agent %s: register host: %w", a.cfg.HostID, err)
	}
	if a.cfg.MetricsAddr != "" {
		ln, err := net.Listen("tcp", a.cfg.MetricsAddr)
		if err != nil {
			return fmt.Errorf("agent: metrics listener %s: %w", a.cfg.MetricsAddr, err)
		}
		a.addr = ln.Addr().String()
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(a.m.reg, promhttp.HandlerOpts{}))
		a.http = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go a.http.Serve(ln)
	}
	ctx, a.cancel = context.WithCancel(context.WithoutCancel(ctx))
	a.start = time.Now()
	devs, err := a.drv.List(ctx)
	if err != nil {
		return fmt.Errorf("agent %s: list %s devices: %w", a.cfg.HostID, a.drv.Platform(), err)
	}
	for _, d := range devs {
		a.deviceSeen(ctx, d)
	}
	events, err := a.drv.Watch(ctx)
	if err != nil {
		return fmt.Errorf("agent %s: watch devices: %w", a.cfg.HostID, err)
	}
	a.wg.Add(3)
	go func() { defer a.wg.Done(); a.watch(ctx, events) }()
	go func() { defer a.wg.Done(); a.heartbeat(ctx) }()
	go func() { defer a.wg.Done(); a.listen(ctx) }()
	a.log.Info("agent started", "devices", len(devs), "lease_ttl", a.cfg.LeaseTTL)
	return nil
}

// kill simulates the process dying (kill -9): everything stops, nothing is released or
// written, so the database only learns of it when the leases expire.
func (a *Agent) kill() {
	a.killed.Store(true)
	if a.cancel != nil {
		a.cancel()
	}
}

// Shutdown stops claiming, lets running tests see cancellation, releases what is held so
// other hosts take it at once, and stops the proxies.
func (a *Agent) Shutdown(ctx context.Context) error {
	if a.cancel != nil {
		a.cancel()
	}
	done := make(chan struct{})
	go func() { a.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	if a.http != nil {
		a.http.Shutdown(ctx)
	}
	_, _ = a.pool.Exec(ctx, `UPDATE devices SET state = 'offline' WHERE host_id = $1`, a.cfg.HostID)
	return a.net.Shutdown(ctx)
}

func (a *Agent) watch(ctx context.Context, events <-chan driver.DeviceEvent) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			if ev.Device.State == driver.StateGone {
				a.deviceGone(ctx, ev.Device.Serial)
				continue
			}
			a.deviceSeen(ctx, ev.Device)
		}
	}
}

// deviceGone marks a device offline; its worker's calls fail with ErrDeviceGone and it
// releases its work as an infrastructure failure.
func (a *Agent) deviceGone(ctx context.Context, serial string) {
	a.log.Warn("device gone", "serial", serial)
	a.mu.Lock()
	delete(a.infoRetry, serial) // it is asked for again when it reappears
	a.mu.Unlock()
	if _, err := a.pool.Exec(ctx, `UPDATE devices SET state = 'offline', health_reason = 'disconnected' WHERE serial = $1`, serial); err != nil {
		a.log.Warn("mark device offline", "serial", serial, "err", err)
	}
	a.mu.Lock()
	w := a.workers[serial]
	a.mu.Unlock()
	if w != nil {
		w.gone.Store(true)
		w.cancelItem()
	}
}

func (a *Agent) heartbeat(ctx context.Context) {
	t := time.NewTicker(a.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		held, err := a.q.Heartbeat(ctx)
		if err != nil {
			a.m.dbErrors.Inc()
			a.log.Warn("heartbeat", "err", err)
			continue
		}
		_, _ = a.pool.Exec(ctx, `UPDATE devices SET last_seen = now() WHERE host_id = $1 AND state <> 'offline'`, a.cfg.HostID)
		a.mu.Lock()
		for _, w := range a.workers {
			if id := w.itemID.Load(); id != 0 && !held[id] && w.heldSince() > a.cfg.HeartbeatInterval {
				a.m.leasesLost.Inc()
				w.log.Warn("lease lost; abandoning work item", "item", id)
				w.cancelItem()
			}
		}
		a.mu.Unlock()
	}
}

// listen wakes idle workers on NOTIFY fleetlens_work; polling covers a lost connection.
func (a *Agent) listen(ctx context.Context) {
	for ctx.Err() == nil {
		err := func() error {
			conn, err := a.pool.Acquire(ctx)
			if err != nil {
				return err
			}
			defer conn.Release()
			if _, err := conn.Exec(ctx, "LISTEN fleetlens_work"); err != nil {
				return err
			}
			for {
				if _, err := conn.Conn().WaitForNotification(ctx); err != nil {
					conn.Hijack().Close(context.Background()) // a connection left LISTENing must not go back to the pool
					return err
				}
				a.wakeAll()
			}
		}()
		if err != nil && !errors.Is(err, context.Canceled) {
			a.log.Debug("listen fleetlens_work", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

func (a *Agent) wakeAll() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, w := range a.workers {
		select {
		case w.wakeCh() <- struct{}{}:
		default:
		}
	}
}
