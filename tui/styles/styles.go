// Package styles owns the TUI's look: one palette chosen per terminal colour profile, so a
// 16-colour terminal gets the basic ANSI colours we picked instead of whatever a 24-bit
// colour happens to round to, and a colourless one gets bold/reverse only.
package styles

import (
	"image/color"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/colorprofile"
)

// Styles is the set every page renders with.
type Styles struct {
	Profile colorprofile.Profile

	Title, Tab, ActiveTab, Header, Footer, Dim, Bold, Selected, Error, Warn, OK, Info lipgloss.Style
	Box, Overlay, GroupRow, Key, KeyDesc                                              lipgloss.Style

	State   map[string]lipgloss.Style // device, run, test and verdict states
	BarFull color.Color
	BarFail color.Color
}

// New returns the styles for profile.
func New(p colorprofile.Profile) *Styles {
	c := lipgloss.Complete(p)
	pick := func(ansi, a256 int, hex string) color.Color {
		return c(lipgloss.ANSIColor(ansi), lipgloss.ANSIColor(a256), lipgloss.Color(hex))
	}
	var (
		green  = pick(2, 35, "#3fb950")
		red    = pick(1, 160, "#f85149")
		yellow = pick(3, 178, "#d29922")
		blue   = pick(4, 33, "#58a6ff")
		cyan   = pick(6, 37, "#39c5cf")
		purple = pick(5, 134, "#bc8cff")
		gray   = pick(8, 244, "#8b949e")
		selBg  = pick(4, 24, "#1f3b5c")
		white  = pick(15, 255, "#f0f6fc")
	)
	s := &Styles{Profile: p}
	s.Title = lipgloss.NewStyle().Bold(true).Foreground(cyan)
	s.Tab = lipgloss.NewStyle().Foreground(gray).Padding(0, 1)
	s.ActiveTab = lipgloss.NewStyle().Bold(true).Foreground(white).Background(selBg).Padding(0, 1)
	s.Header = lipgloss.NewStyle().Bold(true).Foreground(blue)
	s.Footer = lipgloss.NewStyle().Foreground(gray)
	s.Dim = lipgloss.NewStyle().Foreground(gray)
	s.Bold = lipgloss.NewStyle().Bold(true)
	s.Selected = lipgloss.NewStyle().Bold(true).Foreground(white).Background(selBg)
	if p <= colorprofile.Ascii {
		s.Selected = lipgloss.NewStyle().Reverse(true)
		s.ActiveTab = lipgloss.NewStyle().Reverse(true).Padding(0, 1)
	}
	s.Error = lipgloss.NewStyle().Bold(true).Foreground(red)
	s.Warn = lipgloss.NewStyle().Foreground(yellow)
	s.OK = lipgloss.NewStyle().Foreground(green)
	s.Info = lipgloss.NewStyle().Foreground(cyan)
	s.Box = lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).BorderForeground(gray).Padding(0, 1)
	s.Overlay = lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).BorderForeground(cyan).Padding(0, 1)
	s.GroupRow = lipgloss.NewStyle().Bold(true).Foreground(purple)
	s.Key = lipgloss.NewStyle().Bold(true).Foreground(cyan)
	s.KeyDesc = lipgloss.NewStyle().Foreground(gray)
	st := func(col color.Color) lipgloss.Style { return lipgloss.NewStyle().Foreground(col) }
	s.State = map[string]lipgloss.Style{
		"idle": st(green), "busy": st(blue), "draining": st(yellow), "offline": st(gray),
		"quarantined": st(red).Bold(true),
		"queued":      st(gray), "running": st(blue), "passed": st(green), "failed": st(red),
		"error": st(red), "cancelled": st(yellow), "flaky": st(yellow), "pending": st(gray),
		"skipped": st(gray), "infra": st(purple),
		"pass": st(green).Bold(true), "marginal": st(yellow).Bold(true), "fail": st(red).Bold(true),
		"inconclusive": st(gray).Bold(true),
	}
	s.BarFull = green
	s.BarFail = red
	return s
}

// StateStyle returns the style of a state word (plain when unknown).
func (s *Styles) StateStyle(state string) lipgloss.Style {
	if st, ok := s.State[state]; ok {
		return st
	}
	return lipgloss.NewStyle()
}
