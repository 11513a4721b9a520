// Package runs owns the runs page: the farm's runs with progress bars, pass/fail/flaky
// counts and ETA; a run's detail with failures by (model, OS) and per test, their attempts
// and artifact paths; starting a run from a suite file picker (errors inline) and cancelling
// one behind a confirmation. --read-only disables both actions.
package runs

import (
	"context"
	"fmt"
	"slices"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/fleetlens/fleetlens/tui/components"
	"github.com/fleetlens/fleetlens/tui/data"
	"github.com/fleetlens/fleetlens/tui/keymap"
)

type mode int

const (
	modeList mode = iota
	modeDetail
	modeStart
)

// KeyMap is the runs page's bindings.
type KeyMap struct {
	keymap.Nav
	Start, Cancel, Back, Refresh, Groups, Tests key.Binding
}

func newKeyMap(readOnly bool) KeyMap {
	k := KeyMap{
		Nav:     keymap.NewNav(),
		Start:   key.NewBinding(key.WithKeys("n"), key.WithHelp("n", "start a run")),
		Cancel:  key.NewBinding(key.WithKeys("x"), key.WithHelp("x", "cancel run")),
		Back:    key.NewBinding(key.WithKeys("esc", "backspace"), key.WithHelp("esc", "back")),
		Refresh: key.NewBinding(key.WithKeys("ctrl+r"), key.WithHelp("ctrl+r", "reload")),
		Groups:  key.NewBinding(key.WithKeys("m"), key.WithHelp("m", "by model/OS")),
		Tests:   key.NewBinding(key.WithKeys("t"), key.WithHelp("t", "by test")),
	}
	if readOnly {
		k.Start.SetEnabled(false)
		k.Cancel.SetEnabled(false)
	}
	return k
}

// Model is the runs page.
type Model struct {
	c        *components.Common
	keys     KeyMap
	mode     mode
	runs     []data.Run
	cur      components.Cursor
	loaded   bool
	err      error
	detail   detail
	start    startForm
	confirm  components.Confirm
	cancelID int64
	w, h     int
}

// New returns the runs page.
func New(c *components.Common) *Model {
	m := &Model{c: c, keys: newKeyMap(c.ReadOnly), confirm: components.NewConfirm()}
	m.detail = newDetail(c)
	m.start = newStartForm(c)
	return m
}

type listMsg struct {
	runs []data.Run
	err  error
}

type cancelledMsg struct {
	id  int64
	err error
}

// Load reads the runs.
func (m *Model) Load() tea.Cmd {
	src := m.c.Src
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		runs, err := src.Runs(ctx)
		return listMsg{runs, err}
	}
}

// Init implements components.Page.
func (m *Model) Init() tea.Cmd { return m.Load() }

// SetSize implements components.Page.
func (m *Model) SetSize(w, h int) {
	m.w, m.h = w, h
	m.cur.SetHeight(h - 2)
	m.detail.setSize(w, h)
	m.start.setSize(w, h)
}

// KeyMap implements components.Page.
func (m *Model) KeyMap() keymap.KeyMap {
	switch {
	case m.confirm.Active:
		return m.confirm
	case m.mode == modeStart:
		return m.start.keys
	case m.mode == modeDetail:
		return detailKeys{m.keys}
	}
	return m.keys
}

// Capturing implements components.Page.
func (m *Model) Capturing() bool { return m.confirm.Active || m.mode == modeStart }

// OpenRun shows run id's detail (used by tests and deep links).
func (m *Model) OpenRun(id int64) tea.Cmd {
	m.mode = modeDetail
	return m.detail.open(id)
}

func (m *Model) selected() *data.Run {
	if m.cur.Pos < len(m.runs) {
		return &m.runs[m.cur.Pos]
	}
	return nil
}

