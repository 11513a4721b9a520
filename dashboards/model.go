package dashboards

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// The Classic dashboard JSON model (schemaVersion 39: Grafana 10.4 through 12.x import it
// as is; newer versions migrate it on load). Only the fields fleetlens sets are modelled;
// Grafana fills every other field with its default.

// SchemaVersion is the Classic dashboard schema version the JSON is written in.
const SchemaVersion = 39

// DatasourceUID is the uid the provisioned datasource gets; every panel refers to it, so a
// provisioned Grafana needs no import-time datasource mapping.
const DatasourceUID = "fleetlens-pg"

// DatasourceType is the plugin id of Grafana's built-in PostgreSQL datasource since 10.2.3
// (it was "postgres" before, which remains an alias).
const DatasourceType = "grafana-postgresql-datasource"

type dsRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

var ds = &dsRef{Type: DatasourceType, UID: DatasourceUID}

// Dashboard is one Classic dashboard.
type Dashboard struct {
	UID           string         `json:"uid"`
	Title         string         `json:"title"`
	Description   string         `json:"description"`
	Tags          []string       `json:"tags"`
	Timezone      string         `json:"timezone"`
	SchemaVersion int            `json:"schemaVersion"`
	Version       int            `json:"version"`
	Editable      bool           `json:"editable"`
	GraphTooltip  int            `json:"graphTooltip"`
	Refresh       string         `json:"refresh"`
	Time          TimeRangeJSON  `json:"time"`
	Annotations   map[string]any `json:"annotations"`
	Links         []Link         `json:"links"`
	Templating    Templating     `json:"templating"`
	Panels        []*Panel       `json:"panels"`
}

// TimeRangeJSON is the dashboard's default time range.
type TimeRangeJSON struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Link links the fleetlens dashboards to each other, keeping the variables.
type Link struct {
	Title       string   `json:"title"`
	Type        string   `json:"type"`
	Icon        string   `json:"icon"`
	Tooltip     string   `json:"tooltip"`
	TargetBlank bool     `json:"targetBlank"`
	Tags        []string `json:"tags"`
	AsDropdown  bool     `json:"asDropdown"`
	IncludeVars bool     `json:"includeVars"`
	KeepTime    bool     `json:"keepTime"`
}

// Templating holds the dashboard variables.
type Templating struct {
	List []*Variable `json:"list"`
}

// Variable is a template variable (query or custom).
type Variable struct {
	Name        string    `json:"name"`
	Label       string    `json:"label"`
	Description string    `json:"description"`
	Type        string    `json:"type"` // query | custom
	Datasource  *dsRef    `json:"datasource,omitempty"`
	Query       string    `json:"query"`
	Definition  string    `json:"definition,omitempty"`
	Refresh     int       `json:"refresh,omitempty"` // 2: on time range change
	Multi       bool      `json:"multi"`
	IncludeAll  bool      `json:"includeAll"`
	Sort        int       `json:"sort,omitempty"`
	Hide        int       `json:"hide"`
	Current     any       `json:"current"`
	Options     []*Option `json:"options"`
}

// Option is one option of a custom variable.
type Option struct {
	Selected bool   `json:"selected"`
	Text     string `json:"text"`
	Value    string `json:"value"`
}

// GridPos places a panel on the 24-column grid.
type GridPos struct {
	H int `json:"h"`
	W int `json:"w"`
	X int `json:"x"`
	Y int `json:"y"`
}

// Panel is one panel (or a row).
type Panel struct {
	ID          int            `json:"id"`
	Type        string         `json:"type"`
	Title       string         `json:"title"`
	Description string         `json:"description,omitempty"`
	GridPos     GridPos        `json:"gridPos"`
	Interval    string         `json:"interval,omitempty"` // minimum group-by interval
	Datasource  *dsRef         `json:"datasource,omitempty"`
	Targets     []*Target      `json:"targets,omitempty"`
	FieldConfig *FieldConfig   `json:"fieldConfig,omitempty"`
	Options     map[string]any `json:"options,omitempty"`
	Collapsed   *bool          `json:"collapsed,omitempty"`
	Panels      *[]*Panel      `json:"panels,omitempty"` // a row's collapsed panels (rows stay open: empty)

	columns []string // table/stat: the columns the query returns, in order (tests check them)
}

// Target is a panel query.
type Target struct {
	RefID      string `json:"refId"`
	Datasource *dsRef `json:"datasource"`
	EditorMode string `json:"editorMode"`
	Format     string `json:"format"` // time_series | table
	RawQuery   bool   `json:"rawQuery"`
	RawSQL     string `json:"rawSql"`
}

// FieldConfig carries units, thresholds and display options.
type FieldConfig struct {
	Defaults  map[string]any `json:"defaults"`
	Overrides []any          `json:"overrides"`
}

// Formats of a target.
const (
	FormatTimeSeries = "time_series"
	FormatTable      = "table"
)

// Marshal renders d as indented JSON with a trailing newline (the committed form).
func (d *Dashboard) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // SQL has < and >; keep it readable in the file
	enc.SetIndent("", "  ")
	if err := enc.Encode(d); err != nil {
		return nil, fmt.Errorf("encode dashboard %s: %w", d.UID, err)
	}
	return buf.Bytes(), nil
}

// ---- builders --------------------------------------------------------------------------

