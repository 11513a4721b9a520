package runs

import (
	"context"
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/fleetlens/fleetlens/tui/components"
	"github.com/fleetlens/fleetlens/tui/data"
)

// detailKeys is the key map while a run is open.
type detailKeys struct{ k KeyMap }

func (d detailKeys) ShortHelp() []key.Binding {
	return []key.Binding{d.k.Back, d.k.Groups, d.k.Tests, d.k.Cancel}
}

func (d detailKeys) FullHelp() [][]key.Binding {
	return [][]key.Binding{{d.k.Up, d.k.Down, d.k.PageUp, d.k.PageDown, d.k.Top, d.k.Bottom},
		{d.k.Groups, d.k.Tests, d.k.Cancel, d.k.Start, d.k.Refresh, d.k.Back}}
}

const (
	tabGroups = iota
	tabTests
)

type detail struct {
	c    *components.Common
	id   int64
	rd   *data.RunDetail
	err  error
	tab  int
	cur  components.Cursor
	w, h int
}

type detailMsg struct {
	id  int64
	rd  data.RunDetail
	err error
}

func newDetail(c *components.Common) detail { return detail{c: c} }

func (d *detail) open(id int64) tea.Cmd {
	if id != d.id {
		d.rd, d.err, d.tab = nil, nil, tabGroups
		d.cur = components.Cursor{Height: d.cur.Height}
	}
	d.id = id
	return d.reload()
}

func (d *detail) reload() tea.Cmd {
	if d.id == 0 {
		return nil
	}
	src, id := d.c.Src, d.id
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		rd, err := src.Run(ctx, id)
		return detailMsg{id, rd, err}
	}
}

func (d *detail) loaded(msg detailMsg) {
	if msg.id != d.id {
		return
	}
	d.err = msg.err
	if msg.err == nil {
		d.rd = &msg.rd
		d.cur.SetN(d.rows())
	}
}

func (d *detail) rows() int {
	if d.rd == nil {
		return 0
	}
	if d.tab == tabGroups {
		return len(d.rd.Groups)
	}
	return len(d.rd.Tests)
}

// tableHeight is the share of the page the groups/tests table gets; failures get the rest.
func (d *detail) tableHeight() int { return max((d.h-4)/2-1, 1) }

func (d *detail) setSize(w, h int) {
	d.w, d.h = w, h
	d.cur.SetHeight(d.tableHeight())
}

func (d *detail) key(msg tea.KeyPressMsg, k KeyMap) {
	switch {
	case key.Matches(msg, k.Up):
		d.cur.Move(-1)
	case key.Matches(msg, k.Down):
		d.cur.Move(1)
	case key.Matches(msg, k.PageUp):
		d.cur.Page(-1)
	case key.Matches(msg, k.PageDown):
		d.cur.Page(1)
	case key.Matches(msg, k.Top):
		d.cur.Top()
	case key.Matches(msg, k.Bottom):
		d.cur.Bottom()
	case key.Matches(msg, k.Groups):
		d.tab = tabGroups
		d.cur.Pos = 0
		d.cur.SetN(d.rows())
	case key.Matches(msg, k.Tests):
		d.tab = tabTests
		d.cur.Pos = 0
		d.cur.SetN(d.rows())
	}
}

var groupCols = []components.Column{
	{Title: "MODEL", Width: 16, Flex: 2},
	{Title: "OS", Width: 6},
	{Title: "TESTS", Width: 5, Right: true},
	{Title: "PASS", Width: 5, Right: true},
	{Title: "FAIL", Width: 5, Right: true},
	{Title: "FLKY", Width: 5, Right: true},
	{Title: "", Width: 12, Flex: 2},
}

var testCols = []components.Column{
	{Title: "TEST", Width: 22, Flex: 3},
	{Title: "PROFILE", Width: 8, Hide: 100},
	{Title: "STATUS", Width: 7},
	{Title: "ATT", Width: 3, Right: true},
	{Title: "PASS", Width: 4, Right: true},
	{Title: "FAIL", Width: 4, Right: true},
	{Title: "INFR", Width: 4, Right: true},
	{Title: "TIME", Width: 6, Right: true},
	{Title: "MESSAGE", Width: 12, Flex: 2},
}

var attemptCols = []components.Column{
	{Title: "STATUS", Width: 7},
	{Title: "DEVICE", Width: 14, Flex: 1},
	{Title: "MODEL / OS", Width: 16, Flex: 1},
	{Title: "TEST", Width: 18, Flex: 2, Hide: 100},
	{Title: "MESSAGE", Width: 16, Flex: 3},
	{Title: "ARTIFACTS", Width: 20, Flex: 2, Hide: 120},
}

