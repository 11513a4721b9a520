package main

import "github.com/spf13/cobra"

func newSimAndroidCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "android --count N [--base-port P] [--connect]",
		Short:   "Simulated Android phones speaking the adb transport protocol",
		Example: "  fleetlens sim android --count 20 --connect",
		RunE:    notBuilt("fleetlens sim android"),
	}
}
