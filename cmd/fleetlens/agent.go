package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/fleetlens/fleetlens/agent"
	"github.com/fleetlens/fleetlens/devicefarm/driver"
	"github.com/fleetlens/fleetlens/devicefarm/driver/android"
	"github.com/fleetlens/fleetlens/devicefarm/driver/ios"
	"github.com/fleetlens/fleetlens/internal/pg"
)

func newAgentCmd() *cobra.Command {
	var cfgPath, hostID, artifacts, metrics, adbAddr, platform, usbmux string
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "agent [--config FILE]",
		Short: "Per-host device daemon: discovers devices and runs farm work",
		Long: `agent discovers this host's Android devices through the adb server (or iOS devices through
usbmuxd with --platform ios), keeps their state and
health in PostgreSQL and runs farm work on every healthy device: it claims work items,
holds their leases with heartbeats, and records every attempt. Run one per device host;
any number of hosts share one database. Stop it with Ctrl-C: held work is released.`,
		Example: "  fleetlens agent --config agent.yaml\n  fleetlens agent --host-id rack1 --metrics 127.0.0.1:9464",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var cfg agent.Config
			if cfgPath != "" {
				data, err := os.ReadFile(cfgPath)
				if err != nil {
					return withExitCode(2, fmt.Errorf("agent config: %w", err))
				}
				dec := yaml.NewDecoder(bytes.NewReader(data))
				dec.KnownFields(true)
				if err := dec.Decode(&cfg); err != nil {
					return withExitCode(2, fmt.Errorf("agent config %s: %w", cfgPath, err))
				}
			}
			if hostID != "" {
				cfg.HostID = hostID
			}
			if artifacts != "" {
				cfg.ArtifactsDir = artifacts
			}
			if metrics != "" {
				cfg.MetricsAddr = metrics
			}
			if ttl > 0 {
				cfg.LeaseTTL = ttl
			}
			ctx := cmd.Context()
			pool, err := pg.Open(ctx, global.db)
			if err != nil {
				return withExitCode(2, err)
			}
			defer pool.Close()
			var drv driver.Driver
			switch platform {
			case "android":
				drv, err = android.New(ctx, android.Config{ServerAddr: adbAddr})
			case "ios":
				addr := usbmux
				if addr != "" && !strings.Contains(addr, "://") && !strings.Contains(addr, ":") {
					addr = "UNIX://" + addr
				}
				drv, err = ios.New(ios.Config{SocketAddress: addr})
			default:
				err = fmt.Errorf("--platform %q: want android or ios", platform)
			}
			if err != nil {
				return withExitCode(2, err)
			}
			a, err := agent.New(cfg, pool, drv, slog.Default())
			if err != nil {
				return withExitCode(2, err)
			}
			if err := a.Start(ctx); err != nil {
				return withExitCode(2, err)
			}
			if addr := a.MetricsAddr(); addr != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "metrics on http://%s/metrics\n", addr)
			}
			<-ctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			return a.Shutdown(sctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfgPath, "config", "", "agent YAML (host_id, artifacts_dir, labels, metrics_addr, lease_ttl, health: ...)")
	f.StringVar(&hostID, "host-id", "", "host id (default: hostname)")
	f.StringVar(&artifacts, "artifacts", "", "artifacts root (logs, screenshots, app cache)")
	f.StringVar(&metrics, "metrics", "", "serve Prometheus /metrics on this address")
	f.StringVar(&adbAddr, "adb", "", "adb server address (default as adb: ADB_SERVER_SOCKET, ANDROID_ADB_SERVER_PORT, 127.0.0.1:5037)")
	f.DurationVar(&ttl, "lease-ttl", 0, "work lease TTL (default 30s)")
	f.StringVar(&platform, "platform", "android", "device platform this agent drives: android or ios")
	f.StringVar(&usbmux, "usbmux", "", "iOS: usbmuxd socket path (default as go-ios finds it, USBMUXD_SOCKET_ADDRESS)")
	return cmd
}
