// Package dashboards owns fleetlens's Grafana content: the provisioning tree (a PostgreSQL
// datasource on the read-only fleetlens_grafana login, a file dashboard provider) and four
// Classic-JSON dashboards over the collector's and the farm's tables (weak-network and
// weak-device experience, release health, device farm). The dashboards are defined in Go
// (weaknet.go, weakdevice.go, release.go, farm.go) and rendered into json/*.json, which are
// committed and embedded; Export writes the tree for a given database so a team can drop it
// into a stock Grafana. Render reproduces Grafana's variable and macro expansion so tests can
// run every panel's SQL against PostgreSQL.
package dashboards

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

//go:embed provisioning json
var tree embed.FS

// Tree is the committed provisioning tree: provisioning/datasources/fleetlens.yaml (all
// connection settings from the environment), provisioning/dashboards/fleetlens.yaml and
// json/*.json.
func Tree() fs.FS { return tree }

// GrafanaLogin is the login role the datasource uses: LOGIN, member of the read-only
// fleetlens_reader role, read-only transactions by default (migration 005_dashboards.sql).
const GrafanaLogin = "fleetlens_grafana"

// PasswordEnv is the environment variable Grafana reads the login's password from.
const PasswordEnv = "FLEETLENS_GRAFANA_PASSWORD"

// DefaultDashboardsPath is where the committed provider file expects the JSON files.
const DefaultDashboardsPath = "/var/lib/grafana/dashboards/fleetlens"

// Connection is what the datasource file says about the database.
type Connection struct {
	Host, Port, Database, User, SSLMode string
}

// envConnection is the committed file's connection: every field from the environment.
var envConnection = Connection{
	Host: "$__env{FLEETLENS_PG_HOST}", Port: "$__env{FLEETLENS_PG_PORT}",
	Database: "$__env{FLEETLENS_PG_DATABASE}", User: GrafanaLogin, SSLMode: "$__env{FLEETLENS_PG_SSLMODE}",
}

// Options tune Export.
type Options struct {
	// DashboardsPath is the directory Grafana will read the JSON from (default: the absolute
	// path of DIR/json). Set it when Grafana sees the files elsewhere, e.g. in a container.
	DashboardsPath string
	// User overrides the login (default: the DSN's user, else fleetlens_grafana).
	User string
}

// Export writes the provisioning tree into dir with the datasource pointing at dsn.
func Export(dir, dsn string) error { return ExportWith(dir, dsn, Options{}) }

// ExportWith is Export with options.
func ExportWith(dir, dsn string, opt Options) error {
	conn, err := ConnectionFromDSN(dsn)
	if err != nil {
		return err
	}
	if opt.User != "" {
		conn.User = opt.User
	}
	if dir == "" {
		return errors.New("export: no directory given")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	path := opt.DashboardsPath
	if path == "" {
		path = filepath.Join(abs, "json")
	}
	files := map[string][]byte{
		"provisioning/datasources/fleetlens.yaml": DatasourceYAML(conn),
		"provisioning/dashboards/fleetlens.yaml":  ProviderYAML(path),
	}
	entries, err := fs.ReadDir(tree, "json")
	if err != nil {
		return fmt.Errorf("export: read embedded dashboards: %w", err)
	}
	for _, e := range entries {
		b, err := fs.ReadFile(tree, "json/"+e.Name())
		if err != nil {
			return fmt.Errorf("export: %w", err)
		}
		files["json/"+e.Name()] = b
	}
	for name, b := range files {
		p := filepath.Join(abs, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("export: create %s: %w", filepath.Dir(p), err)
		}
		// Write-then-rename: a Grafana polling the directory never reads half a file.
		tmp := p + ".tmp"
		if err := os.WriteFile(tmp, b, 0o644); err != nil {
			return fmt.Errorf("export: write %s: %w", p, err)
		}
		if err := os.Rename(tmp, p); err != nil {
			return fmt.Errorf("export: write %s: %w", p, err)
		}
	}
	return nil
}

// ConnectionFromDSN takes host, port, database, user and sslmode from a PostgreSQL DSN (URL or
// key=value form). The password is never taken: Grafana reads it from $FLEETLENS_GRAFANA_PASSWORD.
func ConnectionFromDSN(dsn string) (Connection, error) {
	if strings.TrimSpace(dsn) == "" {
		return Connection{}, errors.New("export: no database DSN given")
	}
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return Connection{}, fmt.Errorf("export: DSN is not a valid PostgreSQL DSN (want postgres://user@host:port/db): %w", err)
	}
	if strings.HasPrefix(cfg.Host, "/") {
		return Connection{}, fmt.Errorf("export: DSN names the Unix socket %s; Grafana connects over TCP: give host and port (e.g. postgres://%s@127.0.0.1:%d/%s)",
			cfg.Host, GrafanaLogin, cfg.Port, cfg.Database)
	}
	c := Connection{Host: cfg.Host, Port: strconv.Itoa(int(cfg.Port)), Database: cfg.Database,
		User: cfg.User, SSLMode: sslMode(dsn)}
	if c.Database == "" {
		return Connection{}, errors.New("export: DSN names no database")
	}
	if !namesUser(dsn) {
		c.User = GrafanaLogin // not the OS user pgconn defaults to
	}
	return c, nil
}

