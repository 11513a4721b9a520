package main

import "github.com/spf13/cobra"

func newAgentCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "agent [--config FILE]",
		Short:   "Per-host device daemon: discovers devices and runs farm work",
		Example: "  fleetlens agent --config agent.yaml",
		RunE:    notBuilt("fleetlens agent"),
	}
}
