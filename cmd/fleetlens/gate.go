package main

import "github.com/spf13/cobra"

func newGateCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "gate --app ID --candidate V --baseline V",
		Short:   "Release gate: candidate vs baseline verdict (exit 0 pass, 1 fail, 3 inconclusive)",
		Example: "  fleetlens gate --app com.example.shop --candidate 2.3.0 --baseline 2.2.0",
		RunE:    notBuilt("fleetlens gate"),
	}
}
