package dashboards

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Render turns a panel's or variable's SQL into what Grafana sends PostgreSQL, in Grafana's
// order: template variables first (the frontend interpolates them), then the PostgreSQL
// datasource's macros ($__timeFilter, $__timeGroupAlias, ...; the backend expands them).
// Tests use it to run every query for a fixed time range and variable selection; being
// strict where Grafana is lenient (an unknown variable or macro is an error here, while
// Grafana would leave the text and let PostgreSQL fail), it catches typos before users do.

// Range is a dashboard time range and the interval Grafana would pick for it.
type Range struct {
	From, To time.Time
	Interval string // $__interval, e.g. "1m"
}

// Selection is the chosen values of each variable; multi-valued variables may have several.
// The special value "$__all" stands for every option of a custom variable.
type Selection map[string][]string

var (
	// Grafana's template variable syntax: $var, [[var:fmt]] (deprecated) and ${var.field:fmt}.
	varRE = regexp.MustCompile(`\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}`)
	// The SQL macro syntax of Grafana's PostgreSQL backend: $name(args) with no ) inside.
	macroRE = regexp.MustCompile(`\$([_a-zA-Z0-9]+)\(([^\)]*)\)`)
)

// Render interpolates vars (the dashboard's variables, for their multi/includeAll flags and
// custom options) and sel into sql, then expands the macros for r.
func Render(sql string, r Range, vars []*Variable, sel Selection) (string, error) {
	s, err := Interpolate(sql, r, vars, sel)
	if err != nil {
		return "", err
	}
	return ExpandMacros(s, r)
}

// Interpolate replaces template variables the way Grafana's SQL datasources do: a
// single-valued variable without multi/includeAll is inserted raw; otherwise every value
// is quoted as an SQL literal (' doubled) and the list joined with commas.
func Interpolate(sql string, r Range, vars []*Variable, sel Selection) (string, error) {
	byName := map[string]*Variable{}
	for _, v := range vars {
		byName[v.Name] = v
	}
	var firstErr error
	out := varRE.ReplaceAllStringFunc(sql, func(m string) string {
		g := varRE.FindStringSubmatch(m)
		name, field, format := g[1], "", ""
		switch {
		case g[2] != "":
			name, format = g[2], g[3]
		case g[4] != "":
			name, field, format = g[4], g[5], g[6]
		}
		if strings.HasPrefix(name, "__") {
			if v, ok := builtin(name, r); ok {
				return v
			}
			if g[1] != "" {
				return m // a macro name ($__timeFilter...): left for ExpandMacros
			}
		}
		v := byName[name]
		if v == nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("%s: no variable %q is defined", m, name)
			}
			return m
		}
		if field != "" {
			if firstErr == nil {
				firstErr = fmt.Errorf("%s: variable properties are not used by fleetlens", m)
			}
			return m
		}
		vals, ok := sel[name]
		if !ok {
			if firstErr == nil {
				firstErr = fmt.Errorf("%s: no value selected for variable %q", m, name)
			}
			return m
		}
		vals = expandAll(v, vals)
		s, err := formatValues(v, vals, format)
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("%s: %w", m, err)
		}
		return s
	})
	return out, firstErr
}

