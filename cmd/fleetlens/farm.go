package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/fleetlens/fleetlens/devicefarm/farmrun"
	"github.com/fleetlens/fleetlens/devicefarm/results"
	"github.com/fleetlens/fleetlens/devicefarm/schedule"
	"github.com/fleetlens/fleetlens/internal/pg"
)

func newFarmCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "farm",
		Short: "Run compatibility suites on the device farm",
		Long: `farm enqueues suite runs in PostgreSQL (agents on every device host pick them up) and
shows the fleet and results.

Exit codes of 'farm run --wait': 0 every test passed (flaky tests that passed on retry
count as passed), 1 test failures, 2 usage or infrastructure error.`,
		Example: "  fleetlens farm run suite.yaml --app app.apk --test-app app-test.apk --release 2.3.0 --wait\n" +
			"  fleetlens farm devices\n  fleetlens farm runs\n  fleetlens farm show 42 --junit out.xml\n  fleetlens farm cancel 42",
	}
	cmd.AddCommand(newFarmRunCmd(), newFarmDevicesCmd(), newFarmRunsCmd(), newFarmShowCmd(), newFarmCancelCmd())
	return cmd
}

type farmRunOpts struct {
	app, testApp, release, baseline, junit string
	wait                                   bool
	timeout                                time.Duration
}

