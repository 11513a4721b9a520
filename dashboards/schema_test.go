package dashboards

import (
	"io/fs"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	sdkdashboard "github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// TestJSONMatchesGrafanaSchema decodes every committed dashboard with the Grafana foundation
// SDK's strict decoder (generated from Grafana's own dashboard and panel schemas): an unknown
// field, a wrongly typed value or a panel option its plugin does not define fails here.
func TestJSONMatchesGrafanaSchema(t *testing.T) {
	plugins.RegisterDefaultPlugins()
	for _, name := range jsonFiles(t) {
		raw, err := fs.ReadFile(Tree(), name)
		if err != nil {
			t.Fatal(err)
		}
		//lint:ignore SA1019 fleetlens ships Classic dashboard JSON (the v2 schema is a different format)
		var d sdkdashboard.Dashboard
		if err := d.UnmarshalJSONStrict(raw); !noErrors(err) {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if d.Uid == nil || *d.Uid == "" || len(d.Panels) == 0 {
			t.Errorf("%s: decoded without uid or panels", name)
		}
	}
}

// noErrors: the SDK returns an empty cog.BuildErrors (a non-nil interface) on success.
func noErrors(err error) bool {
	if errs, ok := err.(cog.BuildErrors); ok {
		return len(errs) == 0
	}
	return err == nil
}

// TestSchemaCheckCatchesMistakes makes sure the strict decoder is really checking.
func TestSchemaCheckCatchesMistakes(t *testing.T) {
	plugins.RegisterDefaultPlugins()
	raw, err := fs.ReadFile(Tree(), "json/weak-network.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][2]string{
		{`"schemaVersion": 39`, `"schemaVersion": "39"`},
		{`"graphTooltip": 1`, `"graphTooltip": 1, "graphTooltips": 1`},
		{`"showLegend": true`, `"showLegend": "yes"`},                    // a timeseries panel option
		{`"drawStyle": "line"`, `"drawStyle": "line", "drawStile": "x"`}, // a timeseries field option
	} {
		mutated := strings.Replace(string(raw), bad[0], bad[1], 1)
		//lint:ignore SA1019 Classic dashboard JSON, as above
		var d sdkdashboard.Dashboard
		if err := d.UnmarshalJSONStrict([]byte(mutated)); noErrors(err) {
			t.Errorf("strict decoding accepted %s", bad[1])
		}
	}
}
