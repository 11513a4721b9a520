package main

import "github.com/spf13/cobra"

func newTUICmd() *cobra.Command {
	return &cobra.Command{
		Use:     "tui",
		Short:   "Terminal UI: fleet, runs and regressions",
		Example: "  fleetlens tui",
		RunE:    notBuilt("fleetlens tui"),
	}
}
