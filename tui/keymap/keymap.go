// Package keymap owns the TUI's key bindings as data: every page exposes a KeyMap whose
// bindings carry their help text, and the help bar and the `?` overlay are generated from
// them, so what the screen says is what the keys do.
package keymap

import "charm.land/bubbles/v2/key"

// KeyMap is what a page or component gives the help views.
type KeyMap interface {
	ShortHelp() []key.Binding
	FullHelp() [][]key.Binding
}

// Global are the bindings every page shares.
type Global struct {
	Quit, Help, Fleet, Runs, Regressions, NextPage, PrevPage, Back key.Binding
}

// NewGlobal returns the default global bindings.
func NewGlobal() Global {
	return Global{
		Quit:        key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit")),
		Help:        key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		Fleet:       key.NewBinding(key.WithKeys("1"), key.WithHelp("1", "fleet")),
		Runs:        key.NewBinding(key.WithKeys("2"), key.WithHelp("2", "runs")),
		Regressions: key.NewBinding(key.WithKeys("3"), key.WithHelp("3", "regressions")),
		NextPage:    key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "next page")),
		PrevPage:    key.NewBinding(key.WithKeys("shift+tab"), key.WithHelp("shift+tab", "previous page")),
		Back:        key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back")),
	}
}

// ShortHelp implements KeyMap.
func (g Global) ShortHelp() []key.Binding { return []key.Binding{g.Help, g.Quit} }

// FullHelp implements KeyMap.
func (g Global) FullHelp() [][]key.Binding {
	return [][]key.Binding{{g.Fleet, g.Runs, g.Regressions, g.NextPage, g.PrevPage}, {g.Back, g.Help, g.Quit}}
}

// Nav are the list-moving bindings pages share.
type Nav struct {
	Up, Down, PageUp, PageDown, Top, Bottom, Open key.Binding
}

// NewNav returns the default list navigation bindings.
func NewNav() Nav {
	return Nav{
		Up:       key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:     key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		PageUp:   key.NewBinding(key.WithKeys("pgup", "ctrl+b"), key.WithHelp("pgup", "page up")),
		PageDown: key.NewBinding(key.WithKeys("pgdown", "ctrl+f", "space"), key.WithHelp("pgdn", "page down")),
		Top:      key.NewBinding(key.WithKeys("home", "g"), key.WithHelp("g/home", "top")),
		Bottom:   key.NewBinding(key.WithKeys("end", "G"), key.WithHelp("G/end", "bottom")),
		Open:     key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "open")),
	}
}

// List returns the navigation bindings as one help column.
func (n Nav) List() []key.Binding {
	return []key.Binding{n.Up, n.Down, n.PageUp, n.PageDown, n.Top, n.Bottom, n.Open}
}
