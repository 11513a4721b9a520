package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/fleetlens/fleetlens/devicefarm/driver/android"
	"github.com/fleetlens/fleetlens/devicefarm/sim/adbd"
)

func newSimAndroidCmd() *cobra.Command {
	var (
		cfg        adbd.Config
		connect    bool
		faultsFile string
	)
	c := &cobra.Command{
		Use:   "android --count N [--base-port P] [--connect]",
		Short: "Simulated Android phones speaking the adb transport protocol",
		Long: `Runs N simulated Android phones (real models from the device catalog), each a TCP
listener speaking the adb transport protocol, until Ctrl-C. The real adb server accepts them
with "adb connect 127.0.0.1:PORT"; --connect does that for all of them against the adb server
found as adb finds it (ADB_SERVER_SOCKET, ANDROID_ADB_SERVER_PORT, else 127.0.0.1:5037),
starting it when it is not running, and disconnects them on exit.

--faults FILE scripts misbehaviour per model/OS, a YAML list such as:
  - when: {os: ["10"]}
    battery_level: 4
  - when: {models: [redmi-9a]}
    temperature_c: 47
    drop_after_tests: 3`,
		Example: "  fleetlens sim android --count 20 --connect\n  fleetlens sim android --count 500 --base-port 40000 --time-scale 0.1",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if faultsFile != "" {
				b, err := os.ReadFile(faultsFile)
				if err != nil {
					return withExitCode(2, fmt.Errorf("--faults: %w", err))
				}
				dec := yaml.NewDecoder(bytes.NewReader(b))
				dec.KnownFields(true)
				if err := dec.Decode(&cfg.Faults); err != nil {
					return withExitCode(2, fmt.Errorf("--faults %s: %w", faultsFile, err))
				}
			}
			cfg.Logger = slog.Default()
			fleet, err := adbd.NewFleet(cfg)
			if err != nil {
				return withExitCode(2, err)
			}
			ctx := cmd.Context()
			if err := fleet.Start(ctx); err != nil {
				return err
			}
			defer func() {
				sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_ = fleet.Shutdown(sctx)
			}()
			out := cmd.OutOrStdout()
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ADB SERIAL\tHARDWARE SERIAL\tMODEL\tANDROID\tRAM MB")
			for _, d := range fleet.Devices() {
				in := d.Instance()
				fmt.Fprintf(tw, "%s\t%s\t%s %s\t%s\t%d\n", d.Addr(), d.HardwareSerial(), in.Model.Manufacturer, in.Model.Name, in.OSVersion, in.Model.RAMMB)
			}
			tw.Flush()
			if connect {
				drv, err := android.New(ctx, android.Config{})
				if err != nil {
					return err
				}
				if err := connectAll(ctx, drv, fleet, true); err != nil {
					return err
				}
				fmt.Fprintf(out, "connected %d devices to the adb server at %s\n", len(fleet.Devices()), drv.Addr())
				defer func() {
					dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					if err := connectAll(dctx, drv, fleet, false); err != nil {
						slog.Warn("sim android: disconnect", "err", err)
					}
					fmt.Fprintf(out, "disconnected %d devices\n", len(fleet.Devices()))
				}()
			}
			fmt.Fprintf(out, "%d simulated Android devices running; Ctrl-C to stop\n", len(fleet.Devices()))
			<-ctx.Done()
			return nil
		},
	}
	f := c.Flags()
	f.IntVar(&cfg.Count, "count", 1, "number of devices (1..5000)")
	f.IntVar(&cfg.BasePort, "base-port", 0, "device i listens on base-port+i (default: free ports)")
	f.StringVar(&cfg.Host, "host", "127.0.0.1", "listen address")
	f.StringVar(&cfg.Seed, "seed", "fleetlens", "varies serials so two fleets never collide")
	f.Float64Var(&cfg.TimeScale, "time-scale", 1, "multiplier of simulated durations (0.1 runs tests 10x faster)")
	f.BoolVar(&connect, "connect", false, "adb connect every device (and adb disconnect on exit)")
	f.StringVar(&faultsFile, "faults", "", "YAML file of per-model/OS faults")
	return c
}

// connectAll runs adb connect (or disconnect) for every device, 4 at a time: the adb
// server handles connects mostly one by one, and Debian's adb 29 has been seen to crash when
// many connects race with new transports' handshakes.
func connectAll(ctx context.Context, drv *android.Driver, fleet *adbd.Fleet, up bool) error {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	var mu sync.Mutex
	var firstErr error
	failed := 0
	for _, d := range fleet.Devices() {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			var err error
			if up {
				err = drv.Connect(ctx, d.Addr())
			} else {
				err = drv.Disconnect(ctx, d.Addr())
			}
			if err != nil {
				mu.Lock()
				failed++
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return fmt.Errorf("%d of %d devices: %w", failed, len(fleet.Devices()), firstErr)
	}
	return nil
}
