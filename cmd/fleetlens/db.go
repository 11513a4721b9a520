package main

import "github.com/spf13/cobra"

func newDBCmd() *cobra.Command {
	return &cobra.Command{Use: "db", Short: "The managed local PostgreSQL cluster", RunE: notBuilt("db")}
}
