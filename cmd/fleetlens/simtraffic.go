package main

import (
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fleetlens/fleetlens/collector/auth"
	"github.com/fleetlens/fleetlens/devicefarm/sim/traffic"
	"github.com/fleetlens/fleetlens/internal/pg"
)

func newSimTrafficCmd() *cobra.Command {
	var (
		cfg      traffic.Config
		profiles string
	)
	c := &cobra.Command{
		Use:   "traffic --release V [--sessions N] [--endpoint URL]",
		Short: "Simulated user sessions through the real SDK and network profiles",
		Long: `Plays N user sessions of a sample shop app built with sdk-hooks, on device models from
the device catalog, against a local sample backend reached through toxiproxy lab network
profiles (3g-average, edge-lossy, 2g-rural, ...), and exports their traces and events as OTLP
to the collector. Weak-network numbers come from real delays and bandwidth limits.

The same --seed gives the same devices, networks and behaviour, so two releases can be
compared; seed a regression into one with --regress-ttfb-3g-low and --crash-os-version.
Without --token, a token for --app is minted in the database (--db / FLEETLENS_DB / managed).`,
		Example: `  fleetlens sim traffic --release 2.3.0 --sessions 200
  fleetlens sim traffic --release 2.4.0 --sessions 200 --regress-ttfb-3g-low 40 --crash-os-version android/11
  fleetlens sim traffic --release 2.4.0 --endpoint http://collector:4318 --token flt_...`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if profiles != "" {
				mix, err := restrictMix(profiles)
				if err != nil {
					return withExitCode(2, err)
				}
				cfg.Mix = mix
			}
			if cfg.Token == "" {
				cfg.Token = os.Getenv("FLEETLENS_TOKEN")
			}
			if err := cfg.Validate(); err != nil {
				return withExitCode(2, err)
			}
			if cfg.Token == "" {
				pool, err := pg.Open(ctx, global.db)
				if err != nil {
					return fmt.Errorf("sim traffic: no --token, and the database for minting one: %w", err)
				}
				app := cfg.App
				if app == "" {
					app = "com.example.shop"
				}
				if _, err := pool.Exec(ctx, `INSERT INTO apps (id) VALUES ($1) ON CONFLICT DO NOTHING`, app); err != nil {
					pool.Close()
					return fmt.Errorf("sim traffic: create app %q: %w", app, err)
				}
				cfg.Token, err = auth.Mint(ctx, pool, app)
				pool.Close()
				if err != nil {
					return fmt.Errorf("sim traffic: %w", err)
				}
			}
			cfg.Logger = slog.Default()
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "sim traffic: release %s, %d sessions -> %s\n", cfg.Release, cfg.Sessions, cfg.Endpoint)
			res, err := traffic.Run(ctx, cfg)
			var nets []string
			for k, v := range res.ByNetwork {
				nets = append(nets, fmt.Sprintf("%s=%d", k, v))
			}
			sort.Strings(nets)
			fmt.Fprintf(out, "sessions %d  requests %d (errors %d)  crashes %d  batches uploaded %d, left queued %d, dropped %d  in %s\n",
				res.Sessions, res.Requests, res.RequestErrors, res.Crashes, res.Uploaded, res.LeftQueued, res.Dropped, res.Elapsed.Round(1e8))
			fmt.Fprintf(out, "networks: %s\n", strings.Join(nets, " "))
			if err != nil {
				return err
			}
			if res.LeftQueued > 0 {
				return fmt.Errorf("sim traffic: %d batches could not be uploaded to %s (collector down or token refused?)", res.LeftQueued, cfg.Endpoint)
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&cfg.Release, "release", "", "app release (service.version) the sessions report (required)")
	f.IntVar(&cfg.Sessions, "sessions", 50, "number of user sessions")
	f.StringVar(&cfg.Endpoint, "endpoint", "http://127.0.0.1:4318", "collector OTLP/HTTP base URL")
	f.StringVar(&cfg.Token, "token", "", "ingest token (default $FLEETLENS_TOKEN, else minted for --app)")
	f.StringVar(&cfg.App, "app", "com.example.shop", "app id (service.name)")
	f.Uint64Var(&cfg.Seed, "seed", 1, "seed for devices, networks and behaviour (same seed = comparable releases)")
	f.IntVar(&cfg.Concurrency, "concurrency", 16, "sessions running at once")
	f.IntVar(&cfg.RequestsPerSession, "requests", 6, "requests per session")
	f.Float64Var(&cfg.AndroidShare, "android-share", 0.6, "fraction of sessions on Android (rest iOS)")
	f.StringVar(&profiles, "profiles", "", "comma-separated networks to use (wifi,dsl,3g-good,3g-average,edge-lossy,2g-urban,2g-rural); default a weak-network-heavy mix")
	f.IntVar(&cfg.Regression.TTFB3GLowPct, "regress-ttfb-3g-low", 0, "seeded regression: +PCT% time to first byte for low-tier devices on 3g")
	f.StringVar(&cfg.Regression.CrashOSVersion, "crash-os-version", "", `seeded regression: sessions on this OS version crash ("11" or "android/11")`)
	_ = c.MarkFlagRequired("release")
	return c
}

// restrictMix keeps the default mix's networks named in list, with their weights.
func restrictMix(list string) ([]traffic.Network, error) {
	var out []traffic.Network
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		found := false
		for _, n := range traffic.DefaultMix {
			if n.Profile == name || (name == "wifi" && n.Profile == "") {
				out = append(out, n)
				found = true
			}
		}
		if !found && name != "" {
			return nil, fmt.Errorf("--profiles: unknown network %q (known: wifi, dsl, 3g-good, 3g-average, edge-lossy, 2g-urban, 2g-rural)", name)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--profiles: no network named in %q", list)
	}
	return out, nil
}