// Update implements components.Page.
func (m *Model) Update(msg tea.Msg) (components.Page, tea.Cmd) {
	switch msg := msg.(type) {
	case listMsg:
		m.err = msg.err
		if msg.err == nil {
			m.runs, m.loaded = msg.runs, true
			m.cur.SetN(len(m.runs))
		}
		return m, nil
	case detailMsg:
		m.detail.loaded(msg)
		return m, nil
	case startedMsg:
		cmd := m.start.started(msg)
		if msg.err == nil {
			m.mode = modeDetail
			return m, tea.Batch(cmd, m.Load(), m.detail.open(msg.id))
		}
		return m, cmd
	case cancelledMsg:
		if msg.err != nil {
			return m, components.Status(fmt.Sprintf("cancel run %d: %v", msg.id, msg.err), true)
		}
		return m, tea.Batch(components.Status(fmt.Sprintf("run %d cancelled", msg.id), false), m.Load(), m.detail.reload())
	case components.EventMsg:
		var cmds []tea.Cmd
		if msg.All || len(msg.Runs) > 0 {
			cmds = append(cmds, m.Load())
		}
		if m.mode == modeDetail && (msg.All || slices.Contains(msg.Runs, m.detail.id)) {
			cmds = append(cmds, m.detail.reload())
		}
		return m, tea.Batch(cmds...)
	case tea.KeyPressMsg:
		if m.confirm.Active {
			switch {
			case key.Matches(msg, m.confirm.Yes):
				m.confirm.Active = false
				return m, m.cancel(m.cancelID)
			case key.Matches(msg, m.confirm.No):
				m.confirm.Active = false
			}
			return m, nil
		}
		switch m.mode {
		case modeStart:
			done, cmd := m.start.update(msg)
			if done {
				m.mode = modeList
			}
			return m, cmd
		case modeDetail:
			return m, m.updateDetail(msg)
		}
		return m, m.updateList(msg)
	}
	if m.mode == modeStart {
		_, cmd := m.start.update(msg)
		return m, cmd
	}
	return m, nil
}

func (m *Model) askCancel(r *data.Run) tea.Cmd {
	if m.c.ReadOnly {
		return components.Status("read-only: cancelling runs is disabled", true)
	}
	if r == nil || !r.Active() {
		return components.Status("only a queued or running run can be cancelled", true)
	}
	m.cancelID = r.ID
	m.confirm.Question = fmt.Sprintf("Cancel run #%d (%s %s)? Queued work is dropped.", r.ID, r.AppID, r.Release)
	m.confirm.Active = true
	return nil
}

