package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/fleetlens/fleetlens/dashboards"
	"github.com/fleetlens/fleetlens/internal/pg"
)

func newDashboardsCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "dashboards",
		Short: "Grafana provisioning for the fleetlens database",
		Long: `fleetlens ships four Grafana dashboards (weak-network experience, weak-device
experience, release health, device farm) with a PostgreSQL datasource and a file provider.
'dashboards export' writes that provisioning tree for one database; copy it into Grafana's
provisioning directory (see README, "Grafana dashboards").`,
		Example: "  fleetlens dashboards export --dir ./grafana --dsn postgres://fleetlens_grafana@db.example:5432/fleetlens?sslmode=require",
	}
	c.AddCommand(newDashboardsExportCmd())
	return c
}

func newDashboardsExportCmd() *cobra.Command {
	var dir, dsn, path, user string
	c := &cobra.Command{
		Use:   "export --dir DIR [--dsn DSN]",
		Short: "Write the Grafana provisioning tree with the datasource pointing at a database",
		Long: `Writes DIR/provisioning/datasources/fleetlens.yaml, DIR/provisioning/dashboards/fleetlens.yaml
and DIR/json/*.json. The datasource takes host, port, database and sslmode from --dsn (else
--db, $FLEETLENS_DB or the managed local cluster) and logs in as the DSN's user, else as the
read-only fleetlens_grafana role. No password is ever written: Grafana reads it from
$FLEETLENS_GRAFANA_PASSWORD at start-up. Existing files of the same names are replaced.`,
		Example: "  fleetlens dashboards export --dir ./grafana\n" +
			"  fleetlens dashboards export --dir ./grafana --dsn postgres://fleetlens_grafana@10.0.0.5:5432/fleetlens \\\n" +
			"      --dashboards-path /var/lib/grafana/dashboards/fleetlens   # where Grafana will see the JSON",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return withExitCode(2, fmt.Errorf("--dir is required: the directory to write the provisioning tree into"))
			}
			explicit := dsn != ""
			if !explicit {
				resolved, _, err := pg.Resolve(cmd.Context(), global.db)
				if err != nil {
					return err
				}
				dsn = resolved
			}
			opt := dashboards.Options{DashboardsPath: path, User: user}
			// The fallback DSN is the administrator's: Grafana must never log in as that.
			if !explicit && opt.User == "" {
				opt.User = dashboards.GrafanaLogin
			}
			if explicit && dashboards.HasPassword(dsn) {
				fmt.Fprintf(cmd.ErrOrStderr(), "note: the password in --dsn was not written; Grafana reads it from $%s\n", dashboards.PasswordEnv)
			}
			if err := dashboards.ExportWith(dir, dsn, opt); err != nil {
				return withExitCode(2, err)
			}
			abs, _ := filepath.Abs(dir)
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s/provisioning and %s/json\n", abs, abs)
			return nil
		},
	}
	c.Flags().StringVar(&dir, "dir", "", "directory to write the provisioning tree into (created if missing)")
	c.Flags().StringVar(&dsn, "dsn", "", "database the datasource points at (default --db, $FLEETLENS_DB, else the managed cluster)")
	c.Flags().StringVar(&path, "dashboards-path", "", "directory Grafana reads the JSON from (default: the absolute DIR/json)")
	c.Flags().StringVar(&user, "user", "", "login role for Grafana (default: the DSN's user, else fleetlens_grafana)")
	return c
}
