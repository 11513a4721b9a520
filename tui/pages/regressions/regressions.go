// Package regressions owns the regressions page: for a chosen app, candidate and baseline,
// the release gate's verdict (stored, or judged on demand through the gate's Go API) with the
// failing and marginal checks by stratum, bars of the candidate against the baseline and
// sparklines, and a key to export the report.
package regressions

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/fleetlens/fleetlens/tui/components"
	"github.com/fleetlens/fleetlens/tui/data"
	"github.com/fleetlens/fleetlens/tui/keymap"
)

// KeyMap is the regressions page's bindings.
type KeyMap struct {
	keymap.Nav
	Edit, Judge, Export, Done, NextField key.Binding
}

// ShortHelp implements keymap.KeyMap.
func (k KeyMap) ShortHelp() []key.Binding { return []key.Binding{k.Edit, k.Judge, k.Export} }

// FullHelp implements keymap.KeyMap.
func (k KeyMap) FullHelp() [][]key.Binding {
	return [][]key.Binding{{k.Up, k.Down, k.PageUp, k.PageDown}, {k.Edit, k.NextField, k.Done, k.Judge, k.Export}}
}

const (
	fApp = iota
	fCand
	fBase
	nFields
)

var labels = [nFields]string{"app", "candidate", "baseline"}

// Model is the regressions page.
type Model struct {
	c       *components.Common
	keys    KeyMap
	inputs  [nFields]textinput.Model
	focus   int
	editing bool
	v       *data.Verdict
	err     error
	busy    bool
	rows    []data.Check
	cur     components.Cursor
	w, h    int
	// ExportDir is where exported reports go (default: the working directory).
	ExportDir string
}

// New returns the regressions page.
func New(c *components.Common) *Model {
	m := &Model{c: c, keys: KeyMap{
		Nav:       keymap.NewNav(),
		Edit:      key.NewBinding(key.WithKeys("e"), key.WithHelp("e", "choose app/releases")),
		NextField: key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "next field")),
		Done:      key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "stop editing")),
		Judge:     key.NewBinding(key.WithKeys("r", "enter"), key.WithHelp("r/enter", "judge now")),
		Export:    key.NewBinding(key.WithKeys("w"), key.WithHelp("w", "export HTML report")),
	}}
	for i := range m.inputs {
		ti := textinput.New()
		ti.Prompt = ""
		ti.CharLimit = 200
		ti.SetWidth(24)
		m.inputs[i] = ti
	}
	return m
}

type prefillMsg struct {
	app, cand, base string
	err             error
}

type verdictMsg struct {
	key    [3]string
	v      data.Verdict
	found  bool
	err    error
	stored bool
}

type exportedMsg struct {
	path string
	err  error
}

// Init implements components.Page: prefill from the newest run that names a baseline, and
// show its stored verdict.
func (m *Model) Init() tea.Cmd {
	if m.value(fApp) != "" {
		return m.stored()
	}
	src := m.c.Src
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		runs, err := src.Runs(ctx)
		if err != nil {
			return prefillMsg{err: err}
		}
		for _, r := range runs {
			if r.Baseline != "" {
				return prefillMsg{app: r.AppID, cand: r.Release, base: r.Baseline}
			}
		}
		if len(runs) > 0 {
			return prefillMsg{app: runs[0].AppID, cand: runs[0].Release}
		}
		return prefillMsg{}
	}
}

// Choose sets the app and releases (used by tests and deep links) and reads the stored verdict.
func (m *Model) Choose(app, cand, base string) tea.Cmd {
	m.inputs[fApp].SetValue(app)
	m.inputs[fCand].SetValue(cand)
	m.inputs[fBase].SetValue(base)
	return m.stored()
}

func (m *Model) value(i int) string { return strings.TrimSpace(m.inputs[i].Value()) }

func (m *Model) triple() [3]string { return [3]string{m.value(fApp), m.value(fCand), m.value(fBase)} }

func (m *Model) stored() tea.Cmd {
	g, k := m.c.Gate, m.triple()
	if g == nil || k[0] == "" || k[1] == "" || k[2] == "" {
		return nil
	}
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		v, ok, err := g.Stored(ctx, k[0], k[1], k[2])
		return verdictMsg{key: k, v: v, found: ok, err: err, stored: true}
	}
}

