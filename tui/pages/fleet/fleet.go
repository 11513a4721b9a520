// Package fleet owns the fleet page: every device across all hosts, sortable, filterable,
// grouped by host or model, with counts by state, updated live from NOTIFY batches. Only the
// visible rows are rendered, so thousands of devices cost what a screenful does.
package fleet

import (
	"cmp"
	"context"
	"fmt"
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

// States in display order.
var States = []string{"idle", "busy", "draining", "offline", "quarantined"}

// KeyMap is the fleet page's bindings.
type KeyMap struct {
	keymap.Nav
	Filter, ClearFilter, Sort, Reverse, Group, Refresh key.Binding
}

func newKeyMap() KeyMap {
	return KeyMap{
		Nav:         keymap.NewNav(),
		Filter:      key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter")),
		ClearFilter: key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "clear filter")),
		Sort:        key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "sort by next column")),
		Reverse:     key.NewBinding(key.WithKeys("S"), key.WithHelp("S", "reverse sort")),
		Group:       key.NewBinding(key.WithKeys("o"), key.WithHelp("o", "group: none/host/model")),
		Refresh:     key.NewBinding(key.WithKeys("ctrl+r"), key.WithHelp("ctrl+r", "reload")),
	}
}

// ShortHelp implements keymap.KeyMap.
func (k KeyMap) ShortHelp() []key.Binding {
	return []key.Binding{k.Filter, k.Sort, k.Group, k.Open}
}

// FullHelp implements keymap.KeyMap.
func (k KeyMap) FullHelp() [][]key.Binding {
	return [][]key.Binding{k.Nav.List(), {k.Filter, k.ClearFilter, k.Sort, k.Reverse, k.Group, k.Refresh}}
}

// Grouping modes.
const (
	GroupNone = iota
	GroupHost
	GroupModel
)

var groupNames = []string{"none", "host", "model"}

var columns = []components.Column{
	{Title: "SERIAL", Width: 14, Flex: 1},
	{Title: "OS", Width: 4},
	{Title: "MODEL", Width: 14, Flex: 2},
	{Title: "VER", Width: 5},
	{Title: "HOST", Width: 8, Flex: 1},
	{Title: "STATE", Width: 11},
	{Title: "BATT", Width: 5, Right: true},
	{Title: "TEMP", Width: 5, Right: true},
	{Title: "RUN / TEST", Width: 24, Flex: 3, Hide: 110},
	{Title: "SEEN", Width: 8, Right: true, Hide: 130},
}

const (
	colSerial = iota
	colPlatform
	colModel
	colOS
	colHost
	colState
	colBattery
	colTemp
)

var sortable = []int{colSerial, colPlatform, colModel, colOS, colHost, colState, colBattery, colTemp}

type row struct {
	dev   int    // index into all, or -1 for a group header
	label string // group header text
}

// Model is the fleet page.
type Model struct {
	c       *components.Common
	keys    KeyMap
	all     []data.Device
	hay     []string // lower-cased searchable text per device
	index   map[string]int
	rows    []row
	counts  map[string]int
	shown   int
	cur     components.Cursor
	input   textinput.Model
	editing bool
	query   string
	sortCol int
	desc    bool
	group   int
	w, h    int
	loaded  bool
	err     error
}

// New returns the fleet page.
func New(c *components.Common) *Model {
	ti := textinput.New()
	ti.Prompt = "/"
	ti.Placeholder = "model, host, state, serial… (all words must match)"
	ti.CharLimit = 120
	return &Model{c: c, keys: newKeyMap(), input: ti, index: map[string]int{}, counts: map[string]int{}}
}

type loadedMsg struct {
	devs []data.Device
	err  error
}

type patchedMsg struct {
	asked []string
	devs  []data.Device
	err   error
}

// Load reads the whole fleet.
func (m *Model) Load() tea.Cmd {
	src := m.c.Src
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		devs, err := src.Devices(ctx)
		return loadedMsg{devs, err}
	}
}

func (m *Model) patch(serials []string) tea.Cmd {
	src := m.c.Src
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		devs, err := src.DevicesBySerial(ctx, serials)
		return patchedMsg{serials, devs, err}
	}
}

