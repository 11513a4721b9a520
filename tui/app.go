// Package tui owns `fleetlens tui`: the root Bubble Tea model that switches between the
// fleet, device, runs and regressions pages on a page state, shows the connection state
// (connecting, unreachable and retrying, live, reconnecting), the help overlay generated
// from the key maps, and a "too small" screen for tiny terminals. Pages live in pages/*,
// shared widgets in components/, data access in data/.
package tui

import (
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/colorprofile"

	"github.com/fleetlens/fleetlens/tui/components"
	"github.com/fleetlens/fleetlens/tui/data"
	"github.com/fleetlens/fleetlens/tui/keymap"
	"github.com/fleetlens/fleetlens/tui/pages/device"
	"github.com/fleetlens/fleetlens/tui/pages/fleet"
	"github.com/fleetlens/fleetlens/tui/pages/regressions"
	"github.com/fleetlens/fleetlens/tui/pages/runs"
	"github.com/fleetlens/fleetlens/tui/styles"
)

// Page is the root model's state.
type Page int

// Pages.
const (
	PageFleet Page = iota
	PageDevice
	PageRuns
	PageRegressions
	nPages
)

// Minimum usable terminal; below it the app shows a "too small" message instead of a
// garbled layout.
const (
	MinWidth  = 60
	MinHeight = 16
)

// Options configure the app.
type Options struct {
	Src      data.Source
	Farm     data.Farm // nil: starting and cancelling runs is unavailable
	Gate     data.Gate // nil: verdicts are unavailable
	ReadOnly bool
	// Profile forces a colour profile (tests); zero means what the terminal reports.
	Profile colorprofile.Profile
	// Now is the clock (tests fix it); nil means time.Now.
	Now func() time.Time
	// SuiteDir is where the suite picker starts (default ".").
	SuiteDir string
	// ExportDir is where exported gate reports go (default ".").
	ExportDir string
	// DB names the database in the unreachable screen (redacted DSN).
	DB string
	// Mouse turns on mouse reporting: the wheel scrolls the page's list. Off by default so
	// the terminal's own text selection keeps working.
	Mouse bool
}

// Model is the root model.
type Model struct {
	opts   Options
	c      *components.Common
	keys   keymap.Global
	pages  [nPages]components.Page
	fleet  *fleet.Model
	device *device.Model
	runs   *runs.Model
	regr   *regressions.Model
	page   Page
	prev   Page
	w, h   int
	conn   *data.ConnState
	everUp bool
	help   bool
	status string
	isErr  bool
	statAt time.Time
}

// New builds the root model.
func New(opts Options) *Model {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	prof := opts.Profile
	if prof == 0 {
		prof = colorprofile.TrueColor
	}
	c := &components.Common{Styles: styles.New(prof), Src: opts.Src, Farm: opts.Farm, Gate: opts.Gate,
		ReadOnly: opts.ReadOnly, Now: opts.Now, SuiteDir: opts.SuiteDir}
	m := &Model{opts: opts, c: c, keys: keymap.NewGlobal()}
	m.fleet = fleet.New(c)
	m.device = device.New(c)
	m.runs = runs.New(c)
	m.regr = regressions.New(c)
	m.regr.ExportDir = opts.ExportDir
	m.pages = [nPages]components.Page{m.fleet, m.device, m.runs, m.regr}
	return m
}

// Fleet, Runs and Regressions expose the pages to tests and benchmarks.
func (m *Model) Fleet() *fleet.Model { return m.fleet }

// Runs returns the runs page.
func (m *Model) Runs() *runs.Model { return m.runs }

// Regressions returns the regressions page.
func (m *Model) Regressions() *regressions.Model { return m.regr }

// CurrentPage returns the page state.
func (m *Model) CurrentPage() Page { return m.page }

func (m *Model) waitEvent() tea.Cmd {
	ch := m.opts.Src.Events()
	return func() tea.Msg {
		e, ok := <-ch
		if !ok {
			return nil
		}
		return components.EventMsg{Event: e}
	}
}

// Init implements tea.Model.
func (m *Model) Init() tea.Cmd { return m.waitEvent() }

