package dashboards

import "strings"

// Variable names every fleetlens dashboard defines (the same set everywhere, so the
// dashboard links can carry the selection from one dashboard to the next).
const (
	VarApp            = "app"
	VarRelease        = "release"
	VarCompareRelease = "compare_release"
	VarPlatform       = "platform"
	VarModel          = "model"
	VarNetClass       = "net_class"
	VarTier           = "tier"
)

// Closed value sets of the custom variables: the collector writes exactly these
// (internal/pg/migrations/002_collector.sql): effective connection types after Chromium NQE,
// device tiers after Sentry's device classes, 'unknown' when a class could not be derived.
var (
	Platforms  = []string{"android", "ios"}
	NetClasses = []string{"slow-2g", "2g", "3g", "4g", "unknown"}
	Tiers      = []string{"low", "mid", "high", "unknown"}
)

// SQL fragments shared by the panels. Single-valued variables are interpolated with the
// :sqlstring format (quoted, quotes doubled) so a value cannot break out of its literal;
// multi-valued ones get Grafana's default SQL formatting, which quotes each value the same way.
var fragments = strings.NewReplacer(
	"@APP", "${app:sqlstring}",
	"@CAND", "${release:sqlstring}",
	"@BASE", "${compare_release:sqlstring}",
	"@BOTH", "(${release:sqlstring}, ${compare_release:sqlstring})",
	"@LABEL", "CASE WHEN release = ${release:sqlstring} THEN 'candidate ' ELSE 'baseline ' END || release",
	// model/net_class/tier filters for tables that carry those columns (spans, events, rollups).
	"@DIMS", "model IN (${model}) AND net_class IN (${net_class}) AND tier IN (${tier})",
	// raw spans/events also know the OS; rollups are narrowed to the platform through $model,
	// whose options are the models seen on the selected platforms.
	"@PLATFORM", "fleetlens_platform(os_name) IN (${platform})",
)

const releaseQuery = releaseRows + `
ORDER BY max(seen) DESC`

// baselineQuery offers the same releases with the second newest first, so the default
// baseline is the release before the default candidate.
const baselineQuery = releaseRows + `
ORDER BY (row_number() OVER (ORDER BY max(seen) DESC) = 2) DESC, max(seen) DESC`

// releaseRows are the app's releases seen in the time range (field and farm) or registered.
const releaseRows = `SELECT version FROM (
  SELECT release AS version, max(minute) AS seen FROM span_rollups
  WHERE app_id = ${app:sqlstring} AND $__timeFilter(minute) GROUP BY release
  UNION ALL
  SELECT version, first_seen FROM releases WHERE app_id = ${app:sqlstring}
  UNION ALL
  SELECT release, max(created_at) FROM farm_runs WHERE app_id = ${app:sqlstring} GROUP BY release
) r
WHERE version <> ''
GROUP BY version`

// The models seen in the field and in the farm on the selected platforms. Field models come
// from the resources table (one row per distinct OTLP resource, 002_collector.sql), which is
// orders of magnitude smaller than spans; model and platform are derived as the collector's
// enricher does: device.model.identifier else device.model.name; fleetlens.platform else
// from os.name.
const modelQuery = `SELECT DISTINCT coalesce(nullif(attributes->>'device.model.identifier', ''), attributes->>'device.model.name', '') AS model
FROM resources
WHERE app_id = ${app:sqlstring} AND first_seen <= $__timeTo()
  AND coalesce(nullif(lower(attributes->>'fleetlens.platform'), ''), fleetlens_platform(attributes->>'os.name')) IN (${platform})
UNION
SELECT model FROM devices WHERE platform IN (${platform})
ORDER BY 1`

func queryVar(name, label, desc, query string, multi bool) *Variable {
	v := &Variable{Name: name, Label: label, Description: desc, Type: "query", Datasource: ds,
		Query: query, Definition: query, Refresh: 2, Multi: multi, IncludeAll: multi,
		Current: map[string]any{"selected": false, "text": "", "value": ""}, Options: []*Option{}}
	if multi {
		v.Current = allCurrent()
	}
	return v
}

func customVar(name, label, desc string, values []string) *Variable {
	v := &Variable{Name: name, Label: label, Description: desc, Type: "custom",
		Query: strings.Join(values, ","), Multi: true, IncludeAll: true, Current: allCurrent()}
	v.Options = append(v.Options, &Option{Selected: true, Text: "All", Value: "$__all"})
	for _, s := range values {
		v.Options = append(v.Options, &Option{Text: s, Value: s})
	}
	return v
}

func allCurrent() map[string]any {
	return map[string]any{"selected": true, "text": []string{"All"}, "value": []string{"$__all"}}
}

func variables() []*Variable {
	return []*Variable{
		queryVar(VarApp, "App", "Package name / bundle id", `SELECT id FROM apps ORDER BY id`, false),
		queryVar(VarRelease, "Candidate", "The release under evaluation (newest first)", releaseQuery, false),
		queryVar(VarCompareRelease, "Baseline", "The release the candidate is compared with (default: the one before the newest)", baselineQuery, false),
		customVar(VarPlatform, "Platform", "android, ios", Platforms),
		queryVar(VarModel, "Model", "Device models seen on the selected platforms", modelQuery, true),
		customVar(VarNetClass, "Network class", "Effective connection type from measured RTT (Chromium NQE)", NetClasses),
		customVar(VarTier, "Device tier", "low / mid / high (Sentry device classes)", Tiers),
	}
}

func newDashboard(uid, title, desc string, specs []panelSpec) *Dashboard {
	return &Dashboard{
		UID: uid, Title: title, Description: desc, Tags: []string{"fleetlens"},
		Timezone: "utc", SchemaVersion: SchemaVersion, Version: 1, Editable: false,
		GraphTooltip: 1, Refresh: "1m", Time: TimeRangeJSON{From: "now-24h", To: "now"},
		Annotations: map[string]any{"list": []any{map[string]any{
			"builtIn": 1, "datasource": map[string]any{"type": "grafana", "uid": "-- Grafana --"},
			"enable": true, "hide": true, "iconColor": "rgba(0, 211, 255, 1)",
			"name": "Annotations & Alerts", "type": "dashboard"}}},
		Links: []Link{{Title: "fleetlens", Type: "dashboards", Icon: "external link", Tooltip: "The other fleetlens dashboards", Tags: []string{"fleetlens"},
			AsDropdown: true, IncludeVars: true, KeepTime: true}},
		Templating: Templating{List: variables()},
		Panels:     layout(specs),
	}
}

// All returns the fleetlens dashboards, built from the Go definitions (the committed
// json/*.json files are their rendering; a test fails when those are stale).
func All() []*Dashboard {
	return []*Dashboard{weakNetwork(), weakDevice(), releaseHealth(), deviceFarm()}
}