// panelSpec is how the dashboard files below describe a panel; layout() turns it into a
// Panel with an id and a grid position.
type panelSpec struct {
	kind    string // timeseries | table | stat | status-history | barchart | row
	title   string
	desc    string
	sql     string
	format  string   // defaults: table for table/stat, time_series otherwise
	columns []string // table/stat: the columns the query must return (checked by tests)
	unit    string
	w, h    int
	// thresholds: value -> color, ascending; base color first (value ignored)
	thresholds []threshold
	lines      bool // draw thresholds as lines on a time series (guardrails)
	min, max   *float64
	decimals   *int
	extra      map[string]any // merged into options
	custom     map[string]any // merged into fieldConfig.defaults.custom
	mappings   []any          // fieldConfig.defaults.mappings (value -> text/colour)
}

type threshold struct {
	color string
	value *float64
}

func f(v float64) *float64 { return &v }
func i(v int) *int         { return &v }

func row(title string) panelSpec { return panelSpec{kind: "row", title: title, w: 24, h: 1} }

func (s panelSpec) build(id int, pos GridPos) *Panel {
	p := &Panel{ID: id, Type: s.kind, Title: s.title, Description: s.desc, GridPos: pos, columns: s.columns}
	if s.kind == "row" {
		p.Collapsed = new(bool)
		p.Panels = &[]*Panel{}
		return p
	}
	format := s.format
	if format == "" {
		format = FormatTimeSeries
		if s.kind == "table" || s.kind == "stat" {
			format = FormatTable
		}
	}
	p.Datasource = ds
	p.Interval = "1m" // the rollups' resolution
	p.Targets = []*Target{{RefID: "A", Datasource: ds, EditorMode: "code", Format: format,
		RawQuery: true, RawSQL: fragments.Replace(strings.TrimSpace(dedent(s.sql)))}}
	defaults := map[string]any{}
	custom := map[string]any{}
	if s.unit != "" {
		defaults["unit"] = s.unit
	}
	if s.min != nil {
		defaults["min"] = *s.min
	}
	if s.max != nil {
		defaults["max"] = *s.max
	}
	if s.mappings != nil {
		defaults["mappings"] = s.mappings
	}
	if s.decimals != nil {
		defaults["decimals"] = *s.decimals
	}
	if len(s.thresholds) > 0 {
		steps := make([]map[string]any, 0, len(s.thresholds))
		for _, t := range s.thresholds {
			var v any
			if t.value != nil {
				v = *t.value
			}
			steps = append(steps, map[string]any{"color": t.color, "value": v})
		}
		defaults["thresholds"] = map[string]any{"mode": "absolute", "steps": steps}
	}
	options := map[string]any{}
	switch s.kind {
	case "timeseries":
		custom["drawStyle"] = "line"
		custom["lineWidth"] = 2
		custom["spanNulls"] = false
		custom["showPoints"] = "auto"
		if s.lines {
			custom["thresholdsStyle"] = map[string]any{"mode": "line+area"}
		}
		options["legend"] = map[string]any{"displayMode": "table", "placement": "right", "calcs": []string{"mean", "max", "lastNotNull"}, "showLegend": true}
		options["tooltip"] = map[string]any{"mode": "multi", "sort": "desc"}
	case "stat":
		options["reduceOptions"] = map[string]any{"values": true, "calcs": []string{"lastNotNull"}, "fields": ""}
		options["colorMode"] = "value"
		options["graphMode"] = "none"
		options["textMode"] = "value_and_name"
		options["justifyMode"] = "auto"
		options["orientation"] = "auto"
		options["wideLayout"] = true
		options["showPercentChange"] = false
		options["percentChangeColorMode"] = "standard"
	case "table":
		custom["align"] = "auto"
		custom["cellOptions"] = map[string]any{"type": "color-text"}
		custom["inspect"] = false
		options["showHeader"] = true
		options["frameIndex"] = 0
		options["cellHeight"] = "sm"
	case "status-history":
		custom["fillOpacity"] = 80
		custom["lineWidth"] = 0
		defaults["color"] = map[string]any{"mode": "thresholds"}
		options["showValue"] = "never"
		options["rowHeight"] = 0.9
		options["legend"] = map[string]any{"displayMode": "list", "placement": "bottom", "showLegend": true, "calcs": []string{}}
		options["tooltip"] = map[string]any{"mode": "single", "sort": "none"}
	}
	for k, v := range s.custom {
		custom[k] = v
	}
	if len(custom) > 0 {
		defaults["custom"] = custom
	}
	for k, v := range s.extra {
		options[k] = v
	}
	p.FieldConfig = &FieldConfig{Defaults: defaults, Overrides: []any{}}
	p.Options = options
	return p
}

// layout assigns ids from 1 and flows panels left to right on the 24-column grid.
func layout(specs []panelSpec) []*Panel {
	var out []*Panel
	x, y, rowH := 0, 0, 0
	for n, s := range specs {
		w, h := s.w, s.h
		if w == 0 {
			w = 12
		}
		if h == 0 {
			h = 8
		}
		if s.kind == "row" || x+w > 24 {
			x, y, rowH = 0, y+rowH, 0
		}
		out = append(out, s.build(n+1, GridPos{H: h, W: w, X: x, Y: y}))
		x += w
		rowH = max(rowH, h)
		if s.kind == "row" {
			x, y, rowH = 0, y+h, 0
		}
	}
	return out
}

// dedent removes the common leading tabs of a Go raw-string SQL block.
func dedent(s string) string {
	lines := strings.Split(strings.Trim(s, "\n"), "\n")
	common := -1
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		n := len(l) - len(strings.TrimLeft(l, "\t"))
		if common < 0 || n < common {
			common = n
		}
	}
	for k, l := range lines {
		if len(l) >= common && common > 0 {
			lines[k] = l[common:]
		}
		lines[k] = strings.ReplaceAll(lines[k], "\t", "  ")
	}
	return strings.Join(lines, "\n")
}
