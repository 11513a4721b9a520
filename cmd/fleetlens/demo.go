package main

import "github.com/spf13/cobra"

func newDemoCmd() *cobra.Command {
	return &cobra.Command{Use: "demo", Short: "The main job, end to end on one machine", RunE: notBuilt("demo")}
}
