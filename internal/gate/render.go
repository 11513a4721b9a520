package gate

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Formats the renderers write.
var Formats = []string{"text", "md", "html", "json"}

// Render writes the report in format (text, md, html or json).
func Render(w io.Writer, r *Report, format string) error {
	switch format {
	case "text", "":
		return renderText(w, r)
	case "md", "markdown":
		return renderMarkdown(w, r)
	case "html":
		return renderHTML(w, r)
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false) // "p<0.0001" stays readable; JSON consumers need no escaping
		return enc.Encode(r)
	}
	return fmt.Errorf("unknown report format %q: want text, md, html or json", format)
}

func (r *Report) byStatus(statuses ...string) []Check {
	var out []Check
	for _, c := range r.Checks {
		for _, s := range statuses {
			if c.Status == s {
				out = append(out, c)
			}
		}
	}
	return out
}

func effect(c *Check) string {
	if c.Kind == Distribution && len(c.Percentiles) > 1 {
		p := c.Percentiles[1]
		return fmt.Sprintf("median %s [CI %s–%s]; p90 %s [CI %s–%s]", spct(c.Change), spct(c.ChangeLo), spct(c.ChangeHi),
			spct(p.Change), spct(p.Lo), spct(p.Hi))
	}
	return fmt.Sprintf("%s [CI %s–%s]", spct(c.Change), spct(c.ChangeLo), spct(c.ChangeHi))
}

func values(c *Check) (string, string) {
	if c.Kind == Distribution && len(c.Percentiles) == 3 {
		p := c.Percentiles
		return fmt.Sprintf("p50 %s · p90 %s · p99 %s", ms(p[0].Baseline), ms(p[1].Baseline), ms(p[2].Baseline)),
			fmt.Sprintf("p50 %s · p90 %s · p99 %s", ms(p[0].Candidate), ms(p[1].Candidate), ms(p[2].Candidate))
	}
	return fmtValue(c, c.Baseline), fmtValue(c, c.Candidate)
}

func where(c *Check) string {
	switch c.Dim {
	case DimModel:
		return "model " + c.Stratum
	case DimOS:
		return "OS " + c.Stratum
	}
	return c.Stratum
}

func renderText(w io.Writer, r *Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "fleetlens gate: %s %s vs %s → %s (score %g/100)\n\n", r.App, r.Candidate, r.Baseline, strings.ToUpper(r.Verdict), r.Score)
	b.WriteString(wrap(r.Summary, 96) + "\n")
	if r.Data.Note != "" {
		fmt.Fprintf(&b, "\n%s\n", r.Data.Note)
	}
	bad := r.byStatus(StatusFail, StatusMarginal)
	if len(bad) > 0 {
		b.WriteString("\nFailing and marginal checks\n")
		for _, c := range bad {
			bv, cv := values(&c)
			fmt.Fprintf(&b, "  %-8s %s\n           baseline %s | candidate %s\n           %s, %s (adj. %s), n=%s/%s — %s\n",
				strings.ToUpper(c.Status), where(&c)+": "+c.Title, bv, cv, effect(&c), pEq(c.P), fmtP(c.Q),
				num(c.NBaseline), num(c.NCandidate), c.Reason)
		}
	}
	if len(r.Guardrails) > 0 {
		b.WriteString("\nGuardrails (Android vitals)\n")
		for _, g := range r.Guardrails {
			fmt.Fprintf(&b, "  %-8s %s %s: %s (CI %s–%s) vs %s, %s/%s sessions\n", strings.ToUpper(g.Status),
				titleOf(g.Metric), g.Stratum, pct(g.Rate), pct(g.Lo), pct(g.Hi), pct(g.Threshold), num(g.Events), num(g.Sessions))
		}
	}
	if len(r.Compat) > 0 {
		b.WriteString("\nCompatibility (device farm) per model\n")
		for _, c := range r.Compat {
			fmt.Fprintf(&b, "  %-8s %s %s: pass %s → %s — %s\n", strings.ToUpper(c.Status), c.Model, c.OSVersion,
				pct(c.BasePass), pct(c.CandPass), c.Reason)
		}
	}
	passed := r.byStatus(StatusPass)
	skipped := r.byStatus(StatusInsufficient)
	fmt.Fprintf(&b, "\n%d checks passed, %d without enough data (use --format md or html for the full list).\n", len(passed), len(skipped))
	_, err := io.WriteString(w, b.String())
	return err
}

func wrap(s string, width int) string {
	var b strings.Builder
	n := 0
	for i, word := range strings.Fields(s) {
		if i > 0 {
			if n+1+len(word) > width {
				b.WriteByte('\n')
				n = 0
			} else {
				b.WriteByte(' ')
				n++
			}
		}
		b.WriteString(word)
		n += len(word)
	}
	return b.String()
}

