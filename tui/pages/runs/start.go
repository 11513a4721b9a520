package runs

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"charm.land/bubbles/v2/filepicker"
	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/fleetlens/fleetlens/tui/components"
	"github.com/fleetlens/fleetlens/tui/data"
)

type startKeys struct {
	Pick, Dir, Up, Next, Prev, Submit, Close key.Binding
}

func (k startKeys) ShortHelp() []key.Binding {
	return []key.Binding{k.Pick, k.Next, k.Submit, k.Close}
}

func (k startKeys) FullHelp() [][]key.Binding {
	return [][]key.Binding{{k.Pick, k.Dir, k.Up}, {k.Next, k.Prev, k.Submit, k.Close}}
}

const (
	stepPick = iota
	stepForm
)

const (
	fieldRelease = iota
	fieldApp
	fieldTestApp
	fieldProfile
	nFields
)

var fieldLabels = [nFields]string{"release", "app file", "test app file", "profile"}

type startForm struct {
	c         *components.Common
	keys      startKeys
	step      int
	picker    filepicker.Model
	path      string
	suiteErr  error
	inputs    [nFields]textinput.Model
	focus     int
	submitErr error
	busy      bool
	w, h      int
}

type checkedMsg struct {
	path string
	err  error
}

type startedMsg struct {
	id  int64
	err error
}

func newStartForm(c *components.Common) startForm {
	f := startForm{c: c, keys: startKeys{
		Pick:   key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "pick suite / next")),
		Dir:    key.NewBinding(key.WithKeys("l", "right"), key.WithHelp("l/→", "open folder")),
		Up:     key.NewBinding(key.WithKeys("h", "left", "backspace"), key.WithHelp("h/←", "parent folder")),
		Next:   key.NewBinding(key.WithKeys("tab", "down"), key.WithHelp("tab", "next field")),
		Prev:   key.NewBinding(key.WithKeys("shift+tab", "up"), key.WithHelp("shift+tab", "previous field")),
		Submit: key.NewBinding(key.WithKeys("ctrl+s"), key.WithHelp("ctrl+s", "start run")),
		Close:  key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back / close")),
	}}
	for i := range f.inputs {
		ti := textinput.New()
		ti.Prompt = ""
		ti.CharLimit = 400
		f.inputs[i] = ti
	}
	f.inputs[fieldRelease].Placeholder = "e.g. 2.4.0"
	f.inputs[fieldApp].Placeholder = "path to the .apk/.ipa (default: the suite's)"
	f.inputs[fieldTestApp].Placeholder = "path to the test .apk (default: the suite's)"
	f.inputs[fieldProfile].Placeholder = "network profile, e.g. 3g-average (default: the suite's)"
	return f
}

func (f *startForm) newPicker() {
	p := filepicker.New()
	p.AllowedTypes = []string{".yaml", ".yml"}
	p.ShowPermissions = false
	p.ShowSize = false
	p.AutoHeight = false
	p.CurrentDirectory = f.c.SuiteDir
	if p.CurrentDirectory == "" {
		p.CurrentDirectory = "."
	}
	p.KeyMap.Back = f.keys.Up
	p.Styles.Cursor = f.c.Styles.Key
	p.Styles.Selected = f.c.Styles.Selected
	p.Styles.Directory = f.c.Styles.Info
	p.Styles.DisabledFile = f.c.Styles.Dim
	p.SetHeight(f.pickerHeight())
	f.picker = p
}

func (f *startForm) pickerHeight() int { return max(f.h-8, 3) }

func (f *startForm) setSize(w, h int) {
	f.w, f.h = w, h
	f.picker.SetHeight(f.pickerHeight())
	for i := range f.inputs {
		f.inputs[i].SetWidth(max(w-20, 10))
	}
}

func (f *startForm) open() tea.Cmd {
	f.step, f.path, f.suiteErr, f.submitErr, f.busy = stepPick, "", nil, nil, false
	f.newPicker()
	return f.picker.Init()
}

func (f *startForm) focusField(i int) tea.Cmd {
	f.inputs[f.focus].Blur()
	f.focus = (i + nFields) % nFields
	return f.inputs[f.focus].Focus()
}

