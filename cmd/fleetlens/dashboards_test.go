package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDashboardsExport(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		args     []string
		code     int
		say      string // in the output
		user     string // in the datasource file, when written
		noSecret string
	}{
		{"explicit DSN keeps its user, drops its password",
			[]string{"--dsn", "postgres://grafana_ro:pw123@db.example.com:6432/fleetlens?sslmode=require"},
			0, "password in --dsn was not written", `user: "grafana_ro"`, "pw123"},
		{"--db fallback never logs Grafana in as the administrator",
			[]string{"--db", "postgres://admin:adminpw@127.0.0.1:5999/fleetlens?sslmode=disable"},
			0, "wrote ", `user: "fleetlens_grafana"`, "adminpw"},
		{"unix socket DSN", []string{"--dsn", "host=/run/postgresql dbname=fleetlens"}, 2, "Grafana connects over TCP", "", ""},
		{"garbage DSN", []string{"--dsn", "postgres://[::1:5432/x"}, 2, "not a valid PostgreSQL DSN", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "grafana")
			out, code := fleetlens(t, t.TempDir(), append([]string{"dashboards", "export", "--dir", dir}, c.args...)...)
			if code != c.code || !strings.Contains(out, c.say) {
				t.Fatalf("exit %d, want %d; output %q should say %q", code, c.code, out, c.say)
			}
			ds, err := os.ReadFile(filepath.Join(dir, "provisioning", "datasources", "fleetlens.yaml"))
			if c.code != 0 {
				if err == nil {
					t.Fatalf("a failed export wrote %s", dir)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(ds), c.user) || strings.Contains(string(ds), c.noSecret) {
				t.Errorf("datasource file should have %s and not %q:\n%s", c.user, c.noSecret, ds)
			}
			for _, n := range []string{"weak-network", "weak-device", "release-health", "device-farm"} {
				if _, err := os.Stat(filepath.Join(dir, "json", n+".json")); err != nil {
					t.Error(err)
				}
			}
		})
	}
	if out, code := fleetlens(t, t.TempDir(), "dashboards", "export"); code != 2 || !strings.Contains(out, "--dir is required") {
		t.Errorf("export without --dir: exit %d, %q", code, out)
	}
}
