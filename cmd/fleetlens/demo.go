package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/fleetlens/fleetlens/internal/demo"
	"github.com/fleetlens/fleetlens/internal/pg"
)

func newDemoCmd() *cobra.Command {
	var cfg demo.Config
	c := &cobra.Command{
		Use:   "demo [--android N] [--ios N] [--quick] [--keep]",
		Short: "The main job, end to end on one machine",
		Long: `Runs fleetlens end to end on this machine with the embedded defaults: starts the
managed PostgreSQL cluster and migrates it, starts the collector, simulated Android devices
(on a real adb server: ANDROID_ADB_SERVER_PORT's if set, else a private one) and simulated
iOS devices (behind a simulated usbmuxd), and two agents sharing them; sends field traffic
for a baseline (2.2.0) and a candidate (2.3.0) release through the SDK and toxiproxy network
profiles; runs compatibility suites for both on the fleet; and gates the candidate, writing
demo-report.html and demo-junit.xml. The candidate is seeded with regressions (slower on 3g
for low-tier devices, a crash on one model/OS version), so the gate FAILS it: that is the
intended outcome. With --keep everything stays up until Ctrl-C.

Exit codes: 0 the demo ran and the gate failed the candidate as seeded; 1 the demo ran but
the gate did not fail the candidate; 2 the demo itself broke (or was interrupted).`,
		Example: "  fleetlens demo\n  fleetlens demo --quick\n  fleetlens demo --android 50 --ios 10 --keep",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Out = cmd.OutOrStdout()
			cfg.DSN = global.db
			if cfg.DSN == "" {
				cfg.DSN = envOr("FLEETLENS_DB", "")
			}
			cfg.PGHome = pg.DefaultHome()
			start := time.Now()
			res, err := demo.Run(cmd.Context(), cfg)
			if errors.Is(err, demo.ErrStoryBroken) {
				return withExitCode(1, err)
			}
			if err != nil {
				return withExitCode(2, fmt.Errorf("demo: %w", err))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "\ndemo finished in %s (verdict %s, as intended)\n", time.Since(start).Round(time.Second), res.Verdict)
			return nil
		},
	}
	c.Flags().IntVar(&cfg.Android, "android", 200, "simulated Android devices")
	c.Flags().IntVar(&cfg.IOS, "ios", 50, "simulated iOS devices (0 leaves iOS out)")
	c.Flags().BoolVar(&cfg.Quick, "quick", false, "a small, fast run (8+8 devices, a few hundred sessions, time-scaled tests)")
	c.Flags().BoolVar(&cfg.Keep, "keep", false, "keep everything running after the verdict until Ctrl-C")
	c.Flags().StringVar(&cfg.OutDir, "out-dir", ".", "where to write demo-report.html and demo-junit.xml")
	return c
}