// Init implements components.Page.
func (m *Model) Init() tea.Cmd { return m.Load() }

// SetSize implements components.Page.
func (m *Model) SetSize(w, h int) {
	m.w, m.h = w, h
	m.input.SetWidth(max(w-4, 10))
	m.cur.SetHeight(m.tableHeight())
}

func (m *Model) tableHeight() int {
	h := m.h - 2 // summary + column header
	if m.editing || m.query != "" {
		h--
	}
	return max(h, 1)
}

// KeyMap implements components.Page.
func (m *Model) KeyMap() keymap.KeyMap { return m.keys }

// Capturing implements components.Page.
func (m *Model) Capturing() bool { return m.editing }

// SetDevices replaces the fleet (used by Load and by benchmarks).
func (m *Model) SetDevices(devs []data.Device) {
	m.all = devs
	m.hay = make([]string, len(devs))
	clear(m.index)
	for i, d := range devs {
		m.index[d.Serial] = i
		m.hay[i] = haystack(d)
	}
	m.loaded = true
	m.rebuild()
}

// Patch merges changed rows: asked serials missing from devs were removed.
func (m *Model) Patch(asked []string, devs []data.Device) {
	got := make(map[string]bool, len(devs))
	inPlace := m.group == GroupNone
	terms := strings.Fields(strings.ToLower(m.query))
	for _, d := range devs {
		got[d.Serial] = true
		if i, ok := m.index[d.Serial]; ok {
			old := m.all[i]
			h := haystack(d)
			// A change that moves no row (same sort key, same filter outcome) is applied in
			// place: the common NOTIFY (state, battery) then costs O(1), not a resort.
			wasShown, isShown := matches(m.hay[i], terms), matches(h, terms)
			if inPlace && wasShown == isShown && compareBy(m.sortCol, &old, &d) == 0 {
				if isShown {
					m.counts[old.State]--
					m.counts[d.State]++
				}
			} else {
				inPlace = false
			}
			m.all[i] = d
			m.hay[i] = h
		} else {
			inPlace = false
			m.index[d.Serial] = len(m.all)
			m.all = append(m.all, d)
			m.hay = append(m.hay, haystack(d))
		}
	}
	removed := false
	for _, s := range asked {
		if !got[s] {
			if _, ok := m.index[s]; ok {
				removed = true
			}
		}
	}
	if removed {
		inPlace = false
	}
	if inPlace {
		return
	}
	if removed {
		keep := m.all[:0]
		for _, d := range m.all {
			if _, gone := m.index[d.Serial]; gone && !got[d.Serial] && slices.Contains(asked, d.Serial) {
				continue
			}
			keep = append(keep, d)
		}
		m.SetDevices(keep)
		return
	}
	m.rebuild()
}

func matches(hay string, terms []string) bool {
	for _, t := range terms {
		if !strings.Contains(hay, t) {
			return false
		}
	}
	return true
}

func haystack(d data.Device) string {
	return strings.ToLower(strings.Join([]string{d.Serial, d.Platform, d.Manufacturer, d.Model,
		d.OSVersion, d.HostID, d.Hostname, d.State, d.Tier, d.CurrentTest}, " "))
}

func (m *Model) selectedSerial() string {
	if m.cur.Pos < len(m.rows) && m.rows[m.cur.Pos].dev >= 0 {
		return m.all[m.rows[m.cur.Pos].dev].Serial
	}
	return ""
}

