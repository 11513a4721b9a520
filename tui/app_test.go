package tui_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/charmbracelet/x/exp/teatest/v2"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetlens/fleetlens/internal/pg/pgtest"
	"github.com/fleetlens/fleetlens/tui"
	"github.com/fleetlens/fleetlens/tui/data"
	"github.com/fleetlens/fleetlens/tui/internal/seed"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// snapModel wraps the app and keeps a plain-text copy of the last screen, so a test can wait
// for the screen to show something without parsing the renderer's escape stream.
type snapModel struct {
	m    *tui.Model
	last atomic.Value
}

func (s *snapModel) Init() tea.Cmd { return s.m.Init() }

func (s *snapModel) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	_, cmd := s.m.Update(msg)
	s.last.Store(ansi.Strip(s.m.Render()))
	return s, cmd
}

func (s *snapModel) View() tea.View { return s.m.View() }

func (s *snapModel) screen() string {
	v, _ := s.last.Load().(string)
	return v
}

type session struct {
	t    *testing.T
	snap *snapModel
	tm   *teatest.TestModel
}

func start(t *testing.T, opts tui.Options, w, h int) *session {
	t.Helper()
	opts.Now = func() time.Time { return seed.T0 }
	opts.Profile = colorprofile.Ascii
	s := &session{t: t, snap: &snapModel{m: tui.New(opts)}}
	s.tm = teatest.NewTestModel(t, s.snap, teatest.WithInitialTermSize(w, h))
	t.Cleanup(func() {
		_ = s.tm.Quit()
		s.tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
	})
	return s
}

// waitFor waits until every want appears on the screen.
func (s *session) waitFor(want ...string) string {
	s.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		scr := s.snap.screen()
		ok := true
		for _, w := range want {
			if !strings.Contains(scr, w) {
				ok = false
				break
			}
		}
		if ok {
			return scr
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("screen never showed %q; last screen:\n%s", want, scr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *session) keys(ks ...string) {
	for _, k := range ks {
		if w, ok := strings.CutPrefix(k, "wait:"); ok {
			s.waitFor(w)
			continue
		}
		switch k {
		case "enter":
			s.tm.Send(tea.KeyPressMsg{Code: tea.KeyEnter})
		case "esc":
			s.tm.Send(tea.KeyPressMsg{Code: tea.KeyEscape})
		case "tab":
			s.tm.Send(tea.KeyPressMsg{Code: tea.KeyTab})
		case "ctrl+s", "ctrl+r":
			s.tm.Send(tea.KeyPressMsg{Code: rune(k[5]), Mod: tea.ModCtrl})
		default:
			s.tm.Type(k)
		}
		time.Sleep(30 * time.Millisecond)
	}
}

// seeded returns a seeded database; newOpts gives each session its own source (its own
// LISTEN connection), as each running TUI has.
func seeded(t *testing.T) func(t *testing.T) tui.Options {
	t.Helper()
	dsn := pgtest.NewDSN(t)
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := seed.Standard(context.Background(), pool); err != nil {
		t.Fatal(err)
	}
	return func(t *testing.T) tui.Options {
		src, err := data.NewPG(data.Config{DSN: dsn})
		if err != nil {
			t.Fatal(err)
		}
		if err := src.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { src.Shutdown(context.Background()) })
		return tui.Options{Src: src, Gate: &data.GateAdapter{Pool: src.Pool(), Now: seed.T0}, Farm: data.NewFarm(src.Pool())}
	}
}

// TestGolden renders every page at 80×24 and 160×48 against a seeded database.
func TestGolden(t *testing.T) {
	newOpts := seeded(t)
	cases := []struct {
		name string
		keys []string
		want []string
	}{
		{"fleet", nil, []string{"24 devices", "● live"}},
		{"fleet_filter_grouped", []string{"/", "s", "a", "m", "enter", "o"}, []string{"devices of 24", "▾ host-"}},
		{"device", []string{"/", "b", "u", "s", "y", "enter", "wait:devices of 24", "enter"}, []string{"RECENT ATTEMPTS", "passed"}},
		{"runs", []string{"2"}, []string{"2 runs", "#2"}},
		{"run_by_model", []string{"2", "wait:2 runs", "enter"}, []string{"Run #2", "FAILED ATTEMPTS"}},
		{"run_by_test", []string{"2", "wait:2 runs", "enter", "wait:FAILED ATTEMPTS", "t"}, []string{"Run #2", "STATUS", "FAILED ATTEMPTS · com."}},
		{"regressions", []string{"3"}, []string{"score", "stored"}},
		{"help", []string{"?"}, []string{"press ? or esc to close"}},
	}
	for _, size := range [][2]int{{80, 24}, {160, 48}} {
		for _, c := range cases {
			t.Run(fmt.Sprintf("%s_%dx%d", c.name, size[0], size[1]), func(t *testing.T) {
				s := start(t, newOpts(t), size[0], size[1])
				s.waitFor("● live", "24 devices")
				s.keys(c.keys...)
				s.waitFor(c.want...)
				time.Sleep(150 * time.Millisecond) // let trailing loads land
				golden.RequireEqual(t, s.waitFor(c.want...))
			})
		}
	}
}

// TestTooSmall: a 20×10 terminal gets a message, not a garbled layout; resizing back restores it.
func TestTooSmall(t *testing.T) {
	s := start(t, seeded(t)(t), 20, 10)
	scr := s.waitFor("terminal too small", "20×10")
	golden.RequireEqual(t, scr)
	// The program reports its initial size asynchronously; resize until the new size sticks.
	for i := 0; i < 50 && !strings.Contains(s.snap.screen(), "24 devices"); i++ {
		s.tm.Send(tea.WindowSizeMsg{Width: 80, Height: 24})
		time.Sleep(100 * time.Millisecond)
	}
	s.waitFor("24 devices")
}

// TestUnreachable: a database that is not there gets a clear screen that keeps retrying.
func TestUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	src, err := data.NewPG(data.Config{DSN: "postgres://fleetlens@" + addr + "/fleetlens?sslmode=disable", MaxBackoff: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	src.Start(context.Background())
	t.Cleanup(func() { src.Shutdown(context.Background()) })
	s := start(t, tui.Options{Src: src, DB: "127.0.0.1 (from --db)"}, 80, 24)
	s.waitFor("database unreachable", "connection refused", "retrying")
	s.waitFor("attempt 3")
}

func backspace() tea.Msg { return tea.KeyPressMsg{Code: tea.KeyBackspace} }
