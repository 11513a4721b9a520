package fleet_test

import (
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/fleetlens/fleetlens/tui/data"
	"github.com/fleetlens/fleetlens/tui/pages/fleet"
)

// typeFleet types keys into the page: \r is enter, \x1b is esc.
func typeFleet(m *fleet.Model, keys string) {
	for _, r := range keys {
		var msg tea.KeyPressMsg
		switch r {
		case '\r':
			msg = tea.KeyPressMsg{Code: tea.KeyEnter}
		case '\x1b':
			msg = tea.KeyPressMsg{Code: tea.KeyEscape}
		default:
			msg = tea.KeyPressMsg{Code: r, Text: string(r)}
		}
		m.Update(msg)
	}
}

// TestPatchMatchesReload: whatever mix of in-place and resorting patches arrives, the screen
// equals a fresh load of the same devices, under every sort, grouping and filter.
func TestPatchMatchesReload(t *testing.T) {
	cases := []struct {
		name string
		keys string
	}{
		{"default", ""},
		{"sort_state", "sssss"},
		{"sort_battery_desc", "ssssssS"},
		{"group_host", "o"},
		{"group_model_filtered", "oo/pixel\r"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			devs := devices(300)
			m := model(300, 120, 40)
			typeFleet(m, c.keys)
			for i := 0; i < 200; i++ {
				d := devs[(i*37)%len(devs)]
				d.State = states[i%len(states)]
				b := i % 100
				d.Battery = &b
				if i%50 == 0 {
					d.Model = "Pixel Renamed"
				}
				devs[(i*37)%len(devs)] = d
				m.Patch([]string{d.Serial}, []data.Device{d})
			}
			fresh := model(300, 120, 40)
			typeFleet(fresh, c.keys)
			fresh.SetDevices(devs)
			got, want := strings.Join(m.Order(), "\n"), strings.Join(fresh.Order(), "\n")
			if got != want {
				t.Fatalf("patched rows differ from a reload:\n--- patched\n%s\n--- reload\n%s", got, want)
			}
			gotHead := strings.SplitN(ansi.Strip(m.View()), "\n", 2)[0]
			wantHead := strings.SplitN(ansi.Strip(fresh.View()), "\n", 2)[0]
			if gotHead != wantHead {
				t.Fatalf("counts differ:\npatched %s\nreload  %s", gotHead, wantHead)
			}
		})
	}
}

// TestFilterAndRemoval: filter terms AND together; a NOTIFY for a deleted device drops it.
func TestFilterAndRemoval(t *testing.T) {
	m := model(40, 120, 40)
	all := devices(40)
	typeFleet(m, "/pixel 13\r")
	scr := ansi.Strip(m.View())
	for _, l := range strings.Split(scr, "\n")[2:] {
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "filter:") {
			continue
		}
		if !strings.Contains(l, "Pixel") || !strings.Contains(l, " 13 ") {
			t.Fatalf("row %q does not match both terms:\n%s", l, scr)
		}
	}
	typeFleet(m, "\x1b")
	if !strings.Contains(ansi.Strip(m.View()), "40 devices") {
		t.Fatalf("esc should clear the filter:\n%s", ansi.Strip(m.View()))
	}
	m.Patch([]string{all[3].Serial}, nil)
	if !strings.Contains(ansi.Strip(m.View()), "39 devices") || strings.Contains(m.View(), all[3].Serial) {
		t.Fatalf("deleted device still shown:\n%s", ansi.Strip(m.View()))
	}
}