func (m *Model) cancel(id int64) tea.Cmd {
	farm := m.c.Farm
	return func() tea.Msg {
		if farm == nil {
			return cancelledMsg{id, data.ErrNoFarm}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		return cancelledMsg{id, farm.CancelRun(ctx, id, "cancelled from fleetlens tui")}
	}
}

func (m *Model) openStart() tea.Cmd {
	if m.c.ReadOnly {
		return components.Status("read-only: starting runs is disabled", true)
	}
	m.mode = modeStart
	return m.start.open()
}

func (m *Model) updateList(msg tea.KeyPressMsg) tea.Cmd {
	k := m.keys
	switch {
	case key.Matches(msg, k.Up):
		m.cur.Move(-1)
	case key.Matches(msg, k.Down):
		m.cur.Move(1)
	case key.Matches(msg, k.PageUp):
		m.cur.Page(-1)
	case key.Matches(msg, k.PageDown):
		m.cur.Page(1)
	case key.Matches(msg, k.Top):
		m.cur.Top()
	case key.Matches(msg, k.Bottom):
		m.cur.Bottom()
	case key.Matches(msg, k.Refresh):
		return m.Load()
	case msg.String() == "n":
		return m.openStart()
	case msg.String() == "x":
		return m.askCancel(m.selected())
	case key.Matches(msg, k.Open):
		if r := m.selected(); r != nil {
			return m.OpenRun(r.ID)
		}
	}
	return nil
}

func (m *Model) updateDetail(msg tea.KeyPressMsg) tea.Cmd {
	switch {
	case key.Matches(msg, m.keys.Back):
		m.mode = modeList
		return nil
	case msg.String() == "x":
		if m.detail.rd != nil {
			return m.askCancel(&m.detail.rd.Run)
		}
		return nil
	case msg.String() == "n":
		return m.openStart()
	case key.Matches(msg, m.keys.Refresh):
		return m.detail.reload()
	}
	m.detail.key(msg, m.keys)
	return nil
}

var columns = []components.Column{
	{Title: "RUN", Width: 5, Right: true},
	{Title: "STATE", Width: 9},
	{Title: "APP / RELEASE", Width: 16, Flex: 2},
	{Title: "PROGRESS", Width: 12, Flex: 3},
	{Title: "DONE", Width: 9, Right: true},
	{Title: "PASS FAIL FLKY", Width: 14, Right: true},
	{Title: "ETA", Width: 6, Right: true},
	{Title: "SUITE", Width: 12, Flex: 1, Hide: 120},
	{Title: "STARTED", Width: 10, Right: true, Hide: 140},
}

// View implements components.Page.
func (m *Model) View() string {
	var body string
	switch m.mode {
	case modeDetail:
		body = m.detail.view()
	case modeStart:
		body = m.start.view()
	default:
		body = m.listView()
	}
	if m.confirm.Active {
		return m.confirm.View(m.c.Styles, m.w, m.h)
	}
	return body
}

func (m *Model) listView() string {
	s := m.c.Styles
	if !m.loaded {
		msg := "loading runs…"
		if m.err != nil {
			msg = s.Error.Render("cannot read runs: ") + m.err.Error()
		}
		return components.Block([]string{msg}, m.w, m.h)
	}
	active := 0
	for _, r := range m.runs {
		if r.Active() {
			active++
		}
	}
	summary := s.Bold.Render(fmt.Sprintf("%d runs", len(m.runs))) + s.Dim.Render(fmt.Sprintf(" · %d active", active))
	if m.c.ReadOnly {
		summary += s.Warn.Render("  read-only")
	}
	if m.err != nil {
		summary += "  " + s.Error.Render("update failed: "+m.err.Error())
	}
	lines := []string{summary}
	widths := components.Layout(columns, m.w)
	lines = append(lines, components.HeaderRow(columns, widths, s.Header, nil))
	now := m.c.Now()
	from, to := m.cur.Visible()
	for i := from; i < to; i++ {
		r := m.runs[i]
		cells := []string{
			fmt.Sprintf("#%d", r.ID), r.State, r.AppID + " " + r.Release, "",
			fmt.Sprintf("%d/%d", r.Done, r.Total),
			fmt.Sprintf("%4d %4d %4d", r.Passed, r.Failed+r.Errored, r.Flaky),
			components.Duration(r.ETA(now)), r.Suite, started(now, r),
		}
		sel := i == m.cur.Pos
		if sel {
			cells[3] = components.PlainBar(widths[3], r.Total, r.Done)
			line := components.Row(columns, widths, cells, nil)
			lines = append(lines, s.Selected.Render(components.Fit(line, m.w)))
			continue
		}
		st := s.StateStyle(r.State)
		styles := make([]*lipgloss.Style, len(columns))
		styles[1] = &st
		cells[3] = components.StackedBar(s, widths[3], r.Total, r.Passed, r.Failed+r.Errored, r.Flaky+r.Skipped)
		lines = append(lines, components.Row(columns, widths, cells, styles))
	}
	if len(m.runs) == 0 {
		hint := "no runs yet"
		if !m.c.ReadOnly {
			hint += ": press n to start one from a suite file"
		}
		lines = append(lines, s.Dim.Render(hint))
	}
	return components.Block(lines, m.w, m.h)
}

func started(now time.Time, r data.Run) string {
	if r.StartedAt == nil {
		return "-"
	}
	return components.Ago(now, *r.StartedAt)
}

// ShortHelp implements keymap.KeyMap.
func (k KeyMap) ShortHelp() []key.Binding { return []key.Binding{k.Open, k.Start, k.Cancel} }

// FullHelp implements keymap.KeyMap.
func (k KeyMap) FullHelp() [][]key.Binding {
	return [][]key.Binding{k.Nav.List(), {k.Start, k.Cancel, k.Refresh}}
}