func newFarmRunCmd() *cobra.Command {
	var o farmRunOpts
	cmd := &cobra.Command{
		Use:     "run SUITE.yaml --app FILE [--test-app FILE] --release V [--wait]",
		Short:   "Enqueue a suite run (and with --wait follow it to the end)",
		Example: "  fleetlens farm run suite.yaml --app app.apk --test-app app-test.apk --release 2.3.0 --wait --junit junit.xml",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return farmRun(cmd.Context(), cmd.OutOrStdout(), args[0], o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.app, "app", "", "app under test (APK/IPA)")
	f.StringVar(&o.testApp, "test-app", "", "instrumentation test APK")
	f.StringVar(&o.release, "release", "", "release version of the app under test")
	f.StringVar(&o.baseline, "baseline", "", "baseline release for 'new failures' (default: the suite's baseline)")
	f.BoolVar(&o.wait, "wait", false, "follow the run live and exit with its verdict")
	f.StringVar(&o.junit, "junit", "", "JUnit XML output with --wait (default fleetlens-run-ID.xml)")
	f.DurationVar(&o.timeout, "wait-timeout", 0, "give up waiting after this long (exit 2); 0 waits for the run")
	return cmd
}

func farmRun(ctx context.Context, out io.Writer, suitePath string, o farmRunOpts) error {
	if o.app == "" || o.release == "" {
		return withExitCode(2, errors.New("farm run: --app FILE and --release V are required"))
	}
	// The files are checked before the database is opened (and the managed cluster started).
	l, err := farmrun.Load(farmrun.Options{SuitePath: suitePath, AppPath: o.app, TestAppPath: o.testApp,
		Release: o.release, Baseline: o.baseline})
	if err != nil {
		return withExitCode(2, err)
	}
	pool, err := pg.Open(ctx, global.db)
	if err != nil {
		return withExitCode(2, err)
	}
	defer pool.Close()
	spec, err := l.Resolve(ctx, pool)
	if err != nil {
		return withExitCode(2, err)
	}
	enq, err := schedule.Enqueue(ctx, pool, spec)
	if err != nil {
		return withExitCode(2, fmt.Errorf("farm run: %w", err))
	}
	fmt.Fprintf(out, "run %d queued: %d tests (%d preventive copies) in %d work items on %d devices; expected %v of device time\n",
		enq.RunID, enq.Tests, enq.Preventive, enq.Items, len(spec.Devices), enq.Expected.Round(time.Second))
	if !o.wait {
		return nil
	}
	return farmWait(ctx, out, pool, enq.RunID, spec.Baseline, o)
}

// farmWait follows the run (NOTIFY fleetlens_runs wakes it; a 1 s poll covers a database
// restart), then prints the summary, writes JUnit and returns the CI exit code.
func farmWait(ctx context.Context, out io.Writer, pool *pgxpool.Pool, runID int64, baseline string, o farmRunOpts) error {
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	// The listener must end before the caller closes the pool (Close waits for it).
	lctx, stopListen := context.WithCancel(ctx)
	listening := make(chan struct{})
	defer func() { stopListen(); <-listening }()
	wake := make(chan struct{}, 1)
	go func() { defer close(listening); listenRuns(lctx, pool, wake) }()
	start := time.Now()
	last := ""
	for {
		p, err := results.LoadProgress(ctx, pool, runID)
		if err == nil {
			line := progressLine(p, time.Since(start))
			if line != last {
				fmt.Fprintln(out, line)
				last = line
			}
			if p.Finished() {
				break
			}
		} else if ctx.Err() == nil {
			fmt.Fprintln(out, "waiting for the database:", err)
		}
		select {
		case <-ctx.Done():
			return withExitCode(2, fmt.Errorf("run %d: stopped waiting (%v); the run goes on, see 'fleetlens farm show %d'", runID, ctx.Err(), runID))
		case <-wake:
		case <-time.After(time.Second):
		}
	}
	return farmReport(ctx, out, pool, runID, baseline, o.junit)
}

func listenRuns(ctx context.Context, pool *pgxpool.Pool, wake chan<- struct{}) {
	for ctx.Err() == nil {
		conn, err := pool.Acquire(ctx)
		if err != nil {
			time.Sleep(time.Second)
			continue
		}
		if _, err := conn.Exec(ctx, "LISTEN fleetlens_runs"); err == nil {
			for {
				if _, err := conn.Conn().WaitForNotification(ctx); err != nil {
					break
				}
				select {
				case wake <- struct{}{}:
				default:
				}
			}
		}
		conn.Hijack().Close(context.Background())
	}
}

func progressLine(p results.Progress, elapsed time.Duration) string {
	eta := "?"
	if p.Done > 0 && p.Done < p.Total {
		eta = (time.Duration(float64(elapsed) / float64(p.Done) * float64(p.Total-p.Done))).Round(time.Second).String()
	} else if p.Done >= p.Total {
		eta = "0s"
	}
	return fmt.Sprintf("[%s] %d/%d done  passed %d  failed %d  flaky %d  error %d  skipped %d  devices busy %d  ETA %s",
		p.State, p.Done, p.Total, p.Passed, p.Failed, p.Flaky, p.Errored, p.Skipped, p.DevicesBusy, eta)
}

func farmReport(ctx context.Context, out io.Writer, pool *pgxpool.Pool, runID int64, baseline, junitPath string) error {
	r, err := results.LoadRun(ctx, pool, runID)
	if err != nil {
		return withExitCode(2, err)
	}
	if baseline == "" {
		baseline = r.Baseline
	}
	compat, err := results.Compat(ctx, pool, runID, baseline)
	if err != nil {
		return withExitCode(2, err)
	}
	results.WriteSummary(out, r, compat)
	if junitPath == "" {
		junitPath = fmt.Sprintf("fleetlens-run-%d.xml", runID)
	}
	f, err := os.Create(junitPath)
	if err != nil {
		return withExitCode(2, fmt.Errorf("junit: %w", err))
	}
	if err := results.WriteJUnit(f, r); err != nil {
		f.Close()
		return withExitCode(2, err)
	}
	if err := f.Close(); err != nil {
		return withExitCode(2, fmt.Errorf("junit: %w", err))
	}
	fmt.Fprintln(out, "junit:", junitPath)
	c := r.Count()
	switch {
	case r.State == "error" || r.State == "cancelled":
		return withExitCode(2, fmt.Errorf("run %d ended in %s: %s", runID, r.State, r.Reason))
	case c.Failed > 0 || c.Errored > 0:
		return withExitCode(1, nil)
	}
	return nil
}

func newFarmDevicesCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "devices",
		Short:   "List the fleet: devices of every host with state and health",
		Example: "  fleetlens farm devices",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			pool, err := pg.Open(cmd.Context(), global.db)
			if err != nil {
				return err
			}
			defer pool.Close()
			devs, err := results.ListDevices(cmd.Context(), pool)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SERIAL\tHOST\tSTATE\tMODEL\tOS\tAPI\tTIER\tBATTERY\tTEMP\tHEALTH")
			for _, d := range devs {
				bat, temp := "-", "-"
				if d.Battery != nil {
					bat = strconv.Itoa(*d.Battery) + "%"
				}
				if d.TemperatureC != nil {
					temp = fmt.Sprintf("%.1f°C", *d.TemperatureC)
				}
				health := d.Health
				if d.Quarantine != "" {
					health = "quarantined: " + d.Quarantine
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s %s\t%s\t%d\t%s\t%s\t%s\t%s\n", d.Serial, d.Host, d.State, d.Manufacturer, d.Model,
					d.OSVersion, d.APILevel, d.Tier, bat, temp, health)
			}
			return tw.Flush()
		},
	}
}

