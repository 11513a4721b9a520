package main

import "github.com/spf13/cobra"

func newAppCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "app create ID | token ID",
		Short:   "Manage apps and their ingest tokens",
		Example: "  fleetlens app create com.example.shop",
		RunE:    notBuilt("fleetlens app"),
	}
}
