package main

import "github.com/spf13/cobra"

func newSimIOSCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "ios --count N --socket PATH",
		Short:   "Simulated iPhones behind a simulated usbmuxd",
		Example: "  fleetlens sim ios --count 10 --socket /tmp/usbmuxd.sock",
		RunE:    notBuilt("fleetlens sim ios"),
	}
}
