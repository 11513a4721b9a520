package main

import "github.com/spf13/cobra"

func newCollectorCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "collector [--config FILE]",
		Short:   "OTLP collector: gRPC :4317, HTTP :4318 into PostgreSQL",
		Example: "  fleetlens collector --config collector.yaml",
		RunE:    notBuilt("fleetlens collector"),
	}
}
