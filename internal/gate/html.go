package gate

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"strings"
)

// The HTML report is one self-contained file: CSS inline and charts as inline SVG drawn here,
// so it opens offline and from a CI artifact store without loading any script (go-echarts
// would fetch echarts.js from a CDN).

var htmlTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"upper": strings.ToUpper, "pct": pct, "spct": spct, "num": num, "fmtP": fmtP, "title": titleOf,
	"where": func(c Check) string { return where(&c) }, "effect": func(c Check) string { return effect(&c) },
	"values": func(c Check) []string { a, b := values(&c); return []string{a, b} },
	"chart":  chartFor, "date": func(v htmlView) string { return v.Data.Horizon.Format("2006-01-02 15:04 MST") },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Release gate {{.App}} {{.Candidate}} vs {{.Baseline}}: {{.Verdict}}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1100px;color:#1d2430;padding:0 1em}
h1{font-size:1.5em}.v{padding:.15em .6em;border-radius:.3em;color:#fff}
.pass{background:#1a7f37}.fail{background:#cf222e}.marginal{background:#bf8700}.inconclusive{background:#6e7781}.insufficient{background:#6e7781}
table{border-collapse:collapse;width:100%;margin:.5em 0 1.5em}th,td{border-bottom:1px solid #d0d7de;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#f6f8fa}td .v{font-size:.85em}.cards{display:flex;gap:1em;flex-wrap:wrap}.card{border:1px solid #d0d7de;border-radius:.4em;padding:.5em 1em}
.card b{display:block;font-size:1.4em}.charts{display:flex;flex-wrap:wrap;gap:1em}.chart{border:1px solid #d0d7de;border-radius:.4em;padding:.3em}
summary{cursor:pointer;font-weight:600;margin:.5em 0}.note{background:#fff8c5;padding:.5em 1em;border-radius:.3em}
</style></head><body>
<h1>Release gate: {{.App}} {{.Candidate}} vs {{.Baseline}} <span class="v {{.Verdict}}">{{upper .Verdict}}</span></h1>
<p>{{.Summary}}</p>
{{if .Data.Note}}<p class="note">{{.Data.Note}}</p>{{end}}
<div class="cards">
<div class="card">score<b>{{.Score}}/100</b></div>
<div class="card">baseline sessions<b>{{num .Data.BaselineSessions}}</b></div>
<div class="card">candidate sessions<b>{{num .Data.CandidateSessions}}</b></div>
<div class="card">judged up to<b>{{date .}}</b></div>
</div>
<h2>Failing and marginal checks</h2>
{{with .Bad}}{{template "checks" .}}
<div class="charts">{{range .}}{{chart .}}{{end}}</div>
{{else}}<p>None.</p>{{end}}
{{with .Strata}}<details open><summary>Distributions per stratum of the failing metrics</summary>
<div class="charts">{{range .}}{{chart .}}{{end}}</div></details>{{end}}
<h2>Guardrails (Android vitals)</h2>
{{if .Guardrails}}<table><tr><th>status</th><th>metric</th><th>stratum</th><th>rate</th><th>CI</th><th>threshold</th><th>events / sessions</th></tr>
{{range .Guardrails}}<tr><td><span class="v {{.Status}}">{{.Status}}</span></td><td>{{title .Metric}}</td><td>{{.Stratum}}</td><td>{{pct .Rate}}</td><td>{{pct .Lo}}–{{pct .Hi}}</td><td>{{pct .Threshold}}</td><td>{{num .Events}} / {{num .Sessions}}</td></tr>
{{end}}</table>{{else}}<p>No sessions to apply them to.</p>{{end}}
<h2>Compatibility regressions per model</h2>
{{if .Compat}}<table><tr><th>status</th><th>model</th><th>OS</th><th>baseline pass</th><th>candidate pass</th><th>flaky</th><th>why</th></tr>
{{range .Compat}}<tr><td><span class="v {{.Status}}">{{.Status}}</span></td><td>{{.Model}}</td><td>{{.OSVersion}}</td><td>{{pct .BasePass}}</td><td>{{pct .CandPass}}</td><td>{{pct .FlakyRate}}</td><td>{{.Reason}}</td></tr>
{{end}}</table>{{else}}<p>No device-farm results for the candidate.</p>{{end}}
<details><summary>{{len .Passed}} checks passed</summary>
{{template "checks" .Passed}}
<div class="charts">{{range .Passed}}{{if eq .Dim "overall"}}{{chart .}}{{end}}{{end}}</div>
</details>
<details><summary>{{len .Skipped}} checks without enough data</summary>
<table><tr><th>metric</th><th>stratum</th><th>why</th></tr>{{range .Skipped}}<tr><td>{{.Title}}</td><td>{{where .}}</td><td>{{.Reason}}</td></tr>{{end}}</table>
</details>
<p><small>Method: Mann-Whitney U with Hodges-Lehmann shift after IQR×{{.Method.IQRFactor}} outlier removal; bootstrap ({{.Method.BootstrapResamples}} resamples) CIs;
two-proportion z-test with Newcombe CIs; Poisson rate ratio; {{.MethodName}} over {{.Method.Tests}} tests; confidence {{.Method.Confidence}}. Generated {{.GeneratedAt.Format "2006-01-02 15:04 MST"}}.</small></p>
</body></html>
{{define "checks"}}<table><tr><th>status</th><th>stratum</th><th>metric</th><th>baseline</th><th>candidate</th><th>effect [CI]</th><th>p (adj.)</th><th>n base / cand</th></tr>
{{range .}}{{$v := values .}}<tr><td><span class="v {{.Status}}">{{.Status}}</span></td><td>{{where .}}</td><td>{{.Title}}</td><td>{{index $v 0}}</td><td>{{index $v 1}}</td><td>{{effect .}}</td><td>{{fmtP .P}} ({{fmtP .Q}})</td><td>{{num .NBaseline}} / {{num .NCandidate}}</td></tr>
{{end}}</table>{{end}}`))

type htmlView struct {
	*Report
	Bad, Passed, Skipped []Check
	Strata               []Check // the passing strata of distribution metrics that fail somewhere
	MethodName           string
}

func renderHTML(w io.Writer, r *Report) error {
	v := htmlView{Report: r, Bad: r.byStatus(StatusFail, StatusMarginal),
		Passed: r.byStatus(StatusPass), Skipped: r.byStatus(StatusInsufficient), MethodName: methodName(r.Method.MultipleComparisons)}
	bad := map[string]bool{}
	for _, c := range v.Bad {
		if c.Kind == Distribution {
			bad[c.Metric] = true
		}
	}
	for _, c := range v.Passed {
		if bad[c.Metric] {
			v.Strata = append(v.Strata, c)
		}
	}
	return htmlTmpl.Execute(w, v)
}

const (
	chartW, chartH = 340, 190
	padL, padB     = 46, 28
	colBase        = "#6e7781"
	colCand        = "#0969da"
)

// chartFor draws a check: the empirical CDFs of both samples for a distribution (where the
// candidate's curve sits right of the baseline's, it is slower), or the two rates with their
// confidence intervals.
func chartFor(c Check) template.HTML {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img">`, chartW, chartH, chartW, chartH)
	fmt.Fprintf(&b, `<title>%s — %s</title>`, template.HTMLEscapeString(c.Title), template.HTMLEscapeString(where(&c)))
	fmt.Fprintf(&b, `<text x="%d" y="14" font-size="12" font-weight="600">%s · %s</text>`, padL, template.HTMLEscapeString(c.Title), template.HTMLEscapeString(where(&c)))
	x0, y0, x1, y1 := float64(padL), float64(chartH-padB), float64(chartW-10), 38.0
	fmt.Fprintf(&b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="#999"/><line x1="%g" y1="%g" x2="%g" y2="%g" stroke="#999"/>`, x0, y0, x1, y0, x0, y0, x0, y1)
	if c.Kind == Distribution && len(c.base) > 0 && len(c.cand) > 0 {
		hi := math.Max(c.base[len(c.base)-1], c.cand[len(c.cand)-1])
		if hi <= 0 {
			hi = 1
		}
		sx := func(v float64) float64 { return x0 + (x1-x0)*v/hi }
		sy := func(f float64) float64 { return y0 - (y0-y1)*f }
		for _, s := range []struct {
			v   []float64
			col string
		}{{c.base, colBase}, {c.cand, colCand}} {
			b.WriteString(`<polyline fill="none" stroke-width="1.6" stroke="` + s.col + `" points="`)
			step := max(1, len(s.v)/150) // at most ~150 points per curve keeps the file small
			for i := 0; i < len(s.v); i += step {
				fmt.Fprintf(&b, "%.1f,%.1f ", sx(s.v[i]), sy(float64(i+1)/float64(len(s.v))))
			}
			fmt.Fprintf(&b, "%.1f,%.1f", sx(s.v[len(s.v)-1]), sy(1))
			b.WriteString(`"/>`)
		}
		fmt.Fprintf(&b, `<text x="%g" y="%d" font-size="10">0</text><text x="%g" y="%d" font-size="10" text-anchor="end">%s</text>`, x0, chartH-12, x1, chartH-12, ms(hi))
		fmt.Fprintf(&b, `<text x="4" y="%g" font-size="10">100%%</text><text x="4" y="%g" font-size="10">0%%</text>`, y1+4, y0)
		fmt.Fprintf(&b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="#ccc" stroke-dasharray="3"/>`, x0, sy(0.9), x1, sy(0.9))
		fmt.Fprintf(&b, `<text x="%g" y="%g" font-size="9" fill="#999">p90</text>`, x0+2, sy(0.9)-2)
	} else {
		// Rates: two bars, each with its own confidence interval as a whisker.
		top := math.Max(math.Max(c.BaselineHi, c.CandidateHi), math.Max(c.Baseline, c.Candidate))
		if top <= 0 {
			top = 1
		}
		top *= 1.1
		sy := func(v float64) float64 { return y0 - (y0-y1)*v/top }
		bars := []struct {
			label  string
			v      float64
			lo, hi float64
			col    string
		}{
			{"baseline", c.Baseline, c.BaselineLo, c.BaselineHi, colBase},
			{"candidate", c.Candidate, c.CandidateLo, c.CandidateHi, colCand},
		}
		for i, bar := range bars {
			x := x0 + 40 + float64(i)*120
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="70" height="%.1f" fill="%s"/>`, x, sy(bar.v), y0-sy(bar.v), bar.col)
			if bar.hi > bar.lo {
				fmt.Fprintf(&b, `<path d="M%.1f %.1fV%.1fM%.1f %.1fh12M%.1f %.1fh12" stroke="#000" fill="none"/>`,
					x+35, sy(bar.lo), sy(bar.hi), x+29, sy(bar.lo), x+29, sy(bar.hi))
			}
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="10" text-anchor="middle">%s %s</text>`, x+35, chartH-12, bar.label, template.HTMLEscapeString(fmtValue(&c, bar.v)))
		}
	}
	fmt.Fprintf(&b, `<text x="%d" y="30" font-size="10" fill="%s">■ baseline</text><text x="%d" y="30" font-size="10" fill="%s">■ candidate</text>`,
		chartW-140, colBase, chartW-75, colCand)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
