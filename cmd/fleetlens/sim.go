package main

import "github.com/spf13/cobra"

func newSimCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "sim",
		Short: "Device and traffic simulators that speak the real wire protocols",
	}
	c.AddCommand(newSimAndroidCmd(), newSimIOSCmd(), newSimTrafficCmd())
	return c
}
