package dashboards

import (
	"strings"
	"testing"
	"time"
)

func testRange() Range {
	from := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	return Range{From: from, To: from.Add(6*time.Hour + 500*time.Millisecond), Interval: "1m"}
}

func TestRender(t *testing.T) {
	vars := variables()
	sel := Selection{VarApp: {"com.example.shop"}, VarRelease: {"2.2.0"}, VarCompareRelease: {"O'Neil"},
		VarPlatform: {"$__all"}, VarModel: {"SM-A125F", "iPhone14,5"}, VarNetClass: {"3g"}, VarTier: {"$__all"}}
	cases := []struct{ name, in, want string }{
		{"timeFilter", "WHERE $__timeFilter(minute)",
			"WHERE minute BETWEEN '2026-11-30T10:00:00Z' AND '2026-11-30T16:00:00.5Z'"},
		{"timeFrom/To", "$__timeFrom() < $__timeTo()", "'2026-11-30T10:00:00Z' < '2026-11-30T16:00:00.5Z'"},
		{"timeGroupAlias with $__interval", "SELECT $__timeGroupAlias(start_time, $__interval)",
			`SELECT floor(extract(epoch from start_time)/60)*60 AS "time"`},
		{"timeGroup quoted interval", "GROUP BY $__timeGroup(minute, '1h')", "GROUP BY floor(extract(epoch from minute)/3600)*3600"},
		{"timeGroup with fill", "$__timeGroupAlias(minute, 5m, 0)", `floor(extract(epoch from minute)/300)*300 AS "time"`},
		{"pre-5.3 timeGroup followed by comma aliases", "SELECT $__timeGroup(t, 1d), v", `SELECT floor(extract(epoch from t)/86400)*86400 AS "time", v`},
		{"time and epoch", "$__time(at), $__timeEpoch(at)", `at AS "time", extract(epoch from at) as "time"`},
		{"unix epoch", "$__unixEpochFilter(s)", "s >= 1796032800 AND s <= 1796054400"},
		{"builtins", "${__interval} $__interval_ms $__from", "1m 60000 1796032800000"},
		{"single var raw", "app = '$app'", "app = 'com.example.shop'"},
		{"sqlstring escapes quotes", "r = ${compare_release:sqlstring}", "r = 'O''Neil'"},
		{"multi in both forms", "m IN ($model) OR m IN (${model})", "m IN ('SM-A125F','iPhone14,5') OR m IN ('SM-A125F','iPhone14,5')"},
		{"multi with one value is still quoted", "n IN ($net_class)", "n IN ('3g')"},
		{"custom All expands to options", "t IN (${tier})", "t IN ('low','mid','high','unknown')"},
		{"deprecated brackets", "t IN ([[tier]])", "t IN ('low','mid','high','unknown')"},
		{"raw and csv formats", "${model:raw} ${model:csv}", "SM-A125F,iPhone14,5 SM-A125F,iPhone14,5"},
		{"singlequote format", "${compare_release:singlequote}", `'O\'Neil'`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Render(c.in, testRange(), vars, sel)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("Render(%q)\n got %q\nwant %q", c.in, got, c.want)
			}
		})
	}
}

func TestRenderRejects(t *testing.T) {
	vars := variables()
	sel := Selection{VarApp: {"a"}, VarModel: {"m"}}
	cases := []struct{ name, in, want string }{
		{"undefined variable", "x IN ($modle)", `no variable "modle"`},
		{"variable name glued to text", "x = '$app_id'", `no variable "app_id"`},
		{"no selection", "r = ${release:sqlstring}", `no value selected for variable "release"`},
		{"unknown format", "${model:glob}", `format "glob"`},
		{"variable property", "${model.text}", "properties"},
		{"unknown macro", "$__timeFilterX(a)", `unknown macro "__timeFilterX"`},
		{"missing column", "$__timeFilter()", "missing time column"},
		{"bad interval", "$__timeGroup(a, 5 parsecs)", "unknown unit"},
		{"missing interval", "$__timeGroupAlias(a)", "needs a time column and an interval"},
		{"bad fill", "$__timeGroup(a, 1m, sideways)", "fill mode"},
		{"macro left unexpanded", "$__timeFilter", "unexpanded"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Render(c.in, testRange(), vars, sel)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Render(%q) = %q, %v; want an error containing %q", c.in, got, err, c.want)
			}
		})
	}
}

func TestParseInterval(t *testing.T) {
	for in, want := range map[string]time.Duration{"1m": time.Minute, "30s": 30 * time.Second, "500ms": 500 * time.Millisecond,
		"2h": 2 * time.Hour, "1d": 24 * time.Hour, "1w": 7 * 24 * time.Hour, "15": 15 * time.Second, "1.5h": 90 * time.Minute} {
		got, err := ParseInterval(in)
		if err != nil || got != want {
			t.Errorf("ParseInterval(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "m", "0s", "-1m", "1x", "auto"} {
		if _, err := ParseInterval(in); err == nil {
			t.Errorf("ParseInterval(%q) succeeded", in)
		}
	}
}