func (m *Model) setSize(w, h int) {
	m.w, m.h = w, h
	for _, p := range m.pages {
		p.SetSize(w, max(h-2, 1))
	}
}

// Update implements tea.Model.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.setSize(msg.Width, msg.Height)
		return m, nil
	case tea.ColorProfileMsg:
		if m.opts.Profile == 0 {
			m.c.Styles = styles.New(msg.Profile)
		}
		return m, nil
	case components.EventMsg:
		cmds := []tea.Cmd{m.waitEvent()}
		if msg.Conn != nil {
			m.conn = msg.Conn
			if msg.Conn.Up && !m.everUp {
				m.everUp = true
				for _, p := range m.pages {
					cmds = append(cmds, p.Init())
				}
				return m, tea.Batch(cmds...)
			}
		}
		if m.everUp {
			cmds = append(cmds, m.broadcast(msg)...)
		}
		return m, tea.Batch(cmds...)
	case components.StatusMsg:
		m.status, m.isErr, m.statAt = msg.Text, msg.Error, m.opts.Now()
		return m, nil
	case components.OpenDeviceMsg:
		m.prev, m.page = m.page, PageDevice
		return m, m.device.Open(msg.Serial)
	case components.BackMsg:
		m.page = m.prev
		if m.page == PageDevice {
			m.page = PageFleet
		}
		return m, nil
	case tea.KeyPressMsg:
		return m, m.key(msg)
	case tea.MouseWheelMsg:
		// The wheel is the arrow keys for whatever list the page shows.
		switch msg.Mouse().Button {
		case tea.MouseWheelUp:
			return m, m.key(tea.KeyPressMsg{Code: tea.KeyUp})
		case tea.MouseWheelDown:
			return m, m.key(tea.KeyPressMsg{Code: tea.KeyDown})
		}
		return m, nil
	}
	return m, tea.Batch(m.broadcast(msg)...)
}

func (m *Model) broadcast(msg tea.Msg) []tea.Cmd {
	var cmds []tea.Cmd
	for i, p := range m.pages {
		np, cmd := p.Update(msg)
		m.pages[i] = np
		cmds = append(cmds, cmd)
	}
	return cmds
}

func (m *Model) key(msg tea.KeyPressMsg) tea.Cmd {
	if msg.String() == "ctrl+c" {
		return tea.Quit
	}
	if m.help {
		if key.Matches(msg, m.keys.Help, m.keys.Back, m.keys.Quit) {
			m.help = false
		}
		return nil
	}
	p := m.pages[m.page]
	if !m.everUp || m.w < MinWidth || m.h < MinHeight {
		if key.Matches(msg, m.keys.Quit) {
			return tea.Quit
		}
		return nil
	}
	if !p.Capturing() {
		switch {
		case key.Matches(msg, m.keys.Quit):
			return tea.Quit
		case key.Matches(msg, m.keys.Help):
			m.help = true
			return nil
		case key.Matches(msg, m.keys.Fleet):
			m.page = PageFleet
			return nil
		case key.Matches(msg, m.keys.Runs):
			m.page = PageRuns
			return nil
		case key.Matches(msg, m.keys.Regressions):
			m.page = PageRegressions
			return nil
		case key.Matches(msg, m.keys.NextPage):
			m.page = m.cycle(1)
			return nil
		case key.Matches(msg, m.keys.PrevPage):
			m.page = m.cycle(-1)
			return nil
		}
	}
	m.status = ""
	np, cmd := p.Update(msg)
	m.pages[m.page] = np
	return cmd
}

// cycle moves between the top-level pages (device detail is reached from the fleet).
func (m *Model) cycle(d int) Page {
	top := []Page{PageFleet, PageRuns, PageRegressions}
	cur := m.page
	if cur == PageDevice {
		cur = PageFleet
	}
	for i, p := range top {
		if p == cur {
			return top[(i+d+len(top))%len(top)]
		}
	}
	return PageFleet
}

// View implements tea.Model.
func (m *Model) View() tea.View {
	v := tea.NewView(m.Render())
	v.AltScreen = true
	v.WindowTitle = "fleetlens"
	if m.opts.Mouse {
		v.MouseMode = tea.MouseModeCellMotion
	}
	return v
}

