package main

import "github.com/spf13/cobra"

func newSimTrafficCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "traffic --release V [--sessions N] [--endpoint URL]",
		Short:   "Simulated user sessions through the real SDK and network profiles",
		Example: "  fleetlens sim traffic --release 2.3.0 --sessions 200",
		RunE:    notBuilt("fleetlens sim traffic"),
	}
}
