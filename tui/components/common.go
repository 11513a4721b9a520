// Package components owns what the TUI's pages share: the Common context (styles, data
// access, read-only mode, clock), the Page contract the root model switches between, the
// messages pages exchange, and small widgets (virtual-scrolling cursor, column tables,
// bars, sparklines, help overlay, confirmation dialog).
package components

import (
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/fleetlens/fleetlens/tui/data"
	"github.com/fleetlens/fleetlens/tui/keymap"
	"github.com/fleetlens/fleetlens/tui/styles"
)

// Common is handed to every page.
type Common struct {
	Styles   *styles.Styles
	Src      data.Source
	Farm     data.Farm
	Gate     data.Gate
	ReadOnly bool
	// Now is the clock (fixed in golden tests so ages and ETAs are stable).
	Now func() time.Time
	// SuiteDir is where the suite file picker starts.
	SuiteDir string
}

// Page is one screen of the app, soft-serve style.
type Page interface {
	Init() tea.Cmd
	Update(tea.Msg) (Page, tea.Cmd)
	View() string
	SetSize(width, height int)
	KeyMap() keymap.KeyMap
	// Capturing is true while a text field or dialog owns the keyboard, so the root
	// must not treat letters as global shortcuts.
	Capturing() bool
}

// EventMsg carries a batch of live changes from the data source.
type EventMsg struct{ data.Event }

// OpenDeviceMsg asks the root to show a device's detail.
type OpenDeviceMsg struct{ Serial string }

// BackMsg asks the root to go back to the previous page.
type BackMsg struct{}

// StatusMsg shows a transient line in the footer.
type StatusMsg struct {
	Text  string
	Error bool
}

// Status returns a command that shows text in the footer.
func Status(text string, isErr bool) tea.Cmd {
	return func() tea.Msg { return StatusMsg{Text: text, Error: isErr} }
}
