// Package device owns the device detail page: properties, health history (with battery and
// temperature sparklines), recent attempts and the newest log tail, refreshed when the
// device's NOTIFY arrives.
package device

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/fleetlens/fleetlens/tui/components"
	"github.com/fleetlens/fleetlens/tui/data"
	"github.com/fleetlens/fleetlens/tui/keymap"
)

// KeyMap is the device page's bindings.
type KeyMap struct {
	Back, Up, Down, Refresh key.Binding
}

// ShortHelp implements keymap.KeyMap.
func (k KeyMap) ShortHelp() []key.Binding { return []key.Binding{k.Back, k.Up, k.Down} }

// FullHelp implements keymap.KeyMap.
func (k KeyMap) FullHelp() [][]key.Binding { return [][]key.Binding{{k.Back, k.Up, k.Down, k.Refresh}} }

// Model is the device page.
type Model struct {
	c      *components.Common
	keys   KeyMap
	serial string
	dd     *data.DeviceDetail
	err    error
	scroll int
	w, h   int
}

// New returns the device page.
func New(c *components.Common) *Model {
	return &Model{c: c, keys: KeyMap{
		Back:    key.NewBinding(key.WithKeys("esc", "backspace"), key.WithHelp("esc", "back to fleet")),
		Up:      key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "scroll up")),
		Down:    key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "scroll down")),
		Refresh: key.NewBinding(key.WithKeys("ctrl+r"), key.WithHelp("ctrl+r", "reload")),
	}}
}

type loadedMsg struct {
	serial string
	dd     data.DeviceDetail
	err    error
}

// Open shows serial.
func (m *Model) Open(serial string) tea.Cmd {
	if serial != m.serial {
		m.dd, m.err, m.scroll = nil, nil, 0
	}
	m.serial = serial
	return m.load()
}

func (m *Model) load() tea.Cmd {
	src, serial := m.c.Src, m.serial
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		dd, err := src.Device(ctx, serial)
		return loadedMsg{serial, dd, err}
	}
}

// Init implements components.Page.
func (m *Model) Init() tea.Cmd { return nil }

// SetSize implements components.Page.
func (m *Model) SetSize(w, h int) { m.w, m.h = w, h }

// KeyMap implements components.Page.
func (m *Model) KeyMap() keymap.KeyMap { return m.keys }

// Capturing implements components.Page.
func (m *Model) Capturing() bool { return false }