// expandAll replaces "$__all" by every option of a custom variable (for query variables
// the caller selects the options the variable query returned).
func expandAll(v *Variable, vals []string) []string {
	if len(vals) != 1 || vals[0] != "$__all" || v.Type != "custom" {
		return vals
	}
	var all []string
	for _, o := range v.Options {
		if o.Value != "$__all" {
			all = append(all, o.Value)
		}
	}
	return all
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func formatValues(v *Variable, vals []string, format string) (string, error) {
	switch format {
	case "":
		if len(vals) == 1 && !v.Multi && !v.IncludeAll {
			return vals[0], nil
		}
		fallthrough
	case "sqlstring":
		q := make([]string, len(vals))
		for k, s := range vals {
			q[k] = quoteLiteral(s)
		}
		return strings.Join(q, ","), nil
	case "raw", "csv":
		return strings.Join(vals, ","), nil
	case "singlequote":
		q := make([]string, len(vals))
		for k, s := range vals {
			q[k] = "'" + strings.ReplaceAll(s, "'", `\'`) + "'"
		}
		return strings.Join(q, ","), nil
	}
	return "", fmt.Errorf("format %q is not one fleetlens dashboards use (sqlstring, raw, csv, singlequote)", format)
}

// builtin resolves Grafana's global variables.
func builtin(name string, r Range) (string, bool) {
	switch name {
	case "__interval":
		return r.Interval, true
	case "__interval_ms":
		d, err := ParseInterval(r.Interval)
		if err != nil {
			return "", false
		}
		return strconv.FormatInt(d.Milliseconds(), 10), true
	case "__from":
		return strconv.FormatInt(r.From.UnixMilli(), 10), true
	case "__to":
		return strconv.FormatInt(r.To.UnixMilli(), 10), true
	case "__range_s":
		return strconv.FormatInt(int64(r.To.Sub(r.From)/time.Second), 10), true
	}
	return "", false
}

// ExpandMacros expands the PostgreSQL datasource's macros for r as Grafana's backend does
// (without TimescaleDB): $__timeFilter(c) is c BETWEEN 'from' AND 'to' in RFC 3339 UTC,
// $__timeGroup(c, iv) is floor(extract(epoch from c)/s)*s in epoch seconds, and so on.
func ExpandMacros(sql string, r Range) (string, error) {
	var firstErr error
	out := macroRE.ReplaceAllStringFunc(sql, func(m string) string {
		g := macroRE.FindStringSubmatch(m)
		name := g[1]
		args := strings.Split(g[2], ",")
		for k := range args {
			args[k] = strings.TrimSpace(args[k])
		}
		// Grafana: $__timeGroup directly followed by ',' is the pre-5.3 aliasing form.
		if name == "__timeGroup" {
			if at := strings.Index(sql, m); at >= 0 && at+len(m) < len(sql) && sql[at+len(m)] == ',' {
				name = "__timeGroupAlias"
			}
		}
		s, err := macro(name, args, r)
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("%s: %w", m, err)
			}
			return m
		}
		return s
	})
	if firstErr != nil {
		return "", firstErr
	}
	if strings.Contains(out, "$__") {
		return "", fmt.Errorf("unexpanded Grafana macro left in %q", out)
	}
	return out, nil
}

func macro(name string, args []string, r Range) (string, error) {
	from := r.From.UTC().Format(time.RFC3339Nano)
	to := r.To.UTC().Format(time.RFC3339Nano)
	col := func() (string, error) {
		if len(args) == 0 || args[0] == "" {
			return "", fmt.Errorf("missing time column argument")
		}
		return args[0], nil
	}
	switch name {
	case "__time":
		c, err := col()
		return c + ` AS "time"`, err
	case "__timeEpoch":
		c, err := col()
		return `extract(epoch from ` + c + `) as "time"`, err
	case "__timeFilter":
		c, err := col()
		return fmt.Sprintf("%s BETWEEN '%s' AND '%s'", c, from, to), err
	case "__timeFrom":
		return "'" + from + "'", nil
	case "__timeTo":
		return "'" + to + "'", nil
	case "__timeGroup", "__timeGroupAlias":
		if len(args) < 2 {
			return "", fmt.Errorf("needs a time column and an interval")
		}
		d, err := ParseInterval(strings.Trim(args[1], "'"))
		if err != nil {
			return "", err
		}
		if len(args) == 3 && !validFill(args[2]) {
			return "", fmt.Errorf("fill mode %q: want NULL, previous or a number", args[2])
		}
		s := fmt.Sprintf("floor(extract(epoch from %s)/%v)*%v", args[0], d.Seconds(), d.Seconds())
		if name == "__timeGroupAlias" {
			s += ` AS "time"`
		}
		return s, nil
	case "__unixEpochFilter":
		c, err := col()
		return fmt.Sprintf("%s >= %d AND %s <= %d", c, r.From.Unix(), c, r.To.Unix()), err
	case "__unixEpochFrom":
		return strconv.FormatInt(r.From.Unix(), 10), nil
	case "__unixEpochTo":
		return strconv.FormatInt(r.To.Unix(), 10), nil
	}
	return "", fmt.Errorf("unknown macro %q", name)
}

func validFill(s string) bool {
	if strings.EqualFold(s, "NULL") || s == "previous" {
		return true
	}
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}

// ParseInterval parses a Grafana interval: a number and a unit of ms, s, m, h, d, w or y
// ("1m", "30s", "1d"); a bare number is seconds.
func ParseInterval(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	k := 0
	for k < len(s) && (s[k] >= '0' && s[k] <= '9' || s[k] == '.') {
		k++
	}
	n, err := strconv.ParseFloat(s[:k], 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("interval %q: want a positive number and a unit (ms, s, m, h, d, w, y)", s)
	}
	unit := map[string]time.Duration{"": time.Second, "ms": time.Millisecond, "s": time.Second,
		"m": time.Minute, "h": time.Hour, "d": 24 * time.Hour, "w": 7 * 24 * time.Hour, "y": 365 * 24 * time.Hour}
	u, ok := unit[s[k:]]
	if !ok {
		return 0, fmt.Errorf("interval %q: unknown unit %q (want ms, s, m, h, d, w, y)", s, s[k:])
	}
	return time.Duration(n * float64(u)), nil
}
