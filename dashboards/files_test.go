package dashboards

import (
	"bytes"
	"encoding/json"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

var update = flag.Bool("update", false, "rewrite the committed dashboards/ files from the Go definitions")

// TestCommittedFilesAreFresh fails when json/*.json or the provisioning files differ from
// what the Go definitions render (run `go test ./dashboards -run Fresh -update` to rewrite).
func TestCommittedFilesAreFresh(t *testing.T) {
	files, err := Files()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		for name, b := range files {
			if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(name, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	committed := map[string]bool{}
	err = fs.WalkDir(Tree(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		committed[p] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		got, err := os.ReadFile(name)
		if err != nil {
			t.Errorf("%s is missing: run go test ./dashboards -run Fresh -update", name)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run go test ./dashboards -run Fresh -update", name)
		}
		delete(committed, name)
	}
	for name := range committed {
		t.Errorf("%s is in the tree but not generated: delete it", name)
	}
}

// TestDashboardJSON checks what Grafana needs to load the files and what makes them
// work together: unique dashboard uids, unique panel ids per dashboard, panels on the grid,
// every query on the fleetlens datasource, every variable reference defined.
func TestDashboardJSON(t *testing.T) {
	uids := map[string]string{}
	titles := map[string]bool{}
	for _, name := range jsonFiles(t) {
		d := loadJSON(t, name)
		if d.UID == "" || len(d.UID) > 40 {
			t.Errorf("%s: uid %q must be 1-40 characters", name, d.UID)
		}
		if prev, dup := uids[d.UID]; dup {
			t.Errorf("%s: uid %q already used by %s", name, d.UID, prev)
		}
		uids[d.UID] = name
		if titles[d.Title] {
			t.Errorf("%s: title %q is not unique (Grafana refuses two in one folder)", name, d.Title)
		}
		titles[d.Title] = true
		if d.SchemaVersion != SchemaVersion {
			t.Errorf("%s: schemaVersion %d, want %d", name, d.SchemaVersion, SchemaVersion)
		}
		defined := map[string]bool{}
		var names []string
		for _, v := range d.Templating.List {
			if defined[v.Name] {
				t.Errorf("%s: variable %q defined twice", name, v.Name)
			}
			defined[v.Name] = true
			names = append(names, v.Name)
		}
		want := []string{VarApp, VarRelease, VarCompareRelease, VarPlatform, VarModel, VarNetClass, VarTier}
		if strings.Join(names, ",") != strings.Join(want, ",") {
			t.Errorf("%s: variables %v, want %v", name, names, want)
		}
		for k, v := range d.Templating.List {
			// A variable may only use variables defined before it (Grafana resolves in order).
			before := map[string]bool{}
			for _, p := range d.Templating.List[:k] {
				before[p.Name] = true
			}
			checkRefs(t, name+": variable "+v.Name, v.Query, before)
			if v.Type == "query" && (v.Datasource == nil || v.Datasource.UID != DatasourceUID) {
				t.Errorf("%s: variable %s is not on datasource %s", name, v.Name, DatasourceUID)
			}
		}
		ids := map[int]bool{}
		for _, p := range d.Panels {
			where := name + ": panel " + p.Title
			if p.ID <= 0 || ids[p.ID] {
				t.Errorf("%s: id %d is not a unique positive id", where, p.ID)
			}
			ids[p.ID] = true
			if p.GridPos.X < 0 || p.GridPos.W <= 0 || p.GridPos.X+p.GridPos.W > 24 || p.GridPos.H <= 0 {
				t.Errorf("%s: gridPos %+v is off the 24-column grid", where, p.GridPos)
			}
			checkRefs(t, where+" title", p.Title, defined)
			if p.Type == "row" {
				continue
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s: no query", where)
			}
			for _, tg := range p.Targets {
				if tg.Datasource == nil || tg.Datasource.UID != DatasourceUID || tg.Datasource.Type != DatasourceType {
					t.Errorf("%s: target %s is not on the fleetlens datasource", where, tg.RefID)
				}
				if tg.Format != FormatTable && tg.Format != FormatTimeSeries {
					t.Errorf("%s: format %q", where, tg.Format)
				}
				if !tg.RawQuery || strings.TrimSpace(tg.RawSQL) == "" {
					t.Errorf("%s: empty SQL", where)
				}
				checkRefs(t, where, tg.RawSQL, defined)
			}
		}
	}
	if len(uids) != 4 {
		t.Errorf("want the 4 fleetlens dashboards, found %d", len(uids))
	}
}

// checkRefs fails on any $var / ${var} / [[var]] that is neither defined nor a Grafana
// built-in or macro.
func checkRefs(t *testing.T, where, text string, defined map[string]bool) {
	t.Helper()
	for _, ref := range undefinedRefs(text, defined) {
		t.Errorf("%s: references undefined variable %s", where, ref)
	}
}

func undefinedRefs(text string, defined map[string]bool) []string {
	var out []string
	for _, g := range varRE.FindAllStringSubmatch(text, -1) {
		name := g[1] + g[2] + g[4]
		if !strings.HasPrefix(name, "__") && !defined[name] {
			out = append(out, g[0])
		}
	}
	return out
}

func TestUndefinedRefs(t *testing.T) {
	defined := map[string]bool{"app": true, "model": true}
	got := undefinedRefs("WHERE a = ${app:sqlstring} AND m IN ($model) AND b IN ($modle) AND [[tier]] AND $__timeFilter(x) AND ${__interval}", defined)
	if strings.Join(got, " ") != "$modle [[tier]]" {
		t.Fatalf("undefined refs = %q", got)
	}
}

func TestProvisioningYAML(t *testing.T) {
	var dsFile struct {
		APIVersion  int `yaml:"apiVersion"`
		Datasources []struct {
			Name, UID, Type, URL, User, Access string
			JSONData                           map[string]any    `yaml:"jsonData"`
			SecureJSONData                     map[string]string `yaml:"secureJsonData"`
		} `yaml:"datasources"`
	}
	b, err := fs.ReadFile(Tree(), "provisioning/datasources/fleetlens.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &dsFile); err != nil {
		t.Fatal(err)
	}
	if dsFile.APIVersion != 1 || len(dsFile.Datasources) != 1 {
		t.Fatalf("datasources file: %+v", dsFile)
	}
	d := dsFile.Datasources[0]
	if d.Type != DatasourceType || d.UID != DatasourceUID || d.User != GrafanaLogin || d.Access != "proxy" {
		t.Errorf("datasource %+v", d)
	}
	if d.SecureJSONData["password"] != "$__env{"+PasswordEnv+"}" {
		t.Errorf("password must come from $__env{%s}, got %q", PasswordEnv, d.SecureJSONData["password"])
	}
	if d.JSONData["database"] == nil || d.JSONData["sslmode"] == nil {
		t.Errorf("jsonData lacks database/sslmode: %v", d.JSONData)
	}
	var prov struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Name, Type, Folder string
			Options            map[string]any `yaml:"options"`
		} `yaml:"providers"`
	}
	b, err = fs.ReadFile(Tree(), "provisioning/dashboards/fleetlens.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &prov); err != nil {
		t.Fatal(err)
	}
	if prov.APIVersion != 1 || len(prov.Providers) != 1 || prov.Providers[0].Type != "file" ||
		prov.Providers[0].Options["path"] != DefaultDashboardsPath {
		t.Errorf("provider file: %+v", prov)
	}
}

func jsonFiles(t *testing.T) []string {
	t.Helper()
	names, err := fs.Glob(Tree(), "json/*.json")
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	return names
}

func loadJSON(t *testing.T, name string) *Dashboard {
	t.Helper()
	b, err := fs.ReadFile(Tree(), name)
	if err != nil {
		t.Fatal(err)
	}
	var d Dashboard
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return &d
}
