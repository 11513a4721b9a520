package farmrun

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetlens/fleetlens/devicefarm/results"
	"github.com/fleetlens/fleetlens/devicefarm/schedule"
	"github.com/fleetlens/fleetlens/devicefarm/sim/adbd"
	"github.com/fleetlens/fleetlens/devicefarm/suite"
	"github.com/fleetlens/fleetlens/internal/pg/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// fleet registers devices the way agents do: two hosts, three Google phones, one Samsung.
func fleet(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	for _, sql := range []string{
		`INSERT INTO hosts (id, hostname) VALUES ('h1', 'h1'), ('h2', 'h2')`,
		`INSERT INTO devices (serial, platform, host_id, manufacturer, model, os_version, api_level, tier) VALUES
			('g1', 'android', 'h1', 'Google', 'Pixel 7', '13', 33, 'high'),
			('g2', 'android', 'h1', 'Google', 'Pixel 7', '14', 34, 'high'),
			('s1', 'android', 'h1', 'Samsung', 'SM-A135F', '14', 34, 'low'),
			('g3', 'android', 'h2', 'Google', 'Pixel 6', '12', 31, 'mid')`,
	} {
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
}

// apps writes the binaries the cases use into dir.
func apps(t *testing.T, dir string) {
	t.Helper()
	tests := []adbd.TestSpec{{Class: "com.example.shop.HomeTest", Method: "opens"},
		{Class: "com.example.shop.CheckoutTest", Method: "pays"}, {Class: "com.example.shop.CartTest", Method: "slowSync"}}
	for name, m := range map[string]adbd.Manifest{
		"shop.apk": {Package: "com.example.shop"},
		"shop-test.apk": {Package: "com.example.shop.test", Instrumentation: &adbd.Instrumentation{
			TargetPackage: "com.example.shop", Runner: "androidx.test.runner.AndroidJUnitRunner", Tests: tests}},
	} {
		var b bytes.Buffer
		if err := adbd.BuildAPK(&b, m, 4<<10); err != nil {
			t.Fatal(err)
		}
		write(t, dir, name, b.Bytes())
	}
	var b bytes.Buffer // an APK from another build system: no fleetlens manifest, so no names
	zw := zip.NewWriter(&b)
	if w, err := zw.Create("classes.dex"); err != nil {
		t.Fatal(err)
	} else {
		w.Write([]byte("dex\n035"))
	}
	zw.Close()
	write(t, dir, "plain.apk", b.Bytes())
	write(t, dir, "shop.ipa", []byte("PK not read: only APKs carry a manifest"))
	write(t, dir, "garbage.apk", []byte("not a zip"))
}

func write(t *testing.T, dir, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestPrepare(t *testing.T) {
	pool := pgtest.New(t)
	fleet(t, pool)
	dir := t.TempDir()
	apps(t, dir)
	td := func(name string) string { return filepath.Join("testdata", name) }
	app := func(name string) string { return filepath.Join(dir, name) }
	home, pays := schedule.TestKey{Class: "com.example.shop.HomeTest", Method: "opens"},
		schedule.TestKey{Class: "com.example.shop.CheckoutTest", Method: "pays"}
	pixel := func(serials ...string) []schedule.DeviceRef {
		groups := map[string]string{"g1": "Pixel 7|13", "g2": "Pixel 7|14", "s1": "SM-A135F|14", "g3": "Pixel 6|12"}
		var out []schedule.DeviceRef
		for _, s := range serials {
			out = append(out, schedule.DeviceRef{Serial: s, Group: groups[s]})
		}
		return out
	}
	var noBool *bool
	defaults := func(s schedule.RunSpec) schedule.RunSpec {
		// The suite's defaults after validation: android, 2 retries, screenshots on failure.
		s.Platform, s.MaxRetries, s.Preventive.MaxCopies = "android", 2, 3
		if s.Config == nil {
			s.Config = map[string]any{"upstream": "", "screenshots": "failure", "logs": noBool, "crashes": noBool}
		}
		return s
	}
	for _, tc := range []struct {
		name     string
		opts     Options
		want     schedule.RunSpec
		loadErr  string // a file error: reported by Load, before any database access
		err      string // reported by Resolve
		suiteErr bool   // the error is the suite's validation (suite.Errors)
	}{
		{name: "suite settings and the manifests' names",
			opts: Options{SuitePath: td("shop.yaml"), AppPath: app("shop.apk"), TestAppPath: app("shop-test.apk"), Release: "2.3.0"},
			want: schedule.RunSpec{SuiteName: "shop-compat", SuitePath: td("shop.yaml"), AppID: "com.example.shop", Release: "2.3.0",
				Baseline: "2.2.0", Platform: "android", App: &schedule.Blob{Name: "shop.apk"}, TestApp: &schedule.Blob{Name: "shop-test.apk"},
				TestAppID: "com.example.shop.test", Runner: "androidx.test.runner.AndroidJUnitRunner",
				Tests: []schedule.TestKey{home, pays}, Profiles: []string{"", "3g-average"}, Profiled: map[schedule.TestKey]bool{pays: true},
				Devices: pixel("g1", "g2", "g3"), TestTimeout: 2 * time.Minute, RunTimeout: time.Hour, MaxRetries: 1, RetryBudget: 7,
				InfraMax: 4, Preventive: schedule.Preventive{Target: 0.99, MaxCopies: 3}, Priority: 3, Weight: 2, Reserve: 1,
				Config: map[string]any{"upstream": "127.0.0.1:8080", "screenshots": "always", "logs": noBool, "crashes": noBool}}},
		{name: "the suite's names win; baseline, fleet filter and origin options",
			opts: Options{SuitePath: td("named.yaml"), AppPath: app("shop.apk"), TestAppPath: app("shop-test.apk"), Release: "2.3.0",
				Baseline: "2.0.0", StartedFrom: "tui", Fleet: func(d results.DeviceRow) bool { return d.Host == "h2" || d.Serial == "s1" }},
			want: defaults(schedule.RunSpec{SuiteName: "named", SuitePath: td("named.yaml"), AppID: "com.example.suite", Release: "2.3.0",
				Baseline: "2.0.0", App: &schedule.Blob{Name: "shop.apk"}, TestApp: &schedule.Blob{Name: "shop-test.apk"},
				TestAppID: "com.example.suite.test", Runner: "com.example.Runner", Matrix: true,
				Tests:    []schedule.TestKey{home, pays, {Class: "com.example.shop.CartTest", Method: "slowSync"}},
				Profiles: []string{""}, Profiled: map[schedule.TestKey]bool{home: true, pays: true, {Class: "com.example.shop.CartTest", Method: "slowSync"}: true},
				Devices: pixel("s1", "g3"),
				Config:  map[string]any{"upstream": "", "screenshots": "failure", "logs": noBool, "crashes": noBool, "started_from": "tui"}})},
		{name: "a chosen profile replaces the suite's",
			opts: Options{SuitePath: td("shop.yaml"), AppPath: app("shop.apk"), TestAppPath: app("shop-test.apk"), Release: "2.3.0", Profile: "2g-rural"},
			want: schedule.RunSpec{SuiteName: "shop-compat", SuitePath: td("shop.yaml"), AppID: "com.example.shop", Release: "2.3.0",
				Baseline: "2.2.0", Platform: "android", App: &schedule.Blob{Name: "shop.apk"}, TestApp: &schedule.Blob{Name: "shop-test.apk"},
				TestAppID: "com.example.shop.test", Runner: "androidx.test.runner.AndroidJUnitRunner",
				Tests: []schedule.TestKey{home, pays}, Profiles: []string{"2g-rural"},
				Devices: pixel("g1", "g2", "g3"), TestTimeout: 2 * time.Minute, RunTimeout: time.Hour, MaxRetries: 1, RetryBudget: 7,
				InfraMax: 4, Preventive: schedule.Preventive{Target: 0.99, MaxCopies: 3}, Priority: 3, Weight: 2, Reserve: 1,
				Config: map[string]any{"upstream": "127.0.0.1:8080", "screenshots": "always", "logs": noBool, "crashes": noBool}}},
		{name: "tests.list with no binaries; an IPA is shipped unread",
			opts: Options{SuitePath: td("noupstream.yaml"), AppPath: app("shop.ipa"), Release: "1.0"},
			want: defaults(schedule.RunSpec{SuiteName: "noupstream", SuitePath: td("noupstream.yaml"), AppID: "com.example.shop",
				Release: "1.0", App: &schedule.Blob{Name: "shop.ipa"}, Tests: []schedule.TestKey{home}, Profiles: []string{""},
				Profiled: map[schedule.TestKey]bool{home: true}, Devices: pixel("g1", "g2", "s1", "g3")})},

		{name: "invalid suite", opts: Options{SuitePath: td("bad.yaml"), AppPath: app("shop.apk"), Release: "1"},
			loadErr: "bad.yaml:3: devices.colour: unknown field", suiteErr: true},
		{name: "no release", opts: Options{SuitePath: td("shop.yaml"), AppPath: app("shop.apk")}, loadErr: "shop.yaml: release: required"},
		{name: "missing app", opts: Options{SuitePath: td("shop.yaml"), AppPath: app("nope.apk"), Release: "1"},
			loadErr: "read app: open " + app("nope.apk") + ": no such file or directory"},
		{name: "app is not an APK", opts: Options{SuitePath: td("shop.yaml"), AppPath: app("garbage.apk"), Release: "1"},
			loadErr: "garbage.apk: not an APK (zip)"},
		{name: "nothing names the app", opts: Options{SuitePath: td("none.yaml"), AppPath: app("plain.apk"), Release: "1"},
			loadErr: "none.yaml: app.id: the app's package name is needed (the APK does not say)"},
		{name: "nothing names the test app", opts: Options{SuitePath: td("noupstream.yaml"), TestAppPath: app("plain.apk"), Release: "1"},
			loadErr: "noupstream.yaml: app.test_id: the test package name is needed (the test APK does not say)"},
		{name: "no test selected", opts: Options{SuitePath: td("none.yaml"), AppPath: app("shop.apk"), TestAppPath: app("shop-test.apk"), Release: "1"},
			loadErr: "none.yaml: tests: no test selected (the test app lists 3; check tests.include/exclude or tests.list)"},
		{name: "unknown profile", opts: Options{SuitePath: td("shop.yaml"), AppPath: app("shop.apk"), TestAppPath: app("shop-test.apk"), Release: "1", Profile: "5g"},
			loadErr: `profile "5g": unknown network profile (known: 2g-rural, `},
		{name: "profile with nothing to shape", opts: Options{SuitePath: td("noupstream.yaml"), Release: "1", Profile: "3g-good"},
			loadErr: `profile "3g-good": ` + td("noupstream.yaml") + " has no network.upstream to shape"},
		{name: "no device matches", opts: Options{SuitePath: td("nomatch.yaml"), AppPath: app("shop.apk"), Release: "1"},
			err: "nomatch.yaml: devices: the selection matches none of the 4 known devices; nothing was queued (see 'fleetlens farm devices')"},
		{name: "the fleet filter leaves nothing", opts: Options{SuitePath: td("noupstream.yaml"), Release: "1",
			Fleet: func(results.DeviceRow) bool { return false }},
			err: "noupstream.yaml: devices: the selection matches none of the 0 known devices"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := Load(tc.opts)
			if tc.loadErr != "" {
				var es suite.Errors
				if err == nil || !strings.Contains(err.Error(), tc.loadErr) || errors.As(err, &es) != tc.suiteErr {
					t.Fatalf("Load: %v, want %q (suite errors %v)", err, tc.loadErr, tc.suiteErr)
				}
				if _, err2 := Prepare(context.Background(), pool, tc.opts); err2 == nil || err2.Error() != err.Error() {
					t.Errorf("Prepare: %v, want Load's error", err2)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			spec, err := l.Resolve(context.Background(), pool)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Resolve: %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if src, _ := os.ReadFile(tc.opts.SuitePath); spec.SuiteSource != string(src) || spec.SuiteSpec == nil {
				t.Errorf("suite source/spec not kept: %q %v", spec.SuiteSource, spec.SuiteSpec)
			}
			for _, b := range []struct {
				blob *schedule.Blob
				path string
			}{{spec.App, tc.opts.AppPath}, {spec.TestApp, tc.opts.TestAppPath}} {
				if b.blob == nil {
					continue
				}
				if data, _ := os.ReadFile(b.path); !bytes.Equal(b.blob.Data, data) {
					t.Errorf("%s: blob holds %d bytes, the file %d", b.path, len(b.blob.Data), len(data))
				}
				b.blob.Data = nil
			}
			spec.SuiteSource, spec.SuiteSpec = "", nil
			if !reflect.DeepEqual(spec, tc.want) {
				t.Errorf("spec:\n got %+v\nwant %+v", spec, tc.want)
			}
		})
	}
}

// TestPreparedRunEnqueues: what Prepare builds is what schedule.Enqueue accepts, with the
// suite's profile rules applied to the queued tests.
func TestPreparedRunEnqueues(t *testing.T) {
	pool := pgtest.New(t)
	fleet(t, pool)
	dir := t.TempDir()
	apps(t, dir)
	ctx := context.Background()
	spec, err := Prepare(ctx, pool, Options{SuitePath: filepath.Join("testdata", "shop.yaml"), AppPath: filepath.Join(dir, "shop.apk"),
		TestAppPath: filepath.Join(dir, "shop-test.apk"), Release: "2.3.0"})
	if err != nil {
		t.Fatal(err)
	}
	e, err := schedule.Enqueue(ctx, pool, spec)
	if err != nil {
		t.Fatal(err)
	}
	// HomeTest#opens unshaped; CheckoutTest#pays unshaped and under 3g-average (network.only).
	var got []string
	rows, err := pool.Query(ctx, `SELECT method || '@' || profile FROM farm_run_tests WHERE run_id = $1 ORDER BY 1`, e.RunID)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		got = append(got, s)
	}
	if want := []string{"opens@", "pays@", "pays@3g-average"}; !reflect.DeepEqual(got, want) {
		t.Errorf("queued tests %v, want %v", got, want)
	}
	r, err := results.LoadRun(ctx, pool, e.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if r.AppID != "com.example.shop" || r.Release != "2.3.0" || r.Baseline != "2.2.0" {
		t.Errorf("stored run: app %s release %s baseline %s", r.AppID, r.Release, r.Baseline)
	}
}
