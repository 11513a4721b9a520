package main

import "github.com/spf13/cobra"

func newDashboardsCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "dashboards export --dir DIR",
		Short:   "Grafana provisioning for the fleetlens database",
		Example: "  fleetlens dashboards export --dir ./grafana",
		RunE:    notBuilt("fleetlens dashboards"),
	}
}