func (f *startForm) check(path string) tea.Cmd {
	farm := f.c.Farm
	return func() tea.Msg {
		if farm == nil {
			return checkedMsg{path, data.ErrNoFarm}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return checkedMsg{path, farm.CheckSuite(ctx, path)}
	}
}

func (f *startForm) submit() tea.Cmd {
	farm := f.c.Farm
	req := data.StartRequest{
		SuitePath:   f.path,
		Release:     strings.TrimSpace(f.inputs[fieldRelease].Value()),
		AppFile:     strings.TrimSpace(f.inputs[fieldApp].Value()),
		TestAppFile: strings.TrimSpace(f.inputs[fieldTestApp].Value()),
		Profile:     strings.TrimSpace(f.inputs[fieldProfile].Value()),
	}
	if req.Release == "" {
		f.submitErr = errors.New("release: required (the version under test)")
		return nil
	}
	f.busy, f.submitErr = true, nil
	return func() tea.Msg {
		if farm == nil {
			return startedMsg{0, data.ErrNoFarm}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		id, err := farm.StartRun(ctx, req)
		return startedMsg{id, err}
	}
}

func (f *startForm) started(msg startedMsg) tea.Cmd {
	f.busy = false
	if msg.err != nil {
		f.submitErr = msg.err
		return nil
	}
	return components.Status(fmt.Sprintf("run #%d queued from %s", msg.id, filepath.Base(f.path)), false)
}

// update handles a message while the form is open; done means the form closed.
func (f *startForm) update(msg tea.Msg) (done bool, cmd tea.Cmd) {
	if m, ok := msg.(checkedMsg); ok {
		if m.path != f.path {
			return false, nil
		}
		f.suiteErr = m.err
		if m.err == nil {
			f.step = stepForm
			return false, f.focusField(fieldRelease)
		}
		return false, nil
	}
	if f.step == stepPick {
		if k, ok := msg.(tea.KeyPressMsg); ok && key.Matches(k, f.keys.Close) {
			return true, nil
		}
		var c tea.Cmd
		f.picker, c = f.picker.Update(msg)
		if ok, path := f.picker.DidSelectFile(msg); ok {
			f.path, f.suiteErr = path, nil
			return false, tea.Batch(c, f.check(path))
		}
		if ok, path := f.picker.DidSelectDisabledFile(msg); ok {
			f.suiteErr = fmt.Errorf("%s: not a suite file (want .yaml or .yml)", filepath.Base(path))
		}
		return false, c
	}
	k, ok := msg.(tea.KeyPressMsg)
	if !ok {
		var c tea.Cmd
		f.inputs[f.focus], c = f.inputs[f.focus].Update(msg)
		return false, c
	}
	if f.busy {
		return false, nil
	}
	switch {
	case key.Matches(k, f.keys.Close):
		f.step = stepPick
		return false, f.picker.Init()
	case key.Matches(k, f.keys.Submit):
		return false, f.submit()
	case k.String() == "enter":
		if f.focus == nFields-1 {
			return false, f.submit()
		}
		return false, f.focusField(f.focus + 1)
	case key.Matches(k, f.keys.Next):
		return false, f.focusField(f.focus + 1)
	case key.Matches(k, f.keys.Prev):
		return false, f.focusField(f.focus - 1)
	}
	var c tea.Cmd
	f.inputs[f.focus], c = f.inputs[f.focus].Update(msg)
	return false, c
}

func (f *startForm) errLines(err error) []string {
	s := f.c.Styles
	var se *data.SuiteErrors
	if errors.As(err, &se) && len(se.Errors) > 0 {
		out := []string{s.Error.Render(fmt.Sprintf("%s has %d error(s):", filepath.Base(se.Path), len(se.Errors)))}
		for _, e := range se.Errors {
			loc := ""
			if e.Line > 0 {
				loc = fmt.Sprintf("line %d ", e.Line)
			}
			out = append(out, s.Error.Render("  ✗ ")+s.Dim.Render(loc)+s.Bold.Render(e.Field)+": "+e.Message)
		}
		return out
	}
	var out []string
	for i, l := range strings.Split(err.Error(), "\n") {
		if i == 0 {
			l = s.Error.Render("✗ ") + l
		}
		out = append(out, l)
	}
	return out
}

func (f *startForm) view() string {
	s := f.c.Styles
	lines := []string{s.Title.Render("Start a run")}
	if f.step == stepPick {
		lines = append(lines, s.Dim.Render("pick a suite file in "+f.picker.CurrentDirectory))
		var errs []string
		if f.suiteErr != nil {
			errs = f.errLines(f.suiteErr)
		}
		f.picker.SetHeight(max(f.h-3-len(errs), 3))
		lines = append(lines, strings.Split(f.picker.View(), "\n")...)
		lines = append(lines, errs...)
		return components.Block(lines, f.w, f.h)
	}
	lines = append(lines, s.Dim.Render("suite ")+f.path, "")
	for i := range f.inputs {
		label := fmt.Sprintf("%-14s", fieldLabels[i])
		if i == f.focus {
			label = s.Key.Render("▸ " + label)
		} else {
			label = s.Dim.Render("  " + label)
		}
		lines = append(lines, label+" "+f.inputs[i].View())
	}
	lines = append(lines, "")
	switch {
	case f.busy:
		lines = append(lines, s.Info.Render("queueing the run…"))
	case f.submitErr != nil:
		lines = append(lines, f.errLines(f.submitErr)...)
	default:
		lines = append(lines, s.Dim.Render("enter on the last field or ctrl+s starts the run; esc goes back"))
	}
	return components.Block(lines, f.w, f.h)
}