// rebuild filters, sorts and groups; it keeps the selected device selected.
func (m *Model) rebuild() {
	keep := m.selectedSerial()
	terms := strings.Fields(strings.ToLower(m.query))
	idx := make([]int, 0, len(m.all))
	clear(m.counts)
	for i := range m.all {
		if matches(m.hay[i], terms) {
			idx = append(idx, i)
			m.counts[m.all[i].State]++
		}
	}
	m.shown = len(idx)
	slices.SortStableFunc(idx, func(a, b int) int {
		da, db := &m.all[a], &m.all[b]
		if m.group != GroupNone {
			if c := cmp.Compare(m.groupKey(da), m.groupKey(db)); c != 0 {
				return c
			}
		}
		c := compareBy(m.sortCol, da, db)
		if m.desc {
			c = -c
		}
		if c == 0 {
			c = cmp.Compare(da.Serial, db.Serial)
		}
		return c
	})
	m.rows = m.rows[:0]
	for i := 0; i < len(idx); {
		if m.group != GroupNone {
			g := m.groupKey(&m.all[idx[i]])
			j := i
			st := map[string]int{}
			for j < len(idx) && m.groupKey(&m.all[idx[j]]) == g {
				st[m.all[idx[j]].State]++
				j++
			}
			label := fmt.Sprintf("▾ %s (%d)", cmp.Or(g, "(none)"), j-i)
			for _, s := range States {
				if st[s] > 0 {
					label += fmt.Sprintf("  %s %d", s, st[s])
				}
			}
			m.rows = append(m.rows, row{dev: -1, label: label})
			for ; i < j; i++ {
				m.rows = append(m.rows, row{dev: idx[i]})
			}
			continue
		}
		m.rows = append(m.rows, row{dev: idx[i]})
		i++
	}
	m.cur.SetN(len(m.rows))
	if keep != "" {
		for i, r := range m.rows {
			if r.dev >= 0 && m.all[r.dev].Serial == keep {
				m.cur.Pos = i
				m.cur.Move(0)
				break
			}
		}
	}
}

func (m *Model) groupKey(d *data.Device) string {
	if m.group == GroupHost {
		return d.Host()
	}
	return strings.TrimSpace(d.Manufacturer + " " + d.Model)
}

// Update implements components.Page.
func (m *Model) Update(msg tea.Msg) (components.Page, tea.Cmd) {
	switch msg := msg.(type) {
	case loadedMsg:
		m.err = msg.err
		if msg.err == nil {
			m.SetDevices(msg.devs)
		}
		return m, nil
	case patchedMsg:
		if msg.err != nil {
			m.err = msg.err
			return m, nil
		}
		m.err = nil
		m.Patch(msg.asked, msg.devs)
		return m, nil
	case components.EventMsg:
		switch {
		case msg.All:
			return m, m.Load()
		case len(msg.Serials) > 0:
			return m, m.patch(msg.Serials)
		}
		return m, nil
	case tea.KeyPressMsg:
		if m.editing {
			return m.updateFilter(msg)
		}
		return m.updateKeys(msg)
	}
	return m, nil
}

func (m *Model) updateFilter(msg tea.KeyPressMsg) (components.Page, tea.Cmd) {
	switch msg.String() {
	case "enter":
		m.editing = false
		m.input.Blur()
		m.cur.SetHeight(m.tableHeight())
		return m, nil
	case "esc":
		m.editing = false
		m.input.Blur()
		m.input.SetValue("")
		m.query = ""
		m.cur.SetHeight(m.tableHeight())
		m.rebuild()
		return m, nil
	}
	var cmd tea.Cmd
	m.input, cmd = m.input.Update(msg)
	if v := m.input.Value(); v != m.query {
		m.query = v
		m.rebuild()
	}
	return m, cmd
}

func (m *Model) updateKeys(msg tea.KeyPressMsg) (components.Page, tea.Cmd) {
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
	case key.Matches(msg, k.Filter):
		m.editing = true
		m.input.SetValue(m.query)
		m.input.CursorEnd()
		m.cur.SetHeight(m.tableHeight())
		return m, m.input.Focus()
	case key.Matches(msg, k.ClearFilter):
		if m.query != "" {
			m.query = ""
			m.input.SetValue("")
			m.cur.SetHeight(m.tableHeight())
			m.rebuild()
		}
	case key.Matches(msg, k.Sort):
		i := slices.Index(sortable, m.sortCol)
		m.sortCol = sortable[(i+1)%len(sortable)]
		m.rebuild()
	case key.Matches(msg, k.Reverse):
		m.desc = !m.desc
		m.rebuild()
	case key.Matches(msg, k.Group):
		m.group = (m.group + 1) % len(groupNames)
		m.rebuild()
	case key.Matches(msg, k.Refresh):
		return m, m.Load()
	case key.Matches(msg, k.Open):
		if s := m.selectedSerial(); s != "" {
			return m, func() tea.Msg { return components.OpenDeviceMsg{Serial: s} }
		}
	}
	return m, nil
}