func renderMarkdown(w io.Writer, r *Report) error {
	var b strings.Builder
	icon := map[string]string{Pass: "✅", Fail: "❌", Marginal: "⚠️", Inconclusive: "⏳"}
	fmt.Fprintf(&b, "# Release gate: %s %s vs %s — %s **%s**\n\n", r.App, r.Candidate, r.Baseline, icon[r.Verdict], strings.ToUpper(r.Verdict))
	b.WriteString(r.Summary + "\n\n")
	fmt.Fprintf(&b, "| verdict | score | baseline sessions | candidate sessions | judged up to | arrival delay (p%g) |\n|---|---|---|---|---|---|\n",
		100*r.Data.ArrivalQuantile)
	fmt.Fprintf(&b, "| %s | %g/100 | %s | %s | %s | %s |\n\n", r.Verdict, r.Score, num(r.Data.BaselineSessions),
		num(r.Data.CandidateSessions), r.Data.Horizon.Format("2006-01-02 15:04 MST"), r.Data.ArrivalDelay)
	if r.Data.Note != "" {
		fmt.Fprintf(&b, "> %s\n\n", r.Data.Note)
	}
	bad := r.byStatus(StatusFail, StatusMarginal)
	b.WriteString("## Failing and marginal checks\n\n")
	if len(bad) == 0 {
		b.WriteString("None.\n\n")
	} else {
		mdChecks(&b, bad)
	}
	b.WriteString("## Guardrails (Android vitals)\n\n")
	if len(r.Guardrails) == 0 {
		b.WriteString("No sessions to apply them to.\n\n")
	} else {
		b.WriteString("| status | metric | stratum | candidate rate | CI | threshold | events / sessions |\n|---|---|---|---|---|---|---|\n")
		for _, g := range r.Guardrails {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s–%s | %s | %s / %s |\n", g.Status, titleOf(g.Metric), g.Stratum,
				pct(g.Rate), pct(g.Lo), pct(g.Hi), pct(g.Threshold), num(g.Events), num(g.Sessions))
		}
		b.WriteString("\n")
	}
	b.WriteString("## Compatibility regressions per model\n\n")
	if len(r.Compat) == 0 {
		b.WriteString("No device-farm results for the candidate.\n\n")
	} else {
		b.WriteString("| status | model | OS | baseline pass | candidate pass | flaky | why |\n|---|---|---|---|---|---|---|\n")
		for _, c := range r.Compat {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", c.Status, c.Model, c.OSVersion, pct(c.BasePass),
				pct(c.CandPass), pct(c.FlakyRate), mdEscape(c.Reason))
		}
		b.WriteString("\n")
	}
	passed := r.byStatus(StatusPass)
	fmt.Fprintf(&b, "<details><summary>%d checks passed</summary>\n\n", len(passed))
	if len(passed) > 0 {
		mdChecks(&b, passed)
	}
	b.WriteString("</details>\n\n")
	skipped := r.byStatus(StatusInsufficient)
	fmt.Fprintf(&b, "<details><summary>%d checks without enough data</summary>\n\n", len(skipped))
	if len(skipped) > 0 {
		b.WriteString("| metric | stratum | why |\n|---|---|---|\n")
		for _, c := range skipped {
			fmt.Fprintf(&b, "| %s | %s | %s |\n", c.Title, where(&c), c.Reason)
		}
		b.WriteString("\n")
	}
	b.WriteString("</details>\n\n")
	m := r.Method
	fmt.Fprintf(&b, "_Method: Mann-Whitney U with Hodges-Lehmann shift (Moses CI) after IQR×%g outlier removal; bootstrap (%d resamples) CIs of p50/p90/p99; two-proportion z-test with Newcombe CIs; Poisson rate ratio for per-session rates; %s over %d tests; confidence %g. Guardrails: Google Play Android vitals._\n",
		m.IQRFactor, m.BootstrapResamples, methodName(m.MultipleComparisons), m.Tests, m.Confidence)
	_, err := io.WriteString(w, b.String())
	return err
}

func mdChecks(b *strings.Builder, cs []Check) {
	b.WriteString("| status | stratum | metric | baseline | candidate | effect [CI] | p (adj.) | n base / cand |\n|---|---|---|---|---|---|---|---|\n")
	for _, c := range cs {
		bv, cv := values(&c)
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s (%s) | %s / %s |\n", c.Status, where(&c), c.Title, bv, cv,
			effect(&c), fmtP(c.P), fmtP(c.Q), num(c.NBaseline), num(c.NCandidate))
	}
	b.WriteString("\n")
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
