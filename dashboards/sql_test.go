package dashboards

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"go.yaml.in/yaml/v3"

	"github.com/fleetlens/fleetlens/internal/pg/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// selections are the variable sets every panel runs with: everything, a low-end Android
// model on weak networks, a high-end iPhone.
var selections = []struct {
	name string
	sel  Selection
}{
	{"all", Selection{VarPlatform: {"$__all"}, VarNetClass: {"$__all"}, VarTier: {"$__all"}}},
	{"android-low-end-2g-3g", Selection{VarPlatform: {"android"}, VarModel: {"SM-A125F"}, VarNetClass: {"2g", "3g"}, VarTier: {"low"}}},
	{"ios-high-end", Selection{VarPlatform: {"ios"}, VarModel: {"iPhone14,5"}, VarNetClass: {"$__all"}, VarTier: {"high"}}},
}

// TestPanelsQueryTheSeededDatabase runs every variable query and every panel query of the
// committed JSON, rendered for a fixed time range and each selection, as the Grafana login
// role against a database seeded through the collector's and the farm's write paths. Time
// series must return exactly (time, metric, value) with a numeric time and at least one
// non-null value; tables and stats the columns their definition names; all at least one row.
func TestPanelsQueryTheSeededDatabase(t *testing.T) {
	dsn := pgtest.NewDSN(t)
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	now := time.Now().UTC()
	r := Range{From: now.Add(-3 * time.Hour).Truncate(time.Minute), To: now.Add(5 * time.Minute).Truncate(time.Minute), Interval: "5m"}
	seedField(t, pool, r.From.Add(30*time.Minute), now.Add(-time.Minute))
	seedFarm(t, pool)
	seedGate(t, pool)
	conn := grafanaConn(t, pool, dsn)

	columns := map[string]map[int][]string{}
	for _, d := range All() {
		columns[d.UID] = map[int][]string{}
		for _, p := range d.Panels {
			columns[d.UID][p.ID] = p.columns
		}
	}
	panels := 0
	for _, name := range jsonFiles(t) {
		d := loadJSON(t, name)
		for _, c := range selections {
			t.Run(d.UID+"/"+c.name, func(t *testing.T) {
				sel := Selection{VarApp: {seedApp}, VarRelease: {seedCand}, VarCompareRelease: {seedBase}}
				for k, v := range c.sel {
					sel[k] = v
				}
				resolveVariables(t, conn, d, r, sel)
				for _, p := range d.Panels {
					for _, tg := range p.Targets {
						panels++
						sql, err := Render(tg.RawSQL, r, d.Templating.List, sel)
						if err != nil {
							t.Errorf("panel %q: %v", p.Title, err)
							continue
						}
						checkPanel(t, conn, p, tg.Format, columns[d.UID][p.ID], sql)
					}
				}
			})
		}
	}
	if panels < 30 {
		t.Errorf("ran %d panel queries; the four dashboards have more", panels)
	}
	checkValues(t, conn, r)
}

