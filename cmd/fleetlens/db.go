package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/fleetlens/fleetlens/internal/pg"
)

func newDBCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "db",
		Short: "The managed local PostgreSQL cluster (start, stop, status, url, migrate)",
		Long: `fleetlens keeps a private PostgreSQL cluster under $FLEETLENS_HOME/pg (default
~/.local/share/fleetlens, or /var/lib/fleetlens as root), started from the PostgreSQL
binaries installed on this machine (Debian: apt-get install postgresql). It listens on a
Unix socket and a free loopback port, and is used whenever neither --db nor FLEETLENS_DB
names another database.`,
		Example: "  fleetlens db start\n  psql \"$(fleetlens db url)\"\n  fleetlens db status",
	}
	c.AddCommand(newDBStartCmd(), newDBStopCmd(), newDBStatusCmd(), newDBURLCmd(), newDBMigrateCmd())
	return c
}

func managedCluster(port int) (*pg.Cluster, error) {
	return pg.NewCluster(pg.ClusterConfig{Home: pg.DefaultHome(), Port: port})
}

func newDBStartCmd() *cobra.Command {
	port := -1
	c := &cobra.Command{
		Use:     "start",
		Short:   "Initialise (first time), start and migrate the managed cluster; no-op if running",
		Example: "  fleetlens db start\n  fleetlens db start --port 0   # move to a new free port",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p := port
			if !cmd.Flags().Changed("port") {
				p = 0
			} else if p == 0 {
				p = -1 // explicit --port 0: pick a new free port
			}
			cl, err := managedCluster(max(p, 0))
			if err != nil {
				return err
			}
			if p == -1 {
				if err := cl.Stop(cmd.Context()); err != nil {
					return err
				}
				if err := cl.ForgetPort(); err != nil {
					return err
				}
			}
			if err := cl.Start(cmd.Context()); err != nil {
				return err
			}
			from, to, err := pg.Migrate(cmd.Context(), cl.DSN())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintln(out, cl.Status(cmd.Context()).Detail)
			if from != to {
				fmt.Fprintf(out, "schema migrated from version %d to %d\n", from, to)
			}
			fmt.Fprintln(out, "url:", pg.Redact(cl.DSN()), "(full URL: fleetlens db url)")
			return nil
		},
	}
	c.Flags().IntVar(&port, "port", 0, "loopback TCP port (default: keep the port chosen at first start; 0 picks a new free one)")
	return c
}

func newDBStopCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "stop",
		Short:   "Stop the managed cluster (fast shutdown); no-op if stopped",
		Example: "  fleetlens db stop",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := managedCluster(0)
			if err != nil {
				return err
			}
			if err := cl.Stop(cmd.Context()); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), cl.Status(cmd.Context()).Detail)
			return nil
		},
	}
}

func newDBStatusCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Tell whether the managed cluster runs (exit 0 running, 3 not running)",
		Long: `Reads the postmaster's pid file, checks that process is alive and that the server
accepts connections, so a postmaster killed with -9 shows as stopped. Exit status 0 when
running, 3 when not (as pg_ctl status).`,
		Example: "  fleetlens db status || fleetlens db start",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := managedCluster(0)
			if err != nil {
				return err
			}
			st := cl.Status(cmd.Context())
			fmt.Fprintln(cmd.OutOrStdout(), st.Detail)
			if !st.Running {
				return withExitCode(3, nil)
			}
			return nil
		},
	}
}

func newDBURLCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "url",
		Short:   "Print the database URL fleetlens uses (--db, FLEETLENS_DB, else the managed cluster)",
		Example: "  psql \"$(fleetlens db url)\"",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dsn, _, err := pg.Resolve(cmd.Context(), global.db)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), dsn)
			return nil
		},
	}
}

func newDBMigrateCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "migrate",
		Short:   "Apply the embedded schema migrations to the database",
		Example: "  fleetlens db migrate\n  fleetlens --db postgres://fleetlens@db.internal/fleetlens db migrate",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dsn, src, err := pg.Resolve(cmd.Context(), global.db)
			if err != nil {
				return err
			}
			from, to, err := pg.Migrate(cmd.Context(), dsn)
			if err != nil {
				return fmt.Errorf("database %s (from %s): %w", pg.Redact(dsn), src, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "schema at version %d (was %d)\n", to, from)
			return nil
		},
	}
}