// Render returns the screen as a string (View's content; golden tests compare it).
func (m *Model) Render() string {
	s := m.c.Styles
	if m.w == 0 || m.h == 0 {
		return ""
	}
	if m.w < MinWidth || m.h < MinHeight {
		msg := fmt.Sprintf("terminal too small\n%d×%d, need %d×%d\nq quits", m.w, m.h, MinWidth, MinHeight)
		return lipgloss.Place(m.w, m.h, lipgloss.Center, lipgloss.Center, s.Warn.Render(msg))
	}
	if !m.everUp {
		return m.unreachable()
	}
	header := m.header()
	body := m.pages[m.page].View()
	if m.help {
		body = components.HelpOverlay(s, m.w, m.h-2, "keys · "+m.pageName(m.page), m.pages[m.page].KeyMap(), m.keys)
	}
	// Block pins the body to exactly the rows and columns it has, whatever a page returned.
	return header + "\n" + components.Block([]string{body}, m.w, m.h-2) + "\n" + m.footer()
}

func (m *Model) unreachable() string {
	s := m.c.Styles
	lines := []string{s.Title.Render("fleetlens"), ""}
	if m.conn == nil {
		lines = append(lines, "connecting to the database…")
	} else {
		lines = append(lines, s.Error.Render("database unreachable"))
		if m.opts.DB != "" {
			lines = append(lines, s.Dim.Render(m.opts.DB))
		}
		if m.conn.Err != nil {
			lines = append(lines, "", wrap(m.conn.Err.Error(), m.w-8))
		}
		lines = append(lines, "", s.Warn.Render(fmt.Sprintf("retrying… (attempt %d)", m.conn.Attempt)),
			s.Dim.Render("check --db / FLEETLENS_DB, or `fleetlens db start`; q quits"))
	}
	box := s.Box.Render(strings.Join(lines, "\n"))
	return lipgloss.Place(m.w, m.h, lipgloss.Center, lipgloss.Center, box)
}

func wrap(s string, w int) string {
	return lipgloss.NewStyle().Width(max(w, 20)).Render(s)
}

func (m *Model) pageName(p Page) string {
	return [...]string{"fleet", "device", "runs", "regressions"}[p]
}

func (m *Model) header() string {
	s := m.c.Styles
	tabs := []struct {
		p    Page
		name string
	}{{PageFleet, "1 Fleet"}, {PageRuns, "2 Runs"}, {PageRegressions, "3 Regressions"}}
	cur := m.page
	if cur == PageDevice {
		cur = PageFleet
	}
	out := s.Title.Render("fleetlens") + " "
	for _, t := range tabs {
		if t.p == cur {
			out += s.ActiveTab.Render(t.name)
		} else {
			out += s.Tab.Render(t.name)
		}
	}
	var right string
	switch {
	case m.conn != nil && !m.conn.Up:
		right = s.Warn.Render(fmt.Sprintf("⟳ reconnecting (attempt %d)", m.conn.Attempt))
	default:
		right = s.OK.Render("● live")
	}
	if m.opts.ReadOnly {
		right = s.Warn.Render("read-only") + "  " + right
	}
	gap := m.w - lipgloss.Width(out) - lipgloss.Width(right)
	if gap < 1 {
		return components.Fit(out, m.w)
	}
	return out + strings.Repeat(" ", gap) + right
}

func (m *Model) footer() string {
	s := m.c.Styles
	if m.status != "" && m.opts.Now().Sub(m.statAt) < 10*time.Second {
		st := s.OK
		if m.isErr {
			st = s.Error
		}
		return components.Fit(st.Render(m.status), m.w)
	}
	if m.conn != nil && !m.conn.Up && m.conn.Err != nil {
		return components.Fit(s.Warn.Render("database connection lost: "+m.conn.Err.Error()+" — showing the last data"), m.w)
	}
	return components.Fit(components.ShortHelp(s, m.w, m.pages[m.page].KeyMap(), m.keys), m.w)
}
