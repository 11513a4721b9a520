package main

import "github.com/spf13/cobra"

func newFarmCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "farm",
		Short:   "Run compatibility suites on the device farm",
		Example: "  fleetlens farm run suite.yaml --app app.apk --release 2.3.0 --wait",
		RunE:    notBuilt("fleetlens farm"),
	}
}