// grafanaConn logs in the way the exported datasource does: Export writes the provisioning
// tree for the test database, and the connection is made from the datasource file's url,
// user, database and sslmode, with the password Grafana would read from the environment.
func grafanaConn(t *testing.T, pool *pgxpool.Pool, dsn string) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		t.Fatal(err)
	}
	password := hex.EncodeToString(secret) // hex: safe inside the literal below
	if _, err := pool.Exec(ctx, `ALTER ROLE `+GrafanaLogin+` PASSWORD '`+password+`'`); err != nil {
		t.Fatalf("the migration must create the %s login: %v", GrafanaLogin, err)
	}
	dir := t.TempDir()
	if err := Export(dir, dsn); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "provisioning", "datasources", "fleetlens.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var f dsYAML
	if err := yaml.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	d := f.Datasources[0]
	u := url.URL{Scheme: "postgres", User: url.UserPassword(d.User, password), Host: d.URL,
		Path: "/" + fmt.Sprint(d.JSONData["database"]), RawQuery: "sslmode=" + fmt.Sprint(d.JSONData["sslmode"])}
	if d.User != GrafanaLogin {
		// The test DSN names the administrator; Grafana is given the read-only login instead.
		if err := ExportWith(dir, dsn, Options{User: GrafanaLogin}); err != nil {
			t.Fatal(err)
		}
		u.User = url.UserPassword(GrafanaLogin, password)
	}
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		t.Fatalf("log in as the datasource would (%s): %v", d.URL, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	var ro string
	if err := conn.QueryRow(ctx, `SHOW default_transaction_read_only`).Scan(&ro); err != nil || ro != "on" {
		t.Fatalf("%s logs in with default_transaction_read_only=%q (%v), want on", GrafanaLogin, ro, err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO apps (id) VALUES ('x')`); err == nil {
		t.Fatalf("%s could write to apps", GrafanaLogin)
	}
	return conn
}

// resolveVariables runs the variable queries in order, as Grafana does on load, checks
// that they offer the seeded values and selects every model when none is chosen.
func resolveVariables(t *testing.T, conn *pgx.Conn, d *Dashboard, r Range, sel Selection) {
	t.Helper()
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		sql, err := Render(v.Query, r, d.Templating.List, sel)
		if err != nil {
			t.Fatalf("variable %s: %v", v.Name, err)
		}
		vals := firstColumn(t, conn, sql)
		if len(vals) == 0 {
			t.Fatalf("variable %s offers no value:\n%s", v.Name, sql)
		}
		for _, want := range sel[v.Name] {
			if !slices.Contains(vals, want) {
				t.Errorf("variable %s offers %v, not the seeded %q", v.Name, vals, want)
			}
		}
		// Defaults on load are the first options: the newest release as candidate, the one
		// before it as baseline.
		if def := map[string]string{VarRelease: seedCand, VarCompareRelease: seedBase}[v.Name]; def != "" && vals[0] != def {
			t.Errorf("variable %s defaults to %q, want %q (options %v)", v.Name, vals[0], def, vals)
		}
		if _, chosen := sel[v.Name]; !chosen {
			sel[v.Name] = vals // "All" of a query variable: every option it offers
		}
	}
	if sel[VarPlatform][0] == "ios" && slices.Contains(sel[VarModel], "SM-A125F") {
		t.Errorf("the model variable offers Android models on iOS: %v", sel[VarModel])
	}
}

func firstColumn(t *testing.T, conn *pgx.Conn, sql string) []string {
	t.Helper()
	rows, err := conn.Query(context.Background(), sql)
	if err != nil {
		t.Fatalf("%v\n%s", err, sql)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprint(vals[0]))
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%v\n%s", err, sql)
	}
	return out
}

func checkPanel(t *testing.T, conn *pgx.Conn, p *Panel, format string, want []string, sql string) {
	t.Helper()
	rows, err := conn.Query(context.Background(), sql)
	if err != nil {
		t.Errorf("panel %q: %v\n%s", p.Title, err, sql)
		return
	}
	defer rows.Close()
	var names []string
	for _, fd := range rows.FieldDescriptions() {
		names = append(names, fd.Name)
	}
	if format == FormatTimeSeries {
		want = []string{"time", "metric", "value"}
	}
	if strings.Join(names, "|") != strings.Join(want, "|") {
		t.Errorf("panel %q returns columns %q, want %q", p.Title, names, want)
		return
	}
	n, nonNull := 0, 0
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Errorf("panel %q: %v", p.Title, err)
			return
		}
		n++
		if format == FormatTimeSeries {
			if _, ok := number(vals[0]); !ok {
				t.Errorf("panel %q: time %v (%T) is not epoch seconds", p.Title, vals[0], vals[0])
				return
			}
			if _, ok := vals[1].(string); !ok {
				t.Errorf("panel %q: metric %v (%T) is not text", p.Title, vals[1], vals[1])
				return
			}
			if _, ok := number(vals[2]); ok {
				nonNull++
			} else if vals[2] != nil {
				t.Errorf("panel %q: value %v (%T) is not numeric", p.Title, vals[2], vals[2])
				return
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Errorf("panel %q: %v\n%s", p.Title, err, sql)
		return
	}
	if n == 0 {
		t.Errorf("panel %q returned no row:\n%s", p.Title, sql)
	} else if format == FormatTimeSeries && nonNull == 0 {
		t.Errorf("panel %q returned %d rows, all values NULL:\n%s", p.Title, n, sql)
	}
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, !math.IsNaN(x)
	case float32:
		return float64(x), true
	case int64:
		return float64(x), true
	case int32:
		return float64(x), true
	case pgtype.Numeric:
		f, err := x.Float64Value()
		return f.Float64, err == nil && f.Valid
	}
	return 0, false
}

// checkValues pins a few numbers the seed determines, so the SQL is not only valid but right:
// 8 sessions per device and release; crashes in sessions 1 and 5 (baseline) plus 2 and 6
// (candidate); ANRs in sessions 1, 4 and 7; 5 farm devices; checkout fails once then passes.
func checkValues(t *testing.T, conn *pgx.Conn, r Range) {
	t.Helper()
	d := releaseHealth()
	sel := Selection{VarApp: {seedApp}, VarRelease: {seedCand}, VarCompareRelease: {seedBase},
		VarPlatform: {"$__all"}, VarNetClass: {"$__all"}, VarTier: {"$__all"}, VarModel: modelsOf(seedDevices)}
	stat := func(title string) map[string]float64 {
		for _, p := range d.Panels {
			if p.Title != title {
				continue
			}
			sql, err := Render(p.Targets[0].RawSQL, r, d.Templating.List, sel)
			if err != nil {
				t.Fatal(err)
			}
			out := map[string]float64{}
			rows, err := conn.Query(context.Background(), sql)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			for rows.Next() {
				var metric string
				var value any
				if err := rows.Scan(&metric, &value); err != nil {
					t.Fatal(err)
				}
				out[metric], _ = number(value)
			}
			return out
		}
		t.Fatalf("no panel %q", title)
		return nil
	}
	near := func(what string, got, want float64) {
		if math.Abs(got-want) > 1e-9 {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	crash := stat("User-perceived crash rate (guardrail 1.09%)")
	near("candidate crash rate", crash["candidate "+seedCand], 50)
	near("baseline crash rate", crash["baseline "+seedBase], 25)
	free := stat("Crash-free sessions")
	near("candidate crash-free sessions", free["candidate "+seedCand], 50)
	anr := stat("User-perceived ANR rate (guardrail 0.47%)")
	near("candidate ANR rate", anr["candidate "+seedCand], 37.5)
	sessions := stat("Sessions")
	near("candidate sessions", sessions["candidate "+seedCand], float64(len(seedDevices)*sessionsEach))

	wn := weakNetwork()
	for _, p := range wn.Panels {
		if p.Title != "Request latency p90 by carrier" {
			continue
		}
		sql, err := Render(p.Targets[0].RawSQL, r, wn.Templating.List, sel)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := conn.Query(context.Background(), "SELECT DISTINCT metric FROM ("+sql+") x ORDER BY 1")
		if err != nil {
			t.Fatal(err)
		}
		carriers, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(carriers, ",") != "Airtel,T-Mobile,Vodafone" {
			t.Errorf("carriers %v: a span without network.carrier.name must take its resource's", carriers)
		}
	}
	var devices, flaky int
	var flakyTest string
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM devices`).Scan(&devices); err != nil {
		t.Fatal(err)
	}
	if devices != len(seedDevices) {
		t.Errorf("%d devices visible to Grafana, want %d", devices, len(seedDevices))
	}
	fd := deviceFarm()
	for _, p := range fd.Panels {
		if p.Title != "Flaky tests" {
			continue
		}
		sql, err := Render(p.Targets[0].RawSQL, r, fd.Templating.List, sel)
		if err != nil {
			t.Fatal(err)
		}
		var a, b, c, e any
		if err := conn.QueryRow(context.Background(), sql).Scan(&flakyTest, &a, &b, &flaky, &c, &e); err != nil {
			t.Fatal(err)
		}
	}
	if flakyTest != "com.example.CartTest#checkout" || flaky == 0 {
		t.Errorf("flaky tests panel: top %q with %d flaky runs, want com.example.CartTest#checkout", flakyTest, flaky)
	}
}

func modelsOf(ds []seedDevice) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.model)
	}
	return out
}
