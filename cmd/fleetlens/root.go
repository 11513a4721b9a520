package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// globals are the flags every subcommand shares.
type globals struct {
	db       string
	logLevel string
}

var global globals

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "fleetlens",
		Short: "Mobile APM and device-compatibility testing toolkit",
		Long: `fleetlens traces the user experience of mobile apps on weak networks and weak
devices, runs compatibility suites on a farm of Android and iOS devices, and gates staged
rollouts on candidate-vs-baseline regression reports.

Database: --db DSN, else $FLEETLENS_DB, else a private PostgreSQL cluster that fleetlens
starts itself under $FLEETLENS_HOME (default ~/.local/share/fleetlens; /var/lib/fleetlens
as root, because the server then runs as the unprivileged postgres user).`,
		Example:       "  fleetlens demo\n  fleetlens db start && fleetlens db url",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return setupLogging(global.logLevel)
		},
	}
	root.PersistentFlags().StringVar(&global.db, "db", "", "PostgreSQL DSN (default $FLEETLENS_DB, else the managed local cluster)")
	root.PersistentFlags().StringVar(&global.logLevel, "log-level", envOr("FLEETLENS_LOG_LEVEL", "info"), "log level: debug, info, warn, error")
	root.AddCommand(
		newDemoCmd(),
		newDBCmd(),
		newCollectorCmd(),
		newAppCmd(),
		newAgentCmd(),
		newSimCmd(),
		newFarmCmd(),
		newGateCmd(),
		newTUICmd(),
		newDashboardsCmd(),
	)
	return root
}

func setupLogging(level string) error {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})))
	return nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
