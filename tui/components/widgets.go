package components

import (
	"fmt"
	"math"
	"strings"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	"charm.land/lipgloss/v2"

	"github.com/fleetlens/fleetlens/tui/keymap"
	"github.com/fleetlens/fleetlens/tui/styles"
)

// StackedBar draws a w-cell bar of passed (green), failed (red) and the rest done (yellow)
// out of total, so a run's health shows at a glance.
func StackedBar(s *styles.Styles, w, total, passed, failed, other int) string {
	if w <= 0 {
		return ""
	}
	if total <= 0 {
		return s.Dim.Render(strings.Repeat("░", w))
	}
	cells := func(n int) int { return int(math.Round(float64(n) * float64(w) / float64(total))) }
	p, f, o := cells(passed), cells(failed), cells(other)
	if failed > 0 && f == 0 {
		f = 1 // a failure is never invisible
	}
	for p+f+o > w {
		switch {
		case p > 0:
			p--
		case o > 0:
			o--
		default:
			f--
		}
	}
	rest := w - p - f - o
	return lipgloss.NewStyle().Foreground(s.BarFull).Render(strings.Repeat("█", p)) +
		lipgloss.NewStyle().Foreground(s.BarFail).Render(strings.Repeat("█", f)) +
		s.Warn.Render(strings.Repeat("█", o)) +
		s.Dim.Render(strings.Repeat("░", rest))
}

var sparks = []rune("▁▂▃▄▅▆▇█")

// Sparkline draws values scaled between their min and max.
func Sparkline(values []float64) string {
	if len(values) == 0 {
		return ""
	}
	lo, hi := values[0], values[0]
	for _, v := range values {
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	var b strings.Builder
	for _, v := range values {
		i := 0
		if hi > lo {
			i = int((v - lo) / (hi - lo) * float64(len(sparks)-1))
		}
		b.WriteRune(sparks[i])
	}
	return b.String()
}

// Duration formats d compactly (1h02m, 3m04s, 12s).
func Duration(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	d = d.Round(time.Second)
	h, m, sec := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	switch {
	case h > 0:
		return fmt.Sprintf("%dh%02dm", h, m)
	case m > 0:
		return fmt.Sprintf("%dm%02ds", m, sec)
	}
	return fmt.Sprintf("%ds", sec)
}

// Ago formats the age of t relative to now.
func Ago(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	if now.Sub(t) < time.Second {
		return "now"
	}
	return Duration(now.Sub(t)) + " ago"
}

// HelpOverlay renders every enabled binding of the key maps, one column per group, in a box
// that fits w×h (columns wrap onto more rows on narrow terminals). It is generated from the
// bindings, so it cannot drift from what the keys do.
func HelpOverlay(s *styles.Styles, w, h int, title string, maps ...keymap.KeyMap) string {
	var cols []string
	for _, m := range maps {
		for _, g := range m.FullHelp() {
			kw := 0
			for _, b := range g {
				if b.Enabled() {
					kw = max(kw, lipgloss.Width(b.Help().Key))
				}
			}
			var lines []string
			for _, b := range g {
				if !b.Enabled() {
					continue
				}
				k := b.Help().Key
				lines = append(lines, s.Key.Render(k+strings.Repeat(" ", kw-lipgloss.Width(k)))+" "+s.KeyDesc.Render(b.Help().Desc))
			}
			if len(lines) > 0 {
				cols = append(cols, strings.Join(lines, "\n"))
			}
		}
	}
	inner := max(w-6, 10)
	var rows []string
	var row []string
	rowW := 0
	for _, c := range cols {
		cw := lipgloss.Width(c)
		if len(row) > 0 && rowW+3+cw > inner {
			rows = append(rows, lipgloss.JoinHorizontal(lipgloss.Top, row...))
			row, rowW = nil, 0
		}
		if len(row) > 0 {
			row = append(row, "   ")
			rowW += 3
		}
		row = append(row, c)
		rowW += cw
	}
	if len(row) > 0 {
		rows = append(rows, lipgloss.JoinHorizontal(lipgloss.Top, row...))
	}
	body := s.Title.Render(title) + "\n\n" + strings.Join(rows, "\n\n") + "\n\n" + s.Dim.Render("press ? or esc to close")
	box := s.Overlay.Render(body)
	return lipgloss.Place(w, h, lipgloss.Center, lipgloss.Center, box)
}

// ShortHelp renders the one-line help bar from key maps.
func ShortHelp(s *styles.Styles, w int, maps ...keymap.KeyMap) string {
	hm := help.New()
	hm.Styles.ShortKey = s.Key
	hm.Styles.ShortDesc = s.KeyDesc
	hm.Styles.ShortSeparator = s.Dim
	hm.SetWidth(w)
	var bs []key.Binding
	for _, m := range maps {
		bs = append(bs, m.ShortHelp()...)
	}
	return hm.ShortHelpView(bs)
}

// Confirm is a yes/no dialog for destructive actions.
type Confirm struct {
	Active   bool
	Question string
	Yes, No  key.Binding
}

// NewConfirm returns an inactive dialog.
func NewConfirm() Confirm {
	return Confirm{
		Yes: key.NewBinding(key.WithKeys("y", "Y"), key.WithHelp("y", "yes")),
		No:  key.NewBinding(key.WithKeys("n", "N", "esc"), key.WithHelp("n/esc", "no")),
	}
}

// View renders the dialog centred in w×h.
func (c Confirm) View(s *styles.Styles, w, h int) string {
	body := s.Warn.Render(c.Question) + "\n\n" + s.Key.Render("y") + s.KeyDesc.Render(" yes   ") +
		s.Key.Render("n") + s.KeyDesc.Render(" no")
	return lipgloss.Place(w, h, lipgloss.Center, lipgloss.Center, s.Overlay.Render(body))
}

// ShortHelp implements keymap.KeyMap.
func (c Confirm) ShortHelp() []key.Binding { return []key.Binding{c.Yes, c.No} }

// FullHelp implements keymap.KeyMap.
func (c Confirm) FullHelp() [][]key.Binding { return [][]key.Binding{{c.Yes, c.No}} }

// PlainBar draws an unstyled w-cell bar of done out of total (for highlighted rows).
func PlainBar(w, total, done int) string {
	if w <= 0 {
		return ""
	}
	n := 0
	if total > 0 {
		n = min(w, done*w/total)
	}
	return strings.Repeat("█", n) + strings.Repeat("░", w-n)
}
