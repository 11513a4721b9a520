package components

import (
	"strings"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
)

// Column is one table column: a minimum width, and a share of the spare width (Flex) when
// the terminal is wider than the sum of minimums. Columns with Hide set to a width are
// dropped on terminals narrower than it.
type Column struct {
	Title string
	Width int
	Flex  int
	Right bool
	Hide  int
}

// Layout computes the widths of cols for a total width, dropping hideable columns first.
// A zero width means the column is hidden.
func Layout(cols []Column, total int) []int {
	w := make([]int, len(cols))
	used, flex := 0, 0
	for i, c := range cols {
		if c.Hide > 0 && total < c.Hide {
			continue
		}
		w[i] = c.Width
		used += c.Width + 1
		flex += c.Flex
	}
	spare := total - used
	if spare > 0 && flex > 0 {
		given := 0
		last := -1
		for i, c := range cols {
			if w[i] > 0 && c.Flex > 0 {
				add := spare * c.Flex / flex
				w[i] += add
				given += add
				last = i
			}
		}
		if last >= 0 {
			w[last] += spare - given
		}
	}
	return w
}

// Cell fits s into width w (truncating with an ellipsis), padding left or right.
func Cell(s string, w int, right bool) string {
	if w <= 0 {
		return ""
	}
	sw := ansi.StringWidth(s)
	if sw > w {
		return ansi.Truncate(s, w, "…")
	}
	pad := strings.Repeat(" ", w-sw)
	if right {
		return pad + s
	}
	return s + pad
}

// Row joins cells laid out by widths; styles, when non-nil, styles cell i after fitting so
// truncation never cuts an escape sequence.
func Row(cols []Column, widths []int, cells []string, styles []*lipgloss.Style) string {
	var b strings.Builder
	first := true
	for i, c := range cols {
		if widths[i] == 0 {
			continue
		}
		if !first {
			b.WriteByte(' ')
		}
		first = false
		txt := ""
		if i < len(cells) {
			txt = cells[i]
		}
		txt = Cell(txt, widths[i], c.Right)
		if styles != nil && i < len(styles) && styles[i] != nil {
			txt = styles[i].Render(txt)
		}
		b.WriteString(txt)
	}
	return b.String()
}

// HeaderRow renders the column titles.
func HeaderRow(cols []Column, widths []int, st lipgloss.Style, marks map[int]string) string {
	cells := make([]string, len(cols))
	for i, c := range cols {
		cells[i] = c.Title + marks[i]
	}
	return st.Render(Row(cols, widths, cells, nil))
}

// Fit pads or cuts a rendered line to exactly w cells.
func Fit(line string, w int) string {
	lw := ansi.StringWidth(line)
	if lw > w {
		return ansi.Truncate(line, w, "")
	}
	return line + strings.Repeat(" ", w-lw)
}

// Block stacks lines into exactly h lines of width w.
func Block(lines []string, w, h int) string {
	out := make([]string, 0, h)
	for _, l := range lines {
		if len(out) == h {
			break
		}
		// A line may itself hold newlines (rendered sub-blocks).
		for _, sub := range strings.Split(l, "\n") {
			if len(out) == h {
				break
			}
			out = append(out, Fit(sub, w))
		}
	}
	for len(out) < h {
		out = append(out, strings.Repeat(" ", w))
	}
	return strings.Join(out, "\n")
}