func newFarmRunsCmd() *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:     "runs",
		Short:   "List recent suite runs",
		Example: "  fleetlens farm runs --limit 20",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			pool, err := pg.Open(cmd.Context(), global.db)
			if err != nil {
				return err
			}
			defer pool.Close()
			runs, err := results.ListRuns(cmd.Context(), pool, limit)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "RUN\tSUITE\tAPP\tRELEASE\tSTATE\tTESTS\tPASSED\tFAILED\tFLAKY\tCREATED")
			for _, r := range runs {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\n", r.ID, r.Name, r.AppID, r.Release, r.State, r.Total,
					r.Passed, r.Failed, r.Flaky, r.CreatedAt.Local().Format("2006-01-02 15:04"))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 20, "how many runs")
	return cmd
}

func newFarmShowCmd() *cobra.Command {
	var junit, baseline string
	cmd := &cobra.Command{
		Use:     "show RUN",
		Short:   "Show one run: summary, failures, flaky tests, compatibility per model/OS",
		Example: "  fleetlens farm show 42 --junit run42.xml",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, pool, err := openRun(cmd.Context(), "farm show", args[0])
			if err != nil {
				return err
			}
			defer pool.Close()
			p, err := results.LoadProgress(cmd.Context(), pool, id)
			if errors.Is(err, pgx.ErrNoRows) {
				return withExitCode(2, fmt.Errorf("farm show: no run %d (see 'fleetlens farm runs')", id))
			}
			if err != nil {
				return withExitCode(2, fmt.Errorf("farm show: run %d: %w", id, err))
			}
			if !p.Finished() {
				fmt.Fprintln(cmd.OutOrStdout(), progressLine(p, 0))
			}
			if junit == "" {
				junit = os.DevNull
			}
			return farmReport(cmd.Context(), cmd.OutOrStdout(), pool, id, baseline, junit)
		},
	}
	cmd.Flags().StringVar(&junit, "junit", "", "also write JUnit XML here")
	cmd.Flags().StringVar(&baseline, "baseline", "", "baseline release for new failures (default: the run's)")
	return cmd
}

func newFarmCancelCmd() *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "cancel RUN",
		Short: "Cancel a queued or running run (its queued work is dropped, agents stop its tests)",
		Long: `cancel ends a queued or running run as 'cancelled': work not yet started is dropped, agents
running its tests lose their leases and stop, unfinished tests are marked skipped, and the
devices go back to other runs. Results already recorded are kept.`,
		Example: "  fleetlens farm cancel 42\n  fleetlens farm cancel 42 --reason \"wrong build uploaded\"",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, pool, err := openRun(cmd.Context(), "farm cancel", args[0])
			if err != nil {
				return err
			}
			defer pool.Close()
			err = schedule.Cancel(cmd.Context(), pool, id, reason)
			if errors.Is(err, schedule.ErrNoRun) {
				return withExitCode(2, fmt.Errorf("farm cancel: no run %d (see 'fleetlens farm runs')", id))
			}
			if err != nil {
				return withExitCode(2, fmt.Errorf("farm cancel: %w", err))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "run %d cancelled\n", id)
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "cancelled with fleetlens farm cancel", "why (shown on the run and its skipped tests)")
	return cmd
}

// openRun parses the RUN argument of verb and opens the database.
func openRun(ctx context.Context, verb, arg string) (int64, *pgxpool.Pool, error) {
	id, err := strconv.ParseInt(arg, 10, 64)
	if err != nil {
		return 0, nil, withExitCode(2, fmt.Errorf("%s: %q is not a run id", verb, arg))
	}
	pool, err := pg.Open(ctx, global.db)
	if err != nil {
		return 0, nil, withExitCode(2, err)
	}
	return id, pool, nil
}