// View implements components.Page.
func (m *Model) View() string {
	s := m.c.Styles
	if !m.loaded {
		msg := "loading the fleet…"
		if m.err != nil {
			msg = s.Error.Render("cannot read the fleet: ") + m.err.Error()
		}
		return components.Block([]string{msg}, m.w, m.h)
	}
	lines := make([]string, 0, m.h)
	lines = append(lines, m.summary())
	widths := components.Layout(columns, m.w)
	marks := map[int]string{m.sortCol: "▲"}
	if m.desc {
		marks[m.sortCol] = "▼"
	}
	lines = append(lines, components.HeaderRow(columns, widths, s.Header, marks))
	from, to := m.cur.Visible()
	now := m.c.Now()
	cells := make([]string, len(columns))
	stStyles := make([]*lipgloss.Style, len(columns))
	for i := from; i < to; i++ {
		r := m.rows[i]
		if r.dev < 0 {
			line := components.Fit(r.label, m.w)
			if i == m.cur.Pos {
				lines = append(lines, s.Selected.Render(line))
			} else {
				lines = append(lines, s.GroupRow.Render(line))
			}
			continue
		}
		d := &m.all[r.dev]
		fillCells(cells, d, now)
		if i == m.cur.Pos {
			lines = append(lines, s.Selected.Render(components.Fit(components.Row(columns, widths, cells, nil), m.w)))
			continue
		}
		st := s.StateStyle(d.State)
		stStyles[colState] = &st
		lines = append(lines, components.Row(columns, widths, cells, stStyles))
	}
	if len(m.rows) == 0 {
		if len(m.all) == 0 {
			lines = append(lines, s.Dim.Render("no devices yet: start an agent (fleetlens agent) or simulators (fleetlens sim)"))
		} else {
			lines = append(lines, s.Dim.Render(fmt.Sprintf("no device matches %q (esc clears the filter)", m.query)))
		}
	}
	body := components.Block(lines, m.w, m.h-m.filterLines())
	if m.filterLines() > 0 {
		var fl string
		if m.editing {
			fl = m.input.View()
		} else {
			fl = s.Dim.Render("filter: ") + m.query + s.Dim.Render("  (/ edit, esc clear)")
		}
		body += "\n" + components.Fit(fl, m.w)
	}
	return body
}

func (m *Model) filterLines() int {
	if m.editing || m.query != "" {
		return 1
	}
	return 0
}

func (m *Model) summary() string {
	s := m.c.Styles
	parts := []string{s.Bold.Render(fmt.Sprintf("%d devices", m.shown))}
	if m.shown != len(m.all) {
		parts[0] += s.Dim.Render(fmt.Sprintf(" of %d", len(m.all)))
	}
	for _, st := range States {
		parts = append(parts, s.StateStyle(st).Render(fmt.Sprintf("%s %d", st, m.counts[st])))
	}
	line := strings.Join(parts, s.Dim.Render(" · "))
	extra := s.Dim.Render(fmt.Sprintf("  sort %s  group %s", strings.ToLower(columns[m.sortCol].Title), groupNames[m.group]))
	if m.w < 100 {
		extra = ""
	}
	if m.err != nil {
		extra = "  " + s.Error.Render("update failed: "+m.err.Error())
	}
	return line + extra
}

// Selected returns the serial under the cursor ("" on a group header).
func (m *Model) Selected() string { return m.selectedSerial() }

// Order returns what the rows show, in order: a device's serial or a group's header (for
// tests and for callers that need the full list rather than the visible window).
func (m *Model) Order() []string {
	out := make([]string, len(m.rows))
	for i, r := range m.rows {
		if r.dev < 0 {
			out[i] = r.label
		} else {
			out[i] = m.all[r.dev].Serial
		}
	}
	return out
}