func (m *Model) judge() tea.Cmd {
	g, k := m.c.Gate, m.triple()
	if k[0] == "" || k[1] == "" || k[2] == "" {
		m.err = fmt.Errorf("choose an app, a candidate and a baseline first (press e)")
		return nil
	}
	m.busy, m.err = true, nil
	return func() tea.Msg {
		if g == nil {
			return verdictMsg{key: k, err: data.ErrNoGate}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		v, err := g.Verdict(ctx, k[0], k[1], k[2])
		return verdictMsg{key: k, v: v, found: err == nil, err: err}
	}
}

func (m *Model) export() tea.Cmd {
	g, k := m.c.Gate, m.triple()
	if k[0] == "" || k[1] == "" || k[2] == "" {
		return components.Status("choose an app, a candidate and a baseline first (press e)", true)
	}
	name := fmt.Sprintf("gate-%s-%s-vs-%s.html", k[0], k[1], k[2])
	path := filepath.Join(cmp.Or(m.ExportDir, "."), strings.NewReplacer("/", "_", " ", "_").Replace(name))
	return func() tea.Msg {
		if g == nil {
			return exportedMsg{path, data.ErrNoGate}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		return exportedMsg{path, g.Export(ctx, k[0], k[1], k[2], "html", path)}
	}
}

// SetSize implements components.Page.
func (m *Model) SetSize(w, h int) {
	m.w, m.h = w, h
	m.cur.SetHeight(m.tableHeight())
}

func (m *Model) tableHeight() int { return max(m.h-9, 1) }

// KeyMap implements components.Page.
func (m *Model) KeyMap() keymap.KeyMap { return m.keys }

// Capturing implements components.Page.
func (m *Model) Capturing() bool { return m.editing }

var order = map[string]int{"fail": 0, "marginal": 1, "inconclusive": 2, "pass": 3}

func (m *Model) setVerdict(v data.Verdict) {
	m.v = &v
	m.rows = slices.Clone(v.Checks)
	slices.SortStableFunc(m.rows, func(a, b data.Check) int {
		return cmp.Or(cmp.Compare(order[a.Verdict], order[b.Verdict]), cmp.Compare(a.Stratum, b.Stratum), cmp.Compare(a.Metric, b.Metric))
	})
	m.cur.SetN(len(m.rows))
}

// Update implements components.Page.
func (m *Model) Update(msg tea.Msg) (components.Page, tea.Cmd) {
	switch msg := msg.(type) {
	case prefillMsg:
		if msg.err == nil && m.value(fApp) == "" && msg.app != "" {
			return m, m.Choose(msg.app, msg.cand, msg.base)
		}
	case verdictMsg:
		if msg.key != m.triple() {
			return m, nil
		}
		m.busy = false
		m.err = msg.err
		if msg.err == nil && msg.found {
			m.cur.Pos = 0
			m.setVerdict(msg.v)
		} else if msg.err == nil && msg.stored {
			m.v, m.rows = nil, nil
		}
	case exportedMsg:
		if msg.err != nil {
			return m, components.Status("export: "+msg.err.Error(), true)
		}
		return m, components.Status("report written to "+msg.path, false)
	case tea.KeyPressMsg:
		if m.editing {
			switch msg.String() {
			case "esc":
				m.editing = false
				m.inputs[m.focus].Blur()
				m.v, m.rows = nil, nil
				return m, m.stored()
			case "enter":
				m.editing = false
				m.inputs[m.focus].Blur()
				return m, m.judge()
			case "tab", "down":
				m.inputs[m.focus].Blur()
				m.focus = (m.focus + 1) % nFields
				return m, m.inputs[m.focus].Focus()
			case "shift+tab", "up":
				m.inputs[m.focus].Blur()
				m.focus = (m.focus + nFields - 1) % nFields
				return m, m.inputs[m.focus].Focus()
			}
			var cmd tea.Cmd
			m.inputs[m.focus], cmd = m.inputs[m.focus].Update(msg)
			return m, cmd
		}
		switch {
		case key.Matches(msg, m.keys.Edit):
			m.editing = true
			return m, m.inputs[m.focus].Focus()
		case key.Matches(msg, m.keys.Judge):
			return m, m.judge()
		case key.Matches(msg, m.keys.Export):
			return m, m.export()
		case key.Matches(msg, m.keys.Up):
			m.cur.Move(-1)
		case key.Matches(msg, m.keys.Down):
			m.cur.Move(1)
		case key.Matches(msg, m.keys.PageUp):
			m.cur.Page(-1)
		case key.Matches(msg, m.keys.PageDown):
			m.cur.Page(1)
		}
	}
	return m, nil
}

var columns = []components.Column{
	{Title: "VERDICT", Width: 8},
	{Title: "STRATUM", Width: 16, Flex: 2},
	{Title: "METRIC", Width: 14, Flex: 1},
	{Title: "BASELINE", Width: 9, Right: true},
	{Title: "CANDIDATE", Width: 9, Right: true},
	{Title: "CHANGE", Width: 10, Flex: 1, Hide: 90},
	{Title: "Δ P50→P99", Width: 10, Hide: 120},
}

// View implements components.Page.
func (m *Model) View() string {
	s := m.c.Styles
	var form []string
	for i := range m.inputs {
		l := s.Dim.Render(labels[i] + " ")
		if m.editing && i == m.focus {
			l = s.Key.Render(labels[i] + " ")
		}
		v := m.inputs[i].View()
		if !m.editing {
			v = cmp.Or(m.value(i), s.Dim.Render("-"))
		}
		form = append(form, l+v)
	}
	lines := []string{strings.Join(form, s.Dim.Render("   "))}
	if m.err != nil && !m.busy {
		// The gate's messages say what to do; wrap rather than cut them.
		msg := lipgloss.NewStyle().Width(max(m.w-2, 10)).Render(m.err.Error())
		for i, l := range strings.Split(msg, "\n") {
			if i == 0 {
				l = s.Error.Render("✗ ") + l
			} else {
				l = "  " + l
			}
			lines = append(lines, l)
		}
	}
	switch {
	case m.busy:
		lines = append(lines, s.Info.Render("judging… (the gate reads the field data and the farm's results)"))
	case m.v == nil && m.err != nil:
	case m.v == nil:
		if m.value(fApp) == "" {
			lines = append(lines, s.Dim.Render("no runs yet: press e to choose an app, candidate and baseline"))
		} else {
			lines = append(lines, s.Dim.Render("no stored verdict for this release pair: press r to judge now"))
		}
	default:
		lines = append(lines, m.verdictView()...)
	}
	return components.Block(lines, m.w, m.h)
}

func (m *Model) verdictView() []string {
	s := m.c.Styles
	v := m.v
	badge := s.StateStyle(v.Verdict).Reverse(true).Padding(0, 1).Render(strings.ToUpper(v.Verdict))
	when := "judged now"
	if v.Stored {
		when = "stored " + components.Ago(m.c.Now(), v.At)
	}
	counts := map[string]int{}
	for _, c := range v.Checks {
		counts[c.Verdict]++
	}
	head := badge + fmt.Sprintf("  score %.0f", v.Score) + s.Dim.Render(fmt.Sprintf(" · %s %s vs %s · %s", v.AppID, v.Candidate, v.Baseline, when))
	tally := fmt.Sprintf("%s · %s · %s · %s",
		s.StateStyle("fail").Render(fmt.Sprintf("%d failing", counts["fail"])),
		s.StateStyle("marginal").Render(fmt.Sprintf("%d marginal", counts["marginal"])),
		s.StateStyle("pass").Render(fmt.Sprintf("%d passing", counts["pass"])),
		s.Dim.Render(fmt.Sprintf("%d inconclusive", counts["inconclusive"])))
	lines := []string{"", head, tally}
	if v.Summary != "" {
		lines = append(lines, s.Dim.Render(strings.ReplaceAll(v.Summary, "\n", " ")))
	}
	widths := components.Layout(columns, m.w)
	lines = append(lines, components.HeaderRow(columns, widths, s.Header, nil))
	from, to := m.cur.Visible()
	for i := from; i < to; i++ {
		c := m.rows[i]
		cells := []string{c.Verdict, c.Stratum, c.Metric, num(c.Baseline, c.Unit), num(c.Candidate, c.Unit), "", components.Sparkline(c.Series)}
		if i == m.cur.Pos {
			cells[5] = change(c)
			lines = append(lines, s.Selected.Render(components.Fit(components.Row(columns, widths, cells, nil), m.w)))
			continue
		}
		cells[5] = m.changeBar(c, widths[5])
		st := s.StateStyle(c.Verdict)
		lines = append(lines, components.Row(columns, widths, cells, []*lipgloss.Style{&st}))
	}
	if len(m.rows) == 0 {
		lines = append(lines, s.Dim.Render("the gate reported no checks"))
	}
	if m.cur.Pos < len(m.rows) && m.rows[m.cur.Pos].Detail != "" {
		lines = append(lines, s.Dim.Render("▸ ")+m.rows[m.cur.Pos].Detail)
	}
	return lines
}

func num(x float64, unit string) string {
	if math.IsNaN(x) {
		return "-"
	}
	switch unit {
	case "%":
		return fmt.Sprintf("%.2f%%", x*100)
	case "ms":
		return fmt.Sprintf("%.0fms", x)
	}
	return fmt.Sprintf("%.3g", x)
}

func change(c data.Check) string {
	if math.IsNaN(c.Baseline) && c.Threshold > 0 {
		return fmt.Sprintf("%.0f%% of max", c.Candidate/c.Threshold*100)
	}
	if c.Baseline == 0 || math.IsNaN(c.Baseline) || math.IsNaN(c.Candidate) {
		return "-"
	}
	return fmt.Sprintf("%+.0f%%", (c.Candidate-c.Baseline)/math.Abs(c.Baseline)*100)
}

// changeBar shows the relative change as a bar (one cell per 10%, capped) after the number.
func (m *Model) changeBar(c data.Check, w int) string {
	s := m.c.Styles
	txt := change(c)
	if txt == "-" || w < 6 {
		return txt
	}
	rel := (c.Candidate - c.Baseline) / math.Abs(c.Baseline)
	if math.IsNaN(c.Baseline) {
		rel = c.Candidate / c.Threshold // how much of the guardrail is used
	}
	n := min(int(math.Abs(rel)*10+0.5), max(w-len(txt)-1, 0))
	bar := strings.Repeat("▮", n)
	st := s.StateStyle(c.Verdict)
	return txt + " " + st.Render(bar)
}
