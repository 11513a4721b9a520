package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/fleetlens/fleetlens/devicefarm/sim/usbmux"
)

func newSimIOSCmd() *cobra.Command {
	var (
		count      int
		socket     string
		seed       string
		crashOnOS  string
		crashApp   string
		lowBattery int
		flaky      int
		slowTLS    time.Duration
		list       bool
	)
	c := &cobra.Command{
		Use:   "ios --count N --socket PATH",
		Short: "Simulated iPhones behind a simulated usbmuxd",
		Long: `Runs N simulated iPhones and iPads (real models from the catalog, iOS 15-18) behind a
usbmuxd on a Unix socket, with lockdownd, installation_proxy, streaming_zip_conduit,
syslog_relay, diagnostics_relay and the crash report services. go-ios and libimobiledevice
(idevice_id, ideviceinfo, idevicesyslog, idevicediagnostics, ideviceinstaller) use it once
USBMUXD_SOCKET_ADDRESS points at the socket. Runs until Ctrl-C.`,
		Example: `  fleetlens sim ios --count 10 --socket /tmp/usbmuxd.sock
  export USBMUXD_SOCKET_ADDRESS=UNIX:///tmp/usbmuxd.sock; idevice_id -l
  fleetlens sim ios --count 200 --socket /tmp/mux.sock --crash-on-os 17.6 --crash-app com.example.shop --low-battery 5 --flaky 3`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if socket == "" {
				return withExitCode(2, fmt.Errorf("--socket is required"))
			}
			abs, err := filepath.Abs(socket)
			if err != nil {
				return withExitCode(2, fmt.Errorf("--socket %q: %w", socket, err))
			}
			if lowBattery < 0 || flaky < 0 || lowBattery > count || flaky > count {
				return withExitCode(2, fmt.Errorf("--low-battery %d / --flaky %d must be within 0..--count %d", lowBattery, flaky, count))
			}
			srv, err := usbmux.NewServer(usbmux.Config{
				SocketPath: abs, Count: count, Seed: seed, CrashOnOSVersion: crashOnOS, CrashApp: crashApp, Logger: slog.Default(),
			})
			if err != nil {
				return withExitCode(2, err)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			devs := srv.Devices()
			// Faults go to the last devices so the first ones stay well-behaved for a quick look.
			for i := 0; i < lowBattery; i++ {
				d := devs[len(devs)-1-i]
				f := d.Faults()
				f.BatteryLevel, f.NotCharging = 4, true
				d.SetFaults(f)
			}
			for i := 0; i < flaky; i++ {
				d := devs[len(devs)-1-lowBattery-i]
				f := d.Faults()
				f.DetachMidInstall, f.ReattachAfter = true, 5*time.Second
				d.SetFaults(f)
			}
			if slowTLS > 0 {
				for _, d := range devs {
					f := d.Faults()
					f.TLSDelay = slowTLS
					d.SetFaults(f)
				}
			}
			if err := srv.Start(ctx); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if list {
				for _, d := range devs {
					in := d.Instance()
					fmt.Fprintf(out, "%s  %-12s %-28s iOS %s (%s)\n", d.UDID(), in.Model.ProductType, in.Model.Name, in.OSVersion, d.BuildVersion())
				}
			}
			fmt.Fprintf(out, "%d simulated iOS devices on %s\n", len(devs), abs)
			fmt.Fprintf(out, "export USBMUXD_SOCKET_ADDRESS=%s\n", srv.SocketAddress())
			<-ctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return srv.Shutdown(sctx)
		},
	}
	c.Flags().IntVar(&count, "count", 10, "number of simulated devices")
	c.Flags().StringVar(&socket, "socket", "", "Unix socket path for the simulated usbmuxd (required)")
	c.Flags().StringVar(&seed, "seed", "fleetlens", "varies the UDIDs so two fleets never collide")
	c.Flags().StringVar(&crashOnOS, "crash-on-os", "", "apps installed on devices running this iOS version crash (e.g. 17.6)")
	c.Flags().StringVar(&crashApp, "crash-app", "", "with --crash-on-os: only this bundle id crashes")
	c.Flags().IntVar(&lowBattery, "low-battery", 0, "this many devices report 4% battery, discharging")
	c.Flags().IntVar(&flaky, "flaky", 0, "this many devices drop off the bus mid-install (back after 5s)")
	c.Flags().DurationVar(&slowTLS, "slow-tls", 0, "stall every TLS handshake this long")
	c.Flags().BoolVar(&list, "list", false, "print every device (UDID, ProductType, model, iOS)")
	return c
}