// namesUser reports whether the DSN itself names a user (pgconn fills in $PGUSER or the
// OS user otherwise, which is nobody Grafana should log in as).
func namesUser(dsn string) bool {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		return u.User != nil && u.User.Username() != ""
	}
	for _, f := range strings.Fields(dsn) {
		if strings.HasPrefix(f, "user=") && len(f) > len("user=") {
			return true
		}
	}
	return false
}

// HasPassword reports whether dsn carries a password (which Export leaves out).
func HasPassword(dsn string) bool {
	cfg, err := pgconn.ParseConfig(dsn)
	return err == nil && cfg.Password != ""
}

// sslMode reads the sslmode the DSN asked for, as Grafana spells the modes it supports;
// libpq's default "prefer" (and "allow") has no Grafana equivalent, so it becomes "require"
// on a remote host and "disable" on loopback.
func sslMode(dsn string) string {
	mode := ""
	if i := strings.Index(dsn, "sslmode="); i >= 0 {
		rest := dsn[i+len("sslmode="):]
		if j := strings.IndexAny(rest, "& "); j >= 0 {
			rest = rest[:j]
		}
		mode = rest
	}
	switch mode {
	case "disable", "require", "verify-ca", "verify-full":
		return mode
	}
	cfg, err := pgconn.ParseConfig(dsn)
	if err == nil && isLoopback(cfg.Host) {
		return "disable"
	}
	return "require"
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// yamlString quotes s for YAML unless it is an environment reference.
func yamlString(s string) string {
	if strings.HasPrefix(s, "$__env{") {
		return s
	}
	return strconv.Quote(s)
}

// DatasourceYAML is the datasource provisioning file for conn.
func DatasourceYAML(c Connection) []byte {
	return []byte(`# fleetlens PostgreSQL datasource (Grafana provisioning, apiVersion 1).
# Login: a read-only role (fleetlens_grafana is created by fleetlens's migration
# 005_dashboards.sql as a LOGIN member of fleetlens_reader with read-only transactions).
# The password is never stored here: Grafana reads it from $` + PasswordEnv + `.
apiVersion: 1

datasources:
  - name: fleetlens
    uid: ` + DatasourceUID + `
    type: ` + DatasourceType + `
    access: proxy
    url: ` + yamlString(c.Host+":"+c.Port) + `
    user: ` + yamlString(c.User) + `
    isDefault: false
    editable: false
    jsonData:
      database: ` + yamlString(c.Database) + `
      sslmode: ` + yamlString(c.SSLMode) + `
      postgresVersion: 1500
      timescaledb: false
      # the rollups are per minute: never group finer than that
      timeInterval: 1m
      maxOpenConns: 10
      maxIdleConns: 2
      connMaxLifetime: 14400
    secureJsonData:
      password: $__env{` + PasswordEnv + `}
`)
}

// ProviderYAML is the dashboard provider file reading the JSON from path.
func ProviderYAML(path string) []byte {
	return []byte(`# fleetlens dashboards (Grafana provisioning, apiVersion 1): a file provider that loads
# every *.json under the path into the "fleetlens" folder.
apiVersion: 1

providers:
  - name: fleetlens
    orgId: 1
    folder: fleetlens
    folderUid: fleetlens
    type: file
    disableDeletion: true
    allowUiUpdates: false
    updateIntervalSeconds: 60
    options:
      path: ` + yamlString(path) + `
      foldersFromFilesStructure: false
`)
}
