package dashboards

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

type dsYAML struct {
	Datasources []struct {
		URL            string            `yaml:"url"`
		User           string            `yaml:"user"`
		Type           string            `yaml:"type"`
		JSONData       map[string]any    `yaml:"jsonData"`
		SecureJSONData map[string]string `yaml:"secureJsonData"`
	} `yaml:"datasources"`
}

func TestExport(t *testing.T) {
	cases := []struct {
		name, dsn                       string
		url, user, db, sslmode, nopeStr string
	}{
		{"url with password", "postgres://fleetlens_grafana:s3cret@db.example.com:6432/fleetlens?sslmode=verify-full",
			"db.example.com:6432", "fleetlens_grafana", "fleetlens", "verify-full", "s3cret"},
		{"key=value, prefer on remote becomes require", "host=10.1.2.3 port=5433 user=grafana_ro dbname=fl password=hunter2",
			"10.1.2.3:5433", "grafana_ro", "fl", "require", "hunter2"},
		{"loopback without user", "postgres://127.0.0.1:5432/fleetlens", "127.0.0.1:5432", GrafanaLogin, "fleetlens", "disable", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := Export(dir, c.dsn); err != nil {
				t.Fatal(err)
			}
			raw, err := os.ReadFile(filepath.Join(dir, "provisioning/datasources/fleetlens.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			if c.nopeStr != "" && bytes.Contains(raw, []byte(c.nopeStr)) {
				t.Fatalf("the DSN's password was written:\n%s", raw)
			}
			var f dsYAML
			if err := yaml.Unmarshal(raw, &f); err != nil {
				t.Fatal(err)
			}
			d := f.Datasources[0]
			if d.URL != c.url || d.User != c.user || d.JSONData["database"] != c.db || d.JSONData["sslmode"] != c.sslmode {
				t.Errorf("datasource url=%q user=%q db=%v sslmode=%v; want %q %q %q %q",
					d.URL, d.User, d.JSONData["database"], d.JSONData["sslmode"], c.url, c.user, c.db, c.sslmode)
			}
			if d.Type != DatasourceType || d.SecureJSONData["password"] != "$__env{"+PasswordEnv+"}" {
				t.Errorf("type %q password %q", d.Type, d.SecureJSONData["password"])
			}
			prov, err := os.ReadFile(filepath.Join(dir, "provisioning/dashboards/fleetlens.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(prov, []byte(`path: "`+filepath.Join(dir, "json")+`"`)) {
				t.Errorf("provider does not point at %s/json:\n%s", dir, prov)
			}
			names, _ := fs.Glob(Tree(), "json/*.json")
			for _, n := range names {
				want, _ := fs.ReadFile(Tree(), n)
				got, err := os.ReadFile(filepath.Join(dir, n))
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("%s not exported as committed: %v", n, err)
				}
			}
		})
	}
}

func TestExportOptionsAndOverwrite(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "json"), 0o755); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, "json", "weak-network.json")
	if err := os.WriteFile(stale, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := ExportWith(dir, "postgres://admin:pw@127.0.0.1:5432/fleetlens", Options{DashboardsPath: "/var/lib/grafana/dashboards/fleetlens", User: GrafanaLogin})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(stale); len(b) < 100 {
		t.Errorf("existing dashboard file was not replaced")
	}
	ds, _ := os.ReadFile(filepath.Join(dir, "provisioning/datasources/fleetlens.yaml"))
	if !bytes.Contains(ds, []byte(`user: "fleetlens_grafana"`)) || bytes.Contains(ds, []byte("admin")) {
		t.Errorf("user override not applied:\n%s", ds)
	}
	prov, _ := os.ReadFile(filepath.Join(dir, "provisioning/dashboards/fleetlens.yaml"))
	if !bytes.Contains(prov, []byte(`path: "/var/lib/grafana/dashboards/fleetlens"`)) {
		t.Errorf("dashboards path override not applied:\n%s", prov)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, "*", "*.tmp")); len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

func TestExportRejects(t *testing.T) {
	cases := []struct{ name, dir, dsn, want string }{
		{"empty DSN", "d", "", "no database DSN"},
		{"not a DSN", "d", "postgres://[::1:5432/x", "not a valid PostgreSQL DSN"},
		{"unix socket", "d", "host=/var/run/postgresql dbname=fleetlens", "Unix socket"},
		{"no directory", "", "postgres://127.0.0.1:5432/fleetlens", "no directory"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := c.dir
			if dir != "" {
				dir = filepath.Join(t.TempDir(), dir)
			}
			err := Export(dir, c.dsn)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Export(%q, %q) = %v, want an error containing %q", dir, c.dsn, err, c.want)
			}
			if dir != "" {
				if _, err := os.Stat(dir); err == nil {
					t.Errorf("a refused export still wrote %s", dir)
				}
			}
		})
	}
}