// Update implements components.Page.
func (m *Model) Update(msg tea.Msg) (components.Page, tea.Cmd) {
	switch msg := msg.(type) {
	case loadedMsg:
		if msg.serial == m.serial {
			m.err = msg.err
			if msg.err == nil {
				m.dd = &msg.dd
			}
		}
	case components.EventMsg:
		if m.serial != "" && (msg.All || slices.Contains(msg.Serials, m.serial)) {
			return m, m.load()
		}
	case tea.KeyPressMsg:
		switch {
		case key.Matches(msg, m.keys.Back):
			return m, func() tea.Msg { return components.BackMsg{} }
		case key.Matches(msg, m.keys.Up):
			m.scroll = max(m.scroll-1, 0)
		case key.Matches(msg, m.keys.Down):
			m.scroll++
		case key.Matches(msg, m.keys.Refresh):
			return m, m.load()
		}
	}
	return m, nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// View implements components.Page.
func (m *Model) View() string {
	s := m.c.Styles
	if m.dd == nil {
		msg := "loading " + m.serial + "…"
		if m.err != nil {
			msg = s.Error.Render(m.err.Error())
		}
		return components.Block([]string{msg}, m.w, m.h)
	}
	d := m.dd.Device
	now := m.c.Now()
	kv := func(k, v string) string { return s.Dim.Render(fmt.Sprintf("%-10s", k)) + " " + v }
	batt, temp := "-", "-"
	if d.Battery != nil {
		batt = fmt.Sprintf("%d%%", *d.Battery)
		if d.Charging != nil && *d.Charging {
			batt += " (charging)"
		}
	}
	if d.TempC != nil {
		temp = fmt.Sprintf("%.1f °C", *d.TempC)
		if d.Thermal != "" {
			temp += " " + d.Thermal
		}
	}
	health := s.OK.Render("ok")
	if !d.HealthOK {
		health = s.Error.Render("unhealthy: " + d.HealthReason)
	}
	run := "-"
	if d.CurrentRun != nil {
		run = fmt.Sprintf("#%d %s", *d.CurrentRun, d.CurrentTest)
	}
	props := []string{
		s.Title.Render(d.Serial) + "  " + s.StateStyle(d.State).Render(d.State),
		kv("model", strings.TrimSpace(d.Manufacturer+" "+d.Model)),
		kv("os", fmt.Sprintf("%s %s", d.Platform, d.OSVersion)+apiLevel(d.APILevel)),
		kv("hardware", fmt.Sprintf("%d MB RAM, %d cores @ %d MHz, tier %s", d.RAMMB, d.Cores, d.MaxMHz, orDash(d.Tier))),
		kv("screen", orDash(d.Screen)),
		kv("host", orDash(d.Host())),
		kv("battery", batt),
		kv("temp", temp),
		kv("health", health),
		kv("run", run),
		kv("last seen", components.Ago(now, d.LastSeen)),
	}
	if d.Quarantine != "" {
		props = append(props, kv("quarantine", s.Error.Render(d.Quarantine)))
	}

	// Health history, oldest first for the sparklines.
	hist := []string{s.Header.Render("HEALTH HISTORY")}
	if len(m.dd.Health) == 0 {
		hist = append(hist, s.Dim.Render("no readings yet"))
	} else {
		var bv, tv []float64
		for i := len(m.dd.Health) - 1; i >= 0; i-- {
			h := m.dd.Health[i]
			if h.Battery != nil {
				bv = append(bv, float64(*h.Battery))
			}
			if h.TempC != nil {
				tv = append(tv, *h.TempC)
			}
		}
		hist = append(hist, kv("battery", s.OK.Render(components.Sparkline(bv))), kv("temp", s.Warn.Render(components.Sparkline(tv))))
		for _, h := range m.dd.Health[:min(len(m.dd.Health), 5)] {
			mark := s.OK.Render("ok ")
			if !h.OK {
				mark = s.Error.Render("bad")
			}
			line := fmt.Sprintf("%s %s batt %s temp %s %s", components.Ago(now, h.At), mark, ptrInt(h.Battery), ptrTemp(h.TempC), h.Reason)
			hist = append(hist, line)
		}
	}

	att := []string{s.Header.Render("RECENT ATTEMPTS")}
	if len(m.dd.Attempts) == 0 {
		att = append(att, s.Dim.Render("no attempts on this device yet"))
	}
	for _, a := range m.dd.Attempts {
		line := fmt.Sprintf("#%-4d %s %s %s", a.RunID, s.StateStyle(a.Status).Render(fmt.Sprintf("%-7s", a.Status)),
			components.Duration(time.Duration(a.DurationMS)*time.Millisecond), a.Test)
		if a.Message != "" {
			line += s.Dim.Render("  " + a.Message)
		}
		att = append(att, line)
	}

	logs := []string{s.Header.Render("LOG TAIL")}
	if len(m.dd.LogTail) == 0 {
		logs = append(logs, s.Dim.Render("no log captured yet"))
	}
	logs = append(logs, m.dd.LogTail...)

	var lines []string
	if m.w >= 120 {
		// Wide: properties and health side by side.
		lw := m.w / 2
		left := components.Block(props, lw-1, max(len(props), len(hist)))
		right := components.Block(hist, m.w-lw, max(len(props), len(hist)))
		lines = append(lines, lipgloss.JoinHorizontal(lipgloss.Top, left, " ", right))
	} else {
		lines = append(lines, props...)
		lines = append(lines, hist...)
	}
	lines = append(lines, "")
	lines = append(lines, att...)
	lines = append(lines, "")
	lines = append(lines, logs...)
	flat := strings.Split(strings.Join(lines, "\n"), "\n")
	m.scroll = min(m.scroll, max(len(flat)-m.h, 0))
	return components.Block(flat[m.scroll:], m.w, m.h)
}

func apiLevel(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" (API %d)", n)
}

func ptrInt(p *int) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf("%d%%", *p)
}

func ptrTemp(p *float64) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf("%.0f°C", *p)
}