func (d *detail) view() string {
	s := d.c.Styles
	if d.rd == nil {
		msg := fmt.Sprintf("loading run #%d…", d.id)
		if d.err != nil {
			msg = s.Error.Render(d.err.Error())
		}
		return components.Block([]string{msg}, d.w, d.h)
	}
	r := d.rd.Run
	now := d.c.Now()
	title := s.Title.Render(fmt.Sprintf("Run #%d", r.ID)) + " " + s.StateStyle(r.State).Render(r.State) +
		s.Dim.Render(" · ") + r.AppID + " " + s.Bold.Render(r.Release)
	if r.Baseline != "" {
		title += s.Dim.Render(" vs " + r.Baseline)
	}
	if r.Suite != "" {
		title += s.Dim.Render(" · suite " + r.Suite)
	}
	if r.Reason != "" {
		title += s.Warn.Render(" · " + r.Reason)
	}
	stats := fmt.Sprintf(" %d/%d  pass %d  fail %d  flaky %d  error %d  ETA %s", r.Done, r.Total, r.Passed, r.Failed,
		r.Flaky, r.Errored, components.Duration(r.ETA(now)))
	barW := max(d.w-lipgloss.Width(stats), 5)
	bar := components.StackedBar(s, barW, r.Total, r.Passed, r.Failed+r.Errored, r.Flaky+r.Skipped) + stats
	tabs := d.tabView()
	lines := []string{title, bar, tabs}

	th := d.tableHeight()
	var table []string
	var failures []data.Attempt
	selection := "all"
	if d.tab == tabGroups {
		widths := components.Layout(groupCols, d.w)
		table = append(table, components.HeaderRow(groupCols, widths, s.Header, nil))
		from, to := d.cur.Visible()
		for i := from; i < to; i++ {
			g := d.rd.Groups[i]
			cells := []string{g.Model, g.OSVersion, fmt.Sprint(g.Tests), fmt.Sprint(g.Passed), fmt.Sprint(g.Failed), fmt.Sprint(g.Flaky), ""}
			if i == d.cur.Pos {
				cells[6] = components.PlainBar(widths[6], g.Tests, g.Passed)
				table = append(table, s.Selected.Render(components.Fit(components.Row(groupCols, widths, cells, nil), d.w)))
				continue
			}
			cells[6] = components.StackedBar(s, widths[6], g.Tests, g.Passed, g.Failed, g.Flaky)
			var st []*lipgloss.Style
			if g.Failed > 0 {
				e := s.Error
				st = []*lipgloss.Style{nil, nil, nil, nil, &e}
			}
			table = append(table, components.Row(groupCols, widths, cells, st))
		}
		if len(d.rd.Groups) == 0 {
			table = append(table, s.Dim.Render("no attempts recorded yet"))
		}
		if d.cur.Pos < len(d.rd.Groups) {
			g := d.rd.Groups[d.cur.Pos]
			selection = g.Model + " " + g.OSVersion
			for _, a := range d.rd.Failures {
				if a.Model == g.Model && a.OSVersion == g.OSVersion {
					failures = append(failures, a)
				}
			}
		}
	} else {
		widths := components.Layout(testCols, d.w)
		table = append(table, components.HeaderRow(testCols, widths, s.Header, nil))
		from, to := d.cur.Visible()
		for i := from; i < to; i++ {
			t := d.rd.Tests[i]
			dur := "-"
			if t.DurationMS != nil {
				dur = components.Duration(time.Duration(*t.DurationMS) * time.Millisecond)
			}
			cells := []string{t.Test, t.Profile, t.Status, fmt.Sprint(t.Attempts), fmt.Sprint(t.Passes),
				fmt.Sprint(t.Failures), fmt.Sprint(t.Infra), dur, t.Message}
			if i == d.cur.Pos {
				table = append(table, s.Selected.Render(components.Fit(components.Row(testCols, widths, cells, nil), d.w)))
				continue
			}
			st := s.StateStyle(t.Status)
			table = append(table, components.Row(testCols, widths, cells, []*lipgloss.Style{nil, nil, &st}))
		}
		if d.cur.Pos < len(d.rd.Tests) {
			t := d.rd.Tests[d.cur.Pos]
			selection = t.Test
			if t.Profile != "" {
				selection += " @" + t.Profile
			}
			for _, a := range d.rd.Failures {
				if a.Test == t.Test && a.Profile == t.Profile {
					failures = append(failures, a)
				}
			}
		}
	}
	lines = append(lines, components.Block(table, d.w, th+1))

	lines = append(lines, s.Header.Render(fmt.Sprintf("FAILED ATTEMPTS · %s (%d)", selection, len(failures))))
	widths := components.Layout(attemptCols, d.w)
	rest := d.h - len(lines) - 1
	att := []string{components.HeaderRow(attemptCols, widths, s.Dim, nil)}
	for _, a := range failures {
		if len(att) > rest {
			break
		}
		msg := a.Message
		if a.InfraReason != "" {
			msg = a.InfraReason + ": " + msg
		}
		art := a.ArtifactDir
		if a.Screenshot != "" {
			art = a.Screenshot
		}
		st := s.StateStyle(a.Status)
		cells := []string{a.Status, a.Serial, a.Model + " " + a.OSVersion, a.Test, strings.ReplaceAll(msg, "\n", " "), art}
		att = append(att, components.Row(attemptCols, widths, cells, []*lipgloss.Style{&st}))
		if widths[5] == 0 && art != "" && len(att) <= rest {
			// Narrow terminal: the artifacts column is hidden, so the path gets its own line.
			att = append(att, s.Dim.Render("        ↳ "+art))
		}
	}
	if len(failures) == 0 {
		att = append(att, s.OK.Render("no failed attempts here"))
	}
	lines = append(lines, att...)
	return components.Block(lines, d.w, d.h)
}

func (d *detail) tabView() string {
	s := d.c.Styles
	names := []string{"m by model/OS", "t by test"}
	var out []string
	for i, n := range names {
		if i == d.tab {
			out = append(out, s.ActiveTab.Render(n))
		} else {
			out = append(out, s.Tab.Render(n))
		}
	}
	return strings.Join(out, " ")
}
