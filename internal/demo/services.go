package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetlens/fleetlens/collector"
	"github.com/fleetlens/fleetlens/collector/auth"
	"github.com/fleetlens/fleetlens/devicefarm/driver/android"
	"github.com/fleetlens/fleetlens/devicefarm/driver/ios"
	"github.com/fleetlens/fleetlens/devicefarm/sim/adbd"
	"github.com/fleetlens/fleetlens/devicefarm/sim/usbmux"
	"github.com/fleetlens/fleetlens/internal/pg"
)

// env is what the steps started and later steps use.
type env struct {
	dsn, dsnRedacted string
	pool             *pgxpool.Pool
	col              *collector.Collector
	token            string

	adbAddr   string
	sharedADB bool   // the adb server was already running (not the demo's own)
	adbLog    string // the demo's own adb server's log
	fleet     *adbd.Fleet
	androidA  *android.Driver // host A's view of the adb server
	androidB  *android.Driver // host B's
	usb       *usbmux.Server
	iosDrv    *ios.Driver
	hostA     map[string]bool // Android serials of host A
	hostB     map[string]bool // Android serials of host B
	iosOwned  map[string]bool

	traffic  trafficOutcome
	runs     []farmRun
	findings []string
	result   *Result
}

// startDatabase starts (or reuses) the managed cluster and migrates it. A cluster the demo
// started is stopped again at the end; its data stays, so `fleetlens tui` can look later.
func (d *run) startDatabase(ctx context.Context) (string, error) {
	e := d.env
	detail := ""
	if d.cfg.DSN != "" {
		e.dsn = d.cfg.DSN
		detail = "database given by --db/FLEETLENS_DB"
	} else {
		home := d.cfg.PGHome
		if home == "" {
			home = pg.DefaultHome()
		}
		cl, err := pg.NewCluster(pg.ClusterConfig{Home: home})
		if err != nil {
			return "", err
		}
		wasRunning := cl.Status(ctx).Running
		if err := cl.Start(ctx); err != nil {
			return "", err
		}
		if !wasRunning {
			d.st.push("PostgreSQL cluster", func(ctx context.Context) error {
				if err := cl.Stop(ctx); err != nil {
					return err
				}
				d.stopped = append(d.stopped, "stopped the managed PostgreSQL cluster (data kept; `fleetlens db start` brings it back)")
				return nil
			})
			detail = fmt.Sprintf("started on port %d", cl.Port())
		} else {
			detail = fmt.Sprintf("already running on port %d", cl.Port())
		}
		e.dsn = cl.DSN()
	}
	e.dsnRedacted = pg.Redact(e.dsn)
	_, to, err := pg.Migrate(ctx, e.dsn)
	if err != nil {
		return "", err
	}
	src := pg.FromManaged
	if d.cfg.DSN != "" {
		src = pg.FromFlag
	}
	pool, err := pg.Connect(ctx, e.dsn, src)
	if err != nil {
		return "", err
	}
	e.pool = pool
	d.st.push("database pool", func(context.Context) error { pool.Close(); return nil })
	return fmt.Sprintf("%s, schema version %d", detail, to), nil
}

// startCollector runs the collector in-process on free loopback ports, creates the app if
// it is new and mints an ingest token for the demo's SDKs (as `fleetlens app create|token`).
func (d *run) startCollector(ctx context.Context) (string, error) {
	e := d.env
	cfg := collector.DefaultConfig()
	cfg.HTTP.Endpoint, cfg.GRPC.Endpoint, cfg.Admin.Endpoint = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	if err := cfg.Validate(); err != nil {
		return "", err
	}
	col, err := collector.NewCollector(cfg, e.pool)
	if err != nil {
		return "", err
	}
	if err := col.Start(ctx); err != nil {
		return "", err
	}
	e.col = col
	d.st.push("collector", col.Shutdown)
	if err := resetDemoApp(ctx, e.pool, AppID); err != nil {
		return "", err
	}
	if _, err := e.pool.Exec(ctx, `INSERT INTO apps (id, name) VALUES ($1, 'Example Shop (demo)') ON CONFLICT (id) DO NOTHING`, AppID); err != nil {
		return "", fmt.Errorf("create app %s: %w", AppID, err)
	}
	tok, err := auth.Mint(ctx, e.pool, AppID)
	if err != nil {
		return "", err
	}
	e.token = tok
	return fmt.Sprintf("otlp/http %s, otlp/grpc %s, admin %s", col.HTTPAddr(), col.GRPCAddr(), col.AdminAddr()), nil
}

func waitUntil(ctx context.Context, timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// resetDemoApp removes what an earlier demo stored for the demo's own app, so every demo
// judges exactly the traffic and runs it produced (a rerun in the same FLEETLENS_HOME would
// otherwise pile sessions up). Farm and gate child rows go with their parents (ON DELETE
// CASCADE); other apps' data is untouched.
func resetDemoApp(ctx context.Context, pool *pgxpool.Pool, app string) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("reset earlier demo data: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	for _, table := range []string{"spans", "events", "span_rollups", "event_rollups", "resources", "farm_test_history", "farm_runs", "gate_verdicts"} {
		if _, err := tx.Exec(ctx, "DELETE FROM "+table+" WHERE app_id = $1", app); err != nil {
			return fmt.Errorf("reset earlier demo data in %s: %w", table, err)
		}
	}
	if _, err := tx.Exec(ctx, "DELETE FROM apps WHERE id = $1", app); err != nil {
		return fmt.Errorf("reset earlier demo app: %w", err)
	}
	return tx.Commit(ctx)
}
