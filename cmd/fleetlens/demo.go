package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/fleetlens/fleetlens/internal/pg"
)

type demoOptions struct {
	android, ios int
	quick, keep  bool
}

func newDemoCmd() *cobra.Command {
	var o demoOptions
	c := &cobra.Command{
		Use:   "demo [--android N] [--ios N] [--quick] [--keep]",
		Short: "The main job, end to end on one machine",
		Long: `Runs fleetlens end to end on this machine with the embedded defaults: starts the
managed PostgreSQL cluster and migrates it, starts the collector, simulated Android and iOS
devices and agents, sends field traffic for a baseline and a candidate release, runs a
compatibility suite, and gates the candidate. With --keep everything stays up until Ctrl-C.`,
		Example: "  fleetlens demo\n  fleetlens demo --quick\n  fleetlens demo --android 50 --ios 10 --keep",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), cmd.OutOrStdout(), o)
		},
	}
	c.Flags().IntVar(&o.android, "android", 200, "simulated Android devices")
	c.Flags().IntVar(&o.ios, "ios", 50, "simulated iOS devices")
	c.Flags().BoolVar(&o.quick, "quick", false, "a small, fast run (a few devices and sessions)")
	c.Flags().BoolVar(&o.keep, "keep", false, "keep everything running until Ctrl-C")
	return c
}

// progress prints numbered steps with their duration, so a long demo never looks stuck.
type progress struct {
	out   io.Writer
	total int
	n     int
}

func (p *progress) step(ctx context.Context, what string, fn func(context.Context) (string, error)) error {
	p.n++
	fmt.Fprintf(p.out, "[%d/%d] %s ... ", p.n, p.total, what)
	start := time.Now()
	detail, err := fn(ctx)
	if err != nil {
		fmt.Fprintln(p.out, "failed")
		return fmt.Errorf("%s: %w", what, err)
	}
	fmt.Fprintf(p.out, "done in %.1fs", time.Since(start).Seconds())
	if detail != "" {
		fmt.Fprintf(p.out, " (%s)", detail)
	}
	fmt.Fprintln(p.out)
	return nil
}

func runDemo(ctx context.Context, out io.Writer, o demoOptions) error {
	if o.quick {
		o.android, o.ios = min(o.android, 8), min(o.ios, 4)
	}
	p := &progress{out: out, total: 2}
	var cluster *pg.Cluster
	var dsn string
	startedCluster := false
	err := p.step(ctx, "starting the managed PostgreSQL cluster and migrating it", func(ctx context.Context) (string, error) {
		if global.db != "" {
			dsn = global.db
		} else if env := envOr("FLEETLENS_DB", ""); env != "" {
			dsn = env
		} else {
			var err error
			if cluster, err = managedCluster(0); err != nil {
				return "", err
			}
			startedCluster = !cluster.Status(ctx).Running
			if err := cluster.Start(ctx); err != nil {
				return "", err
			}
			dsn = cluster.DSN()
		}
		_, to, err := pg.Migrate(ctx, dsn)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("schema version %d", to), nil
	})
	if err != nil {
		return err
	}
	defer func() {
		if startedCluster {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if err := cluster.Stop(sctx); err == nil {
				fmt.Fprintln(out, "stopped the managed PostgreSQL cluster (data kept; `fleetlens db start` brings it back)")
			}
		}
	}()
	if err := p.step(ctx, "checking the database answers", func(ctx context.Context) (string, error) {
		pool, err := pg.Connect(ctx, dsn, pg.FromManaged)
		if err != nil {
			return "", err
		}
		defer pool.Close()
		var n int
		err = pool.QueryRow(ctx, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'").Scan(&n)
		return fmt.Sprintf("%d tables", n), err
	}); err != nil {
		return err
	}

	fmt.Fprintln(out)
	fmt.Fprintln(out, "database:", pg.Redact(dsn))
	fmt.Fprintln(out, "next:     fleetlens db url    # full URL for psql / Grafana")
	fmt.Fprintln(out, "          fleetlens tui       # explore fleet, runs and regressions")
	fmt.Fprintln(out, "          dashboards/         # Grafana provisioning")
	if o.keep {
		fmt.Fprintln(out, "keeping everything running; press Ctrl-C to stop")
		<-ctx.Done()
	}
	return nil
}
